package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/authsidecar/fakeupstream"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// TestMain doubles as the sidecar binary: with AUTHSIDECAR_CHILD=1 the test
// binary runs main, so the multi-pod tests start real processes without a
// separate build.
func TestMain(m *testing.M) {
	if os.Getenv("AUTHSIDECAR_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var testKey = strings.Repeat("k", 40)

// syncBuffer collects a sidecar's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type sidecarProc struct {
	URL  string
	Addr string
	Log  *syncBuffer
	Pid  int // startProcess only
	stop func() error
}

func startUpstream(t *testing.T) *fakeupstream.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := fakeupstream.Start(ln)
	t.Cleanup(up.Close)
	return up
}

// startSidecar runs the daemon in-process exactly as main does, with env
// on top of defaults (API-key mode, the upstream given).
func startSidecar(t *testing.T, upstream string, env map[string]string) *sidecarProc {
	t.Helper()
	port := testenv.FreePort(t)
	full := map[string]string{"LISTEN_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "UPSTREAM": "http://" + upstream, "API_KEY": testKey, "LOG_LEVEL": "DEBUG"}
	for k, v := range env {
		full[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, nil, func(k string) string { return full[k] }, logs, logs) }()
	p := &sidecarProc{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Addr: fmt.Sprintf("127.0.0.1:%d", port), Log: logs}
	var once sync.Once
	var stopErr error
	p.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(15 * time.Second):
				stopErr = fmt.Errorf("sidecar did not stop within 15s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("run() = %v at shutdown; log:\n%s", err, logs)
		}
	})
	waitLive(t, p.URL, errc, logs)
	return p
}

func waitLive(t *testing.T, url string, errc <-chan error, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-errc:
			t.Fatalf("sidecar exited at start: %v; log:\n%s", err, logs)
		default:
		}
		resp, err := http.Get(url + "/livez")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sidecar at %s not live within 15s; log:\n%s", url, logs)
}

// startProcess runs the sidecar as a separate process (the test binary
// re-executed as main).
func startProcess(t *testing.T, upstream string, env map[string]string) *sidecarProc {
	t.Helper()
	port := testenv.FreePort(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"AUTHSIDECAR_CHILD=1", fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", port), "UPSTREAM=http://" + upstream, "API_KEY=" + testKey, "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting sidecar process: %v", err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	p := &sidecarProc{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Addr: fmt.Sprintf("127.0.0.1:%d", port), Log: logs, Pid: cmd.Process.Pid}
	var once sync.Once
	p.stop = func() error {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			select {
			case <-errc:
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
			}
		})
		return nil
	}
	t.Cleanup(func() { p.stop() })
	waitLive(t, p.URL, errc, logs)
	return p
}

// do sends a request with headers and returns status, headers and body.
func do(t *testing.T, method, url string, hdr map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header[k] = []string{v} // exact spelling, no canonicalisation
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// raw sends bytes on a fresh connection and returns everything read until
// the server closes it or a second passes quietly.
func raw(t *testing.T, addr, request string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	br := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		b, err := br.ReadByte()
		if err != nil {
			break
		}
		out.WriteByte(b)
	}
	return out.String()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// eventually polls cond until it holds or the generous deadline passes; it
// asserts convergence, not speed.
func eventually(t *testing.T, what string, deadline time.Duration, cond func() (bool, string)) {
	t.Helper()
	end := time.Now().Add(deadline)
	var last string
	for time.Now().Before(end) {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last: %s", what, deadline, last)
}

func netListenUnix(path string) (net.Listener, error) { return net.Listen("unix", path) }

// redisKeys lists keys matching pattern with a raw RESP KEYS command.
func redisKeys(addr, pattern string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "*2\r\n$4\r\nKEYS\r\n$%d\r\n%s\r\n", len(pattern), pattern)
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var n int
	fmt.Sscanf(line, "*%d", &n)
	var out []string
	for i := 0; i < n; i++ {
		br.ReadString('\n')
		k, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		out = append(out, strings.TrimRight(k, "\r\n"))
	}
	return out, nil
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// redisNumSub returns PUBSUB NUMSUB for channel.
func redisNumSub(addr, channel string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$%d\r\n%s\r\n", len(channel), channel)
	br := bufio.NewReader(c)
	var lines []string
	for i := 0; i < 4; i++ {
		l, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		lines = append(lines, strings.TrimRight(l, "\r\n"))
	}
	var n int
	_, err = fmt.Sscanf(lines[3], ":%d", &n)
	return n, err
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
