// Package testenv starts real servers (Redis today) on loopback for tests
// and cleans them up. A server that cannot start fails the test with the
// reason; it never skips silently.
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
//
// It is drawn at random from below the kernel's ephemeral range, never from
// it: tests restart servers on the same port (kill -9, outages), and a port
// the kernel hands out for `:0` listeners or outgoing connections could be
// taken by another test, or by a client socket, while its server is down.
func FreePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for range 1000 {
		port := portFloor + rand.IntN(low-portFloor)
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatalf("no free port in %d-%d after 1000 tries", portFloor, low-1)
	return 0
}

// portFloor keeps FreePort clear of well-known and registered service ports
// that a developer machine may run.
const portFloor = 20000

// ephemeralLow is the first port of net.ipv4.ip_local_port_range (32768 by
// default).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= portFloor+1000 {
		return 32768
	}
	return low
}

// Redis is a redis-server process owned by a test.
type Redis struct {
	t    testing.TB
	Port int
	dir  string
	cmd  *exec.Cmd
}

// Addr is host:port.
func (r *Redis) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// URL is the REDIS_URL form.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// StartRedis starts redis-server (from PATH; `make test` installs it) on a
// free loopback port and stops it when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r := &Redis{t: t, Port: FreePort(t), dir: t.TempDir()}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start (re)starts the server on the same port.
func (r *Redis) Start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatalf("redis-server not found in PATH (make test installs it with apt-get): %v", err)
	}
	r.cmd = exec.Command(bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(r.Addr()) == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	r.t.Fatalf("redis-server on %s did not answer PING within 10s; log:\n%s", r.Addr(), log)
}

// Stop kills the server (safe to call twice).
func (r *Redis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Kill()
	r.cmd.Wait()
	r.cmd = nil
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// HelpLists runs a daemon's run function with --help and checks that the
// output holds the usage and each of wants (variables its configuration
// loader reads, so the list is the loader's own).
func HelpLists(t testing.TB, run func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error, wants ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("--help: %v\n%s", err, errOut.String())
	}
	for _, want := range append([]string{"usage:"}, wants...) {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help output lacks %q:\n%s", want, out.String())
		}
	}
}
