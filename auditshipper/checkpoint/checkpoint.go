// Package checkpoint stores the shipper's read positions crash-safely: a
// versioned JSON document with a checksum, written to a temporary file,
// fsynced, renamed into place and followed by a directory fsync, with the
// previous copy kept so that a torn or corrupt write never loses the state.
package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Version is the format version this package writes and reads.
const Version = 1

// File is the saved state of one log file: its identity and the offset up
// to which every record was confirmed by the sink.
type File struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// HeadLen bytes from the start of the file hash to HeadHash; they tell a
	// reused inode or a replaced file from the one we were reading.
	HeadLen  int64  `json:"head_len"`
	HeadHash string `json:"head_hash"`
	// Offset is the end of the contiguous run of confirmed records.
	Offset int64 `json:"offset"`
	// TailLen bytes just before Offset hash to TailHash; they catch a file
	// truncated and rewritten past Offset (copytruncate) while we were down.
	TailLen  int64  `json:"tail_len"`
	TailHash string `json:"tail_hash"`
	// Done: the file was read and confirmed up to Offset, its end (or was
	// there before the shipper first started). It is kept while it is on
	// disk so that it is not read again.
	Done bool `json:"done,omitempty"`
}

// State is the whole checkpoint.
type State struct {
	Seq uint64 `json:"seq"`
	// SavedAt (Unix nanoseconds) tells files rotated while the shipper was
	// down (modified after it) from old rotated files.
	SavedAt int64  `json:"saved_at"`
	Files   []File `json:"files"`
	// Inventory: Files lists every file the shipper has seen in the log
	// directories, read or not, so a file not listed appeared after the
	// save and is read. Checkpoints without it (older versions) tell new
	// rotated files by their mtime against SavedAt.
	Inventory bool `json:"inventory,omitempty"`
}

type envelope struct {
	Version  int             `json:"version"`
	Checksum string          `json:"checksum"`
	State    json.RawMessage `json:"state"`
}

// Store reads and writes the checkpoint in one directory.
type Store struct {
	dir     string
	syncDir func(dir string) error
}

// Names of the files in the state directory.
const (
	currentName = "checkpoint.json"
	prevName    = "checkpoint.prev.json"
	tmpName     = "checkpoint.json.tmp"
)

// Open returns a Store in dir, creating the directory (and making its
// entry durable: a state directory lost in a power loss would restart the
// shipper from nothing).
func Open(dir string) (*Store, error) { return open(dir, SyncDir) }

func open(dir string, syncDir func(string) error) (*Store, error) {
	// The directories about to be created, deepest first.
	var missing []string
	for p := filepath.Clean(dir); ; {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			break
		}
		missing = append(missing, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(missing[i])); err != nil {
			return nil, fmt.Errorf("creating state directory: %w", err)
		}
	}
	return &Store{dir: dir, syncDir: syncDir}, nil
}

// Dir is the state directory.
func (s *Store) Dir() string { return s.dir }

// Path is the current checkpoint file.
func (s *Store) Path() string { return filepath.Join(s.dir, currentName) }

// Load returns the newest valid state: the current file, or the previous
// copy when the current one is missing or fails its checksum. A missing
// checkpoint is an empty state; corruption of both copies is an error the
// operator must see rather than a silent restart from the beginning.
func (s *Store) Load() (State, error) {
	st, errCur := s.read(currentName)
	if errCur == nil {
		return st, nil
	}
	st, errPrev := s.read(prevName)
	if errPrev == nil {
		return st, nil
	}
	if errors.Is(errCur, os.ErrNotExist) && errors.Is(errPrev, os.ErrNotExist) {
		return State{}, nil
	}
	return State{}, fmt.Errorf("loading checkpoint from %s: %w", s.dir, errors.Join(errCur, errPrev))
}

func (s *Store) read(name string) (State, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return State{}, err
	}
	return Decode(b)
}

// Decode parses and verifies one checkpoint document.
func Decode(b []byte) (State, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return State{}, fmt.Errorf("parsing checkpoint: %w", err)
	}
	if env.Version != Version {
		return State{}, fmt.Errorf("checkpoint version %d, want %d", env.Version, Version)
	}
	if got := sum(env.State); got != env.Checksum {
		return State{}, fmt.Errorf("checkpoint checksum %s does not match its content (%s)", env.Checksum, got)
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(env.State))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("parsing checkpoint state: %w", err)
	}
	return st, nil
}

// Encode renders st as a checkpoint document.
func Encode(st State) ([]byte, error) {
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding checkpoint: %w", err)
	}
	b, err := json.Marshal(envelope{Version: Version, Checksum: sum(raw), State: raw})
	if err != nil {
		return nil, fmt.Errorf("encoding checkpoint: %w", err)
	}
	return append(b, '\n'), nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// Save writes st durably: temp file, fsync, current → previous, temp →
// current, directory fsync. At every instant a crash leaves either the new
// or the old state loadable.
func (s *Store) Save(st State) error {
	b, err := Encode(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, tmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("syncing checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("closing checkpoint: %w", err)
	}
	cur := filepath.Join(s.dir, currentName)
	if err := os.Rename(cur, filepath.Join(s.dir, prevName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("keeping previous checkpoint: %w", err)
	}
	if err := os.Rename(tmp, cur); err != nil {
		return fmt.Errorf("installing checkpoint: %w", err)
	}
	return s.syncDir(s.dir)
}

// SyncDir fsyncs a directory so that renames and creations in it survive a
// power loss.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s for sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
