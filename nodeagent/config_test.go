package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(func(k string) string { return map[string]string{"NODE_NAME": "n1"}[k] })
	if err != nil {
		t.Fatalf("loadConfig(defaults) = %v", err)
	}
	if c.Listen != ":9103" || c.APIServerURL != "http://127.0.0.1:8080" || c.ReportInterval != 10*time.Second ||
		c.EBPF != "auto" || c.RingBytes != 8<<20 || c.HangFactor != 10 {
		t.Errorf("loadConfig(defaults) = %+v", c)
	}
}

func TestConfigUnixAndRedaction(t *testing.T) {
	env := map[string]string{"NODE_NAME": "n1", "APISERVER_URL": "unix:/run/api.sock", "NODEAGENT_API_KEY": "sekrit-key"}
	c, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("loadConfig(unix) = %v", err)
	}
	env = map[string]string{"NODE_NAME": "n1", "REDIS_URL": "redis://agent:hunter2@127.0.0.1:6379/0", "NODEAGENT_API_KEY": "sekrit-key"}
	c2, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("loadConfig(redis) = %v", err)
	}
	env = map[string]string{"NODE_NAME": "n1", "APISERVER_URL": "https://svc-user:pa55word@api.example:8443/", "NODEAGENT_REPORT_INTERVAL": "1m30s"}
	c3, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("loadConfig(apiserver with user info) = %v", err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("starting", "config", c)
	log.Info("starting", "config", c2)
	log.Info("starting", "config", c3)
	out := buf.String()
	for _, want := range []string{`"report_interval":"1m30s"`, `"report_interval":"10s"`, `"report_timeout":"5s"`,
		`"apiserver_url":"https://[redacted]@api.example:8443/"`} {
		if !strings.Contains(out, want) {
			t.Errorf("startup log lacks %s:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter2", "sekrit-key", "svc-user", "pa55word", "agent:"} {
		if strings.Contains(out, secret) {
			t.Errorf("startup log contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "unix:/run/api.sock") || !strings.Contains(out, "127.0.0.1:6379") {
		t.Errorf("startup log lacks the effective addresses:\n%s", out)
	}
	if _, err := loadConfig(func(k string) string { return map[string]string{"NODE_NAME": "n", "APISERVER_URL": "unix:"}[k] }); err == nil ||
		!strings.Contains(err.Error(), "APISERVER_URL") {
		t.Errorf("loadConfig(unix: without path) = %v, want an APISERVER_URL error", err)
	}
	if _, err := loadConfig(func(k string) string { return map[string]string{"NODE_NAME": "n", "REDIS_URL": "http://x"}[k] }); err == nil ||
		!strings.Contains(err.Error(), "REDIS_URL") {
		t.Errorf("loadConfig(REDIS_URL=http://x) = %v, want a REDIS_URL error", err)
	}
}

// TestConfigAcceptsUnixRedis: REDIS_URL=unix:///path is read by the shared
// reader, which the agent's own check used to refuse.
func TestConfigAcceptsUnixRedis(t *testing.T) {
	c, err := loadConfig(func(k string) string {
		return map[string]string{"NODE_NAME": "n1", "REDIS_URL": "unix:///run/redis/redis.sock"}[k]
	})
	if err != nil || c.RedisURL.Reveal() != "unix:///run/redis/redis.sock" {
		t.Fatalf("loadConfig(unix REDIS_URL) = %q, %v", c.RedisURL.Reveal(), err)
	}
}
