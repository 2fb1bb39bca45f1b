package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// deadLetters appends records the sink will never take (or that are not
// valid JSON) to a local JSONL file, fsynced before the records count as
// handled, so nothing is dropped silently.
type deadLetters struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// deadLetter is one line of the dead-letter file.
type deadLetter struct {
	Time   string          `json:"time"`
	Sink   string          `json:"sink"`
	Reason string          `json:"reason"`
	Status int             `json:"status,omitempty"`
	Detail string          `json:"detail,omitempty"`
	File   string          `json:"file"`
	Offset int64           `json:"offset"`
	Record json.RawMessage `json:"record,omitempty"` // the record, when it is valid JSON
	Line   string          `json:"line,omitempty"`   // the raw line otherwise
}

const deadLetterName = "deadletter.jsonl"

func openDeadLetters(dir string) *deadLetters {
	return &deadLetters{path: filepath.Join(dir, deadLetterName)}
}

// write appends and fsyncs ds; on error nothing may be considered handled.
func (d *deadLetters) write(ds []deadLetter) error {
	if len(ds) == 0 {
		return nil
	}
	var buf []byte
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, dl := range ds {
		dl.Time = now
		b, err := json.Marshal(dl)
		if err != nil {
			return fmt.Errorf("encoding dead letter: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("opening dead-letter file: %w", err)
		}
		d.f = f
	}
	if _, err := d.f.Write(buf); err != nil {
		// A short write may have left a partial line; start the next
		// write on a fresh line so each entry stays parseable.
		d.f.Write([]byte("\n"))
		return fmt.Errorf("writing dead-letter file: %w", err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("syncing dead-letter file: %w", err)
	}
	return nil
}

func (d *deadLetters) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		d.f.Close()
		d.f = nil
	}
}
