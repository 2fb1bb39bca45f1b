package ratelimit

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/testenv"
	"github.com/redis/go-redis/v9"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Limit{"600/minute": {600, time.Minute}, "10/second": {10, time.Second}, "5000/hour": {5000, time.Hour},
		"100/m": {100, time.Minute}, "600/5m": {600, 5 * time.Minute}} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "600", "0/minute", "-1/minute", "x/minute", "600/fortnight", "600/-5m"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", bad)
		}
	}
}

func TestLocalLimiterPerKey(t *testing.T) {
	l := New(Limit{3, time.Minute}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow(context.Background(), "alice"); !ok {
			t.Fatalf("Allow(alice) #%d = false, want true", i)
		}
	}
	ok, retry := l.Allow(context.Background(), "alice")
	if ok || retry <= 0 || retry > 20*time.Second {
		t.Errorf("Allow(alice) #4 = %v, %v; want false with a retry of at most 20s", ok, retry)
	}
	if ok, _ := l.Allow(context.Background(), "bob"); !ok {
		t.Error("Allow(bob) = false; limits must be per identity")
	}
}

type breakerCounts struct {
	errors, skipped atomic.Int64
	open            atomic.Bool
}

func (c *breakerCounts) RedisError()        { c.errors.Add(1) }
func (c *breakerCounts) RedisSkipped()      { c.skipped.Add(1) }
func (c *breakerCounts) BreakerOpen(o bool) { c.open.Store(o) }

// TestBreakerSkipsRedisWhileDown: with Redis stopped, one check pays for
// the failure and every following one decides locally without asking
// Redis, however long the outage lasts; a probe off the request path finds
// Redis back and closes the breaker without any check having to try, and
// the limits are shared through Redis again.
func TestBreakerSkipsRedisWhileDown(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr(), DialTimeout: 2 * time.Second, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	c := &breakerCounts{}
	l := New(Limit{1000, time.Minute}, rdb, slog.New(slog.NewTextHandler(io.Discard, nil)), c)
	l.b.backoff = 20 * time.Millisecond
	t.Cleanup(l.Close)
	ctx := context.Background()
	if ok, _ := l.Allow(ctx, "alice"); !ok || c.errors.Load() != 0 {
		t.Fatalf("Allow with Redis up = %v with %d redis errors, want true and none", ok, c.errors.Load())
	}
	r.Stop()
	for i := 0; i < 10; i++ {
		if ok, _ := l.Allow(ctx, "alice"); !ok {
			t.Fatalf("Allow #%d with Redis down = false, want true (local limiter)", i)
		}
	}
	if e, s := c.errors.Load(), c.skipped.Load(); e != 1 || s != 9 || !c.open.Load() {
		t.Errorf("Redis down, 10 checks: %d redis errors, %d skipped, open %v; want 1, 9, true", e, s, c.open.Load())
	}
	// Several probe periods later, Redis still down: still no check asks it.
	time.Sleep(5 * l.b.backoff)
	l.Allow(ctx, "alice")
	l.Allow(ctx, "alice")
	if e, s := c.errors.Load(), c.skipped.Load(); e != 1 || s != 11 {
		t.Errorf("after several backoffs, Redis still down: %d redis errors, %d skipped; want 1, 11 (no check dials)", e, s)
	}
	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for c.open.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.open.Load() {
		t.Fatalf("breaker still open 10s after Redis came back, with no check made meanwhile; want the probe to close it")
	}
	if ok, _ := l.Allow(ctx, "bob"); !ok || c.errors.Load() != 1 {
		t.Fatalf("Allow after Redis is back = %v (%d errors); want true", ok, c.errors.Load())
	}
	if n, err := rdb.Exists(ctx, "rate:meshq:ratelimit:bob").Result(); err != nil || n != 1 {
		t.Errorf("EXISTS rate:meshq:ratelimit:bob = %d, %v; want the check made in Redis", n, err)
	}
}
