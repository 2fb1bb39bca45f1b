// Package ratelimit limits requests per identity: RATE_LIMIT such as
// "600/minute", shared across pods through Redis (GCRA via go-redis/redis_rate)
// when Redis is configured, per process otherwise. If Redis cannot be
// reached the local limiter decides, so an outage neither blocks every
// request nor lifts the limit; and a circuit breaker keeps every check
// local from the first failure until a background probe finds Redis
// answering again, so an outage costs no request a Redis dial.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is N requests per Period.
type Limit struct {
	N      int
	Period time.Duration
}

// Parse reads "600/minute", "10/second", "5000/hour", "100/m", "600/5m".
func Parse(s string) (Limit, error) {
	n, per, ok := strings.Cut(strings.TrimSpace(s), "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count <= 0 {
		return Limit{}, fmt.Errorf("%q is not N/period (e.g. 600/minute)", s)
	}
	var d time.Duration
	switch strings.ToLower(strings.TrimSpace(per)) {
	case "s", "sec", "second":
		d = time.Second
	case "m", "min", "minute":
		d = time.Minute
	case "h", "hour":
		d = time.Hour
	default:
		d, err = time.ParseDuration(strings.TrimSpace(per))
		if err != nil || d <= 0 {
			return Limit{}, fmt.Errorf("%q: period must be second, minute, hour or a duration", s)
		}
	}
	return Limit{N: count, Period: d}, nil
}

func (l Limit) String() string { return fmt.Sprintf("%d/%s", l.N, l.Period) }

// Metrics the limiter reports its Redis use to.
type Metrics interface {
	// RedisError: Redis failed; the local limiter decided.
	RedisError()
	// RedisSkipped: the breaker was open; the local limiter decided
	// without asking Redis.
	RedisSkipped()
	// BreakerOpen reports the breaker's state when it changes.
	BreakerOpen(open bool)
}

// DefaultBackoff is the wait between the breaker's probes of Redis.
const DefaultBackoff = time.Second

// Limiter decides per key.
type Limiter struct {
	limit Limit
	redis *redis_rate.Limiter
	b     *breaker // shared by the limiters of one Redis (With)
	now   func() time.Time

	mu    sync.Mutex
	local map[string]*entry
	sweep time.Time
}

// breaker keeps Redis out of the checks from a failure until a probe off
// the request path (PING every backoff) finds it answering again: while
// it is open no request waits on Redis.
type breaker struct {
	backoff time.Duration
	log     *slog.Logger
	metrics Metrics
	ping    func(context.Context) error

	open atomic.Bool
	stop chan struct{} // closed by Close: the probe ends

	mu     sync.Mutex // orders starting a probe with Close
	closed bool
	done   sync.WaitGroup // the probe goroutine
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

// New returns a limiter; rdb may be nil. m (may be nil) hears when Redis
// fails or is skipped and the local limiter decides instead. Close stops
// the breaker's probe.
func New(limit Limit, rdb *redis.Client, log *slog.Logger, m Metrics) *Limiter {
	b := &breaker{backoff: DefaultBackoff, log: log, metrics: m, stop: make(chan struct{})}
	l := &Limiter{limit: limit, b: b, now: time.Now, local: map[string]*entry{}}
	if rdb != nil {
		l.redis = redis_rate.NewLimiter(rdb)
		b.ping = func(ctx context.Context) error { return rdb.Ping(ctx).Err() }
	}
	return l
}

// With returns a limiter applying another limit through the same Redis,
// circuit breaker and metrics (keys must not collide with l's).
func (l *Limiter) With(limit Limit) *Limiter {
	return &Limiter{limit: limit, redis: l.redis, b: l.b, now: l.now, local: map[string]*entry{}}
}

// Close stops the breaker's probe of Redis (for every limiter sharing it)
// and waits for it.
func (l *Limiter) Close() {
	l.b.mu.Lock()
	if !l.b.closed {
		l.b.closed = true
		close(l.b.stop)
	}
	l.b.mu.Unlock()
	l.b.done.Wait()
}

// Allow reports whether key may make a request now and, if not, how long
// until it may.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration) {
	if l.redis != nil {
		if l.b.open.Load() {
			if l.b.metrics != nil {
				l.b.metrics.RedisSkipped()
			}
			return l.allowLocal(key)
		}
		res, err := l.redis.Allow(ctx, "meshq:ratelimit:"+key, redis_rate.Limit{Rate: l.limit.N, Burst: l.limit.N, Period: l.limit.Period})
		if err == nil {
			return res.Allowed > 0, res.RetryAfter
		}
		if l.b.metrics != nil {
			l.b.metrics.RedisError()
		}
		l.b.trip(err)
	}
	return l.allowLocal(key)
}

// trip opens the breaker after a failure and starts the probe that will
// close it (once, however many checks failed at the same time).
func (b *breaker) trip(err error) {
	if !b.open.CompareAndSwap(false, true) {
		return
	}
	b.log.Warn("rate limit: redis failed; deciding locally until a probe finds redis again", "probe_every", b.backoff, "err", err)
	if b.metrics != nil {
		b.metrics.BreakerOpen(true)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.done.Add(1)
	go b.probe()
}

// probe pings Redis every backoff until it answers, then closes the breaker.
func (b *breaker) probe() {
	defer b.done.Done()
	t := time.NewTicker(b.backoff)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.backoff)
		err := b.ping(ctx)
		cancel()
		if err == nil {
			b.open.Store(false)
			b.log.Info("rate limit: redis answers again; limits shared again")
			if b.metrics != nil {
				b.metrics.BreakerOpen(false)
			}
			return
		}
	}
}

func (l *Limiter) allowLocal(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	e, ok := l.local[key]
	if !ok {
		e = &entry{l: rate.NewLimiter(rate.Every(l.limit.Period/time.Duration(l.limit.N)), l.limit.N)}
		l.local[strings.Clone(key)] = e
	}
	e.seen = now
	if now.Sub(l.sweep) > l.limit.Period {
		// Forget identities idle for a full period: their bucket is full
		// again, so forgetting changes nothing.
		for k, v := range l.local {
			if now.Sub(v.seen) > l.limit.Period {
				delete(l.local, k)
			}
		}
		l.sweep = now
	}
	l.mu.Unlock()
	r := e.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
