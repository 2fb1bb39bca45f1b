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

// TestIdentityHeadersAreCanonical: setCanonical relies on the identity
// header names being spelled as fasthttp normalises them; a name that is
// not would be sent in its own spelling and missed by Peek.
func TestIdentityHeadersAreCanonical(t *testing.T) {
	for _, name := range []string{identity.HeaderUser, identity.HeaderRole, identity.HeaderGrants, identity.HeaderAuth} {
		var h fasthttp.RequestHeader
		setCanonical(&h, name, "a\r\nX-Evil: 1")
		if got := string(h.Peek(name)); got != "a  X-Evil: 1" {
			t.Errorf("%s after setCanonical = %q, want the value with its line break blanked", name, got)
		}
		var normalised fasthttp.RequestHeader
		normalised.Set(name, "v")
		for k := range normalised.All() {
			if string(k) != name {
				t.Errorf("fasthttp spells %q as %q: not canonical", name, k)
			}
		}
	}
}

// TestDeleteHeaders: every named header goes, in any spelling and however
// often it appears; every other header stays.
func TestDeleteHeaders(t *testing.T) {
	var req fasthttp.RequestHeader
	var resp fasthttp.ResponseHeader
	for _, kv := range [][2]string{{"keep-alive", "timeout=5"}, {"TE", "trailers"}, {"Upgrade", "h2c"}, {"upgrade", "websocket"},
		{"X-Kept", "1"}, {"Proxy-Authenticate", "Basic"}, {"Connection", "close"}} {
		req.Add(kv[0], kv[1])
		resp.Add(kv[0], kv[1])
	}
	deleteHeaders(&req, hopByHop)
	deleteResponseHeaders(&resp, hopByHop)
	for _, c := range []struct {
		name, want string
		all        func(func([]byte, []byte) bool)
	}{{"request", "X-Kept", req.All()}, {"response", "Content-Type,X-Kept", resp.All()}} { // a response always has a type
		var left []string
		for k := range c.all {
			left = append(left, string(k))
		}
		if got := strings.Join(left, ","); got != c.want {
			t.Errorf("%s headers left: %s, want %s", c.name, got, c.want)
		}
	}
	if resp.ConnectionClose() {
		t.Error("the upstream's Connection: close survived: it would close the client's connection")
	}
}
