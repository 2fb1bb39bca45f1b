package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/testenv"
)

func TestConfigReportsEveryProblem(t *testing.T) {
	_, err := loadConfig(mapEnv(map[string]string{
		"AUTH_MODE": "both", "API_KEY": "too-short", "OIDC_ISSUER": "not a url", "RATE_LIMIT": "lots",
		"SOAR_RULES": `[{"name":"r1","query":"x_*","condition":"latency > 5"},{"name":"r2","query":"[","condition":"status >= 500"}]`,
		"UPSTREAM":   "ftp://x", "LOG_LEVEL": "LOUD", "AUDIT_REQUIRED": "true", "MAX_HEADER_BYTES": "1",
		"SOAR_RETRY_DELAY": "soon",
	}))
	if err == nil {
		t.Fatal("loadConfig(bad) = nil, want errors")
	}
	for _, want := range []string{
		"API_KEY: is 9 characters; at least 32",
		"OIDC_ISSUER: \"not a url\" is not an http(s) URL",
		"OIDC_CLIENT_ID: required when AUTH_MODE=both",
		"RATE_LIMIT: \"lots\" is not N/period",
		`SOAR_RULES: rule "r1": condition "latency > 5": unknown field "latency"`,
		`rule "r2": query: pattern "[" has an unclosed '['`,
		"SOAR_WEBHOOK_URL: required when SOAR_RULES is set",
		"UPSTREAM: \"ftp://x\"",
		"LOG_LEVEL:",
		"AUDIT_REQUIRED: true requires AUDIT_LOG_ENABLED=true",
		"MAX_HEADER_BYTES: must be between",
		`SOAR_RETRY_DELAY: "soon" is not a duration`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("loadConfig error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "too-short") {
		t.Errorf("config error leaks the key: %v", err)
	}
}

func TestConfigDefaultsAndUpstreamForms(t *testing.T) {
	c, err := loadConfig(mapEnv(map[string]string{"API_KEY": testKey}))
	if err != nil {
		t.Fatalf("loadConfig(defaults) = %v", err)
	}
	if c.ListenAddr != ":8000" || c.Upstream != "127.0.0.1:8080" || c.AuthMode != "api_key" || c.RBACReloadInterval != 30*time.Second ||
		c.OIDCClockSkew != 60*time.Second || c.OIDCGroupsClaim != "groups" || c.MaxHeaderBytes != 64<<10 {
		t.Errorf("defaults = %+v", c)
	}
	for in, want := range map[string]string{"http://10.0.0.1:9000": "10.0.0.1:9000", "10.0.0.1:9000": "10.0.0.1:9000", "unix:/run/api.sock": "unix:/run/api.sock"} {
		if got, err := parseUpstream(in); err != nil || got != want {
			t.Errorf("parseUpstream(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"unix:relative", "https://x:1", "http://x:1/path", ":8080", "nohost"} {
		if _, err := parseUpstream(bad); err == nil {
			t.Errorf("parseUpstream(%q) = nil error, want one", bad)
		}
	}
	if c.SOARRetryDelay != 5*time.Second {
		t.Errorf("default SOARRetryDelay = %s, want the seeds' 5s", c.SOARRetryDelay)
	}
	for in, want := range map[string]time.Duration{"200ms": 200 * time.Millisecond, "2": 2 * time.Second, "0": 0} {
		if c, err := loadConfig(mapEnv(map[string]string{"API_KEY": testKey, "SOAR_RETRY_DELAY": in})); err != nil || c.SOARRetryDelay != want {
			t.Errorf("SOAR_RETRY_DELAY=%s: %v, %v; want %s", in, c.SOARRetryDelay, err, want)
		}
	}
	for _, bad := range []string{"-1s", "2h"} {
		if _, err := loadConfig(mapEnv(map[string]string{"API_KEY": testKey, "SOAR_RETRY_DELAY": bad})); err == nil || !strings.Contains(err.Error(), "SOAR_RETRY_DELAY:") {
			t.Errorf("SOAR_RETRY_DELAY=%s: error %v, want one naming the variable", bad, err)
		}
	}
	if s := c.APIKey.String(); strings.Contains(s, testKey) {
		t.Errorf("redacted key prints %q", s)
	}
}

func TestStartupRefusesInvalidPolicy(t *testing.T) {
	err := run(t.Context(), nil, mapEnv(map[string]string{"API_KEY": testKey, "LISTEN_ADDR": "127.0.0.1:0",
		"RBAC_POLICY": "roles:\n  a:\n    allow: [x]\ngroups:\n  g: missing\n"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `RBAC_POLICY:5: group "g" maps to unknown role "missing"`) {
		t.Errorf("run(invalid policy) = %v, want the line-numbered error", err)
	}
	err = run(t.Context(), []string{"serve"}, mapEnv(map[string]string{"API_KEY": testKey}), io.Discard, io.Discard)
	if err == nil {
		t.Error("run(unexpected args) = nil, want an error")
	}
}

func TestRateLimit(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, map[string]string{"RATE_LIMIT": "5/minute"})
	for i := 0; i < 5; i++ {
		if status, _, _ := do(t, "GET", sc.URL+"/queries/", map[string]string{"X-API-Key": testKey}, ""); status != 200 {
			t.Fatalf("request %d within the limit = %d, want 200", i, status)
		}
	}
	status, hdr, body := do(t, "GET", sc.URL+"/queries/", map[string]string{"X-API-Key": testKey}, "")
	if status != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "rate_limited") {
		t.Errorf("6th request = %d Retry-After %q %s, want 429 with Retry-After", status, hdr.Get("Retry-After"), body)
	}
}

func TestRateLimitSharedThroughRedis(t *testing.T) {
	up := startUpstream(t)
	redis := testenv.StartRedis(t)
	env := map[string]string{"RATE_LIMIT": "6/minute", "REDIS_URL": redis.URL()}
	a, b := startSidecar(t, up.Addr, env), startSidecar(t, up.Addr, env)
	allowed := 0
	for i := 0; i < 12; i++ {
		url := a.URL
		if i%2 == 1 {
			url = b.URL
		}
		if status, _, _ := do(t, "GET", url+"/queries/", map[string]string{"X-API-Key": testKey}, ""); status == 200 {
			allowed++
		}
	}
	if allowed != 6 {
		t.Errorf("requests allowed across two pods sharing 6/minute = %d, want 6", allowed)
	}
	// Redis down: the local limiter decides; requests still flow.
	redis.Stop()
	c := startSidecar(t, up.Addr, env)
	if status, _, _ := do(t, "GET", c.URL+"/queries/", map[string]string{"X-API-Key": testKey}, ""); status != 200 {
		t.Errorf("request with Redis down = %d, want 200 (local fallback)", status)
	}
}

// TestRateLimitRedisBreaker: with Redis stopped under a running sidecar,
// requests keep being served (local limiter), the breaker opens, and after
// Redis is back the checks go through Redis again.
func TestRateLimitRedisBreaker(t *testing.T) {
	up := startUpstream(t)
	redis := testenv.StartRedis(t)
	sc := startSidecar(t, up.Addr, map[string]string{"RATE_LIMIT": "1000/minute", "REDIS_URL": redis.URL()})
	get := func() int {
		status, _, _ := do(t, "GET", sc.URL+"/queries/", map[string]string{"X-API-Key": testKey}, "")
		return status
	}
	metric := func(name string) string {
		_, _, m := do(t, "GET", sc.URL+"/metrics", nil, "")
		for _, line := range strings.Split(string(m), "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				return v
			}
		}
		return ""
	}
	if status := get(); status != 200 {
		t.Fatalf("request with Redis up = %d, want 200", status)
	}
	redis.Stop()
	for i := 0; i < 5; i++ {
		if status := get(); status != 200 {
			t.Fatalf("request %d with Redis down = %d, want 200 (local limiter)", i, status)
		}
	}
	if v := metric("authsidecar_rate_limit_redis_breaker_open"); v != "1" {
		t.Errorf("authsidecar_rate_limit_redis_breaker_open with Redis down = %q, want 1", v)
	}
	if v := metric("authsidecar_rate_limit_redis_errors_total"); v == "" || v == "0" {
		t.Errorf("authsidecar_rate_limit_redis_errors_total with Redis down = %q, want > 0", v)
	}
	redis.Start()
	eventually(t, "breaker closed after Redis is back", 15*time.Second, func() (bool, string) {
		if status := get(); status != 200 {
			return false, fmt.Sprintf("request = %d", status)
		}
		v := metric("authsidecar_rate_limit_redis_breaker_open")
		return v == "0", "breaker_open " + v
	})
	// The breaker closes in the background (a PING), possibly after the
	// request above: the next one is checked in Redis.
	if status := get(); status != 200 {
		t.Fatalf("request after recovery = %d, want 200", status)
	}
	keys, err := redisKeys(redis.Addr(), "rate:meshq:ratelimit:*")
	if err != nil || len(keys) == 0 {
		t.Errorf("rate-limit keys in Redis after recovery = %q, %v; want the checks made there again", keys, err)
	}
}

// metricValue is the value of an unlabelled metric on /metrics ("" when
// absent).
func metricValue(t *testing.T, url, name string) string {
	t.Helper()
	_, _, m := do(t, "GET", url+"/metrics", nil, "")
	for _, line := range strings.Split(string(m), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// TestRateLimitRedisDownFailsFast runs the sidecar as a process with
// RATE_LIMIT through Redis, and stops Redis for several breaker periods
// of traffic: only the request that met the outage asked Redis, no later
// one dials it; go-redis's own complaints arrive as JSON log lines, not
// plain text on stderr; and once Redis is back the breaker closes by
// itself, without a request having to try.
func TestRateLimitRedisDownFailsFast(t *testing.T) {
	up := startUpstream(t)
	redis := testenv.StartRedis(t)
	sc := startProcess(t, up.Addr, map[string]string{"RATE_LIMIT": "100000/minute", "REDIS_URL": redis.URL()})
	get := func() int {
		status, _, _ := do(t, "GET", sc.URL+"/queries/", map[string]string{"X-API-Key": testKey}, "")
		return status
	}
	if status := get(); status != 200 {
		t.Fatalf("request with Redis up = %d, want 200", status)
	}
	redis.Stop()
	requests := 0
	for end := time.Now().Add(3500 * time.Millisecond); time.Now().Before(end); requests++ { // several breaker periods
		if status := get(); status != 200 {
			t.Fatalf("request %d with Redis down = %d, want 200 (local limiter)", requests, status)
		}
	}
	if v := metricValue(t, sc.URL, "authsidecar_rate_limit_redis_errors_total"); v != "1" {
		t.Errorf("requests that asked Redis and failed, over %d requests with Redis down = %s, want 1 (only the first; the breaker keeps the rest local)", requests, v)
	}
	if v := metricValue(t, sc.URL, "authsidecar_rate_limit_redis_breaker_open"); v != "1" {
		t.Errorf("authsidecar_rate_limit_redis_breaker_open with Redis down = %q, want 1", v)
	}
	for _, line := range strings.Split(strings.TrimSpace(sc.Log.String()), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	redis.Start()
	eventually(t, "breaker closed by its probe after Redis is back", 15*time.Second, func() (bool, string) {
		v := metricValue(t, sc.URL, "authsidecar_rate_limit_redis_breaker_open")
		return v == "0", "breaker_open " + v
	})
}
