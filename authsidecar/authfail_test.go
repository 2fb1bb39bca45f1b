package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/authsidecar/ratelimit"
)

// doFrom sends a GET from the loopback address local (127.0.0.2 is a
// different client to the sidecar than 127.0.0.1).
func doFrom(t *testing.T, local, url string, hdr map[string]string) (int, http.Header) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", url, local, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestFailedAuthenticationThrottledPerAddress: after AUTH_FAILURE_LIMIT
// failures an address gets 429 with Retry-After, even for a right key (no
// answer to its guesses) and whatever X-Forwarded-For it claims; another
// address is unaffected; and SOAR hears of it once per rule and address,
// not once per attempt.
func TestFailedAuthenticationThrottledPerAddress(t *testing.T) {
	up := startUpstream(t)
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	rules := `[{"name":"auth-failed","query":"*","condition":"status == 401"},{"name":"throttled","query":"*","condition":"status == 429"}]`
	sc := startSidecar(t, up.Addr, map[string]string{"AUTH_FAILURE_LIMIT": "5/minute", "SOAR_WEBHOOK_URL": srv.URL, "SOAR_RULES": rules})
	wrong := map[string]string{"X-API-Key": "wrong-" + testKey}
	for i := 0; i < 5; i++ {
		if status, _ := doFrom(t, "127.0.0.1", sc.URL+"/queries/all_devices", wrong); status != 401 {
			t.Fatalf("failed attempt %d = %d, want 401", i+1, status)
		}
	}
	status, hdr := doFrom(t, "127.0.0.1", sc.URL+"/queries/all_devices", wrong)
	if status != 429 || hdr.Get("Retry-After") == "" || hdr.Get("WWW-Authenticate") != "" {
		t.Errorf("6th failed attempt = %d Retry-After %q WWW-Authenticate %q, want 429 with Retry-After only", status, hdr.Get("Retry-After"), hdr.Get("WWW-Authenticate"))
	}
	up.Reset()
	for _, h := range []map[string]string{
		{"X-API-Key": testKey},
		{"X-API-Key": testKey, "X-Forwarded-For": "198.51.100.7"},
	} {
		if status, hdr := doFrom(t, "127.0.0.1", sc.URL+"/queries/all_devices", h); status != 429 || hdr.Get("Retry-After") == "" {
			t.Errorf("right key from the throttled address (%v) = %d, want 429 with Retry-After", h, status)
		}
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests from the throttled address, want 0", n)
	}
	if status, _ := doFrom(t, "127.0.0.2", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}); status != 200 {
		t.Errorf("right key from another address = %d, want 200", status)
	}
	if status, _ := doFrom(t, "127.0.0.2", sc.URL+"/queries/all_devices", wrong); status != 401 {
		t.Errorf("wrong key from another address = %d, want 401", status)
	}
	// Webhooks go out in order through one queue: once the other address's
	// arrives, every one the first address fired has arrived too.
	eventually(t, "three webhooks", 10*time.Second, func() (bool, string) {
		return len(hook.payloads()) >= 3, fmt.Sprintf("have %d", len(hook.payloads()))
	})
	var got []string
	for _, p := range hook.payloads() {
		got = append(got, fmt.Sprintf("%s %d", p.Rule, p.Status))
	}
	if diff := cmp.Diff([]string{"auth-failed 401", "throttled 429", "auth-failed 401"}, got); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	_, _, m := do(t, "GET", sc.URL+"/metrics", nil, "")
	if !strings.Contains(string(m), "authsidecar_rate_limited_total 3") {
		t.Errorf("authsidecar_rate_limited_total is not 3 after three 429s")
	}
}

func TestAuthFailureLimitConfig(t *testing.T) {
	c, err := loadConfig(mapEnv(map[string]string{"API_KEY": testKey}))
	if err != nil || c.AuthFailureLimit == nil || *c.AuthFailureLimit != (ratelimit.Limit{N: 20, Period: time.Minute}) {
		t.Errorf("default AUTH_FAILURE_LIMIT = %v, %v; want 20/minute", c.AuthFailureLimit, err)
	}
	c, err = loadConfig(mapEnv(map[string]string{"API_KEY": testKey, "AUTH_FAILURE_LIMIT": "off"}))
	if err != nil || c.AuthFailureLimit != nil {
		t.Errorf("AUTH_FAILURE_LIMIT=off = %v, %v; want nil", c.AuthFailureLimit, err)
	}
	if _, err := loadConfig(mapEnv(map[string]string{"API_KEY": testKey, "AUTH_FAILURE_LIMIT": "lots"})); err == nil || !strings.Contains(err.Error(), "AUTH_FAILURE_LIMIT:") {
		t.Errorf("AUTH_FAILURE_LIMIT=lots: error %v, want one naming the variable", err)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64", "2001:db8:1:2::9": "2001:db8:1:2::/64", "::ffff:192.0.2.1": "::ffff:192.0.2.1", "": ""} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}
