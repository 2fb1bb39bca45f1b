package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil {
		t.Fatalf("loadConfig(empty) = %v, want defaults", err)
	}
	if c.Backend != "stdout" || c.Listen != ":9102" || c.StateDir != "./var/shipper" || c.DrainTimeout != 10*time.Second || c.PollInterval != 250*time.Millisecond {
		t.Errorf("defaults = backend %q listen %q state %q drain %v poll %v", c.Backend, c.Listen, c.StateDir, c.DrainTimeout, c.PollInterval)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig(envOf(map[string]string{
		"AUDIT_LOG_BACKEND":     "splunk",
		"SHIPPER_LISTEN":        "nowhere",
		"SHIPPER_BATCH_BYTES":   "12",
		"LOG_LEVEL":             "loud",
		"SHIPPER_RETRY_MIN":     "5s",
		"SHIPPER_RETRY_MAX":     "1s",
		"SPLUNK_HEC_ACK":        "maybe",
		"AUDIT_LOG_PATH":        "/var/log/[x",
		"SHIPPER_CONCURRENCY":   "0",
		"SHIPPER_POLL_INTERVAL": "0s",
	}))
	if err == nil {
		t.Fatal("loadConfig(bad) = nil error")
	}
	for _, name := range []string{"SPLUNK_HEC_URL", "SPLUNK_HEC_TOKEN", "SHIPPER_LISTEN", "SHIPPER_BATCH_BYTES", "LOG_LEVEL", "SHIPPER_RETRY_MAX", "SPLUNK_HEC_ACK", "AUDIT_LOG_PATH", "SHIPPER_CONCURRENCY", "SHIPPER_POLL_INTERVAL"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("loadConfig error does not name %s:\n%v", name, err)
		}
	}
	for _, tc := range []map[string]string{
		{"AUDIT_LOG_BACKEND": "kafka"},
		{"AUDIT_LOG_BACKEND": "elasticsearch", "ES_URL": "ftp://x"},
		{"AUDIT_LOG_BACKEND": "webhook"},
		{"SHIPPER_TLS_CA_FILE": "/does/not/exist"},
	} {
		if _, err := loadConfig(envOf(tc)); err == nil {
			t.Errorf("loadConfig(%v) = nil error, want one", tc)
		}
	}
}

func TestConfigValidatesIndexAndCABundle(t *testing.T) {
	// Both used to be checked only when the sink was built, after the
	// checkpoint was opened, and never together with the other problems.
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadConfig(envOf(map[string]string{
		"AUDIT_LOG_BACKEND":   "elasticsearch",
		"ES_URL":              "http://127.0.0.1:9200",
		"ES_INDEX":            "audit-%{+yyyy.MM.dd.mm}",
		"SHIPPER_TLS_CA_FILE": notPEM,
		"SHIPPER_CONCURRENCY": "0",
	}))
	if err == nil {
		t.Fatal("loadConfig(bad ES_INDEX, CA file without PEM) = nil error")
	}
	for _, name := range []string{"ES_INDEX", "SHIPPER_TLS_CA_FILE", "SHIPPER_CONCURRENCY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("loadConfig error does not name %s:\n%v", name, err)
		}
	}
	for _, index := range []string{"audit log", "audit-%{+yyyy.ww}", "a|b"} {
		env := map[string]string{"AUDIT_LOG_BACKEND": "opensearch", "ES_URL": "http://127.0.0.1:9200", "ES_INDEX": index}
		if _, err := loadConfig(envOf(env)); err == nil || !strings.Contains(err.Error(), "ES_INDEX") {
			t.Errorf("loadConfig(ES_INDEX=%q) = %v, want an error naming ES_INDEX", index, err)
		}
	}
	// The same values are fine where they are not used, and a good index
	// pattern passes.
	if _, err := loadConfig(envOf(map[string]string{"ES_INDEX": "audit log"})); err != nil {
		t.Errorf("loadConfig(stdout backend, unused ES_INDEX) = %v, want nil", err)
	}
	if _, err := loadConfig(envOf(map[string]string{"AUDIT_LOG_BACKEND": "elasticsearch", "ES_URL": "http://127.0.0.1:9200", "ES_INDEX": "audit-%{+yyyy.MM.dd}"})); err != nil {
		t.Errorf("loadConfig(good ES_INDEX) = %v, want nil", err)
	}
}

func TestConfigLoadsCABundle(t *testing.T) {
	ca := httptest.NewTLSServer(http.NotFoundHandler())
	defer ca.Close()
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})
	if err := os.WriteFile(bundle, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(envOf(map[string]string{"AUDIT_LOG_BACKEND": "webhook", "AUDIT_WEBHOOK_URL": ca.URL, "SHIPPER_TLS_CA_FILE": bundle}))
	if err != nil {
		t.Fatalf("loadConfig(PEM bundle) = %v, want nil", err)
	}
	if c.TLSRootCAs == nil {
		t.Fatal("loadConfig(PEM bundle).TLSRootCAs = nil, want the bundle's pool")
	}
	// The pool is the one the sink's client uses: it trusts the server.
	resp, err := httpClient(c).Get(ca.URL)
	if err != nil {
		t.Fatalf("GET with SHIPPER_TLS_CA_FILE pool = %v, want the server trusted", err)
	}
	resp.Body.Close()
}

func TestConfigLogRedactsSecrets(t *testing.T) {
	for _, env := range []map[string]string{
		{"AUDIT_LOG_BACKEND": "splunk", "SPLUNK_HEC_URL": "https://s:8088", "SPLUNK_HEC_TOKEN": "TOPSECRET1"},
		{"AUDIT_LOG_BACKEND": "elasticsearch", "ES_URL": "https://es:9200", "ES_API_KEY": "TOPSECRET2", "ES_PASSWORD": "TOPSECRET3"},
		{"AUDIT_LOG_BACKEND": "webhook", "AUDIT_WEBHOOK_URL": "https://h", "AUDIT_WEBHOOK_TOKEN": "TOPSECRET4", "AUDIT_WEBHOOK_SECRET": "TOPSECRET5"},
	} {
		c, err := loadConfig(envOf(env))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
		if strings.Contains(buf.String(), "TOPSECRET") {
			t.Errorf("startup log leaks a secret: %s", buf.String())
		}
		if !strings.Contains(buf.String(), "[redacted]") {
			t.Errorf("startup log = %s, want secrets shown as [redacted]", buf.String())
		}
	}
}

func TestRunRefusesBadConfigAndArgs(t *testing.T) {
	err := run(context.Background(), nil, envOf(map[string]string{"AUDIT_LOG_BACKEND": "elasticsearch"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ES_URL") {
		t.Errorf("run(no ES_URL) = %v, want an error naming ES_URL", err)
	}
	if err := run(context.Background(), []string{"serve"}, envOf(nil), io.Discard, io.Discard); err == nil {
		t.Errorf("run(serve) = nil, want an unexpected-arguments error")
	}
	// A checkpoint that is corrupt in both copies stops the start.
	dir := t.TempDir()
	for _, name := range []string{"checkpoint.json", "checkpoint.prev.json"} {
		os.WriteFile(filepath.Join(dir, name), []byte("{garbage"), 0o640)
	}
	err = run(context.Background(), nil, envOf(map[string]string{"SHIPPER_STATE_DIR": dir, "SHIPPER_LISTEN": "127.0.0.1:0"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "SHIPPER_STATE_DIR") {
		t.Errorf("run(corrupt checkpoints) = %v, want an error naming SHIPPER_STATE_DIR", err)
	}
}

// TestEveryPackageHasDocComment walks auditshipper's packages.
func TestEveryPackageHasDocComment(t *testing.T) {
	documented := map[string]bool{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		documented[dir] = documented[dir] || f.Doc != nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) < 6 {
		t.Errorf("found %d packages, want at least 6", len(documented))
	}
	for dir, ok := range documented {
		if !ok {
			t.Errorf("package in %s has no doc comment", dir)
		}
	}
}
