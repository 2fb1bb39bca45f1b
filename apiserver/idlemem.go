package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// idleRelease decides when a server that has gone quiet gives its heap's
// headroom back to the system. After a burst (an ingest, a storm of heavy
// queries) the collector's goal stays at twice the burst's live heap, and
// a server that then idles runs no collection to lower it: its resident
// memory stays near the burst's peak for as long as it is quiet. Once no
// request has come for the idle period, one forced collection returns
// what is free; then nothing more until requests come again.
type idleRelease struct {
	idle       time.Duration
	seen       uint64    // the request count at the last change
	lastActive time.Time // when it last changed
	released   bool      // released since then
}

// tick takes the request count at now and says whether to release.
func (r *idleRelease) tick(now time.Time, requests uint64) bool {
	if requests != r.seen || r.lastActive.IsZero() {
		r.seen, r.lastActive, r.released = requests, now, false
		return false
	}
	if r.released || now.Sub(r.lastActive) < r.idle {
		return false
	}
	r.released = true
	return true
}

// releaseWhenIdle runs idleRelease against the API's request count until
// ctx ends; idle 0 turns it off.
func releaseWhenIdle(ctx context.Context, log *slog.Logger, idle time.Duration, requests func() uint64) error {
	if idle <= 0 {
		return nil
	}
	r := &idleRelease{idle: idle}
	t := time.NewTicker(max(idle/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if r.tick(now, requests()) {
				debug.FreeOSMemory()
				log.Debug("idle: returned free memory to the system", "idle", idle)
			}
		}
	}
}
