package envconf

import (
	"strings"
	"testing"
	"time"
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
