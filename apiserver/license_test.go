package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// licenseTool runs `apiserver license ...` and returns its stdout.
func licenseTool(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), append([]string{"license"}, args...), env(nil), &out, &errOut); err != nil {
		t.Fatalf("license %v: %v\n%s", args, err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %s is not JSON", url, b)
	}
	return resp.StatusCode, m
}

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// TestLicensePlans goes through the real daemon: without a key everything
// is on; a Pro key with a device limit gates Enterprise endpoints and
// ingest; an expired key keeps community only; a forged key stops the start.
func TestLicensePlans(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "signing.key")
	pubLine := licenseTool(t, "keygen", "--private-key", priv)
	pub, ok := strings.CutPrefix(pubLine, "MESHQ_LICENSE_PUBLIC_KEY=")
	if !ok {
		t.Fatalf("keygen printed %q", pubLine)
	}
	if fi, err := os.Stat(priv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v, want mode 0600", fi, err)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	proKey := licenseTool(t, "issue", "--private-key", priv, "--plan", "pro", "--devices", "8", "--licensee", "Acme", "--expires", tomorrow)

	// No key: demo mode, every feature.
	base := serveInProcess(t, map[string]string{"MESHQ_DATA_DIR": t.TempDir(), "HOME": t.TempDir()})
	if _, m := getJSON(t, base+"/health/license"); m["demo_mode"] != true || m["plan"] != "open" {
		t.Errorf("no key: /health/license = %v, want demo_mode and plan open", m)
	}
	if status, _ := getJSON(t, base+"/nccl/topology/full"); status != 200 {
		t.Errorf("no key: GET /nccl/topology/full = %d, want 200", status)
	}

	// Pro, 8 devices, valid through tomorrow.
	base = serveInProcess(t, map[string]string{"MESHQ_DATA_DIR": t.TempDir(), "HOME": t.TempDir(),
		"MESHOPTIXIQ_LICENSE_KEY": proKey, "MESHQ_LICENSE_PUBLIC_KEY": pub})
	_, m := getJSON(t, base+"/health/license")
	if m["plan"] != "pro" || m["demo_mode"] != false || m["licensee"] != "Acme" || m["devices_limit"] != 8.0 ||
		m["days_remaining"] == nil || m["expires"] == nil {
		t.Errorf("pro key: /health/license = %v", m)
	}
	if status, _ := getJSON(t, base+"/ebpf/metrics"); status != 200 {
		t.Errorf("pro key: GET /ebpf/metrics (Pro+) = %d, want 200", status)
	}
	status, m := getJSON(t, base+"/nccl/topology/full")
	if msg, _ := m["error"].(map[string]any)["message"].(string); status != 403 || errorCode(m) != "plan_required" || !strings.Contains(msg, "enterprise") {
		t.Errorf("pro key: GET /nccl/topology/full = %d %v, want 403 plan_required naming enterprise", status, m)
	}
	status, body := post(t, base, "/graph/ingest", `{"schema":"meshq.facts/v1","devices":[`+strings.TrimSuffix(strings.Repeat(`{"hostname":"d"},`, 1), ",")+`]}`)
	if status != 200 {
		t.Fatalf("ingest within the limit = %d %s", status, body)
	}
	var many []string
	for _, h := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		many = append(many, `{"hostname":"`+h+`"}`)
	}
	status, body = post(t, base, "/graph/ingest", `{"schema":"meshq.facts/v1","devices":[`+strings.Join(many, ",")+`]}`)
	if status != 403 || !strings.Contains(string(body), "plan_required") || !strings.Contains(string(body), "allows 8") {
		t.Errorf("ingest of 9 devices under an 8-device licence = %d %s, want 403 naming the limit", status, body)
	}
	if _, m := getJSON(t, base+"/health/license"); m["devices_used"] != 1.0 {
		t.Errorf("devices_used after the refused ingest = %v, want 1 (nothing applied)", m["devices_used"])
	}

	// Expired yesterday: community features only, and it says so.
	yesterday := time.Now().UTC().AddDate(0, 0, -2).Format(time.DateOnly)
	oldKey := licenseTool(t, "issue", "--private-key", priv, "--plan", "enterprise", "--expires", yesterday)
	base = serveInProcess(t, map[string]string{"MESHQ_DATA_DIR": t.TempDir(), "HOME": t.TempDir(),
		"MESHOPTIXIQ_LICENSE_KEY": oldKey, "MESHQ_LICENSE_PUBLIC_KEY": pub})
	if _, m := getJSON(t, base+"/health/license"); m["status"] != "expired" || m["plan"] != "community" || m["licensed_plan"] != "enterprise" {
		t.Errorf("expired key: /health/license = %v", m)
	}
	if status, m := getJSON(t, base+"/ebpf/metrics"); status != 403 || errorCode(m) != "plan_required" {
		t.Errorf("expired key: GET /ebpf/metrics = %d %v, want 403 plan_required", status, m)
	}
	if status, _ := post(t, base, "/queries/summary_stats/execute", `{}`); status != 200 {
		t.Errorf("expired key: a community query = %d, want 200", status)
	}

	// The key file in the home directory is read too; a key signed by
	// someone else stops the start, naming where the key came from.
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".meshoptixiq"), 0o700)
	os.WriteFile(filepath.Join(home, ".meshoptixiq", "license.key"), []byte("\n"+proKey+"\n"), 0o600)
	err := run(context.Background(), nil, env(map[string]string{"HOME": home, "MESHQ_DATA_DIR": t.TempDir()}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "license.key: the licence key is refused") {
		t.Errorf("a key not signed by the built-in key = %v, want a refusal naming the key file", err)
	}
}
