package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/authsidecar/testidp"
	"github.com/meshoptixiq/mesh/common/testenv"
)

const testKey = "0123456789abcdef0123456789abcdef-meshq-test"

const testPolicy = `roles:
  admin:
    allow: ["*"]
  network:
    allow: ["queries_list", "all_devices", "devices_*", "summary_stats", "graph_ingest"]
groups:
  "network-ops-team": network
  "platform-admins": admin
`

// pod is the real apiserver and authsidecar binaries on loopback, behind
// a real OpenID provider.
type pod struct {
	URL string
	idp *testidp.IdP
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildPod builds bin/apiserver and bin/authsidecar once per test binary
// (MESHQ_APISERVER_BIN and MESHQ_AUTHSIDECAR_BIN name prebuilt ones).
func buildPod(t *testing.T) (apiserver, sidecar string) {
	t.Helper()
	apiserver, sidecar = os.Getenv("MESHQ_APISERVER_BIN"), os.Getenv("MESHQ_AUTHSIDECAR_BIN")
	if apiserver != "" && sidecar != "" {
		return apiserver, sidecar
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "meshq-e2e-bin-")
		if buildErr != nil {
			return
		}
		var root []byte
		root, buildErr = exec.Command("go", "env", "GOMOD").Output()
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./apiserver", "./authsidecar")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the pod: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "apiserver"), filepath.Join(binDir, "authsidecar")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// logBuffer collects a process's output for failure messages.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startProcess(t *testing.T, bin string, env ...string) *logBuffer {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	logs := &logBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), logs)
		}
	})
	return logs
}

// startPod runs the apiserver (demo network) on a unix socket and the
// sidecar in front of it in AUTH_MODE=both, as in the Kubernetes pod.
func startPod(t *testing.T) *pod {
	t.Helper()
	apiBin, scBin := buildPod(t)
	idp, err := testidp.Start("meshq")
	if err != nil {
		t.Fatalf("starting the OpenID provider: %v", err)
	}
	t.Cleanup(idp.Stop)
	for _, u := range []testidp.User{
		{ID: "alice", Secret: "a", Claims: map[string]any{"preferred_username": "alice", "groups": []any{"network-ops-team"}}},
		{ID: "root", Secret: "r", Claims: map[string]any{"preferred_username": "root", "groups": []any{"platform-admins"}}},
	} {
		idp.AddUser(u)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	startProcess(t, apiBin, "API_LISTEN=unix:"+sock, "MESHQ_DATA_DIR="+filepath.Join(dir, "data"), "MESHQ_DEMO=true")
	port := testenv.FreePort(t)
	startProcess(t, scBin, fmt.Sprintf("LISTEN_ADDR=127.0.0.1:%d", port), "UPSTREAM=unix:"+sock, "API_KEY="+testKey,
		"AUTH_MODE=both", "OIDC_ISSUER="+idp.Issuer, "OIDC_CLIENT_ID=meshq", "RBAC_POLICY="+testPolicy)
	p := &pod{URL: fmt.Sprintf("http://127.0.0.1:%d", port), idp: idp}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
			err = fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not ready within 90s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

// cli is meshq run in-process with its own configuration directory.
type cli struct {
	t      *testing.T
	config string
	env    map[string]string
}

func newCLI(t *testing.T, server string) *cli {
	dir := t.TempDir()
	return &cli{t: t, config: filepath.Join(dir, "config"), env: map[string]string{
		"XDG_CONFIG_HOME": filepath.Join(dir, "config"), "HOME": dir, "MESHQ_URL": server}}
}

type result struct {
	code        int
	out, errOut string
}

func (c *cli) run(stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return c.env[k] }, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func (c *cli) credentialsFile() string { return filepath.Join(c.config, "meshq", "credentials") }

var userCodeRE = regexp.MustCompile(`code ([A-Z]{4}-[A-Z]{4})`)

// login runs meshq login, answers the verification page as user with
// action (allow or deny), and returns meshq's result.
func (c *cli) login(p *pod, user, action string, args ...string) result {
	c.t.Helper()
	pr, pw := io.Pipe()
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(context.Background(), append([]string{"login"}, args...), func(k string) string { return c.env[k] }, strings.NewReader(""), &out, pw)
		pw.Close()
		done <- code
	}()
	var errOut strings.Builder
	sc := bufio.NewScanner(pr)
	approved := false
	for sc.Scan() {
		line := sc.Text()
		errOut.WriteString(line + "\n")
		if m := userCodeRE.FindStringSubmatch(line); m != nil && !approved {
			approved = true
			if err := p.idp.Approve(context.Background(), m[1], user, action); err != nil {
				c.t.Errorf("approving %s: %v", m[1], err)
			}
		}
	}
	code := <-done
	if !approved {
		c.t.Errorf("meshq login printed no user code:\n%s", errOut.String())
	}
	return result{code, out.String(), errOut.String()}
}

func TestEndToEndAgainstThePod(t *testing.T) {
	p := startPod(t)
	c := newCLI(t, p.URL)

	// Not logged in yet: a clear message, non-zero exit.
	if r := c.run("", "queries"); r.code != 1 || !strings.Contains(r.errOut, "not logged in") {
		t.Errorf("queries before login = %d %q, want 1 and 'not logged in'", r.code, r.errOut)
	}

	r := c.login(p, "root", "allow", "--name", "e2e laptop")
	if r.code != 0 || !strings.Contains(r.errOut, "Logged in to "+p.URL+" as root") {
		t.Fatalf("login = %d\n%s", r.code, r.errOut)
	}
	info, err := os.Stat(c.credentialsFile())
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("credentials file = %v, %v; want mode 0600", info, err)
	}
	if dir, err := os.Stat(filepath.Dir(c.credentialsFile())); err != nil || dir.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory = %v, %v; want mode 0700", dir, err)
	}
	var creds credentials
	b, _ := os.ReadFile(c.credentialsFile())
	if err := json.Unmarshal(b, &creds); err != nil || creds.Kind != kindPAT || !strings.HasPrefix(creds.Token, "mqp_") ||
		creds.TokenID == "" || creds.Name != "e2e laptop" || creds.Server != p.URL {
		t.Fatalf("credentials = %s (%v), want a PAT for %s", b, err, p.URL)
	}

	if r := c.run("", "whoami"); r.code != 0 || !strings.Contains(r.out, "user:    root") || !strings.Contains(r.out, "accepted by the server") {
		t.Errorf("whoami = %d %s %s", r.code, r.out, r.errOut)
	}

	// Queries, listed and run, in the three formats.
	r = c.run("", "queries", "-o", "table")
	if r.code != 0 || !strings.Contains(r.out, "all_devices") || !strings.Contains(r.out, "limit:int") {
		t.Errorf("queries = %d %s %s", r.code, r.out, r.errOut)
	}
	r = c.run("", "query", "summary_stats", "-o", "json")
	var summary struct {
		Rows []map[string]any `json:"rows"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.out), &summary) != nil || len(summary.Rows) != 1 {
		t.Fatalf("query summary_stats -o json = %d %s %s", r.code, r.out, r.errOut)
	}
	devices := int(summary.Rows[0]["devices"].(float64))
	// limit=2 pages through every device with --all; CSV has a header.
	r = c.run("", "query", "all_devices", "limit=2", "--all", "-o", "csv")
	if lines := strings.Count(r.out, "\n"); r.code != 0 || lines != devices+1 || !strings.HasPrefix(r.out, "hostname,") {
		t.Errorf("query all_devices limit=2 --all -o csv = %d, %d lines (want %d devices + header)\n%.300s\n%s", r.code, lines, devices, r.out, r.errOut)
	}
	r = c.run("", "query", "all_devices", "limit=2", "-o", "table")
	if r.code != 0 || strings.Count(r.out, "\n") != 3 || !strings.Contains(r.errOut, "--all") || !strings.HasPrefix(r.out, "HOSTNAME") {
		t.Errorf("query all_devices limit=2 = %d\n%s\n%s, want 2 rows and a note about --all", r.code, r.out, r.errOut)
	}
	// Errors: local conversion names the parameter; the server's own
	// message comes through with a non-zero exit.
	if r := c.run("", "query", "all_devices", "limit=lots"); r.code != 2 || !strings.Contains(r.errOut, "parameter limit: expected an integer") {
		t.Errorf("limit=lots = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "query", "all_devices", "limit=0"); r.code != 1 || !strings.Contains(r.errOut, "limit") || !strings.Contains(r.errOut, "HTTP 400") {
		t.Errorf("limit=0 = %d %s, want the server's 400 naming limit", r.code, r.errOut)
	}
	if r := c.run("", "query", "no_such_query"); r.code != 1 || !strings.Contains(r.errOut, `no query named "no_such_query"`) {
		t.Errorf("unknown query = %d %s, want the server's message", r.code, r.errOut)
	}

	// Ingest (gzip, or plain where the apiserver cannot inflate) and the
	// device is then in the graph; validate refuses what the server would.
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"schema":"meshq.facts/v1","devices":[{"hostname":"e2e-sw-01","vendor":"arista","mgmt_ip":"192.0.2.77"}]}`), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schema":"meshq.facts/v1","devices":[{"hostname":"x","mgmt_ip":"999.1.1.1"}]}`), 0o644)
	if r := c.run("", "validate", good); r.code != 0 || !strings.Contains(r.out, "valid, 1 device") {
		t.Errorf("validate good = %d %s %s", r.code, r.out, r.errOut)
	}
	if r := c.run("", "validate", good, bad); r.code != 1 || !strings.Contains(r.errOut, "devices[0].mgmt_ip") {
		t.Errorf("validate bad = %d %s %s, want 1 naming devices[0].mgmt_ip", r.code, r.out, r.errOut)
	}
	if r := c.run("", "ingest", bad); r.code != 1 || !strings.Contains(r.errOut, "nothing uploaded") {
		t.Errorf("ingest bad = %d %s", r.code, r.errOut)
	}
	r = c.run("", "ingest", good)
	if r.code != 0 || !strings.Contains(r.out, "1 device ingested (merge)") {
		t.Fatalf("ingest = %d %s %s", r.code, r.out, r.errOut)
	}
	t.Logf("ingest: %s%s", r.out, r.errOut)
	if r := c.run("", "query", "devices_detail", "hostname=e2e-sw-01", "-o", "json"); r.code != 0 || !strings.Contains(r.out, "192.0.2.77") {
		t.Errorf("the ingested device = %d %s %s", r.code, r.out, r.errOut)
	}

	// Logout revokes the token at the sidecar: it no longer opens anything.
	token := creds.Token
	if r := c.run("", "logout"); r.code != 0 || !strings.Contains(r.errOut, "revoked") {
		t.Errorf("logout = %d %s", r.code, r.errOut)
	}
	if _, err := os.Stat(c.credentialsFile()); !os.IsNotExist(err) {
		t.Errorf("credentials file after logout: %v, want gone", err)
	}
	req, _ := http.NewRequest("GET", p.URL+"/queries/", nil)
	req.Header.Set("X-API-Key", token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("the logged-out token = %v %v, want 401", resp, err)
	}
}

func TestLoginRefusedAndRBACAndExpiredToken(t *testing.T) {
	p := startPod(t)
	c := newCLI(t, p.URL)

	// The user denies the code at the identity provider.
	r := c.login(p, "alice", "deny")
	if r.code != 1 || !strings.Contains(r.errOut, "login refused") || !strings.Contains(r.errOut, "access_denied") {
		t.Errorf("denied login = %d %s, want 1 with access_denied", r.code, r.errOut)
	}
	if _, err := os.Stat(c.credentialsFile()); !os.IsNotExist(err) {
		t.Errorf("credentials after a refused login: %v, want none", err)
	}

	// alice's token acts with her role only: the sidecar's 403 is shown.
	if r := c.login(p, "alice", "allow", "--ttl", "2s"); r.code != 0 {
		t.Fatalf("login = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "query", "summary_stats", "-o", "json"); r.code != 0 {
		t.Errorf("alice summary_stats = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "sync", "--target", "netbox", "--direction", "pull", "--dry-run"); r.code != 1 || !strings.Contains(r.errOut, "forbidden") || !strings.Contains(r.errOut, "HTTP 403") {
		t.Errorf("alice sync = %d %s, want the sidecar's 403", r.code, r.errOut)
	}

	// The token expires: the server's 401 message and what to do.
	var creds credentials
	b, _ := os.ReadFile(c.credentialsFile())
	json.Unmarshal(b, &creds)
	time.Sleep(time.Until(creds.Expires) + 1500*time.Millisecond)
	r = c.run("", "query", "summary_stats")
	if r.code != 1 || !strings.Contains(r.errOut, "personal access token is invalid, expired or revoked") || !strings.Contains(r.errOut, "expired at") {
		t.Errorf("expired token = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "whoami"); r.code != 1 || !strings.Contains(r.errOut, "refuses these credentials") {
		t.Errorf("whoami with an expired token = %d %s %s", r.code, r.out, r.errOut)
	}
	// Logout still forgets it.
	if r := c.run("", "logout"); r.code != 0 || !strings.Contains(r.errOut, "no longer accepts") {
		t.Errorf("logout of an expired token = %d %s", r.code, r.errOut)
	}

	// API keys: a wrong one is refused and not stored; the right one works.
	if r := c.run("not-the-key-not-the-key-not-the-key\n", "login", "--api-key"); r.code != 1 || !strings.Contains(r.errOut, "invalid API key") {
		t.Errorf("login --api-key wrong = %d %s", r.code, r.errOut)
	}
	if _, err := os.Stat(c.credentialsFile()); !os.IsNotExist(err) {
		t.Errorf("credentials after a refused key: %v, want none", err)
	}
	if r := c.run(testKey+"\n", "login", "--api-key"); r.code != 0 {
		t.Fatalf("login --api-key = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "query", "summary_stats", "-o", "csv"); r.code != 0 || !strings.HasPrefix(r.out, "devices,") {
		t.Errorf("summary_stats with the API key = %d %s %s", r.code, r.out, r.errOut)
	}
}
