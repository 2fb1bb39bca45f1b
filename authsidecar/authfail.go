package main

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshoptixiq/mesh/authsidecar/ratelimit"
)

// authThrottle limits failed authentication per client address
// (AUTH_FAILURE_LIMIT): failures are counted with the rate limiter (shared
// through Redis when configured), and an address over the limit is refused
// with 429 before its credentials are even looked at, so that a
// brute-forcer learns nothing from its next guesses until the limit lets
// it try again.
type authThrottle struct {
	limiter *ratelimit.Limiter
	now     func() time.Time

	mu      sync.Mutex
	blocked map[string]time.Time // client key → refused until
	sweptAt time.Time
	// any is whether blocked has entries: the common case, no address
	// refused, costs every request one atomic load and no lock.
	any atomic.Bool
}

func newAuthThrottle(l *ratelimit.Limiter) *authThrottle {
	return &authThrottle{limiter: l, now: time.Now, blocked: map[string]time.Time{}}
}

// clientKey is what failures are counted by: the address, or for IPv6 its
// /64, which one host commonly has whole.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// refused reports whether ip is over the limit now, and for how long.
func (a *authThrottle) refused(ip string) (time.Duration, bool) {
	if !a.any.Load() {
		return 0, false
	}
	key := clientKey(ip)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.blocked[key]
	if !ok {
		return 0, false
	}
	if !now.Before(until) {
		delete(a.blocked, key)
		a.any.Store(len(a.blocked) > 0)
		return 0, false
	}
	return until.Sub(now), true
}

// failed counts one failed authentication from ip; over the limit, the
// address is refused for the returned duration.
func (a *authThrottle) failed(ctx context.Context, ip string) (time.Duration, bool) {
	key := clientKey(ip)
	ok, retry := a.limiter.Allow(ctx, "authfail:"+key)
	if ok {
		return 0, false
	}
	retry = max(retry, time.Second)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.sweptAt) > time.Minute {
		for k, until := range a.blocked {
			if !now.Before(until) {
				delete(a.blocked, k)
			}
		}
		a.sweptAt = now
	}
	a.blocked[key] = now.Add(retry)
	a.any.Store(true)
	return retry, true
}
