package tail

import (
	"encoding/hex"
	"os"
	"sort"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
)

// This file is the registry: every file the tailer knows, what of it the
// sink has confirmed, and the state the checkpoint saves. It is shared with
// the shipper's goroutines and guarded by Tailer.mu; the reader's own
// fields in file are marked loop-only.

// fileState is where a file stands.
type fileState int

const (
	live    fileState = iota // matched by the glob: followed as it grows
	rotated                  // no longer matched: read to its end, then done
	done                     // read and confirmed to its end, or there before the first start: not read again while it is on disk
	ghost                    // its content was destroyed under us; kept until its batches in flight are confirmed
)

// pendingSeg is a range of a file handed to the shipper and not yet
// confirmed.
type pendingSeg struct {
	start, end int64
	done       bool
	readAt     time.Time
	tailLen    int64
	tailHash   [32]byte
}

type file struct {
	id uint64
	// guarded by Tailer.mu
	path      string
	key       fileKey
	head      head
	state     fileState
	confirmed int64
	tailLen   int64
	tailHash  [32]byte
	segs      []pendingSeg
	size      int64 // last size seen
	mtime     int64 // with size, lets a scan pass over an unchanged done file without opening it
	counted   bool  // its descriptor counts against the rotated files' budget

	// loop-only
	fd        *os.File // nil for a done file, and for a rotated one waiting for a descriptor
	readPos   int64    // next byte to read
	lineStart int64    // file offset of partial[0]
	partial   []byte   // the start of a line whose newline is not read yet
	recent    []byte   // the last bytes read before readPos (copy detection)
	skipping  bool     // discarding the rest of an over-long line
	lastGrow  time.Time
}

// add registers a file; fd may be nil (a done file, or one waiting for a
// descriptor). The checkpoint is due: the set of files changed.
func (t *Tailer) add(fd *os.File, path string, key fileKey, h head, state fileState, offset, size int64) *file {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	f := &file{id: t.nextID, path: path, key: key, head: h, state: state, fd: fd, readPos: offset, lineStart: offset,
		confirmed: offset, size: size, lastGrow: time.Now()}
	t.files[f.id] = f
	t.changedLocked()
	return f
}

// setState moves f to state s.
func (t *Tailer) setState(f *file, s fileState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f.state != s {
		f.state = s
		t.changedLocked()
	}
}

// drop forgets f.
func (t *Tailer) drop(f *file) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.files, f.id)
	t.changedLocked()
}

// changedLocked tells the checkpointer the registry changed in a way it
// must save even though nothing was confirmed (a file appeared, vanished,
// was renamed or finished).
func (t *Tailer) changedLocked() {
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// Changed is signalled when the set of known files changes: the checkpoint
// must record it before a crash could make those files look old.
func (t *Tailer) Changed() <-chan struct{} { return t.changed }

// byKey finds the file with this device and inode (ghosts excluded).
func (t *Tailer) byKey(k fileKey) *file {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.files {
		if f.state != ghost && f.key == k {
			return f
		}
	}
	return nil
}

// snapshotFiles lists files oldest first (rotated files before the live
// one, so records leave roughly in the order they were written).
func (t *Tailer) snapshotFiles() []*file {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*file, 0, len(t.files))
	for _, f := range t.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Confirm records that every line of b was delivered or dead-lettered, and
// advances each file's confirmed offset over the run of confirmed segments
// that starts where it stands. A segment that does not start there is never
// jumped to: the offset only moves over records that were all confirmed.
// It reports whether any confirmed offset moved.
func (t *Tailer) Confirm(b *Batch) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	moved := false
	for _, s := range b.Segments {
		f := t.files[s.File]
		if f == nil {
			continue
		}
		for i := range f.segs {
			if f.segs[i].start == s.Start && f.segs[i].end == s.End && !f.segs[i].done {
				f.segs[i].done = true
				break
			}
		}
		n := 0
		for n < len(f.segs) && f.segs[n].done && f.segs[n].start == f.confirmed {
			p := f.segs[n]
			f.confirmed, f.tailLen, f.tailHash = p.end, p.tailLen, p.tailHash
			moved = true
			n++
		}
		f.segs = append(f.segs[:0], f.segs[n:]...)
		if f.state == ghost && len(f.segs) == 0 {
			delete(t.files, f.id)
		}
	}
	return moved
}

// Snapshot is the state to checkpoint: every known file with its identity
// and confirmed offset, the ones not read yet and the done ones included.
func (t *Tailer) Snapshot() checkpoint.State {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := checkpoint.State{Files: make([]checkpoint.File, 0, len(t.files)), Inventory: true}
	ids := make([]uint64, 0, len(t.files))
	for id, f := range t.files {
		if f.state != ghost {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		f := t.files[id]
		e := checkpoint.File{Path: f.path, Dev: f.key.dev, Ino: f.key.ino, HeadLen: f.head.n, Offset: f.confirmed,
			TailLen: f.tailLen, Done: f.state == done}
		if f.head.n > 0 {
			e.HeadHash = hex.EncodeToString(f.head.sum[:])
		}
		if f.tailLen > 0 {
			e.TailHash = hex.EncodeToString(f.tailHash[:])
		}
		st.Files = append(st.Files, e)
	}
	return st
}

// Behind reports the bytes not yet confirmed across the files still to be
// read and when the oldest unconfirmed batch was read (zero when none is
// pending).
func (t *Tailer) Behind() (int64, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var bytesBehind int64
	var oldest time.Time
	for _, f := range t.files {
		if (f.state == live || f.state == rotated) && f.size > f.confirmed {
			bytesBehind += f.size - f.confirmed
		}
		if len(f.segs) > 0 && (oldest.IsZero() || f.segs[0].readAt.Before(oldest)) {
			oldest = f.segs[0].readAt
		}
	}
	return bytesBehind, oldest
}
