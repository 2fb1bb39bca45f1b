// Package identity names the headers the authsidecar sets to tell the
// apiserver who is calling, and recognises every spoofed variant of them.
package identity

import "strings"

// Headers set by the authsidecar after it has deleted every inbound variant.
const (
	HeaderUser      = "X-Meshq-User"
	HeaderRole      = "X-Meshq-Role"
	HeaderGrants    = "X-Meshq-Grants" // the role's allow patterns, comma-separated
	HeaderAuth      = "X-Meshq-Auth"   // api_key | oidc | pat
	HeaderRequestID = "X-Request-Id"
)

// Response headers the apiserver sets so the sidecar can audit without
// parsing bodies.
const (
	HeaderRowCount  = "X-Row-Count"
	HeaderQueryName = "X-Query-Name"
	HeaderPlanTier  = "X-Plan-Tier"
)

// IsReserved reports whether a header name belongs to the X-Meshq-* family
// in any spelling a proxy or server might fold together: any case, with
// '_' or '-' as separators. Clients must never be able to set one.
func IsReserved(name string) bool {
	if len(name) < 7 {
		return false
	}
	var b [7]byte
	for i := 0; i < 7; i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == '_' {
			c = '-'
		}
		b[i] = c
	}
	return string(b[:]) == "x-meshq"
}

// SplitGrants parses the X-Meshq-Grants value.
func SplitGrants(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
