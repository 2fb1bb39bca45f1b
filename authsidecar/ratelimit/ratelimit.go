// Package ratelimit limits requests per identity: RATE_LIMIT such as
// "600/minute", shared across pods through Redis (GCRA via go-redis/redis_rate)
// when Redis is configured, per process otherwise. If Redis cannot be
// reached the local limiter decides, so an outage neither blocks every
// request nor lifts the limit; and a circuit breaker keeps the local
// limiter deciding for a Backoff after each failure, so an outage does not
// cost every request a Redis timeout.
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

// DefaultBackoff is how long the breaker keeps Redis out after a failure.
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

// breaker keeps Redis out of the checks for a backoff after a failure,
// then lets one check try it again (the others stay local until it
// answers).
type breaker struct {
	backoff time.Duration
	log     *slog.Logger
	metrics Metrics

	openUntil atomic.Int64 // unix ns until which Redis is skipped; 0: closed
	probing   atomic.Bool  // one check is trying Redis after a backoff
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

// New returns a limiter; rdb may be nil. m (may be nil) hears when Redis
// fails or is skipped and the local limiter decides instead.
func New(limit Limit, rdb *redis.Client, log *slog.Logger, m Metrics) *Limiter {
	l := &Limiter{limit: limit, b: &breaker{backoff: DefaultBackoff, log: log, metrics: m}, now: time.Now, local: map[string]*entry{}}
	if rdb != nil {
		l.redis = redis_rate.NewLimiter(rdb)
	}
	return l
}

// With returns a limiter applying another limit through the same Redis,
// circuit breaker and metrics (keys must not collide with l's).
func (l *Limiter) With(limit Limit) *Limiter {
	return &Limiter{limit: limit, redis: l.redis, b: l.b, now: l.now, local: map[string]*entry{}}
}

// Allow reports whether key may make a request now and, if not, how long
// until it may.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration) {
	if l.redis != nil {
		if !l.b.try(l.now()) {
			if l.b.metrics != nil {
				l.b.metrics.RedisSkipped()
			}
			return l.allowLocal(key)
		}
		res, err := l.redis.Allow(ctx, "meshq:ratelimit:"+key, redis_rate.Limit{Rate: l.limit.N, Burst: l.limit.N, Period: l.limit.Period})
		l.b.done(err, l.now())
		if err == nil {
			return res.Allowed > 0, res.RetryAfter
		}
		if l.b.metrics != nil {
			l.b.metrics.RedisError()
		}
	}
	return l.allowLocal(key)
}

// try reports whether a check may ask Redis: closed, yes; open, not until
// the backoff has passed, and then one check at a time.
func (b *breaker) try(now time.Time) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

// done records the outcome of a Redis check.
func (b *breaker) done(err error, now time.Time) {
	defer b.probing.Store(false)
	if err == nil {
		if b.openUntil.Swap(0) != 0 {
			b.log.Info("rate limit: redis answers again; limits shared again")
			if b.metrics != nil {
				b.metrics.BreakerOpen(false)
			}
		}
		return
	}
	if b.openUntil.Swap(now.Add(b.backoff).UnixNano()) == 0 {
		b.log.Warn("rate limit: redis failed; deciding locally, retrying redis after each backoff", "backoff", b.backoff, "err", err)
		if b.metrics != nil {
			b.metrics.BreakerOpen(true)
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
