package main

import (
	"testing"
	"time"
)

// The release comes once per quiet period: not while requests arrive, once
// the idle time has passed without any, and again only after new requests
// and another quiet period.
func TestIdleRelease(t *testing.T) {
	r := &idleRelease{idle: 30 * time.Second}
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		sec      int
		requests uint64
		want     bool
	}{
		{0, 0, false},    // first look
		{10, 5, false},   // busy
		{20, 9, false},   // busy
		{49, 9, false},   // quiet 29 s
		{50, 9, true},    // quiet 30 s: release
		{60, 9, false},   // still quiet: already released
		{500, 9, false},  // long quiet: nothing more
		{510, 10, false}, // a request
		{539, 10, false}, // quiet 29 s
		{540, 10, true},  // quiet 30 s: release again
	}
	for _, s := range steps {
		if got := r.tick(at(s.sec), s.requests); got != s.want {
			t.Errorf("at %d s with %d requests: release %v, want %v", s.sec, s.requests, got, s.want)
		}
	}
}
