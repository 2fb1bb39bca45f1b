package main

import (
	"net/netip"
	"strings"

	"github.com/valyala/fasthttp"
)

// This file finds the client's address, trusting X-Forwarded-For only from
// the proxies named in TRUSTED_PROXIES.

// clientIP is the peer address, or — when the peer is a trusted proxy —
// the right-most X-Forwarded-For entry that is not one.
func (s *sidecar) clientIP(ctx *fasthttp.RequestCtx) string {
	peer, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return ""
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	xff := string(ctx.Request.Header.Peek("X-Forwarded-For"))
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		item := strings.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, err := netip.ParseAddr(item)
		if err != nil {
			break // garbage: stop trusting the chain here
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		peer = a
		if i < 0 {
			break
		}
	}
	return peer.String()
}

func (s *sidecar) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor is the X-Forwarded-For sent upstream: the inbound chain is
// kept only when the peer is a trusted proxy.
func (s *sidecar) forwardedFor(ctx *fasthttp.RequestCtx, r *reqState) string {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	if s.trusted(peer) {
		if xff := strings.TrimSpace(string(ctx.Request.Header.Peek("X-Forwarded-For"))); xff != "" {
			return headerSafe(xff) + ", " + peer.String()
		}
	} else if r.clientIP != "" {
		return r.clientIP // an untrusted peer is the client: the string is made already
	}
	return peer.String()
}
