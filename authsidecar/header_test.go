package main

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/common/identity"
)

// FuzzStripReserved: whatever header names a client sends, none that
// IsReserved survives stripReserved, and every other header does.
func FuzzStripReserved(f *testing.F) {
	for _, s := range []string{"X-Meshq-User", "x_meshq_role", "X-MESHQ-GRANTS", "x-MeShQ_aUtH", "X-Meshq", "X-Mesh", "X-Meshqx", "X-Request-Id", "x_meshq-user-2"} {
		f.Add(s, "X-Other")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var req fasthttp.Request
		var sb strings.Builder
		sb.WriteString("GET / HTTP/1.1\r\nHost: x\r\n")
		for i, name := range []string{a, b, a + "-2", strings.ToUpper(a), strings.ReplaceAll(a, "-", "_")} {
			if !validName(name) {
				continue
			}
			sb.WriteString(name + ": v" + string(rune('0'+i)) + "\r\n")
		}
		for i := 0; i < 12; i++ { // more than stripReserved's batch
			sb.WriteString("X-Meshq-Extra-" + string(rune('a'+i)) + ": z\r\n")
		}
		sb.WriteString("\r\n")
		if err := req.Read(bufioReader(sb.String())); err != nil {
			return
		}
		var before []string
		for k := range req.Header.All() {
			if !identity.IsReserved(string(k)) {
				before = append(before, string(k))
			}
		}
		stripReserved(&req.Header)
		var after []string
		for k := range req.Header.All() {
			if identity.IsReserved(string(k)) {
				t.Fatalf("reserved header %q survived stripReserved", k)
			}
			after = append(after, string(k))
		}
		if len(after) != len(before) {
			t.Fatalf("stripReserved removed non-reserved headers: before %q after %q", before, after)
		}
	})
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

func TestHeaderSafe(t *testing.T) {
	for in, want := range map[string]string{"alice": "alice", "a\r\nX-Meshq-Role: admin": "a  X-Meshq-Role: admin", "tab\there": "tab here"} {
		if got := headerSafe(in); got != want {
			t.Errorf("headerSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
