package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"
	"golang.org/x/sync/semaphore"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
	"github.com/meshoptixiq/mesh/auditshipper/sink"
	"github.com/meshoptixiq/mesh/auditshipper/tail"
)

// shipMetrics are the shipper's own counters (the tailer and sinks add theirs).
type shipMetrics struct {
	shipped      *prometheus.CounterVec
	retried      *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	ckptWrites   prometheus.Counter
	ckptErrors   prometheus.Counter
	ckptLag      prometheus.Histogram
	dlqErrors    prometheus.Counter
}

// newShipMetrics registers the shipper's metrics; with a tailer (the
// daemon, not replay) also how far behind it is.
func newShipMetrics(reg prometheus.Registerer, t *tail.Tailer) (*shipMetrics, error) {
	m := &shipMetrics{
		shipped:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_records_shipped_total", Help: "Records the sink confirmed."}, []string{"sink"}),
		retried:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_records_retried_total", Help: "Record delivery attempts that will be retried, by reason."}, []string{"sink", "reason"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_records_dead_lettered_total", Help: "Records written to the dead-letter file, by reason."}, []string{"sink", "reason"}),
		duplicates:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_records_duplicate_total", Help: "Records the sink already had (409 on create): a retry of a delivered record."}, []string{"sink"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_sink_auth_failures_total", Help: "Requests refused for authentication or configuration (401/403/404); data is kept and retried slowly."}, []string{"sink", "status"}),
		ckptWrites:   prometheus.NewCounter(prometheus.CounterOpts{Name: "auditshipper_checkpoint_writes_total", Help: "Checkpoints written."}),
		ckptErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "auditshipper_checkpoint_write_errors_total", Help: "Checkpoint writes that failed (the previous checkpoint stays in force)."}),
		ckptLag:      prometheus.NewHistogram(prometheus.HistogramOpts{Name: "auditshipper_checkpoint_lag_seconds", Help: "Time from the sink's confirmation to the checkpoint that records it being durable.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		dlqErrors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "auditshipper_dead_letter_write_errors_total", Help: "Dead-letter writes that failed (the records are kept and tried again)."}),
	}
	cs := []prometheus.Collector{m.shipped, m.retried, m.deadLettered, m.duplicates, m.authFailures, m.ckptWrites, m.ckptErrors, m.ckptLag, m.dlqErrors}
	if t != nil {
		behind := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auditshipper_bytes_behind", Help: "Bytes in the followed files not yet confirmed by the sink."}, func() float64 {
			b, _ := t.Behind()
			return float64(b)
		})
		oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auditshipper_oldest_unconfirmed_seconds", Help: "Age of the oldest batch read but not yet confirmed (0 when none)."}, func() float64 {
			_, at := t.Behind()
			if at.IsZero() {
				return 0
			}
			return time.Since(at).Seconds()
		})
		cs = append(cs, behind, oldest)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// shipper takes batches from the tailer, delivers them with retries, and
// confirms them back so the checkpoint can advance.
type shipper struct {
	sink    sink.Sink
	tailer  *tail.Tailer
	dead    *deadLetters
	log     *slog.Logger
	m       *shipMetrics
	retry   retryPolicy
	confirm chan time.Time // wakes the checkpointer with the confirmation time
	// Delivered batches whose dead letters wait for space, and the bytes
	// of dead letters they may hold (parkBytes) before the senders wait.
	parked   chan parked
	parkRoom *semaphore.Weighted
	tracer   trace.Tracer // a span per delivery attempt; nil: tracing off
}

// parkBytes bounds the memory of dead letters waiting for space: with the
// state directory full, good records keep flowing until this much is
// refused.
const parkBytes = 16 << 20

type retryPolicy struct {
	min, max, auth time.Duration
}

// backoff is exponential with full jitter, never shorter than a server's
// Retry-After, and slow (around auth) for authentication/config errors.
func (p retryPolicy) backoff(attempt int, retryAfter time.Duration, slow bool) time.Duration {
	ceil := p.min << min(attempt, 30)
	if ceil > p.max || ceil <= 0 {
		ceil = p.max
	}
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	if slow {
		d = p.auth/2 + time.Duration(rand.Int64N(int64(p.auth/2)+1))
	}
	return max(d, retryAfter)
}

// run processes batches until in is closed or ctx ends (the drain deadline).
// A batch whose dead letters cannot be written yet (state directory full)
// is parked and confirmed once they are: the sender goes on with the next
// batch, so one bad record on a full disk does not stop shipping.
func (s *shipper) run(ctx context.Context, in <-chan *tail.Batch) {
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-in:
			if !ok {
				return
			}
			dead, delivered := s.deliver(ctx, b)
			switch {
			case !delivered:
				s.tailer.Recycle(b)
			case s.tryDead(dead):
				s.finish(b)
			default:
				// Parked with copies of its dead letters and only its
				// ranges, so its buffer goes back at once.
				p := parked{b: &tail.Batch{Segments: b.Segments}, dead: detach(dead)}
				s.tailer.Recycle(b)
				if err := s.parkRoom.Acquire(ctx, p.size()); err != nil {
					return
				}
				s.parked <- p
			}
		}
	}
}

// parked is a delivered batch whose dead letters wait for space.
type parked struct {
	b    *tail.Batch
	dead []deadLetter
}

func (p parked) size() int64 {
	n := int64(0)
	for _, d := range p.dead {
		n += int64(len(d.Raw) + len(d.Record) + len(d.Line) + len(d.Detail) + 256)
	}
	return min(n, parkBytes)
}

// detach copies dead letters out of their batch's buffer.
func detach(ds []deadLetter) []deadLetter {
	out := make([]deadLetter, len(ds))
	for i, d := range ds {
		d.Raw = append([]byte(nil), d.Raw...)
		if d.Record != nil {
			d.Record = append([]byte(nil), d.Record...)
		}
		out[i] = d
	}
	return out
}

// runParked writes the parked batches' dead letters, retrying, and
// confirms each batch once they are durable. It ends when parked is closed
// and empty, or at the drain deadline.
func (s *shipper) runParked(ctx context.Context) {
	for p := range s.parked {
		if !s.writeDead(ctx, p.dead) {
			return
		}
		s.finish(p.b)
		s.parkRoom.Release(p.size())
	}
}

// finish confirms b and wakes the checkpointer.
func (s *shipper) finish(b *tail.Batch) {
	if s.tailer.Confirm(b) {
		select {
		case s.confirm <- time.Now():
		default:
		}
	}
	s.tailer.Recycle(b)
}

// handle delivers b and writes its dead letters, waiting for them to be
// durable; false means ctx ended first (replay uses it).
func (s *shipper) handle(ctx context.Context, b *tail.Batch) bool {
	dead, ok := s.deliver(ctx, b)
	return ok && s.writeDead(ctx, dead)
}

// deliver sends every line of b that the sink may take, retrying, and
// returns the dead letters of those it will never take; false means ctx
// ended first and b stays unconfirmed.
func (s *shipper) deliver(ctx context.Context, b *tail.Batch) ([]deadLetter, bool) {
	name := s.sink.Name()
	recs := make([]sink.Record, 0, len(b.Lines))
	src := make([]int, 0, len(b.Lines))
	var dead []deadLetter
	for i, l := range b.Lines {
		switch {
		case l.TooLong:
			dead = append(dead, lineLetter(name, "too_long", l, "line exceeds SHIPPER_MAX_LINE_BYTES; this is its beginning"))
		case !gjson.ValidBytes(l.Data) || firstNonSpace(l.Data) != '{':
			reason := "invalid_json"
			if l.Partial {
				reason = "partial_line"
			}
			dead = append(dead, lineLetter(name, reason, l, "not a JSON object"))
		default:
			r := sink.Record{Data: l.Data}
			// GetBytes stops at the key; both lead an audit record.
			if id := gjson.GetBytes(l.Data, "id"); id.Type == gjson.String {
				r.ID = id.Raw
			}
			if ts := gjson.GetBytes(l.Data, "ts"); ts.Type == gjson.String {
				if t, err := time.Parse(time.RFC3339Nano, ts.Str); err == nil {
					r.TS = t
				}
			}
			recs = append(recs, r)
			src = append(src, i)
		}
	}
	pending := make([]int, len(recs)) // indexes into recs
	for i := range pending {
		pending[i] = i
	}
	sub := make([]sink.Record, 0, len(recs))
	outs := make([]sink.Outcome, len(recs))
	for attempt := 0; len(pending) > 0; attempt++ {
		sub = sub[:0]
		for _, i := range pending {
			sub = append(sub, recs[i])
		}
		out := outs[:len(sub)]
		var span trace.Span
		if s.tracer != nil {
			_, span = s.tracer.Start(ctx, "auditshipper deliver", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.String("meshq.sink", name), attribute.Int("meshq.records", len(sub)), attribute.Int("meshq.attempt", attempt+1)))
		}
		s.sink.Deliver(ctx, sub, out)
		next := pending[:0:0]
		var wait time.Duration
		slow := false
		shipped, dups := 0, 0
		for j, o := range out {
			switch o.Kind {
			case sink.Delivered:
				shipped++
				if o.Reason == "duplicate" {
					dups++
				}
			case sink.DeadLetter:
				l := b.Lines[src[pending[j]]]
				dead = append(dead, newDeadLetter(name, o.Reason, o.Status, o.Detail, l))
			default:
				next = append(next, pending[j])
				s.m.retried.WithLabelValues(name, o.Reason).Inc()
				wait = max(wait, o.RetryAfter)
				if o.Slow {
					if !slow {
						s.m.authFailures.WithLabelValues(name, statusLabel(o.Status)).Inc()
						s.log.Error("sink refused the request for authentication or configuration; keeping the data and retrying slowly", "sink", name, "status", o.Status, "detail", o.Detail)
					}
					slow = true
				}
			}
		}
		s.m.shipped.WithLabelValues(name).Add(float64(shipped))
		if span != nil {
			span.SetAttributes(attribute.Int("meshq.delivered", shipped), attribute.Int("meshq.retried", len(next)), attribute.Int("meshq.dead_lettered", len(dead)))
			if len(next) > 0 {
				span.SetStatus(codes.Error, "some records will be retried")
			}
			span.End()
		}
		if dups > 0 {
			s.m.duplicates.WithLabelValues(name).Add(float64(dups))
		}
		pending = next
		if len(pending) == 0 {
			break
		}
		d := s.retry.backoff(attempt, wait, slow)
		if attempt == 0 || attempt%10 == 0 {
			first := out[0]
			for j := range out {
				if out[j].Kind == sink.Retry {
					first = out[j]
					break
				}
			}
			s.log.Warn("delivery failed; retrying", "sink", name, "records", len(pending), "reason", first.Reason, "status", first.Status, "detail", first.Detail, "attempt", attempt+1, "wait", d.String())
		}
		if !sleep(ctx, d) {
			return nil, false
		}
	}
	return dead, true
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

func statusLabel(s int) string {
	if s == 0 {
		return "none"
	}
	return strconv.Itoa(s)
}

func lineLetter(sinkName, reason string, l tail.Line, detail string) deadLetter {
	return newDeadLetter(sinkName, reason, 0, detail, l)
}

// writeDead writes dead letters, retrying until it succeeds or ctx ends.
func (s *shipper) writeDead(ctx context.Context, ds []deadLetter) bool {
	for attempt := 0; !s.tryDead(ds); attempt++ {
		if !sleep(ctx, s.retry.backoff(attempt, 0, false)) {
			return false
		}
	}
	return true
}

// tryDead writes dead letters once; it reports whether they are durable.
func (s *shipper) tryDead(ds []deadLetter) bool {
	if len(ds) == 0 {
		return true
	}
	if err := s.dead.write(ds); err != nil {
		s.m.dlqErrors.Inc()
		s.log.Error("cannot write dead letters; keeping the records", "count", len(ds), "err", err)
		return false
	}
	for _, d := range ds {
		s.m.deadLettered.WithLabelValues(d.Sink, d.Reason).Inc()
	}
	s.log.Warn("records written to the dead-letter file", "count", len(ds), "reason", ds[0].Reason, "status", ds[0].Status, "detail", ds[0].Detail, "path", s.dead.path)
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// checkpointer saves the tailer's state after confirmations, one write at a
// time (confirmations that arrive during a write are folded into the next).
type checkpointer struct {
	store  *checkpoint.Store
	tailer *tail.Tailer
	log    *slog.Logger
	m      *shipMetrics
	retry  time.Duration
	seq    uint64
	dirty  bool // the state at start could not be saved yet
}

// run saves after confirmations and after changes to the set of files,
// until done is closed, then saves once more.
func (c *checkpointer) run(confirm <-chan time.Time, changed <-chan struct{}, done <-chan struct{}) {
	var since time.Time // earliest confirmation not yet durable
	dirty := c.dirty    // a change not yet durable
	var retry <-chan time.Time
	if dirty {
		retry = time.After(c.retry)
	}
	for {
		select {
		case at := <-confirm:
			if since.IsZero() {
				since = at
			}
			dirty = true
		case <-changed:
			dirty = true
		case <-retry:
		case <-done:
			// Fold in a last confirmation that may have raced with done.
			select {
			case at := <-confirm:
				if since.IsZero() {
					since = at
				}
				dirty = true
			default:
			}
			select {
			case <-changed:
				dirty = true
			default:
			}
			if dirty {
				c.save(since)
			}
			return
		}
		if !dirty {
			continue
		}
		if c.save(since) {
			since, dirty, retry = time.Time{}, false, nil
		} else {
			retry = time.After(c.retry)
		}
	}
}

// write saves the tailer's state now.
func (c *checkpointer) write() error {
	st := c.tailer.Snapshot()
	c.seq++
	st.Seq = c.seq
	st.SavedAt = time.Now().UnixNano()
	return c.store.Save(st)
}

// save writes the state, counting the write and, when since is set, the
// lag from that confirmation.
func (c *checkpointer) save(since time.Time) bool {
	if err := c.write(); err != nil {
		c.m.ckptErrors.Inc()
		c.log.Error("checkpoint write failed; the previous checkpoint stays in force", "err", err)
		return false
	}
	c.m.ckptWrites.Inc()
	if !since.IsZero() {
		c.m.ckptLag.Observe(time.Since(since).Seconds())
	}
	return true
}
