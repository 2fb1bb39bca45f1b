//go:build !standard

package secrets

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAuditshipperStartsWithVaultSecrets builds the real auditshipper and
// starts it with only SECRETS_PROVIDER=vault and the Vault variables: its
// listen address, backend and Splunk token come from the secret in a real
// OpenBao server. The shipper must answer on the secret's address and send
// the secret's token to Splunk, and the token must appear neither in its
// output nor in its command line.
func TestAuditshipperStartsWithVaultSecrets(t *testing.T) {
	v := startVault(t)
	bin := filepath.Join(t.TempDir(), "auditshipper")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/meshoptixiq/mesh/auditshipper").CombinedOutput(); err != nil {
		t.Fatalf("go build auditshipper: %v\n%s", err, out)
	}

	var auths headerLog
	hec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auths.add(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"text":"Success","code":0}`))
	}))
	t.Cleanup(hec.Close)

	const token = "hec-token-7f3a91c2-from-vault"
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	v.must(t, "POST", "secret/data/auditshipper", map[string]any{"data": map[string]any{
		"SHIPPER_LISTEN": listen, "AUDIT_LOG_BACKEND": "splunk", "SPLUNK_HEC_URL": hec.URL, "SPLUNK_HEC_TOKEN": token}})

	dir := t.TempDir()
	logPath := filepath.Join(dir, "audit.jsonl")
	if err := os.WriteFile(logPath, []byte(`{"ts":"2026-12-02T10:00:00Z","event":"query","user":"alice","outcome":"allow"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"SECRETS_PROVIDER=vault", "VAULT_ADDR=" + v.addr, "VAULT_TOKEN=" + vaultRoot, "VAULT_SECRET_PATH=secret/auditshipper",
		"AUDIT_LOG_PATH=" + logPath, "SHIPPER_STATE_DIR=" + filepath.Join(dir, "state"), "LOG_LEVEL=debug"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	var cmdline []byte
	var ready bool
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + listen + "/livez")
		if err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
			break
		}
	}
	// Read while the re-executed process is the one running.
	cmdline, _ = os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline")
	if !ready {
		t.Fatalf("the shipper did not answer on SHIPPER_LISTEN=%s from the secret; output:\n%s", listen, out.String())
	}
	if got := auths.wait(); len(got) == 0 || got[0] != "Splunk "+token {
		t.Errorf("Splunk saw Authorization %q, want the token from Vault", got)
	}
	cancel()
	_ = cmd.Wait()
	if bytes.Contains(cmdline, []byte(token)) || len(cmdline) == 0 {
		t.Errorf("/proc/PID/cmdline = %q: empty or holds the token", cmdline)
	}
	if strings.Contains(out.String(), token) {
		t.Errorf("the shipper's output holds the token:\n%s", out.String())
	}
	if !strings.Contains(out.String(), listen) {
		t.Errorf("the shipper's log does not show SHIPPER_LISTEN=%s from the secret:\n%s", listen, out.String())
	}
}

// TestNodeagentFetchesThroughTheHelper: the node agent links no secrets
// manager SDK; with SECRETS_PROVIDER=vault it hands over to secretsexec
// (built beside it, as the image ships it), which fetches from a real
// OpenBao server and executes the agent again. The agent must listen on
// the secret's address and report with the secret's API key, the process
// must be the agent again, and the key must be in neither its command
// line nor its output.
func TestNodeagentFetchesThroughTheHelper(t *testing.T) {
	v := startVault(t)
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/meshoptixiq/mesh/nodeagent",
		"github.com/meshoptixiq/mesh/nodeagent/secretsexec").CombinedOutput(); err != nil {
		t.Fatalf("go build nodeagent secretsexec: %v\n%s", err, out)
	}
	var keys headerLog
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/telemetry/report" {
			keys.add(r.Header.Get("X-API-Key"))
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(api.Close)

	const key = "agent-key-5d1e08b4-from-vault"
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	v.must(t, "POST", "secret/data/nodeagent", map[string]any{"data": map[string]any{"NODEAGENT_LISTEN": listen, "NODEAGENT_API_KEY": key}})
	ctx, cancel := context.WithCancel(context.Background())
	agent := filepath.Join(dir, "nodeagent")
	cmd := exec.CommandContext(ctx, agent)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "SECRETS_PROVIDER=vault", "VAULT_ADDR=" + v.addr, "VAULT_TOKEN=" + vaultRoot,
		"VAULT_SECRET_PATH=secret/nodeagent", "NODEAGENT_EBPF=off", "NODE_NAME=gpu-node-7", "APISERVER_URL=" + api.URL,
		"NODEAGENT_REPORT_INTERVAL=1s", "LOG_LEVEL=debug"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && !ready; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + listen + "/livez"); err == nil {
			resp.Body.Close()
			ready = resp.StatusCode == 200
		}
	}
	if !ready {
		t.Fatalf("the agent did not answer on NODEAGENT_LISTEN=%s from the secret; output:\n%s", listen, out.String())
	}
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline")
	if got := keys.wait(); len(got) == 0 || got[0] != key {
		t.Errorf("the apiserver saw X-API-Key %q, want the key from Vault", got)
	}
	if exe != agent {
		t.Errorf("the running process is %q, want the agent %s executed again by the helper", exe, agent)
	}
	if len(cmdline) == 0 || bytes.Contains(cmdline, []byte(key)) || bytes.Contains(cmdline, []byte("secretsexec")) {
		t.Errorf("/proc/PID/cmdline = %q: empty, holds the key or is still the helper's", cmdline)
	}
	cancel()
	_ = cmd.Wait()
	if strings.Contains(out.String(), key) {
		t.Errorf("the agent's output holds the key:\n%s", out.String())
	}
}

// headerLog keeps one header of each request a fake server receives.
type headerLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *headerLog) add(v string) {
	l.mu.Lock()
	l.seen = append(l.seen, v)
	l.mu.Unlock()
}

// wait returns what was kept once there is something, or after 30 s.
func (l *headerLog) wait() []string {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		l.mu.Lock()
		seen := append([]string(nil), l.seen...)
		l.mu.Unlock()
		if len(seen) > 0 || time.Now().After(deadline) {
			return seen
		}
	}
}
