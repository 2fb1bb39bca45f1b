package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
	"unsafe"
)

// requestIDs generates request ids: a random per-process prefix and a
// counter, unique across pods without a random read per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [6]byte
	rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// fromOrNew keeps a client's id when it is short and plain, so a caller
// can correlate; anything else is replaced.
func (g *requestIDs) fromOrNew(v []byte) string {
	if len(v) > 0 && len(v) <= 128 {
		ok := true
		for _, c := range v {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
				ok = false
				break
			}
		}
		if ok {
			return string(v)
		}
	}
	return g.prefix + strconv.FormatUint(g.n.Add(1), 36)
}

// b2s views b as a string without copying; only for transient use.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
