package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/meshoptixiq/mesh/auditshipper/tail"
)

// deadLetters appends records the sink will never take (or that are not
// valid JSON) to a local JSONL file, fsynced before the records count as
// handled, so nothing is dropped silently.
type deadLetters struct {
	mu      sync.Mutex
	path    string
	f       *os.File
	syncDir func(dir string) error
	// dirSynced: the file's directory entry is durable. Until it is, an
	// fsynced entry could vanish with the file in a power loss.
	dirSynced bool
	written   int // entries made durable by this process
}

// deadLetter is one line of the dead-letter file. Raw always holds the
// line's exact bytes (base64 in the file), whatever they are; Record or Line
// is a readable copy where the bytes allow one.
type deadLetter struct {
	Time   string          `json:"time"`
	Sink   string          `json:"sink"`
	Reason string          `json:"reason"`
	Status int             `json:"status,omitempty"`
	Detail string          `json:"detail,omitempty"`
	File   string          `json:"file"`
	Offset int64           `json:"offset"`
	Record json.RawMessage `json:"record,omitempty"` // the record, when it is valid JSON and UTF-8 (compacted)
	Line   string          `json:"line,omitempty"`   // the line, when it is valid UTF-8 but not JSON
	Raw    []byte          `json:"line_base64"`      // the line exactly as read
}

// newDeadLetter describes line l. encoding/json would replace invalid UTF-8
// in a string with U+FFFD, so Record and Line are only set when they
// round-trip; Raw is always the exact bytes.
func newDeadLetter(sinkName, reason string, status int, detail string, l tail.Line) deadLetter {
	dl := deadLetter{Sink: sinkName, Reason: reason, Status: status, Detail: detail, File: l.Path, Offset: l.Offset, Raw: l.Data}
	switch {
	case !utf8.Valid(l.Data):
	case json.Valid(l.Data):
		dl.Record = json.RawMessage(l.Data)
	default:
		dl.Line = string(l.Data)
	}
	return dl
}

// encode renders dl as one JSON line. It cannot fail: should the readable
// copy not encode (a Record that is not JSON after all), it is left out
// and Raw still carries the bytes. HTML escaping is off so a Record keeps
// its <, > and & as written.
func (dl deadLetter) encode(buf *bytes.Buffer) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	n := buf.Len()
	if enc.Encode(dl) == nil {
		return
	}
	buf.Truncate(n)
	dl.Record, dl.Line = nil, ""
	dl.Detail += " (the line is only in line_base64)"
	_ = enc.Encode(dl) // strings, numbers and bytes always encode
}

const deadLetterName = "deadletter.jsonl"

// openDeadLetters keeps the file in dir; syncDir (checkpoint.SyncDir)
// makes the file's directory entry durable after it is created.
func openDeadLetters(dir string, syncDir func(dir string) error) *deadLetters {
	return &deadLetters{path: filepath.Join(dir, deadLetterName), syncDir: syncDir}
}

// write appends and fsyncs ds; on error nothing may be considered handled.
// Encoding never fails, so only the file system can refuse an entry.
func (d *deadLetters) write(ds []deadLetter) error {
	if len(ds) == 0 {
		return nil
	}
	var buf bytes.Buffer
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, dl := range ds {
		dl.Time = now
		dl.encode(&buf)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.lockCurrent(); err != nil {
		return err
	}
	defer syscall.Flock(int(d.f.Fd()), syscall.LOCK_UN)
	if !d.dirSynced {
		// Once per process, before the first entry counts: the file may
		// have just been created.
		if err := d.syncDir(filepath.Dir(d.path)); err != nil {
			return fmt.Errorf("syncing dead-letter directory: %w", err)
		}
		d.dirSynced = true
	}
	// On any failure the file is cut back to where this write began: a
	// short write (disk full) must leave no fragment, and the retry writes
	// the whole batch again, so keeping part of it would duplicate it.
	fi, err := d.f.Stat()
	if err != nil {
		return fmt.Errorf("reading dead-letter file size: %w", err)
	}
	start := fi.Size()
	if _, err := d.f.Write(buf.Bytes()); err != nil {
		return d.undo(start, fmt.Errorf("writing dead-letter file: %w", err))
	}
	if err := d.f.Sync(); err != nil {
		return d.undo(start, fmt.Errorf("syncing dead-letter file: %w", err))
	}
	d.written += len(ds)
	return nil
}

// lockCurrent opens the dead-letter file if needed and takes its lock,
// making sure the descriptor is still the file at d.path: `auditshipper
// replay` renames the file aside under the same lock, and entries written
// after that belong in a new file.
func (d *deadLetters) lockCurrent() error {
	for {
		if d.f == nil {
			f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
			if err != nil {
				return fmt.Errorf("opening dead-letter file: %w", err)
			}
			d.f, d.dirSynced = f, false
		}
		if err := syscall.Flock(int(d.f.Fd()), syscall.LOCK_EX); err != nil {
			return fmt.Errorf("locking dead-letter file: %w", err)
		}
		mine, err1 := d.f.Stat()
		atPath, err2 := os.Stat(d.path)
		if err1 == nil && err2 == nil && os.SameFile(mine, atPath) {
			return nil
		}
		syscall.Flock(int(d.f.Fd()), syscall.LOCK_UN)
		d.f.Close()
		d.f = nil
	}
}

// undo truncates the file back to size after a failed write. Should even
// that fail, the file is closed and reopened next time, and the fragment is
// ended with a newline so that later entries stay parseable.
func (d *deadLetters) undo(size int64, cause error) error {
	if err := d.f.Truncate(size); err != nil {
		d.f.Write([]byte("\n"))
		d.f.Close()
		d.f = nil
		return fmt.Errorf("%w (and truncating the fragment: %v)", cause, err)
	}
	return cause
}

func (d *deadLetters) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}
