package auditlog

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/audit"
)

type counts struct{ written, errors, dropped atomic.Int64 }

func (c *counts) Written()    { c.written.Add(1) }
func (c *counts) WriteError() { c.errors.Add(1) }
func (c *counts) Dropped()    { c.dropped.Add(1) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestFullQueueDropsAreCountedAndUnhealthy(t *testing.T) {
	c := &counts{}
	w, err := Open(Config{Path: filepath.Join(t.TempDir(), "a.jsonl"), QueueSize: 2, Backups: 1}, quiet, c)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ { // no writer running: the queue fills
		w.Enqueue(&Entry{Record: audit.Record{ID: "r"}})
	}
	if got := c.dropped.Load(); got != 3 {
		t.Errorf("dropped = %d, want 3", got)
	}
	if ok, detail := w.Healthy(); ok || detail != "audit queue full" {
		t.Errorf("Healthy() = %v, %q; want false, audit queue full", ok, detail)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	cancel()
	<-done
	if ok, detail := w.Healthy(); !ok || !strings.Contains(detail, "3 records dropped") {
		t.Errorf("Healthy() after draining = %v, %q; want true and the drop count", ok, detail)
	}
	if got := c.written.Load(); got != 2 {
		t.Errorf("written = %d, want the 2 queued records drained at shutdown", got)
	}
}

// TestReservedPlacesAreNeverLost: a reserved place counts against the
// queue from the moment it is taken, so records enqueued meanwhile cannot
// take the room a reserved record will need.
func TestReservedPlacesAreNeverLost(t *testing.T) {
	c := &counts{}
	path := filepath.Join(t.TempDir(), "a.jsonl")
	w, err := Open(Config{Path: path, QueueSize: 2, Backups: 1}, quiet, c)
	if err != nil {
		t.Fatal(err)
	}
	first, ok1 := w.Reserve()
	second, ok2 := w.Reserve()
	if _, ok3 := w.Reserve(); !ok1 || !ok2 || ok3 {
		t.Fatalf("Reserve ×3 on a queue of 2 = %v %v %v, want true true false", ok1, ok2, ok3)
	}
	w.Enqueue(&Entry{Record: audit.Record{ID: "unreserved"}}) // no room: dropped
	first.Commit(&Entry{Record: audit.Record{ID: "reserved-1"}})
	second.Release()
	if _, ok := w.Reserve(); !ok {
		t.Errorf("Reserve after a Release = false, want the place back")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	cancel()
	<-done
	b, _ := os.ReadFile(path)
	if got := string(b); !strings.Contains(got, `"reserved-1"`) || strings.Contains(got, "unreserved") || c.dropped.Load() != 1 {
		t.Errorf("file %q, %d dropped; want the reserved record written and the unreserved one dropped", got, c.dropped.Load())
	}
}

func TestWriteFailureCountedAndReported(t *testing.T) {
	c := &counts{}
	// /dev/full opens and fails every write with ENOSPC: a full disk.
	w, err := Open(Config{Path: "/dev/full", Backups: 1}, quiet, c)
	if err != nil {
		t.Fatal(err)
	}
	w.handle(&Entry{Record: audit.Record{ID: "1"}})
	w.flush()
	if ok, detail := w.Healthy(); ok || !strings.Contains(detail, "no space left") || c.errors.Load() != 1 {
		t.Errorf("Healthy() = %v, %q with %d errors; want false naming ENOSPC and 1 error", ok, detail, c.errors.Load())
	}
}

func TestParamsFromBody(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	c := &counts{}
	w, _ := Open(Config{Path: path, Backups: 1}, quiet, c)
	w.handle(&Entry{Record: audit.Record{ID: "1"}, Body: []byte(`{"parameters":{"hostname":"core-sw-01"}}`)})
	w.handle(&Entry{Record: audit.Record{ID: "2"}, Body: []byte(`{"parameters":[1]}`)})
	w.flush()
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"params":{"hostname":"core-sw-01"}`) || !strings.Contains(lines[1], `"params":{}`) {
		t.Errorf("records = %q, want params from the body, {} for non-objects", lines)
	}
}

func TestReopensWhenTheFileIsRemoved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	c := &counts{}
	w, err := Open(Config{Path: path, Backups: 1}, quiet, c)
	if err != nil {
		t.Fatal(err)
	}
	w.handle(&Entry{Record: audit.Record{ID: "1"}})
	w.flush()
	os.Remove(path)
	w.checkedAt = time.Time{} // the once-a-second check is due
	w.handle(&Entry{Record: audit.Record{ID: "2"}})
	w.flush() // notices the removal, reopens
	w.handle(&Entry{Record: audit.Record{ID: "3"}})
	w.flush()
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `"id":"3"`) {
		t.Errorf("file after removal = %q, %v; want the next record in a fresh file", b, err)
	}
}

func TestHalfFullQueueCutsTheBatchWaitShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	c := &counts{}
	// A batch wait far longer than the test: only the wake-up at half
	// capacity can get the later records written.
	w, err := Open(Config{Path: path, Backups: 1, QueueSize: 8, BatchWait: time.Hour}, quiet, c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	w.Enqueue(&Entry{Record: audit.Record{ID: "first"}}) // starts a batch
	// Wait until the writer has taken it and waits for the batch to fill.
	for len(w.queue) > 0 {
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 4; i++ {
		w.Enqueue(&Entry{Record: audit.Record{ID: "r" + strconv.Itoa(i)}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if n := strings.Count(string(b), "\n"); n == 5 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("records in the file = %d, want 5 once the queue is half full", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetriesKeptRecordsUntilWritable: the path cannot be opened (a
// directory stands there); the record is kept, the writer retries on its
// own, and once the path is free the record lands and the log is healthy.
func TestRetriesKeptRecordsUntilWritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	c := &counts{}
	w, err := Open(Config{Path: path, Backups: 1, RetryInterval: 10 * time.Millisecond}, quiet, c)
	if err != nil {
		t.Fatal(err)
	}
	w.reset()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	w.Enqueue(&Entry{Record: audit.Record{ID: "kept"}})
	waitFor(t, "the failure reported", func() bool { ok, _ := w.Healthy(); return !ok && c.errors.Load() == 1 })
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "healthy again without a new record", func() bool { ok, _ := w.Healthy(); return ok })
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), `"id":"kept"`) || strings.Count(string(b), "\n") != 1 {
		t.Errorf("file after recovery = %q, %v; want the kept record once", b, err)
	}
	if got := c.errors.Load(); got != 1 {
		t.Errorf("write errors = %d, want 1 (retries of the same record are not counted again)", got)
	}
}

// TestKeptRecordsAreBounded: while nothing can be written, memory stays
// bounded; what does not fit is dropped and counted.
func TestKeptRecordsAreBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	c := &counts{}
	w, err := Open(Config{Path: path, Backups: 1}, quiet, c)
	if err != nil {
		t.Fatal(err)
	}
	w.reset()
	os.Remove(path)
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("x", 1000)
	for i := 0; i < 2*maxPending/1000; i++ {
		w.handle(&Entry{Record: audit.Record{ID: id}})
	}
	if len(w.pending) > maxPending || c.dropped.Load() == 0 {
		t.Errorf("kept %d bytes with %d dropped; want at most %d and drops counted", len(w.pending), c.dropped.Load(), maxPending)
	}
	if ok, _ := w.Healthy(); ok {
		t.Error("Healthy() = true while nothing can be written")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
