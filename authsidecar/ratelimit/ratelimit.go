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
	limit   Limit
	redis   *redis_rate.Limiter
	log     *slog.Logger
	metrics Metrics
	// Backoff after a Redis failure before Redis is tried again (by one
	// check; the others stay local until it answers).
	Backoff time.Duration
	now     func() time.Time

	openUntil atomic.Int64 // unix ns until which Redis is skipped; 0: closed
	probing   atomic.Bool  // one check is trying Redis after a backoff

	mu    sync.Mutex
	local map[string]*entry
	sweep time.Time
}

type entry struct {
	l    *rate.Limiter
	seen time.Time
}

// New returns a limiter; rdb may be nil. m (may be nil) hears when Redis
// fails or is skipped and the local limiter decides instead.
func New(limit Limit, rdb *redis.Client, log *slog.Logger, m Metrics) *Limiter {
	l := &Limiter{limit: limit, log: log, metrics: m, Backoff: DefaultBackoff, now: time.Now, local: map[string]*entry{}}
	if rdb != nil {
		l.redis = redis_rate.NewLimiter(rdb)
	}
	return l
}

// Allow reports whether key may make a request now and, if not, how long
// until it may.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration) {
	if l.redis != nil {
		if !l.tryRedis() {
			if l.metrics != nil {
				l.metrics.RedisSkipped()
			}
			return l.allowLocal(key)
		}
		res, err := l.redis.Allow(ctx, "meshq:ratelimit:"+key, redis_rate.Limit{Rate: l.limit.N, Burst: l.limit.N, Period: l.limit.Period})
		l.redisDone(err)
		if err == nil {
			return res.Allowed > 0, res.RetryAfter
		}
		if l.metrics != nil {
			l.metrics.RedisError()
		}
	}
	return l.allowLocal(key)
}

// tryRedis is the breaker: closed, Redis is asked; open, it is not until
// the backoff has passed, and then by one check at a time.
func (l *Limiter) tryRedis() bool {
	until := l.openUntil.Load()
	if until == 0 {
		return true
	}
	if l.now().UnixNano() < until {
		return false
	}
	return l.probing.CompareAndSwap(false, true)
}

// redisDone records the outcome of a Redis check in the breaker.
func (l *Limiter) redisDone(err error) {
	defer l.probing.Store(false)
	if err == nil {
		if l.openUntil.Swap(0) != 0 {
			l.log.Info("rate limit: redis answers again; limits shared again")
			if l.metrics != nil {
				l.metrics.BreakerOpen(false)
			}
		}
		return
	}
	if l.openUntil.Swap(l.now().Add(l.Backoff).UnixNano()) == 0 {
		l.log.Warn("rate limit: redis failed; deciding locally, retrying redis after each backoff", "backoff", l.Backoff, "err", err)
		if l.metrics != nil {
			l.metrics.BreakerOpen(true)
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
