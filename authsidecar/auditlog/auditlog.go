// Package auditlog writes audit records as JSON lines to a file off the
// request path: requests enqueue, one writer goroutine encodes, writes,
// batches flushes and rotates the file by size (rename, as the auditshipper
// expects). Nothing is dropped silently: a full queue or a failed write is
// logged, counted and reported as unhealthy. Records that could not be
// written are kept (bounded) and retried every RetryInterval, so the log
// heals by itself once the disk has room again.
package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshoptixiq/mesh/common/audit"
)

// Entry is a record plus the raw request body, whose parameters are
// extracted by the writer so that parsing stays off the request path.
type Entry struct {
	Record audit.Record
	// Body, when set, is the request body of a query execution; its
	// "parameters" object becomes Record.Params.
	Body []byte
	// After, when set, is called by the writer once Params is filled
	// (the SOAR dispatcher hangs off it).
	After func(*audit.Record)

	// reserved: queued in a reserved place (Reservation.Commit); such a
	// record is for a request that was served, and is never dropped.
	reserved bool
}

// Metrics the writer reports to.
type Metrics interface {
	Written()
	WriteError()
	Dropped()
}

// Config of the writer.
type Config struct {
	Path      string
	MaxBytes  int64 // rotate when the file would exceed this
	Backups   int   // rotated files kept: path.1 … path.N
	QueueSize int
	// BatchWait is how long the writer lets records gather before
	// writing them in one go (default 5ms): the most a record waits in
	// memory before it reaches the file.
	BatchWait time.Duration
	// RetryInterval is how often the writer retries while writes fail
	// (default 1s): without it a sidecar that refuses requests
	// (AUDIT_REQUIRED) or is taken out of service by its failing /readyz
	// would have no record left to try the file with.
	RetryInterval time.Duration
}

// flushAt is the batch size that is written without waiting for the
// batch to end; maxPending bounds what is kept while the file cannot be
// written (further records are dropped and counted).
const (
	flushAt    = 64 << 10
	maxPending = 8 << 20
)

// Writer is the audit log.
type Writer struct {
	cfg     Config
	log     *slog.Logger
	metrics Metrics
	queue   chan *Entry
	wake    chan struct{} // the queue is half full: write now
	// places counts the queue's places taken: entries queued plus places
	// reserved for entries to come. It never exceeds cap(queue), so an
	// entry in a reserved place always finds room.
	places atomic.Int64

	f         *os.File
	held      os.FileInfo // the file f is, to tell a reopened path from a new file
	size      int64
	checkedAt time.Time
	line      []byte       // the record being encoded, reused
	scratch   bytes.Buffer // compacted params, reused
	// pending is what has not reached the file yet: the batch being
	// gathered, and after a failure the records kept for the retry. A
	// partial write leaves the rest of its line at the front.
	pending []byte
	fresh   int  // records in pending not yet counted as written or failed
	partial bool // the file ends in the middle of pending's first line

	mu        sync.Mutex
	lastErr   error
	lastErrAt time.Time
	failing   atomic.Bool
	dropped   atomic.Int64
}

// Open opens (creating directories and the file) the audit log. An error
// here stops startup: the operator asked for audit and it cannot work.
func Open(cfg Config, log *slog.Logger, m Metrics) (*Writer, error) {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 10000
	}
	if cfg.BatchWait <= 0 {
		cfg.BatchWait = 5 * time.Millisecond
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	w := &Writer{cfg: cfg, log: log, metrics: m, queue: make(chan *Entry, cfg.QueueSize), wake: make(chan struct{}, 1)}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("creating audit directory: %w", err)
	}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("opening audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening audit log: %w", err)
	}
	if w.partial && w.held != nil && !os.SameFile(w.held, st) {
		// The head of a partly written line is in a file that is gone
		// (rotated or removed by someone else): its tail alone would be
		// a broken line at the top of this one.
		if i := bytes.IndexByte(w.pending, '\n'); i >= 0 {
			w.pending = w.pending[:copy(w.pending, w.pending[i+1:])]
		}
		w.log.Error("audit record lost: partly written to a file that was replaced", "path", w.cfg.Path)
		w.metrics.Dropped()
		w.dropped.Add(1)
	}
	w.partial = false
	w.f, w.held, w.size = f, st, st.Size()
	return nil
}

// Enqueue hands e to the writer without blocking. A full queue drops the
// entry, counts it and marks the log unhealthy until the queue drains.
func (w *Writer) Enqueue(e *Entry) {
	if !w.take() {
		w.drop("audit queue full; records dropped")
		return
	}
	w.put(e)
}

// Reservation is a place in the queue held for one record to come: a
// request that must not be served unaudited (AUDIT_REQUIRED) takes it
// before it is forwarded, so its record cannot be dropped at the end.
type Reservation struct{ w *Writer }

// Reserve takes a place in the queue, or reports false when there is none.
func (w *Writer) Reserve() (*Reservation, bool) {
	if !w.take() {
		return nil, false
	}
	return &Reservation{w: w}, true
}

// Commit queues e in the reserved place. It never blocks and e is never
// dropped, not even when the retry buffer is full.
func (r *Reservation) Commit(e *Entry) {
	e.reserved = true
	r.w.put(e)
}

// Release gives the place back unused.
func (r *Reservation) Release() { r.w.places.Add(-1) }

// take claims one place in the queue.
func (w *Writer) take() bool {
	for {
		n := w.places.Load()
		if n >= int64(cap(w.queue)) {
			return false
		}
		if w.places.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// put queues e in a place already taken: the send cannot block.
func (w *Writer) put(e *Entry) {
	w.queue <- e
	if len(w.queue) >= cap(w.queue)/2 {
		select { // cut the writer's batch wait short
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *Writer) drop(msg string) {
	w.metrics.Dropped()
	if w.dropped.Add(1)%1000 == 1 {
		w.log.Error(msg, "dropped_total", w.dropped.Load(), "queue", cap(w.queue))
	}
}

// Healthy reports whether records are being written: no failure since the
// last successful write, and room in the queue.
func (w *Writer) Healthy() (bool, string) {
	if failing, detail := w.Failing(); failing {
		return false, detail
	}
	if w.places.Load() >= int64(cap(w.queue)) {
		return false, "audit queue full"
	}
	if d := w.dropped.Load(); d > 0 {
		return true, "writing " + w.cfg.Path + "; " + strconv.FormatInt(d, 10) + " records dropped since start (queue full)"
	}
	return true, "writing " + w.cfg.Path
}

// Failing reports whether writes are failing now, and why.
func (w *Writer) Failing() (bool, string) {
	if !w.failing.Load() {
		return false, ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return true, fmt.Sprintf("audit write failing since %s (retrying every %s): %v", w.lastErrAt.UTC().Format(time.RFC3339), w.cfg.RetryInterval, w.lastErr)
}

// Run writes entries until ctx ends, then drains what is queued.
//
// After the first record of a batch it waits BatchWait (or until the queue
// is half full) so that the records of concurrent requests gather in the
// queue without waking the writer one by one, then writes them all and
// flushes once: one write system call per batch instead of one per record.
//
// While writes fail it retries every RetryInterval with the records it
// kept, so the failure clears as soon as the file can be written again,
// whether or not new requests arrive.
func (w *Writer) Run(ctx context.Context) error {
	defer func() {
		if len(w.pending) > 0 {
			w.log.Error("audit records not written at shutdown", "path", w.cfg.Path, "bytes", len(w.pending))
		}
		if w.f != nil {
			w.f.Close()
		}
	}()
	timer := time.NewTimer(w.cfg.BatchWait)
	timer.Stop()
	retry := time.NewTicker(w.cfg.RetryInterval)
	defer retry.Stop()
	for {
		var retryC <-chan time.Time
		if w.failing.Load() {
			retryC = retry.C
		}
		select {
		case e := <-w.queue:
			w.handle(e)
		case <-retryC:
			w.flush()
			continue
		case <-ctx.Done():
			w.drain()
			return nil
		}
		timer.Reset(w.cfg.BatchWait)
		select {
		case <-timer.C:
		case <-w.wake:
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
		}
		for n := cap(w.queue); n > 0; n-- {
			select {
			case e := <-w.queue:
				w.handle(e)
				continue
			default:
			}
			break
		}
		w.flush()
	}
}

// drain writes what is queued and flushes.
func (w *Writer) drain() {
	for {
		select {
		case e := <-w.queue:
			w.handle(e)
		default:
			w.flush()
			return
		}
	}
}

func (w *Writer) handle(e *Entry) {
	w.places.Add(-1) // out of the queue: its place is free
	if len(e.Body) > 0 {
		var b struct {
			Parameters json.RawMessage `json:"parameters"`
		}
		if json.Unmarshal(e.Body, &b) == nil && len(b.Parameters) > 0 && b.Parameters[0] == '{' {
			e.Record.Params = b.Parameters
		}
	}
	if len(e.Record.Params) == 0 {
		e.Record.Params = json.RawMessage("{}")
	}
	line, err := appendRecord(w.line[:0], &e.Record, &w.scratch)
	w.line = line[:0]
	if err != nil {
		w.metrics.WriteError()
		w.fail(fmt.Errorf("encoding audit record: %w", err))
	} else {
		w.add(append(line, '\n'), e.reserved)
	}
	if e.After != nil {
		e.After(&e.Record)
	}
}

// add appends one line to the batch, rotating first when the line would
// take the file past MaxBytes. A full retry buffer drops the line unless
// it is reserved: those are bounded by the requests that were in flight
// when writes began to fail (AUDIT_REQUIRED refuses the rest).
func (w *Writer) add(line []byte, reserved bool) {
	if len(w.pending)+len(line) > maxPending && !reserved {
		w.drop("audit log not writable and the retry buffer is full; records dropped")
		return
	}
	if w.cfg.MaxBytes > 0 && w.size+int64(len(w.pending)) > 0 && w.size+int64(len(w.pending)+len(line)) > w.cfg.MaxBytes {
		w.flush()
		if len(w.pending) == 0 { // else failing: keep appending, rotate once it is written
			if err := w.rotate(); err != nil {
				w.fail(err)
			}
		}
	}
	w.pending = append(w.pending, line...)
	w.line = line[:0] // reuse the (possibly grown) buffer
	w.fresh++
	if len(w.pending) >= flushAt {
		w.flush()
	}
}

// flush writes what is pending in one write. On failure the rest is kept
// for the next attempt; on success a failure state ends.
func (w *Writer) flush() {
	if w.f == nil {
		if err := w.open(); err != nil {
			w.failed(err)
			return
		}
	}
	if len(w.pending) > 0 {
		n, err := w.f.Write(w.pending)
		w.size += int64(n)
		if n > 0 {
			for range bytes.Count(w.pending[:n], []byte{'\n'}) {
				w.metrics.Written()
			}
			w.partial = w.pending[n-1] != '\n'
			w.pending = w.pending[:copy(w.pending, w.pending[n:])]
		}
		if err != nil {
			w.reset()
			w.failed(fmt.Errorf("writing audit log: %w", err))
			return
		}
		w.fresh = 0
	}
	w.checkReplaced()
	if w.f != nil && w.failing.Load() {
		w.failing.Store(false)
		w.log.Info("audit log writable again", "path", w.cfg.Path)
	}
}

// failed records a failed attempt: the records that had not been tried
// before count as write errors once; they stay pending for the retry.
func (w *Writer) failed(err error) {
	for ; w.fresh > 0; w.fresh-- {
		w.metrics.WriteError()
	}
	w.fail(err)
}

// checkReplaced reopens the path, at most once a second, when the file we
// hold is no longer the one at the path (deleted or moved by someone else):
// writing on into an unlinked file would lose the records silently.
func (w *Writer) checkReplaced() {
	if w.f == nil || time.Since(w.checkedAt) < time.Second {
		return
	}
	w.checkedAt = time.Now()
	held, err1 := w.f.Stat()
	cur, err2 := os.Stat(w.cfg.Path)
	if err1 == nil && err2 == nil && os.SameFile(held, cur) {
		return
	}
	w.log.Warn("audit file was replaced or removed underneath us; reopening", "path", w.cfg.Path)
	w.reset()
	if err := w.open(); err != nil {
		w.fail(err)
	}
}

// reset drops the file handle after an error so the next attempt reopens
// it (the disk may have been freed, the directory recreated).
func (w *Writer) reset() {
	if w.f != nil {
		w.f.Close()
	}
	w.f = nil
}

// fail marks the log unhealthy until a write succeeds.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	first := !w.failing.Load()
	w.lastErr, w.lastErrAt = err, time.Now()
	w.mu.Unlock()
	w.failing.Store(true)
	if first {
		w.log.Error("audit record not written", "path", w.cfg.Path, "err", err)
	}
}

// rotate renames path → path.1 → … → path.N and opens a fresh file. It
// runs with nothing pending.
func (w *Writer) rotate() error {
	w.reset()
	for i := w.cfg.Backups - 1; i >= 1; i-- {
		from := w.cfg.Path + "." + strconv.Itoa(i)
		if err := os.Rename(from, w.cfg.Path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotating audit log: %w", err)
		}
	}
	if w.cfg.Backups > 0 {
		if err := os.Rename(w.cfg.Path, w.cfg.Path+".1"); err != nil {
			return fmt.Errorf("rotating audit log: %w", err)
		}
	} else if err := os.Remove(w.cfg.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotating audit log: %w", err)
	}
	return w.open()
}
