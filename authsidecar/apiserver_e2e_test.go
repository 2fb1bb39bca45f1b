package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/tracing/tracingtest"
)

// buildAPIServer builds the real apiserver binary (the Go build cache makes
// this a link step when `go test ./...` has compiled its packages).
func buildAPIServer(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MESHQ_APISERVER_BIN"); bin != "" {
		return bin // a prebuilt binary (bin/apiserver after make build)
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "apiserver")
	cmd := exec.Command("go", "build", "-o", bin, "./apiserver")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building ./apiserver: %v\n%s", err, out)
	}
	return bin
}

// startAPIServer runs the real apiserver binary on a unix socket in dir
// with the demo network (and extra environment), until the test ends.
func startAPIServer(t *testing.T, dir string, extra ...string) (sock string, proc *exec.Cmd, log *syncBuffer) {
	t.Helper()
	sock = filepath.Join(dir, "api.sock")
	proc = exec.Command(buildAPIServer(t))
	proc.Env = append(append(os.Environ(), "API_LISTEN=unix:"+sock, "MESHQ_DATA_DIR="+filepath.Join(dir, "data"), "MESHQ_DEMO=true", "REDIS_URL="), extra...)
	log = &syncBuffer{}
	proc.Stdout, proc.Stderr = log, log
	if err := proc.Start(); err != nil {
		t.Fatalf("starting apiserver: %v", err)
	}
	t.Cleanup(func() { proc.Process.Signal(os.Interrupt); proc.Wait() })
	return sock, proc, log
}

// TestEndToEndWithTheRealAPIServer runs the pod's two processes as in
// Kubernetes: the apiserver on a unix socket with the demo network, the
// sidecar in front of it with the seeds' policy, an OIDC provider and the
// audit log.
func TestEndToEndWithTheRealAPIServer(t *testing.T) {
	dir := t.TempDir()
	sock, _, apiLog := startAPIServer(t, dir)
	idp := startIdP(t)
	auditFile := filepath.Join(dir, "audit.jsonl")
	sc := startSidecar(t, "", oidcEnv(idp, map[string]string{"UPSTREAM": "unix:" + sock, "AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": auditFile}))
	eventually(t, "apiserver ready through the sidecar", 60*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/health/ready", nil, "")
		return status == 200, string(body) + apiLog.String()
	})
	// The sidecar discovers the issuer in the background: bearer tokens
	// verify once its own readiness says the keys are fetched.
	eventually(t, "sidecar ready (issuer discovered)", 60*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 200, string(body)
	})
	key := map[string]string{"X-API-Key": testKey, "Content-Type": "application/json"}
	status, hdr, body := do(t, "POST", sc.URL+"/queries/summary_stats/execute", key, `{"parameters":{}}`)
	if status != 200 || hdr.Get("X-Row-Count") != "1" {
		t.Fatalf("summary_stats via the sidecar = %d (X-Row-Count %q) %s", status, hdr.Get("X-Row-Count"), body)
	}
	var res struct {
		Rows     []map[string]any `json:"rows"`
		RowCount int              `json:"row_count"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.RowCount != 1 || res.Rows[0]["devices"].(float64) == 0 {
		t.Errorf("summary_stats result = %s (%v), want one row with devices", body, err)
	}
	alice := bearer(t, idp, "alice")
	alice["Content-Type"] = "application/json"
	if status, _, body := do(t, "POST", sc.URL+"/queries/all_devices/execute", alice, `{"parameters":{"limit":5}}`); status != 200 || !strings.Contains(string(body), `"hostname"`) {
		t.Errorf("alice all_devices = %d %.200s, want 200 with devices", status, body)
	}
	alice["X-Meshq-Role"] = "admin"
	alice["X_Meshq_Grants"] = "*"
	if status, _, body := do(t, "POST", sc.URL+"/queries/firewall_rules_by_device/execute", alice, `{"parameters":{"hostname":"x"}}`); status != 403 {
		t.Errorf("alice (spoofing admin headers) firewall_rules_by_device = %d %.200s, want 403", status, body)
	}
	if status, _, _ := do(t, "POST", sc.URL+"/queries/no_such_query/execute", key, `{}`); status != 404 {
		t.Errorf("unknown query via the sidecar = %d, want the apiserver's 404", status)
	}
	recs := readAudit(t, auditFile, 4)
	var found bool
	for _, r := range recs {
		if r.Query == "summary_stats" && r.Status == 200 && r.RowCount == 1 && r.PlanTier != "" && r.User == "admin" {
			found = true
		}
	}
	if !found {
		t.Errorf("audit lacks the summary_stats record with row_count and plan_tier from the apiserver: %+v", recs)
	}
}

// TestConversationGrantsEndToEnd: through the sidecar, a conversation runs
// only the queries the caller's roles grant (the sidecar forwards them in
// X-Meshq-Grants): a helpdesk user asking for firewall rules gets a 403, a
// security analyst the rules.
func TestConversationGrantsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	sock, _, apiLog := startAPIServer(t, dir)
	idp := startIdP(t)
	policy := `roles:
  helpdesk:
    allow: ["ai_conversation", "locate_endpoint_by_ip"]
  security:
    allow: ["ai_conversation", "firewall_*"]
groups:
  "noc-helpdesk": helpdesk
  "security-analysts": security
`
	sc := startSidecar(t, "", oidcEnv(idp, map[string]string{"UPSTREAM": "unix:" + sock, "RBAC_POLICY": policy}))
	eventually(t, "apiserver ready through the sidecar", 60*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/health/ready", nil, "")
		return status == 200, string(body) + apiLog.String()
	})
	eventually(t, "sidecar ready (issuer discovered)", 60*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 200, string(body)
	})
	ask := func(user, msg string) (int, map[string]any) {
		h := bearer(t, idp, user)
		h["Content-Type"] = "application/json"
		// A spoofed grants header must not widen anything.
		h["X-Meshq-Grants"] = "*"
		b, _ := json.Marshal(map[string]string{"message": msg})
		status, _, body := do(t, "POST", sc.URL+"/ai/query/conversation", h, string(b))
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		return status, m
	}
	if status, m := ask("alice", "where is 10.0.0.1?"); status != 200 || m["query"] != "locate_endpoint_by_ip" {
		t.Errorf("helpdesk locating = %d %v, want 200 from locate_endpoint_by_ip", status, m)
	}
	if status, m := ask("alice", "show permissive firewall rules"); status != 403 || !strings.Contains(fmt.Sprint(m["error"]), "firewall_permissive_rules") {
		t.Errorf("helpdesk asking for firewall rules = %d %v, want 403 naming firewall_permissive_rules", status, m)
	}
	if status, m := ask("sam", "show permissive firewall rules"); status != 200 || m["query"] != "firewall_permissive_rules" {
		t.Errorf("security analyst = %d %v, want 200 from firewall_permissive_rules", status, m)
	}
	if status, _ := ask("nobody", "where is 10.0.0.1?"); status != 403 {
		t.Errorf("a user without ai_conversation = %d, want the sidecar's 403", status)
	}
}

// TestOneTraceAcrossSidecarAndAPIServer: with an OTLP endpoint set, the
// sidecar and the real apiserver binary each export a span per request to
// a receiver that decodes the real OTLP protobufs, and the apiserver's span
// is the child of the sidecar's: one trace covers both.
func TestOneTraceAcrossSidecarAndAPIServer(t *testing.T) {
	rcv := tracingtest.StartHTTP(t)
	sock, api, apiLog := startAPIServer(t, t.TempDir(), "OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL, "OTEL_BSP_SCHEDULE_DELAY=50")
	sc := startSidecar(t, "", map[string]string{"UPSTREAM": "unix:" + sock, "OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL})
	eventually(t, "apiserver ready through the sidecar", 60*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/health/ready", nil, "")
		return status == 200, string(body) + apiLog.String()
	})
	// A caller's own traceparent is continued.
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	key := map[string]string{"X-API-Key": testKey, "Content-Type": "application/json", "traceparent": parent}
	if status, _, body := do(t, "POST", sc.URL+"/queries/summary_stats/execute", key, `{"parameters":{}}`); status != 200 {
		t.Fatalf("summary_stats = %d %s", status, body)
	}
	if err := sc.stop(); err != nil { // flushes the sidecar's spans
		t.Fatal(err)
	}
	api.Process.Signal(os.Interrupt) // flushes the apiserver's
	api.Wait()
	var side, apis tracingtest.Span
	eventually(t, "both spans of the query at the receiver", 20*time.Second, func() (bool, string) {
		for _, s := range rcv.Spans() {
			if s.Attributes["meshq.query.name"] != "summary_stats" {
				continue
			}
			switch s.Service {
			case "authsidecar":
				side = s
			case "apiserver":
				apis = s
			}
		}
		return side.SpanID != "" && apis.SpanID != "", fmt.Sprintf("%d spans: %+v", len(rcv.Spans()), rcv.Spans())
	})
	if side.TraceID != "0af7651916cd43dd8448eb211c80319c" || side.ParentID != "b7ad6b7169203331" {
		t.Errorf("sidecar span %+v does not continue the caller's trace", side)
	}
	if apis.TraceID != side.TraceID || apis.ParentID != side.SpanID {
		t.Errorf("apiserver span %+v is not the child of the sidecar's %+v", apis, side)
	}
	if u := side.Attributes["enduser.id"]; !strings.HasPrefix(u, "sha256:") && u != "admin" {
		t.Errorf("enduser.id = %q, want the key's fingerprint or the identity, never the key", u)
	}
	for _, s := range []tracingtest.Span{side, apis} {
		for k, v := range s.Attributes {
			if strings.Contains(v, testKey) {
				t.Errorf("span attribute %s carries the API key", k)
			}
		}
	}
	if apis.Attributes["meshq.row_count"] != "1" || apis.Attributes["http.response.status_code"] != "200" {
		t.Errorf("apiserver span attributes = %v", apis.Attributes)
	}
}
