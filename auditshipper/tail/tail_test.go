package tail

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
