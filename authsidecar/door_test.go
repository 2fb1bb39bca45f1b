package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/routes"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// TestLocalEndpointsReadOnly: the sidecar's own endpoints answer 405 with
// Allow to anything but GET and HEAD.
func TestLocalEndpointsReadOnly(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	var paths []string
	for _, rt := range routes.Of(routes.Authsidecar) {
		if rt.Access == routes.Public {
			paths = append(paths, rt.Path)
		}
	}
	if len(paths) < 4 {
		t.Fatalf("the route table gives the sidecar %d public endpoints: %v", len(paths), paths)
	}
	for _, path := range paths {
		for _, method := range []string{"POST", "PUT", "DELETE", "PATCH"} {
			status, hdr, body := do(t, method, sc.URL+path, nil, "")
			if status != 405 || hdr.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s = %d Allow %q %s, want 405 Allow \"GET, HEAD\"", method, path, status, hdr.Get("Allow"), body)
			}
		}
		for _, method := range []string{"GET", "HEAD"} {
			if status, _, body := do(t, method, sc.URL+path, nil, ""); status != 200 {
				t.Errorf("%s %s = %d %s, want 200", method, path, status, body)
			}
		}
	}
	for _, seen := range up.Seen() {
		// /readyz asks the upstream's /health (its readiness includes the
		// upstream); nothing else reaches it.
		if seen.Method != "GET" || seen.Path != "/health" {
			t.Errorf("upstream saw %s %s for the sidecar's own endpoints, want only the readiness probe", seen.Method, seen.Path)
		}
	}
}

// TestReadinessIncludesUpstream: /readyz is 503 while the upstream does
// not answer (every request would get 502), and says so.
func TestReadinessIncludesUpstream(t *testing.T) {
	dead := startSidecar(t, "127.0.0.1:1", nil)
	status, _, body := do(t, "GET", dead.URL+"/readyz", nil, "")
	type readyz struct {
		Status string
		Checks map[string]struct {
			OK     bool
			Detail string
		}
	}
	if got := decode[readyz](t, body); status != 503 || got.Status != "not_ready" || got.Checks["upstream"].OK ||
		!strings.Contains(got.Checks["upstream"].Detail, "/health") || strings.Contains(string(body), "refused") {
		t.Errorf("readyz with the upstream down = %d %s, want 503 with a failed upstream check (no dial error)", status, body)
	}
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	status, _, body = do(t, "GET", sc.URL+"/readyz", nil, "")
	if got := decode[readyz](t, body); status != 200 || !got.Checks["upstream"].OK {
		t.Errorf("readyz with the upstream up = %d %s, want 200 with the upstream check ok", status, body)
	}
	up.Close()
	eventually(t, "readyz 503 once the upstream is gone", 10*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 503 && strings.Contains(string(body), `"upstream":{"ok":false`), fmt.Sprintf("%d %s", status, body)
	})
}

// TestAuthConfig: GET /auth/config tells a client how to log in, without
// credentials.
func TestAuthConfig(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	sc := startSidecar(t, up.Addr, oidcEnv(idp, nil))
	status, _, body := do(t, "GET", sc.URL+"/auth/config", nil, "")
	got := decode[map[string]string](t, body)
	if status != 200 || got["auth_mode"] != "both" || got["issuer"] != idp.Issuer || got["client_id"] != "meshq" || len(got) != 3 {
		t.Errorf("GET /auth/config = %d %s, want auth_mode both, issuer %s, client_id meshq", status, body, idp.Issuer)
	}
	plain := startSidecar(t, up.Addr, nil)
	status, _, body = do(t, "GET", plain.URL+"/auth/config", nil, "")
	if got := decode[map[string]string](t, body); status != 200 || got["auth_mode"] != "api_key" || got["issuer"] != "" {
		t.Errorf("GET /auth/config in api_key mode = %d %s", status, body)
	}
}

// TestLimitRefusalsNameTheVariable: 413 and 431 say which setting to raise.
func TestLimitRefusalsNameTheVariable(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, map[string]string{"MAX_BODY_BYTES": "1KiB"})
	status, _, body := do(t, "POST", sc.URL+"/queries/all_devices/execute", map[string]string{"X-API-Key": testKey}, strings.Repeat("x", 2048))
	if status != 413 || !strings.Contains(string(body), "MAX_BODY_BYTES") || !strings.Contains(string(body), "1024") {
		t.Errorf("2 KiB body over 1 KiB = %d %s, want 413 naming MAX_BODY_BYTES and 1024", status, body)
	}
	status, _, body = do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Big": strings.Repeat("a", 130<<10)}, "")
	if status != 431 || !strings.Contains(string(body), "MAX_HEADER_BYTES") {
		t.Errorf("130 KiB header = %d %s, want 431 naming MAX_HEADER_BYTES", status, body)
	}
}

// TestPATRequestValidation: expires_in 0 is an error, not the default, and
// names with control characters are refused.
func TestPATRequestValidation(t *testing.T) {
	up := startUpstream(t)
	idp := startIdP(t)
	redis := testenv.StartRedis(t)
	sc := startSidecar(t, up.Addr, oidcEnv(idp, map[string]string{"REDIS_URL": redis.URL()}))
	alice := bearer(t, idp, "alice")
	for _, bad := range []string{`{"name":"x","expires_in":0}`, `{"name":"x","expires_in":-5}`, `{"name":"a\u0007b"}`, `{"name":"line\nbreak"}`, `{"name":"del\u007f"}`, `{"name":"c1\u0085"}`} {
		if status, _, body := do(t, "POST", sc.URL+"/auth/tokens", alice, bad); status != 400 {
			t.Errorf("POST /auth/tokens %s = %d %s, want 400", bad, status, body)
		}
	}
	if status, _, body := do(t, "GET", sc.URL+"/auth/tokens", alice, ""); status != 200 || strings.Contains(string(body), `"id"`) {
		t.Errorf("after refused requests GET /auth/tokens = %d %s, want no token created", status, body)
	}
	for _, good := range []string{`{"name":"laptop é"}`, `{"name":"ci","expires_in":1}`, `{}`} {
		if status, _, body := do(t, "POST", sc.URL+"/auth/tokens", alice, good); status != 201 {
			t.Errorf("POST /auth/tokens %s = %d %s, want 201", good, status, body)
		}
	}
}
