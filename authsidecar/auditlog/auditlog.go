// Package auditlog writes audit records as JSON lines to a file off the
// request path: requests enqueue, one writer goroutine encodes, writes,
// batches flushes and rotates the file by size (rename, as the auditshipper
// expects). Nothing is dropped silently: a full queue or a failed write is
// logged, counted and reported as unhealthy.
package auditlog

import (
	"bufio"
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
}

// Writer is the audit log.
type Writer struct {
	cfg     Config
	log     *slog.Logger
	metrics Metrics
	queue   chan *Entry
	wake    chan struct{} // the queue is half full: write now

	f         *os.File
	bw        *bufio.Writer
	size      int64
	checkedAt time.Time
	line      []byte       // the record being encoded, reused
	scratch   bytes.Buffer // compacted params, reused

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
	w.f, w.size = f, st.Size()
	w.bw = bufio.NewWriterSize(f, 64<<10)
	return nil
}

// Enqueue hands e to the writer without blocking. A full queue drops the
// entry, counts it and marks the log unhealthy until the queue drains.
func (w *Writer) Enqueue(e *Entry) {
	select {
	case w.queue <- e:
		if len(w.queue) >= cap(w.queue)/2 {
			select { // cut the writer's batch wait short
			case w.wake <- struct{}{}:
			default:
			}
		}
	default:
		w.metrics.Dropped()
		if w.dropped.Add(1)%1000 == 1 {
			w.log.Error("audit queue full; records dropped", "dropped_total", w.dropped.Load(), "queue", cap(w.queue))
		}
	}
}

// Healthy reports whether records are being written: no failure since the
// last successful write, and room in the queue.
func (w *Writer) Healthy() (bool, string) {
	if w.failing.Load() {
		w.mu.Lock()
		defer w.mu.Unlock()
		return false, fmt.Sprintf("audit write failing since %s: %v", w.lastErrAt.UTC().Format(time.RFC3339), w.lastErr)
	}
	if len(w.queue) >= cap(w.queue) {
		return false, "audit queue full"
	}
	if d := w.dropped.Load(); d > 0 {
		return true, "writing " + w.cfg.Path + "; " + strconv.FormatInt(d, 10) + " records dropped since start (queue full)"
	}
	return true, "writing " + w.cfg.Path
}

// Run writes entries until ctx ends, then drains what is queued.
//
// After the first record of a batch it waits BatchWait (or until the queue
// is half full) so that the records of concurrent requests gather in the
// queue without waking the writer one by one, then writes them all and
// flushes once: one write system call per batch instead of one per record.
func (w *Writer) Run(ctx context.Context) error {
	defer func() {
		if w.bw != nil {
			w.bw.Flush()
			w.f.Close()
		}
	}()
	timer := time.NewTimer(w.cfg.BatchWait)
	timer.Stop()
	for {
		select {
		case e := <-w.queue:
			w.handle(e)
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
		w.fail(fmt.Errorf("encoding audit record: %w", err))
		return
	}
	line = append(line, '\n')
	w.line = line[:0]
	if err := w.write(line); err != nil {
		w.fail(err)
	} else {
		w.metrics.Written()
	}
	if e.After != nil {
		e.After(&e.Record)
	}
}

func (w *Writer) write(line []byte) error {
	if w.bw == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.cfg.MaxBytes > 0 && w.size > 0 && w.size+int64(len(line)) > w.cfg.MaxBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.bw.Write(line)
	w.size += int64(n)
	if err != nil {
		w.reset()
		return fmt.Errorf("writing audit log: %w", err)
	}
	return nil
}

func (w *Writer) flush() {
	if w.bw == nil {
		return
	}
	if err := w.bw.Flush(); err != nil {
		w.reset()
		w.fail(fmt.Errorf("writing audit log: %w", err))
		return
	}
	w.checkReplaced()
	if w.failing.Load() {
		w.failing.Store(false)
		w.log.Info("audit log writable again", "path", w.cfg.Path)
	}
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

// reset drops the file handle after an error so the next record reopens
// it (the disk may have been freed, the directory recreated).
func (w *Writer) reset() {
	if w.f != nil {
		w.f.Close()
	}
	w.f, w.bw = nil, nil
}

func (w *Writer) fail(err error) {
	w.metrics.WriteError()
	w.mu.Lock()
	first := !w.failing.Load()
	w.lastErr, w.lastErrAt = err, time.Now()
	w.mu.Unlock()
	w.failing.Store(true)
	if first {
		w.log.Error("audit record not written", "path", w.cfg.Path, "err", err)
	}
}

// rotate renames path → path.1 → … → path.N and opens a fresh file.
func (w *Writer) rotate() error {
	if err := w.bw.Flush(); err != nil {
		w.reset()
		return fmt.Errorf("flushing before rotation: %w", err)
	}
	w.f.Close()
	w.f, w.bw = nil, nil
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
