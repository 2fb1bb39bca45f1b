package tail

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a tailer over path and returns its batches.
func start(t *testing.T, cfg Config, st checkpoint.State) (*Tailer, <-chan *Batch) {
	t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	tl, err := New(cfg, st, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch, 100)
	done := make(chan struct{})
	go func() { defer close(done); tl.Run(ctx, out) }()
	t.Cleanup(func() { cancel(); <-done })
	return tl, out
}

func next(t *testing.T, c <-chan *Batch) *Batch {
	t.Helper()
	select {
	case b := <-c:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no batch within 5s")
		return nil
	}
}

func lines(b *Batch) []string {
	var out []string
	for _, l := range b.Lines {
		out = append(out, string(l.Data))
	}
	return out
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestPartialLineWaitsForNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	appendFile(t, path, "{\"id\":\"1\"}\n{\"id\":")
	_, out := start(t, Config{Pattern: path}, checkpoint.State{})
	if diff := cmp.Diff([]string{`{"id":"1"}`}, lines(next(t, out))); diff != "" {
		t.Errorf("first batch mismatch (-want +got):\n%s", diff)
	}
	select {
	case b := <-out:
		t.Fatalf("got batch %q before the newline", lines(b))
	case <-time.After(100 * time.Millisecond):
	}
	appendFile(t, path, "\"2\"}\n")
	if diff := cmp.Diff([]string{`{"id":"2"}`}, lines(next(t, out))); diff != "" {
		t.Errorf("second batch mismatch (-want +got):\n%s", diff)
	}
}

func TestConfirmAdvancesOnlyOverContiguousRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	appendFile(t, path, "{\"id\":\"1\"}\n")
	tl, out := start(t, Config{Pattern: path}, checkpoint.State{})
	b1 := next(t, out)
	appendFile(t, path, "{\"id\":\"2\"}\n")
	b2 := next(t, out)
	offset := func() int64 { return tl.Snapshot().Files[0].Offset }
	tl.Confirm(b2)
	if got := offset(); got != 0 {
		t.Errorf("offset after confirming only the later batch = %d, want 0", got)
	}
	tl.Confirm(b1)
	if got, want := offset(), int64(22); got != want {
		t.Errorf("offset after confirming both = %d, want %d", got, want)
	}
	if behind, oldest := tl.Behind(); behind != 0 || !oldest.IsZero() {
		t.Errorf("Behind() = %d, %v; want 0, zero time", behind, oldest)
	}
}

func TestLongLineIsCutAndBlankLinesSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	appendFile(t, path, strings.Repeat("x", 3000)+"\n\n  \n{\"id\":\"ok\"}\n")
	_, out := start(t, Config{Pattern: path, MaxLineBytes: 1024}, checkpoint.State{})
	var got []Line
	for len(got) < 2 {
		got = append(got, next(t, out).Lines...)
	}
	if !got[0].TooLong || len(got[0].Data) != 1024 {
		t.Errorf("first line: TooLong=%v len=%d, want cut at 1024", got[0].TooLong, len(got[0].Data))
	}
	if string(got[1].Data) != `{"id":"ok"}` || got[1].Offset != 3005 {
		t.Errorf("second line = %q at %d, want {\"id\":\"ok\"} at 3005", got[1].Data, got[1].Offset)
	}
}

func TestResumeChecksIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	appendFile(t, path, "{\"id\":\"1\"}\n{\"id\":\"2\"}\n")
	tl, out := start(t, Config{Pattern: path}, checkpoint.State{})
	tl.Confirm(next(t, out))
	st := tl.Snapshot()

	// Same file, more data: resumes after the checkpoint.
	appendFile(t, path, "{\"id\":\"3\"}\n")
	_, out2 := start(t, Config{Pattern: path}, st)
	if diff := cmp.Diff([]string{`{"id":"3"}`}, lines(next(t, out2))); diff != "" {
		t.Errorf("resume mismatch (-want +got):\n%s", diff)
	}

	// Same inode, different content (copytruncate and refill while down):
	// read from the start.
	if err := os.WriteFile(path, []byte("{\"id\":\"A\"}\n{\"id\":\"B\"}\n{\"id\":\"C\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out3 := start(t, Config{Pattern: path}, st)
	if diff := cmp.Diff([]string{`{"id":"A"}`, `{"id":"B"}`, `{"id":"C"}`}, lines(next(t, out3))); diff != "" {
		t.Errorf("replaced content mismatch (-want +got):\n%s", diff)
	}
}

func TestRenamedWhileDownIsFoundByInode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	appendFile(t, path, "{\"id\":\"1\"}\n")
	tl, out := start(t, Config{Pattern: path}, checkpoint.State{})
	tl.Confirm(next(t, out))
	st := tl.Snapshot()
	appendFile(t, path, "{\"id\":\"2\"}\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	_, out2 := start(t, Config{Pattern: path, RotateWait: time.Hour}, st)
	b := next(t, out2)
	if diff := cmp.Diff([]string{`{"id":"2"}`}, lines(b)); diff != "" {
		t.Errorf("rotated remainder mismatch (-want +got):\n%s", diff)
	}
	if b.Lines[0].Path != path+".1" {
		t.Errorf("line path = %q, want %q", b.Lines[0].Path, path+".1")
	}
}

func TestStartAtEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.jsonl")
	appendFile(t, path, "{\"id\":\"old\"}\n{\"id\":\"half")
	_, out := start(t, Config{Pattern: path, StartAtEnd: true}, checkpoint.State{})
	time.Sleep(50 * time.Millisecond)
	appendFile(t, path, "\"}\n{\"id\":\"new\"}\n")
	if diff := cmp.Diff([]string{`{"id":"half"}`, `{"id":"new"}`}, lines(next(t, out))); diff != "" {
		t.Errorf("batch mismatch (-want +got):\n%s", diff)
	}
}

func TestBadPattern(t *testing.T) {
	if _, err := New(Config{Pattern: "[x"}, checkpoint.State{}, quiet(), nil); err == nil {
		t.Errorf("New([x) = nil error, want bad pattern")
	}
}

func TestRotationNoticedWhileOldFileKeepsGrowing(t *testing.T) {
	// The writer keeps appending to the rotated file (it has not reopened
	// yet) faster than the tailer reads it, so the tailer never reaches
	// its end. The rotation and the new file must be noticed anyway, and
	// the old file's records must still come in order.
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	old, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	seq := 0
	grow := func(n int) {
		var b strings.Builder
		for range n {
			seq++
			fmt.Fprintf(&b, "{\"id\":\"old-%07d\"}\n", seq)
		}
		if _, err := old.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
	}
	const perBatch = 10
	grow(5 * perBatch)
	tl, err := New(Config{Pattern: path, PollInterval: 10 * time.Millisecond, BatchRecords: perBatch, ReadChunk: 4096, DisableNotify: true}, checkpoint.State{}, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch) // unbuffered: each batch waits for the test
	done := make(chan struct{})
	go func() { defer close(done); tl.Run(ctx, out) }()
	defer func() { cancel(); <-done }()

	// The first batch shows the old file is followed; then it is rotated.
	grow(2 * perBatch)
	first := next(t, out)
	tl.Confirm(first)
	lastOld := first.Lines[len(first.Lines)-1].Offset
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "{\"id\":\"new-1\"}\n")
	// Before taking each batch, append two batches' worth to the old file:
	// its unread backlog only grows, so the tailer never sees its end.
	for handoffs := 0; ; handoffs++ {
		if handoffs == 5000 {
			t.Fatalf("the new file was not read after %d batches of the old one (%d records written to it): rotation not noticed while the old file grows", handoffs, seq)
		}
		grow(2 * perBatch)
		b := next(t, out)
		foundNew := false
		for _, l := range b.Lines {
			// Old lines keep the name the file had when it was followed.
			if string(l.Data) == `{"id":"new-1"}` {
				foundNew = true
				continue
			}
			if l.Offset <= lastOld {
				t.Fatalf("old file line at offset %d after one at %d: reordered", l.Offset, lastOld)
			}
			lastOld = l.Offset
		}
		tl.Confirm(b)
		if foundNew {
			t.Logf("new file read after %d batches", handoffs+1)
			return
		}
	}
}

func TestRotatedFilesNeverFollowedAreFound(t *testing.T) {
	// Driven step by step (scan, read, flush as Run does) so that the
	// rotations certainly happen between two scans.
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	appendFile(t, path+".9", "{\"id\":\"ancient\"}\n") // a backup from before this start
	appendFile(t, path, "{\"id\":\"a1\"}\n{\"id\":\"a2\"}\n")
	tl, err := New(Config{Pattern: path, PollInterval: time.Hour, RotateWait: time.Nanosecond, DisableNotify: true}, checkpoint.State{}, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.closeAll()
	step := stepper(t, tl)
	if diff := cmp.Diff([]string{`{"id":"a1"}`, `{"id":"a2"}`}, step()); diff != "" {
		t.Fatalf("first read (-want +got):\n%s", diff)
	}
	// Two rotations between scans: b.jsonl is created and rotated away
	// without ever being the live file at a scan. A copy of the followed
	// file (as copytruncate makes) is not a new file.
	mustRename(t, path, path+".1")
	appendFile(t, path, "{\"id\":\"b1\"}\n{\"id\":\"b2\"}\n")
	mustRename(t, path+".1", path+".2")
	mustRename(t, path, path+".1")
	appendFile(t, path, "{\"id\":\"c1\"}\n")
	b, err := os.ReadFile(path + ".2")
	if err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".copy", string(b))
	if diff := cmp.Diff([]string{`{"id":"b1"}`, `{"id":"b2"}`, `{"id":"c1"}`}, step()); diff != "" {
		t.Errorf("after two rotations between scans (-want +got):\n%s", diff)
	}
	// Rotated files read to the end are closed; still on disk, they are
	// not read again.
	tl.retire()
	if diff := cmp.Diff([]string(nil), step()); diff != "" {
		t.Errorf("after retiring the rotated files (-want +got):\n%s", diff)
	}
	// The checkpoint keeps them, as done, so a restart does not read them
	// either: the backup and the two rotated files.
	var followed, done []string
	for _, e := range tl.Snapshot().Files {
		if e.Done {
			done = append(done, filepath.Base(e.Path))
		} else {
			followed = append(followed, filepath.Base(e.Path))
		}
	}
	sort.Strings(done)
	if diff := cmp.Diff([]string{"a.jsonl"}, followed); diff != "" {
		t.Errorf("files followed after retiring (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a.jsonl.1", "a.jsonl.2", "a.jsonl.9"}, done); diff != "" {
		t.Errorf("files done after retiring (-want +got):\n%s", diff)
	}
	// A late write to a finished rotated file (a writer that had not
	// reopened yet) and to the old backup is read from where each was left.
	appendFile(t, path+".2", "{\"id\":\"a3\"}\n")
	appendFile(t, path+".9", "{\"id\":\"late\"}\n")
	appendFile(t, path, "{\"id\":\"c2\"}\n")
	if diff := cmp.Diff([]string{`{"id":"a3"}`, `{"id":"c2"}`, `{"id":"late"}`}, step()); diff != "" {
		t.Errorf("after late writes (-want +got):\n%s", diff)
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func TestRotationFamily(t *testing.T) {
	for name, want := range map[string]string{
		"audit.jsonl":             "audit.jsonl",
		"audit.jsonl.1":           "audit.jsonl",
		"audit.jsonl.12":          "audit.jsonl",
		"audit.jsonl.2026-11-23":  "audit.jsonl",
		"audit.jsonl-20261123":    "audit.jsonl",
		"audit.jsonl.1.gz":        "audit.jsonl",
		"audit-2026-11-23.jsonl":  "audit.jsonl",
		"audit.jsonl.tmp":         "audit.jsonl.tmp",
		"audit-export-2025.jsonl": "audit-export.jsonl",
		"audit.jsonl.1.tmp":       "audit.jsonl.tmp",
		"audit.jsonl.bak":         "audit.jsonl.bak",
		"auditx.jsonl.1":          "auditx.jsonl",
	} {
		if got := rotationFamily(name); got != want {
			t.Errorf("rotationFamily(%q) = %q, want %q", name, got, want)
		}
	}
}

// Files that only begin like the live file's name are strangers: never
// read as rotations of it, however they change.
func TestStrangersBesideTheLogAreNotShipped(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	appendFile(t, path, "{\"id\":\"a1\"}\n")
	tl, err := New(Config{Pattern: path, PollInterval: time.Hour, RotateWait: time.Nanosecond, DisableNotify: true}, checkpoint.State{}, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.closeAll()
	step := stepper(t, tl)
	if diff := cmp.Diff([]string{`{"id":"a1"}`}, step()); diff != "" {
		t.Fatalf("first read (-want +got):\n%s", diff)
	}
	strangers := []string{"audit-export-2025.jsonl", "audit.jsonl.tmp", "audit.jsonl.bak", "auditlog.jsonl", "audit.jsonl.1.tmp"}
	for _, s := range strangers {
		appendFile(t, filepath.Join(dir, s), "{\"id\":\"stranger\"}\n")
	}
	// A real rotation in the same scan is still found.
	mustRename(t, path, path+".1")
	appendFile(t, path+".1", "{\"id\":\"a2\"}\n")
	appendFile(t, path, "{\"id\":\"b1\"}\n")
	if diff := cmp.Diff([]string{`{"id":"a2"}`, `{"id":"b1"}`}, step()); diff != "" {
		t.Errorf("after strangers appeared beside a rotation (-want +got):\n%s", diff)
	}
	for _, s := range strangers {
		appendFile(t, filepath.Join(dir, s), "{\"id\":\"stranger-more\"}\n")
	}
	if diff := cmp.Diff([]string(nil), step()); diff != "" {
		t.Errorf("after strangers grew (-want +got):\n%s", diff)
	}
}

// stepper drives tl one round as Run does (scan, read, flush) and returns
// the lines of that round, confirmed and sorted, so that a test decides
// exactly what happens between two scans.
func stepper(t *testing.T, tl *Tailer) func() []string {
	ctx := context.Background()
	out := make(chan *Batch, 100)
	return func() []string {
		t.Helper()
		tl.scan()
		if _, err := tl.readAll(ctx, out); err != nil {
			t.Fatal(err)
		}
		if err := tl.flush(ctx, out); err != nil {
			t.Fatal(err)
		}
		var got []string
		for len(out) > 0 {
			b := <-out
			got = append(got, lines(b)...)
			tl.Confirm(b)
		}
		sort.Strings(got)
		return got
	}
}

func TestStopWhileBlockedSkipsNothing(t *testing.T) {
	// The reader is blocked on a full queue when it is told to stop (the
	// shipper's SIGTERM while behind), and a sender frees a slot just
	// after. Whatever batches get out, confirming all of them may only
	// move the offset over records that were in them.
	path := filepath.Join(t.TempDir(), "a.jsonl")
	const n, lineLen = 60, len(`{"id":"00"}`) + 1
	for i := range n {
		appendFile(t, path, fmt.Sprintf("{\"id\":\"%02d\"}\n", i))
	}
	tl, err := New(Config{Pattern: path, BatchRecords: 10, PollInterval: time.Hour, DisableNotify: true}, checkpoint.State{}, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan *Batch, 1)
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx, out) }()
	sent := []*Batch{next(t, out)} // records 00–09; the next fills the queue, the one after blocks
	for len(out) < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the reader block on the third
	cancel()
	sent = append(sent, <-out) // a sender frees a slot
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	for len(out) > 0 {
		sent = append(sent, <-out)
	}
	inBatches := map[string]bool{}
	for _, b := range sent {
		for _, l := range b.Lines {
			inBatches[string(l.Data)] = true
		}
		tl.Confirm(b)
	}
	offset := tl.Snapshot().Files[0].Offset
	if offset%int64(lineLen) != 0 {
		t.Fatalf("offset %d is not at a line end", offset)
	}
	for i := range int(offset) / lineLen {
		if rec := fmt.Sprintf("{\"id\":\"%02d\"}", i); !inBatches[rec] {
			t.Errorf("offset %d covers record %s, which was in no batch sent", offset, rec)
		}
	}
	t.Logf("%d batches got out; offset covers %d records", len(sent), offset/int64(lineLen))
}

func TestTruncatedAndRefilledPastOffsetBetweenRounds(t *testing.T) {
	// The file is truncated and written again beyond the old read
	// position before the tailer looks: the size never drops, so only
	// the bytes at the start tell it is another content.
	path := filepath.Join(t.TempDir(), "a.jsonl")
	var first, second []string
	for i := range 200 { // well over HeadMax, so the identity is complete
		first = append(first, fmt.Sprintf(`{"id":"a%03d"}`, i))
	}
	for i := range 400 {
		second = append(second, fmt.Sprintf(`{"id":"b%03d"}`, i))
	}
	appendFile(t, path, strings.Join(first, "\n")+"\n")
	tl, err := New(Config{Pattern: path, PollInterval: time.Hour, DisableNotify: true}, checkpoint.State{}, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	step := stepper(t, tl)
	if got := step(); len(got) != len(first) {
		t.Fatalf("first round shipped %d records, want %d", len(got), len(first))
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, strings.Join(second, "\n")+"\n")
	var got []string
	for range 3 {
		got = append(got, step()...)
	}
	sort.Strings(got)
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("after truncate and refill (-want +got):\n%s", diff)
	}
}
