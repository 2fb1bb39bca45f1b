package main

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// loggedIn is a CLI whose credentials file holds an API key for server.
func loggedIn(t *testing.T, server string) *cli {
	t.Helper()
	c := newCLI(t, server)
	a := &app{getenv: func(k string) string { return c.env[k] }}
	if _, err := a.saveCredentials(&credentials{Server: server, Kind: kindAPIKey, Token: testKey}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSyncPrintsTheReport runs meshq sync against a fake of
// POST /admin/netbox/sync: the request carries direction and dry_run, the
// counts come out as a table and every change of the dry run is listed.
func TestSyncPrintsTheReport(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/admin/netbox/sync" || r.Header.Get("X-API-Key") != testKey {
			http.Error(w, "unexpected request", 400)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"dry_run":true,"direction":"both",
		  "pull":{"matched":3,"unmatched":1,"created":0,"updated":2,"unchanged":1,"failed":0,
		          "changes":[{"object":"device core-sw-01","field":"nb_site","old":null,"new":"hq"}]},
		  "push":{"matched":4,"unmatched":0,"created":1,"updated":0,"unchanged":3,"failed":1,
		          "changes":[{"object":"device edge-fw-02","field":"primary_ip4","old":"10.0.0.9/32","new":"10.0.0.2/32"}],
		          "errors":[{"object":"device lab-sw-9","message":"name: device with this name already exists"}]}}`)
	}))
	defer srv.Close()
	c := loggedIn(t, srv.URL)
	r := c.run("", "sync", "--target", "netbox", "--direction", "both", "--dry-run", "-o", "table")
	if got["direction"] != "both" || got["dry_run"] != true {
		t.Errorf("request body = %v, want direction both, dry_run true", got)
	}
	for _, want := range []string{
		"DIRECTION  MATCHED  UNMATCHED  CREATED  UPDATED  UNCHANGED  FAILED",
		"pull       3        1          0        2        1          0",
		"push       4        0          1        0        3          1",
		"dry run, nothing written): 2",
		"device core-sw-01  nb_site      ",
		"hq",
		"device edge-fw-02  primary_ip4  10.0.0.9/32  10.0.0.2/32",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("sync output lacks %q:\n%s", want, r.out)
		}
	}
	if r.code != 1 || !strings.Contains(r.errOut, "push failed: device lab-sw-9: name: device with this name already exists") {
		t.Errorf("sync with a failed object = %d %s, want 1 naming the failure", r.code, r.errOut)
	}

	// A report listing its directions, nothing failed: exit 0.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"directions":[{"direction":"pull","counts":{"matched":1,"unmatched":0,"created":0,"updated":0,"unchanged":1,"failed":0}}]}`)
	})
	if r := c.run("", "sync", "-o", "csv"); r.code != 0 || !strings.Contains(r.out, "pull,1,0,0,0,1,0") {
		t.Errorf("sync (directions list) = %d %s %s", r.code, r.out, r.errOut)
	}
	// A sync already running: the server's 409 message.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(409)
		io.WriteString(w, `{"error":{"code":"conflict","message":"a NetBox sync is already running"}}`)
	})
	if r := c.run("", "sync", "--direction", "push"); r.code != 1 || !strings.Contains(r.errOut, "a NetBox sync is already running (HTTP 409)") {
		t.Errorf("sync during a sync = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "sync", "--direction", "sideways"); r.code != 2 {
		t.Errorf("--direction sideways = %d %s, want 2", r.code, r.errOut)
	}
}

// TestIngestGzipAndFallback: the upload is gzip with Content-Encoding and a
// declared length; a server that answers 415 gets the plain document, and
// meshq says so.
func TestIngestGzipAndFallback(t *testing.T) {
	doc := `{"schema":"meshq.facts/v1","devices":[{"hostname":"sw1","mgmt_ip":"192.0.2.1"}]}`
	var mu sync.Mutex
	var seen []string
	acceptGzip := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		enc := r.Header.Get("Content-Encoding")
		if r.ContentLength <= 0 {
			http.Error(w, "no Content-Length", http.StatusLengthRequired)
			return
		}
		mu.Lock()
		seen = append(seen, enc+" "+r.URL.RawQuery)
		refuse := !acceptGzip
		mu.Unlock()
		if enc == "gzip" {
			if refuse {
				w.WriteHeader(415)
				io.WriteString(w, `{"error":{"code":"bad_request","message":"Content-Encoding gzip is not supported"}}`)
				return
			}
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		if string(b) != doc {
			http.Error(w, "body differs: "+string(b), 400)
			return
		}
		io.WriteString(w, `{"status":"ok","mode":"`+r.URL.Query().Get("mode")+`","graph_version":7,"ingested_devices":1,"graph":{"devices":1},"warnings":[{"path":"devices[0]","message":"no interfaces"}]}`)
	}))
	defer srv.Close()
	c := loggedIn(t, srv.URL)
	f := filepath.Join(t.TempDir(), "f.json")
	os.WriteFile(f, []byte(doc), 0o644)
	r := c.run("", "ingest", f)
	if r.code != 0 || !strings.Contains(r.out, "1 device ingested (merge), graph version 7, 1 device in the graph") ||
		!strings.Contains(r.out, "warning: devices[0]: no interfaces") || strings.Contains(r.errOut, "uncompressed") {
		t.Errorf("ingest = %d %s %s", r.code, r.out, r.errOut)
	}
	mu.Lock()
	acceptGzip, seen = false, nil
	mu.Unlock()
	r = c.run("", "ingest", "--mode", "replace", f, f)
	if r.code != 0 || strings.Count(r.errOut, "sending uncompressed") != 1 || !strings.Contains(r.out, "(replace)") || !strings.Contains(r.out, "(merge)") {
		t.Errorf("ingest without gzip = %d %s %s", r.code, r.out, r.errOut)
	}
	// gzip tried once; then plain for both, replace first and merge after.
	if want := []string{"gzip mode=replace", " mode=replace", " mode=merge"}; strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("requests = %q, want %q", seen, want)
	}
}

func TestConvertParams(t *testing.T) {
	def := queryDef{Parameters: []paramDef{{Name: "limit", Type: "int"}, {Name: "up", Type: "bool"}, {Name: "o", Type: "object"}, {Name: "ip", Type: "ip"}}}
	got, err := convertParams(def, []string{"limit=5", "up=true", `o={"a":1}`, "ip=10.0.0.1", "other=x=y"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if want := `{"ip":"10.0.0.1","limit":5,"o":{"a":1},"other":"x=y","up":true}`; string(b) != want {
		t.Errorf("convertParams = %s, want %s", b, want)
	}
	for _, bad := range [][]string{{"limit=5x"}, {"up=maybe"}, {"o=[1]"}, {"novalue"}, {"limit=1", "limit=2"}} {
		if _, err := convertParams(def, bad); err == nil {
			t.Errorf("convertParams(%q) = nil error", bad)
		}
	}
}

// TestCredentialsStayWithTheirServer: the server comes from --server, then
// MESHQ_URL, then the file; stored credentials are never sent elsewhere.
func TestCredentialsStayWithTheirServer(t *testing.T) {
	var sawKey bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawKey = sawKey || r.Header.Get("X-API-Key") != ""
		io.WriteString(w, `{"queries":[]}`)
	}))
	defer other.Close()
	c := loggedIn(t, "http://127.0.0.1:1")
	delete(c.env, "MESHQ_URL")
	if r := c.run("", "queries", "--server", other.URL); r.code != 1 || !strings.Contains(r.errOut, "stored credentials are for http://127.0.0.1:1") || sawKey {
		t.Errorf("queries --server other = %d %s (key sent: %v)", r.code, r.errOut, sawKey)
	}
	c.env["MESHQ_URL"] = other.URL + "/"
	if r := c.run("", "whoami"); r.code != 1 || !strings.Contains(r.errOut, "not "+other.URL) || sawKey {
		t.Errorf("whoami with MESHQ_URL elsewhere = %d %s", r.code, r.errOut)
	}
	delete(c.env, "MESHQ_URL")
	// From the file: the refused connection to port 1 is the error.
	if r := c.run("", "queries"); r.code != 1 || !strings.Contains(r.errOut, "127.0.0.1:1") {
		t.Errorf("queries with the file's server = %d %s", r.code, r.errOut)
	}
	// MESHQ_API_KEY is sent to whichever server is named.
	c.env["MESHQ_API_KEY"] = testKey
	if r := c.run("", "queries", "--server", other.URL); r.code != 0 || !sawKey {
		t.Errorf("queries with MESHQ_API_KEY = %d %s (key sent: %v)", r.code, r.errOut, sawKey)
	}
	if r := c.run("", "queries", "--server", "ftp://x"); r.code != 2 {
		t.Errorf("--server ftp://x = %d %s, want 2", r.code, r.errOut)
	}
}

// TestEveryCommandHasHelpWithExamples walks the command tree.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }, terminal: func(any) bool { return false }}
	root := a.rootCommand()
	root.InitDefaultHelpCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example == "" || c.Short == "" {
			t.Errorf("meshq %s has no Example or Short", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	c := newCLI(t, "")
	if r := c.run("", "query", "--help"); r.code != 0 || !strings.Contains(r.out, "meshq query all_devices limit=5") {
		t.Errorf("query --help = %d %s", r.code, r.out)
	}
	if r := c.run("", "completion", "bash"); r.code != 0 || !strings.Contains(r.out, "__meshq") {
		t.Errorf("completion bash = %d %.100s", r.code, r.out)
	}
	if r := c.run("", "version"); r.code != 0 || !strings.HasPrefix(r.out, "meshq ") {
		t.Errorf("version = %d %s", r.code, r.out)
	}
	for _, args := range [][]string{{"frobnicate"}, {"query"}, {"version", "extra"}, {"queries", "--bogus"}, {"validate"}} {
		if r := c.run("", args...); r.code != 2 || !strings.Contains(r.errOut, "meshq --help") {
			t.Errorf("meshq %q = %d %s, want 2 (usage)", args, r.code, r.errOut)
		}
	}
}

// TestLoginFollowsTheAuthMode: a sidecar taking API keys only sends
// meshq login to --api-key, one taking OIDC only refuses keys, and an
// issuer without a device endpoint is named.
func TestLoginFollowsTheAuthMode(t *testing.T) {
	mode := "api_key"
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/auth/config":
			json.NewEncoder(w).Encode(map[string]string{"auth_mode": mode, "issuer": issuer, "client_id": "meshq"})
		case "/.well-known/openid-configuration":
			// A provider without device_authorization_endpoint.
			json.NewEncoder(w).Encode(map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
				"token_endpoint": issuer + "/token", "jwks_uri": issuer + "/keys"})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := newCLI(t, srv.URL)
	if r := c.run("", "login"); r.code != 1 || !strings.Contains(r.errOut, "takes API keys only") || !strings.Contains(r.errOut, "--api-key") {
		t.Errorf("login against api_key mode = %d %s", r.code, r.errOut)
	}
	mode, issuer = "oidc", srv.URL
	if r := c.run(testKey+"\n", "login", "--api-key"); r.code != 1 || !strings.Contains(r.errOut, "accepts no API keys") {
		t.Errorf("login --api-key against oidc mode = %d %s", r.code, r.errOut)
	}
	if r := c.run("", "login"); r.code != 1 || !strings.Contains(r.errOut, "offers no device authorization endpoint") {
		t.Errorf("login with an issuer lacking the device flow = %d %s", r.code, r.errOut)
	}
	if _, err := os.Stat(c.credentialsFile()); !os.IsNotExist(err) {
		t.Errorf("credentials after failed logins: %v, want none", err)
	}
}
