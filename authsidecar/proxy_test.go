package main

import (
	"bufio"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/authsidecar/fakeupstream"
	"github.com/meshoptixiq/mesh/common/apierror"
)

func TestProxyForwardsWithIdentity(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	status, hdr, body := do(t, "POST", sc.URL+"/queries/all_devices/execute?x=1", map[string]string{"X-API-Key": testKey, "X-Request-Id": "client-id-1", "Content-Type": "application/json"}, `{"parameters":{}}`)
	if status != 200 {
		t.Fatalf("POST execute = %d %s, want 200", status, body)
	}
	seen := decode[fakeupstream.Seen](t, body)
	want := map[string]string{"X-Meshq-User": "admin", "X-Meshq-Role": "admin", "X-Meshq-Grants": "*", "X-Meshq-Auth": "api_key", "X-Request-Id": "client-id-1", "X-Forwarded-For": "127.0.0.1"}
	for k, v := range want {
		if got := seen.Headers[k]; len(got) != 1 || got[0] != v {
			t.Errorf("upstream header %s = %q, want [%q]", k, got, v)
		}
	}
	for _, k := range []string{"X-Api-Key", "X-API-Key", "Authorization"} {
		if got, ok := seen.Headers[k]; ok {
			t.Errorf("upstream received credential header %s = %q, want it removed", k, got)
		}
	}
	if seen.URI != "/queries/all_devices/execute?x=1" {
		t.Errorf("upstream URI = %q, want /queries/all_devices/execute?x=1", seen.URI)
	}
	if got := hdr.Get("X-Request-Id"); got != "client-id-1" {
		t.Errorf("response X-Request-Id = %q, want client-id-1", got)
	}
	// A missing (or unsafe) request id is generated and returned.
	_, hdr, body = do(t, "GET", sc.URL+"/queries/", map[string]string{"X-API-Key": testKey, "X-Request-Id": "bad id\twith spaces"}, "")
	seen = decode[fakeupstream.Seen](t, body)
	if rid := hdr.Get("X-Request-Id"); rid == "" || strings.Contains(rid, " ") || seen.Headers["X-Request-Id"][0] != rid {
		t.Errorf("generated X-Request-Id: response %q, upstream %q; want equal and safe", rid, seen.Headers["X-Request-Id"])
	}
}

// spoofed lists X-Meshq-* spellings a client might try.
var spoofed = map[string]string{
	"X-Meshq-User":         "root",
	"x-meshq-role":         "admin",
	"X_Meshq_Grants":       "*",
	"X-MESHQ-AUTH":         "api_key",
	"x_meshq-user":         "root2",
	"X-Meshq-Anything-New": "1",
}

func TestSpoofedIdentityHeadersNeverReachUpstream(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, map[string]string{"AUTH_MODE": "both", "OIDC_ISSUER": "http://127.0.0.1:1", "OIDC_CLIENT_ID": "x",
		"RBAC_POLICY": "roles:\n  viewer:\n    allow: [\"all_devices\"]\ngroups:\n  g: viewer\n"})
	check := func(path string, hdr map[string]string, wantStatus int, wantIdentity bool) {
		t.Helper()
		up.Reset()
		h := map[string]string{}
		for k, v := range spoofed {
			h[k] = v
		}
		for k, v := range hdr {
			h[k] = v
		}
		status, _, body := do(t, "GET", sc.URL+path, h, "")
		if status != wantStatus {
			t.Errorf("GET %s = %d %s, want %d", path, status, body, wantStatus)
		}
		for _, s := range up.Seen() {
			var got []string
			for k, v := range s.Headers {
				if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-meshq") {
					got = append(got, k+"="+strings.Join(v, "|"))
				}
			}
			sort.Strings(got)
			var want []string
			if wantIdentity {
				want = []string{"X-Meshq-Auth=api_key", "X-Meshq-Grants=*", "X-Meshq-Role=admin", "X-Meshq-User=admin"}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GET %s: X-Meshq-* headers upstream (-want +got):\n%s", path, diff)
			}
		}
	}
	// allowed (API key, admin), proxied: the upstream sees only ours.
	check("/queries/all_devices", map[string]string{"X-API-Key": testKey}, 200, true)
	// public path, no identity at all.
	check("/health/ready", nil, 200, false)
	// denied before the upstream: nothing reaches it.
	check("/queries/all_devices", nil, 401, false)
	check("/queries/all_devices", map[string]string{"X-API-Key": "wrong-" + testKey}, 401, false)
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests for a refused one, want 0", n)
	}
	// error path: upstream answers 500; still no spoofed header upstream.
	up.Configure(500, 0, 0)
	check("/queries/all_devices", map[string]string{"X-API-Key": testKey}, 500, true)
	up.Configure(0, 3, 0)
	// And the identity the upstream gets is ours.
	_, _, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Meshq-User": "root"}, "")
	seen := decode[fakeupstream.Seen](t, body)
	if diff := cmp.Diff([]string{"admin"}, seen.Headers["X-Meshq-User"]); diff != "" {
		t.Errorf("X-Meshq-User upstream (-want +got):\n%s", diff)
	}
}

func TestForgedForwardedFor(t *testing.T) {
	up := startUpstream(t)
	audit := t.TempDir() + "/audit.jsonl"
	sc := startSidecar(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": audit})
	_, _, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6", "Forwarded": "for=6.6.6.6"}, "")
	seen := decode[fakeupstream.Seen](t, body)
	if diff := cmp.Diff([]string{"127.0.0.1"}, seen.Headers["X-Forwarded-For"]); diff != "" {
		t.Errorf("untrusted peer: X-Forwarded-For upstream (-want +got):\n%s", diff)
	}
	if seen.Headers["X-Real-Ip"] != nil || seen.Headers["Forwarded"] != nil {
		t.Errorf("untrusted peer: X-Real-Ip/Forwarded forwarded: %v", seen.Headers)
	}
	recs := readAudit(t, audit, 1)
	if recs[0].ClientIP != "127.0.0.1" {
		t.Errorf("audit client_ip = %q with forged XFF from an untrusted peer, want 127.0.0.1", recs[0].ClientIP)
	}
	// With loopback trusted, the right-most untrusted address is the client.
	audit2 := t.TempDir() + "/audit.jsonl"
	sc2 := startSidecar(t, up.Addr, map[string]string{"TRUSTED_PROXIES": "127.0.0.0/8,10.0.0.0/8", "AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": audit2})
	_, _, body = do(t, "GET", sc2.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.1.1.1"}, "")
	seen = decode[fakeupstream.Seen](t, body)
	if diff := cmp.Diff([]string{"6.6.6.6, 203.0.113.9, 10.1.1.1, 127.0.0.1"}, seen.Headers["X-Forwarded-For"]); diff != "" {
		t.Errorf("trusted peer: X-Forwarded-For upstream (-want +got):\n%s", diff)
	}
	if recs := readAudit(t, audit2, 1); recs[0].ClientIP != "203.0.113.9" {
		t.Errorf("audit client_ip = %q, want 203.0.113.9 (right-most untrusted)", recs[0].ClientIP)
	}
}

func TestRequestSmuggling(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	// CL.TE: the front end must not let a second request hide in the body.
	reqs := []string{
		"POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testKey + "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/rbac/reload HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testKey + "\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
		"POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testKey + "\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello",
		"POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testKey + "\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
	}
	for i, r := range reqs {
		up.Reset()
		out := raw(t, sc.Addr, r)
		seen := up.Seen()
		responses := strings.Count(out, "HTTP/1.1 ")
		if i < 2 {
			// Chunked framing wins, the request is re-framed upstream with
			// its (empty) body, and the connection is closed: the bytes
			// after the chunked body are never read as a request.
			if len(seen) != 1 || seen[0].Path != "/queries/all_devices/execute" || seen[0].Body != "" {
				t.Errorf("CL+TE request %d: upstream saw %+v, want exactly the POST with an empty body", i, seen)
			}
			if responses != 1 || !strings.Contains(out, "Connection: close") {
				t.Errorf("CL+TE request %d: %d responses, want 1 and the connection closed:\n%s", i, responses, out)
			}
			continue
		}
		// Ambiguous framing: refused before the upstream.
		if len(seen) != 0 || !strings.HasPrefix(out, "HTTP/1.1 400 ") || responses != 1 {
			t.Errorf("ambiguous request %d: upstream saw %+v, response %q; want one 400 and nothing upstream", i, seen, out)
		}
	}
}

func TestLargeHeadersAndBodyLimit(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, map[string]string{"MAX_BODY_BYTES": "1KiB"})
	big := strings.Repeat("a", 60<<10)
	status, _, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Big": big}, "")
	if status != 200 {
		t.Errorf("GET with a 60 KiB header = %d %s, want 200", status, body)
	}
	status, _, _ = do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Big": big + big}, "")
	if status != 431 {
		t.Errorf("GET with a 120 KiB header = %d, want 431", status)
	}
	status, _, body = do(t, "POST", sc.URL+"/queries/all_devices/execute", map[string]string{"X-API-Key": testKey}, strings.Repeat("x", 2048))
	if status != 413 {
		t.Errorf("POST with a 2 KiB body over a 1 KiB limit = %d %s, want 413", status, body)
	}
}

func TestHopByHopHeaders(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	_, _, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "Connection": "X-Secret-Hop", "X-Secret-Hop": "1",
		"Keep-Alive": "timeout=5", "Proxy-Authorization": "Basic eA==", "Te": "trailers", "Upgrade": "websocket"}, "")
	seen := decode[fakeupstream.Seen](t, body)
	for _, k := range []string{"X-Secret-Hop", "Keep-Alive", "Proxy-Authorization", "Te", "Upgrade"} {
		if v, ok := seen.Headers[k]; ok {
			t.Errorf("hop-by-hop %s forwarded upstream: %q", k, v)
		}
	}
}

func TestUpstreamDownAndTimeout(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, map[string]string{"UPSTREAM_TIMEOUT": "300ms"})
	status, hdr, body := do(t, "GET", sc.URL+"/slow", map[string]string{"X-API-Key": testKey, "X-Meshq-User": "root"}, "")
	e := decode[apierror.Body](t, body)
	if status != 504 || e.Error.Code != "gateway_timeout" || e.Error.RequestID == "" || e.Error.RequestID != hdr.Get("X-Request-Id") {
		t.Errorf("GET /slow with 300ms upstream timeout = %d %s, want 504 gateway_timeout with the request id", status, body)
	}
	dead := startSidecar(t, "127.0.0.1:1", nil)
	status, _, body = do(t, "GET", dead.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}, "")
	if status != 502 || strings.Contains(string(body), "refused") {
		t.Errorf("GET with the upstream down = %d %s, want 502 without the dial error", status, body)
	}
}

func TestUnixSocketUpstream(t *testing.T) {
	sock := t.TempDir() + "/api.sock"
	ln, err := netListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	up := fakeupstream.Start(ln)
	t.Cleanup(up.Close)
	sc := startSidecar(t, "", map[string]string{"UPSTREAM": "unix:" + sock})
	status, _, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}, "")
	if status != 200 || decode[fakeupstream.Seen](t, body).Headers["X-Meshq-User"][0] != "admin" {
		t.Errorf("GET via unix socket upstream = %d %s, want 200 with identity", status, body)
	}
}

func TestServerSentEventsStream(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, map[string]string{"CLIENT_WRITE_TIMEOUT": "1s"})
	req, _ := http.NewRequest("GET", sc.URL+"/events?api_key="+testKey+"&topic=graph", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events = %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Events arrive one by one while the stream is open: the body is
	// relayed, not buffered until the (never-coming) end, and outlives the
	// 1 s write timeout.
	br := bufio.NewReader(resp.Body)
	seenIDs := 0
	deadline := time.Now().Add(10 * time.Second)
	for seenIDs < 30 && time.Now().Before(deadline) {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading stream after %d events: %v", seenIDs, err)
		}
		if strings.HasPrefix(line, "id: ") {
			seenIDs++
		}
	}
	if seenIDs < 30 {
		t.Fatalf("read %d events, want 30", seenIDs)
	}
	seen := up.Seen()
	if len(seen) == 0 || strings.Contains(seen[0].URI, "api_key") || seen[0].Headers["X-Meshq-User"][0] != "admin" {
		t.Errorf("upstream /events request = %+v; want identity set and api_key removed from the query", seen)
	}
	// ?api_key= is only for GET /events.
	if status, _, _ := do(t, "GET", sc.URL+"/queries/all_devices?api_key="+testKey, nil, ""); status != 401 {
		t.Errorf("GET /queries/all_devices?api_key= = %d, want 401", status)
	}
}

// TestConnectionTokensCannotRemoveIdentity: a client's Connection header
// names the identity headers the sidecar sets; they are hop-by-hop only
// for what the client sent, and the upstream still gets the sidecar's.
func TestConnectionTokensCannotRemoveIdentity(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	for _, conn := range []string{
		"X-Meshq-User, X-Meshq-Role, X-Meshq-Grants, X-Meshq-Auth, X-Request-Id, X-Forwarded-For",
		"x-meshq-user,x-request-id, keep-alive",
		"close, X-Meshq-Auth, X-API-Key", // credentials are consumed here: still authenticated
	} {
		status, hdr, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "Connection": conn,
			"X-Request-Id": "client-id-1", "X-Meshq-User": "root", "X-Secret-Hop": "1"}, "")
		if status != 200 {
			t.Fatalf("GET with Connection: %s = %d %s, want 200", conn, status, body)
		}
		seen := decode[fakeupstream.Seen](t, body)
		want := map[string]string{"X-Meshq-User": "admin", "X-Meshq-Role": "admin", "X-Meshq-Grants": "*", "X-Meshq-Auth": "api_key", "X-Forwarded-For": "127.0.0.1"}
		for k, v := range want {
			if got := seen.Headers[k]; len(got) != 1 || got[0] != v {
				t.Errorf("Connection: %s: upstream header %s = %q, want [%q]", conn, k, got, v)
			}
		}
		rid := hdr.Get("X-Request-Id")
		if got := seen.Headers["X-Request-Id"]; rid == "" || len(got) != 1 || got[0] != rid {
			t.Errorf("Connection: %s: upstream X-Request-Id = %q, response %q; want one, equal", conn, got, rid)
		}
		if _, ok := seen.Headers["Connection"]; ok {
			t.Errorf("Connection: %s: forwarded upstream", conn)
		}
	}
	// A header the client declares hop-by-hop is still not forwarded.
	_, _, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "Connection": "X-Secret-Hop, X-Request-Id",
		"X-Secret-Hop": "1", "X-Request-Id": "client-id-2"}, "")
	seen := decode[fakeupstream.Seen](t, body)
	if v, ok := seen.Headers["X-Secret-Hop"]; ok {
		t.Errorf("Connection-named X-Secret-Hop forwarded upstream: %q", v)
	}
	if got := seen.Headers["X-Request-Id"]; len(got) != 1 || got[0] == "client-id-2" {
		t.Errorf("upstream X-Request-Id = %q, want one generated by the sidecar (the client's was declared hop-by-hop)", got)
	}
}

// TestHealthPassThroughOnlyForProbes: only GET/HEAD of the apiserver's
// health endpoints pass without credentials; any other method
// or path under /health goes through authentication like the rest.
func TestHealthPassThroughOnlyForProbes(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	for _, c := range []struct{ method, path string }{
		{"GET", "/health"}, {"GET", "/health/ready"}, {"GET", "/health/redis"}, {"GET", "/health/license"}, {"HEAD", "/health/ready"},
	} {
		up.Reset()
		status, _, body := do(t, c.method, sc.URL+c.path, nil, "")
		if seen := up.Seen(); status != 200 || len(seen) != 1 || seen[0].Method != c.method || seen[0].Path != c.path {
			t.Errorf("%s %s without credentials = %d %s, upstream saw %+v; want 200 and the probe forwarded", c.method, c.path, status, body, seen)
		}
	}
	for _, c := range []struct{ method, path string }{
		{"POST", "/health/ready"}, {"DELETE", "/health"}, {"PUT", "/health/license"}, {"GET", "/health/anything"},
		{"GET", "/health/ready/extra"}, {"POST", "/health/x/y"}, {"GET", "/health/"}, {"GET", "/healthz"},
	} {
		up.Reset()
		status, _, body := do(t, c.method, sc.URL+c.path, nil, "")
		if status != 401 || len(up.Seen()) != 0 {
			t.Errorf("%s %s without credentials = %d %s (upstream saw %d); want 401 and nothing forwarded", c.method, c.path, status, body, len(up.Seen()))
		}
		up.Reset()
		status, _, body = do(t, c.method, sc.URL+c.path, map[string]string{"X-API-Key": testKey}, "")
		if seen := up.Seen(); status != 200 || len(seen) != 1 || len(seen[0].Headers["X-Meshq-User"]) != 1 {
			t.Errorf("%s %s with the API key = %d %s, upstream saw %+v; want 200 forwarded with identity", c.method, c.path, status, body, seen)
		}
	}
}

// TestHTTP10WithoutHost: an HTTP/1.0 request has no Host header to
// forward; it is proxied with the upstream's own host, not answered 502,
// and logs no error.
func TestHTTP10WithoutHost(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, nil)
	out := raw(t, sc.Addr, "GET /queries/all_devices HTTP/1.0\r\nX-API-Key: "+testKey+"\r\n\r\n")
	seen := up.Seen()
	if !strings.HasPrefix(out, "HTTP/1.1 200 ") || len(seen) != 1 || seen[0].Headers["X-Meshq-User"][0] != "admin" {
		t.Errorf("HTTP/1.0 GET without Host: answered %.300q, upstream saw %+v; want 200 and the request forwarded", out, seen)
	}
	if len(seen) == 1 && (len(seen[0].Headers["Host"]) != 1 || seen[0].Headers["Host"][0] != up.Addr) {
		t.Errorf("upstream Host = %v, want [%s] %+v", seen[0].Headers["Host"], up.Addr, seen[0])
	}
	if logs := sc.Log.String(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("an HTTP/1.0 request without Host logged an error:\n%s", logs)
	}
}
