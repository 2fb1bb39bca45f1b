package envconf

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestReaderReportsEveryProblem(t *testing.T) {
	r := New(env(map[string]string{"A": "x", "B": "maybe", "C": "-3s", "D": "10.0.0.0/8, bogus", "E": "nope"}))
	r.Int("A", 1, 0, 10)
	r.Bool("B", false)
	r.Duration("C", time.Second, time.Second)
	r.Prefixes("D")
	r.Listen("E", ":80")
	err := r.Err()
	if err == nil {
		t.Fatal("Err() = nil, want five problems")
	}
	for _, name := range []string{"A:", "B:", "C:", "D:", "E:"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Err() = %q, want it to name %s", err, name)
		}
	}
}

func TestReaderDefaultsAndParsing(t *testing.T) {
	r := New(env(map[string]string{"I": "30", "BYTES": "10MiB", "LIST": "a, b c", "MODE": "OIDC", "SOCK": "unix:/tmp/s"}))
	if got := r.Duration("I", 0, time.Second); got != 30*time.Second {
		t.Errorf("Duration(I) = %v, want 30s", got)
	}
	if got := r.Bytes("BYTES", 0); got != 10<<20 {
		t.Errorf("Bytes(BYTES) = %d, want %d", got, 10<<20)
	}
	if got := r.List("LIST", nil); strings.Join(got, "|") != "a|b|c" {
		t.Errorf("List(LIST) = %q, want a|b|c", got)
	}
	if got := r.Enum("MODE", "api_key", "api_key", "oidc", "both"); got != "oidc" {
		t.Errorf("Enum(MODE) = %q, want oidc", got)
	}
	if got := r.Listen("SOCK", ":1"); got != "unix:/tmp/s" {
		t.Errorf("Listen(SOCK) = %q, want unix:/tmp/s", got)
	}
	if got := r.String("UNSET", "def"); got != "def" {
		t.Errorf("String(UNSET) = %q, want def", got)
	}
	if err := r.Err(); err != nil {
		t.Errorf("Err() = %v, want nil", err)
	}
}

func TestSecretRedacts(t *testing.T) {
	s := Secret("hunter2")
	if s.String() != "[redacted]" || s.Reveal() != "hunter2" {
		t.Errorf("Secret = %q / %q, want redacted / hunter2", s.String(), s.Reveal())
	}
}

// TestSecretRedactsThroughSlog logs a Secret directly, inside a group and
// inside a struct attribute through real slog handlers: the value never
// appears. Before LogValue returned slog.Value, slog did not see a
// LogValuer and printed the secret.
func TestSecretRedactsThroughSlog(t *testing.T) {
	const secret = "hunter2-token"
	s := Secret(secret)
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	} {
		var buf bytes.Buffer
		log := slog.New(h(&buf))
		log.Info("direct", "token", s)
		log.Info("attr", slog.Any("token", s))
		log.Info("group", slog.Group("cfg", "token", s))
		log.With("token", s).Info("with")
		out := buf.String()
		if strings.Contains(out, secret) {
			t.Fatalf("%s handler printed the secret: %s", name, out)
		}
		if got := strings.Count(out, "[redacted]"); got != 4 {
			t.Fatalf("%s handler: %d redactions, want 4: %s", name, got, out)
		}
	}
	if got := fmt.Sprintf("%v %s %#v", s, s, s); strings.Contains(got, secret) {
		t.Fatalf("fmt printed the secret: %s", got)
	}
	if s.Reveal() != secret {
		t.Fatal("Reveal lost the value")
	}
}

func TestLogLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, " WARNING ": slog.LevelWarn, "warn": slog.LevelWarn, "ERROR": slog.LevelError, "critical": slog.LevelError} {
		r := New(env(map[string]string{"LOG_LEVEL": in}))
		if got := r.LogLevel(); got != want || r.Err() != nil {
			t.Errorf("LOG_LEVEL=%q: %v, %v; want %v", in, got, r.Err(), want)
		}
	}
	r := New(env(map[string]string{"LOG_LEVEL": "loud"}))
	r.LogLevel()
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), `LOG_LEVEL: "loud" is not`) {
		t.Fatalf("bad LOG_LEVEL: %v", err)
	}
}

func TestRedisURL(t *testing.T) {
	for _, ok := range []string{"", "redis://127.0.0.1:6379/0", "rediss://:pw@redis.example:6380", "unix:///run/redis.sock", "unix:///run/redis.sock?db=2"} {
		r := New(env(map[string]string{"REDIS_URL": ok}))
		if got := r.RedisURL(); got.Reveal() != ok || r.Err() != nil {
			t.Errorf("REDIS_URL=%q: %q, %v", ok, got.Reveal(), r.Err())
		}
	}
	for in, want := range map[string]string{
		"http://redis:6379": "must start with redis://",
		"redis:///0":        "names no host",
		"unix://":           "names no socket path",
		"127.0.0.1:6379":    "REDIS_URL:",
	} {
		r := New(env(map[string]string{"REDIS_URL": in}))
		if got := r.RedisURL(); got != "" {
			t.Errorf("REDIS_URL=%q accepted as %q", in, got.Reveal())
		}
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "REDIS_URL: ") {
			t.Errorf("REDIS_URL=%q: %v, want %q", in, err, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     "",
		"unix:/run/api.sock":                   "unix:/run/api.sock",
		"redis://redis:6379/0":                 "redis://redis:6379/0",
		"redis://:s3cret@redis:6379/0":         "redis://[redacted]@redis:6379/0",
		"https://user:pw@api.example:8443/":    "https://[redacted]@api.example:8443/",
		"unix:///run/redis.sock?password=s3cr": "unix:///run/redis.sock?password=redacted",
		"redis://%zz@host":                     "[redacted: unparseable URL]",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every non-empty value of the example Secrets is a placeholder the
// daemons refuse to start with, naming the variable.
func TestExampleSecretPlaceholdersRefused(t *testing.T) {
	b, err := os.ReadFile("../../k8s/secrets.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ": ")
		value = strings.Trim(value, `"`)
		if !ok || value == "" || strings.ContainsAny(name, " #") || name != strings.ToUpper(name) {
			continue
		}
		n++
		r := New(func(string) string { return value })
		if got := r.String(name, "default"); got != "default" {
			t.Errorf("String(%s=%q) = %q, want the default: the placeholder is not a value", name, value, got)
		}
		if err := r.Err(); err == nil || !strings.Contains(err.Error(), name+": still holds the example placeholder") {
			t.Errorf("reading %s=%q: error = %v, want one naming %s as a placeholder", name, value, err, name)
		}
	}
	if n < 4 {
		t.Errorf("found %d placeholder values in secrets.example.yaml, want the API key, Redis password and URLs", n)
	}
}

func TestDescribeListsWhatTheLoaderReads(t *testing.T) {
	vars := Describe(func(getenv func(string) string) {
		r := New(getenv)
		r.Listen("LISTEN_ADDR", ":8000")
		r.Int("WORKERS", 4, 1, 64)
		r.Required("API_KEY")
		r.Enum("MODE", "fast", "fast", "safe")
		r.LogLevel()
		r.Duration("TIMEOUT", 0, 0) // read twice: listed once
		r.Duration("TIMEOUT", 0, 0)
	})
	got := map[string]string{}
	var order []string
	for _, v := range vars {
		got[v.Name] = v.Default
		order = append(order, v.Name)
	}
	want := map[string]string{"LISTEN_ADDR": ":8000", "WORKERS": "4 (1..64)", "API_KEY": "(required)",
		"MODE": "fast (one of fast, safe)", "LOG_LEVEL": "INFO (one of DEBUG, INFO, WARNING, ERROR)", "TIMEOUT": "0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Describe (-want +got):\n%s", diff)
	}
	if len(order) != len(want) || order[0] != "LISTEN_ADDR" {
		t.Errorf("order = %v, want the order of reading, each once", order)
	}
	// Readers made outside Describe are not collected.
	New(func(string) string { return "" }).Int("OTHER", 1, 0, 2)
	if again := Describe(func(func(string) string) {}); len(again) != 0 {
		t.Errorf("Describe of a loader that reads nothing = %v", again)
	}
}
