package tail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"time"
)

// This file is the reader: it reads the files in turn into one shared
// buffer, cuts complete lines into batches and hands them to the shipper.
// A file keeps only the start of a line whose newline has not been read
// yet, so memory does not grow with the number of files.

// readAll gives every file one turn; it reports whether any made progress.
// A turn ends at the file's end, after turnChunks chunks, or when a scan is
// due: a file that grows faster than it is read must not keep the tailer
// from noticing rotations and new files, nor starve the other files.
func (t *Tailer) readAll(ctx context.Context, out chan<- *Batch) (bool, error) {
	progress := false
	turn := int64(turnChunks * t.cfg.ReadChunk)
	for _, f := range t.snapshotFiles() {
		if f.fd == nil || f.state == ghost || f.state == done {
			continue
		}
		from := f.readPos
		t.reading = f
		for {
			p, err := t.readFile(ctx, f, out)
			if err != nil {
				t.reading = nil
				return progress, err
			}
			if !p {
				break
			}
			progress = true
			if f.fd == nil || f.readPos-from >= turn || t.scanDue() {
				break
			}
		}
		t.reading = nil
	}
	return progress, nil
}

// readFile reads one chunk of f and consumes its complete lines. It reports
// whether anything happened.
func (t *Tailer) readFile(ctx context.Context, f *file, out chan<- *Batch) (bool, error) {
	fi, err := f.fd.Stat()
	if err != nil {
		return false, nil
	}
	size := fi.Size()
	t.mu.Lock()
	f.size = size
	t.mu.Unlock()
	if size < f.readPos {
		t.truncated(f, "truncate")
		return true, nil
	}
	if size == f.readPos {
		return false, nil
	}
	if !t.checkHead(f, size) {
		t.truncated(f, "replaced")
		return true, nil
	}
	n := min(int64(t.cfg.ReadChunk), size-f.readPos)
	need := len(f.partial) + int(n)
	if cap(t.chunk) < need {
		t.chunk = make([]byte, need)
	}
	buf := t.chunk[:need]
	copy(buf, f.partial)
	got, err := f.fd.ReadAt(buf[len(f.partial):], f.readPos)
	if got == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			t.log.Warn("reading file", "path", f.path, "err", err)
		}
		return false, nil
	}
	buf = buf[:len(f.partial)+got]
	f.readPos += int64(got)
	f.lastGrow = t.now()
	f.recent = appendRecent(f.recent, buf[len(buf)-got:])
	t.metrics.bytesRead.Add(float64(got))
	rest, err := t.consume(ctx, f, buf, out)
	if err != nil {
		return true, err
	}
	// Keep only the unfinished line; give back a buffer grown for a long one.
	if cap(f.partial) > 64<<10 && len(rest) <= 64<<10 {
		f.partial = nil
	}
	f.partial = append(f.partial[:0], rest...)
	return true, nil
}

func appendRecent(recent, b []byte) []byte {
	if len(b) >= TailMax {
		return append(recent[:0], b[len(b)-TailMax:]...)
	}
	if len(recent)+len(b) > TailMax {
		drop := len(recent) + len(b) - TailMax
		recent = append(recent[:0], recent[drop:]...)
	}
	return append(recent, b...)
}

// checkHead verifies the file still starts with the bytes we identified it
// by, extending the identity while the file is shorter than HeadMax. It
// runs on every read that finds new bytes, not only while the identity is
// incomplete: a file truncated and written past our offset between two
// looks never shrinks, and only its first bytes tell it is new content.
func (t *Tailer) checkHead(f *file, size int64) bool {
	h, buf, err := readHead(f.fd, size, t.scratch)
	t.scratch = buf
	if err != nil {
		return true // cannot tell; the size check still guards truncation
	}
	if f.head.n > 0 {
		same := h.sum == f.head.sum
		if h.n != f.head.n {
			same = f.head.startsWith(buf[:h.n]) // false when the file is now shorter
		}
		if !same {
			return false
		}
	}
	if h.n > f.head.n {
		t.mu.Lock()
		f.head = h
		t.changedLocked()
		t.mu.Unlock()
	}
	return true
}

// truncated handles a file whose content was cut or replaced under us. The
// bytes we have read are in flight under the old identity; what we had not
// read yet may survive in a copy (copytruncate), which then takes over the
// old identity and is read from where we were. The live inode is followed
// again from its start under a new identity.
func (t *Tailer) truncated(f *file, kind string) {
	copyFd, copyPath, copyKey := t.findCopy(f)
	t.mu.Lock()
	t.nextID++
	fresh := &file{id: t.nextID, path: f.path, key: f.key, state: f.state, fd: f.fd, counted: f.counted, lastGrow: t.now()}
	t.files[fresh.id] = fresh
	f.counted = false
	if copyFd != nil {
		f.fd, f.path, f.key, f.state = copyFd, copyPath, copyKey, rotated
		t.openFiles++
		kind = "copytruncate"
	} else {
		f.fd, f.state, f.partial = nil, ghost, nil
		if len(f.segs) == 0 {
			delete(t.files, f.id)
		}
	}
	t.changedLocked()
	t.mu.Unlock()
	t.metrics.rotations.WithLabelValues(kind).Inc()
	if copyFd != nil {
		t.log.Info("file truncated after being copied; reading the rest from the copy", "path", fresh.path, "copy", copyPath, "offset", f.readPos)
		return
	}
	t.log.Warn("file truncated in place; following it from its start", "path", fresh.path, "read_to", f.readPos)
}

// consume moves the complete lines of data, which starts at f.lineStart,
// into the current batch, sending batches as they fill. It returns the
// bytes left: the start of a line not finished yet.
func (t *Tailer) consume(ctx context.Context, f *file, data []byte, out chan<- *Batch) ([]byte, error) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if f.skipping {
			n := len(data)
			if i >= 0 {
				n = i + 1
				f.skipping = false
			}
			t.advance(f, n)
			data = data[n:]
			continue
		}
		if i < 0 || i > t.cfg.MaxLineBytes {
			if i < 0 && len(data) < t.cfg.MaxLineBytes {
				break
			}
			// Over-long line: ship its head marked TooLong, skip the rest.
			if err := t.room(ctx, out, t.cfg.MaxLineBytes); err != nil {
				return data, err
			}
			t.addLine(f, data[:t.cfg.MaxLineBytes], Line{TooLong: true})
			t.metrics.tooLong.Inc()
			t.advance(f, t.cfg.MaxLineBytes)
			data = data[t.cfg.MaxLineBytes:]
			f.skipping = true
			continue
		}
		line := bytes.TrimRight(data[:i], "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			t.metrics.blank.Inc()
			t.advance(f, i+1)
			data = data[i+1:]
			continue
		}
		if err := t.room(ctx, out, len(line)); err != nil {
			return data, err
		}
		t.addLine(f, line, Line{})
		t.metrics.records.Inc()
		t.advance(f, i+1)
		data = data[i+1:]
	}
	return data, nil
}

// advance moves f's line start over n consumed bytes, extending f's segment
// in the current batch to cover them.
func (t *Tailer) advance(f *file, n int) {
	s := t.segmentFor(f)
	f.lineStart += int64(n)
	s.End = f.lineStart
}

func (t *Tailer) segmentFor(f *file) *Segment {
	b := t.batch()
	for i := range b.Segments {
		if b.Segments[i].File == f.id {
			return &b.Segments[i]
		}
	}
	b.Segments = append(b.Segments, Segment{File: f.id, Start: f.lineStart, End: f.lineStart})
	return &b.Segments[len(b.Segments)-1]
}

func (t *Tailer) batch() *Batch {
	if t.cur == nil {
		var buf []byte
		select {
		case buf = <-t.free:
		default:
			buf = make([]byte, 0, max(t.cfg.BatchBytes, t.cfg.MaxLineBytes)+1)
		}
		t.cur = &Batch{ReadAt: t.now(), buf: buf[:0]}
	}
	return t.cur
}

// room sends the current batch first if a line of n bytes would overfill it.
func (t *Tailer) room(ctx context.Context, out chan<- *Batch, n int) error {
	b := t.cur
	if b == nil || len(b.Lines) == 0 {
		return nil
	}
	if len(b.buf)+n > cap(b.buf) || b.Bytes+n > t.cfg.BatchBytes || len(b.Lines) >= t.cfg.BatchRecords {
		return t.flush(ctx, out)
	}
	return nil
}

func (t *Tailer) addLine(f *file, data []byte, l Line) {
	b := t.batch()
	t.segmentFor(f)
	start := len(b.buf)
	b.buf = append(b.buf, data...)
	l.Data = b.buf[start:len(b.buf):len(b.buf)]
	l.Path = f.path
	l.Offset = f.lineStart
	b.Lines = append(b.Lines, l)
	b.Bytes += len(data)
}

// flush registers the current batch's segments as pending and sends it.
// When ctx ends before the batch is taken it returns ctx's error and the
// reader stops: the segments stay pending, so no confirmation can move a
// file's offset past them.
func (t *Tailer) flush(ctx context.Context, out chan<- *Batch) error {
	b := t.cur
	if b == nil || len(b.Segments) == 0 {
		return nil
	}
	t.cur = nil
	hashes := make([]pendingSeg, len(b.Segments))
	for i, s := range b.Segments {
		hashes[i] = pendingSeg{start: s.Start, end: s.End, readAt: b.ReadAt}
		if f := t.fileByID(s.File); f != nil && f.fd != nil {
			hashes[i].tailLen, hashes[i].tailHash = tailHashOf(f, s.End)
		}
	}
	t.mu.Lock()
	for i, s := range b.Segments {
		if f := t.files[s.File]; f != nil {
			f.segs = append(f.segs, hashes[i])
		}
	}
	t.mu.Unlock()
	select {
	case out <- b:
		return nil
	default:
	}
	// Backpressure: the sink is slow or down. Keep scanning while waiting,
	// so that files created and rotated meanwhile are registered (and
	// held) before they can be rotated out of reach or deleted.
	for {
		wait := t.untilScan()
		select {
		case out <- b:
			return nil
		case <-afterOrNow(wait):
			t.scan()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func afterOrNow(d time.Duration) <-chan time.Time {
	if d <= 0 {
		c := make(chan time.Time, 1)
		c <- time.Time{}
		return c
	}
	return time.After(d)
}

func (t *Tailer) fileByID(id uint64) *file {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.files[id]
}

// tailHashOf hashes the bytes of f just before end: from what was read
// (f.recent ends at readPos) when they are there, else from the file.
func tailHashOf(f *file, end int64) (int64, [32]byte) {
	gap := f.readPos - end
	if gap >= 0 && gap <= int64(len(f.recent)) {
		avail := f.recent[:int64(len(f.recent))-gap]
		if n := min(int64(len(avail)), TailMax, end); n == min(TailMax, end) {
			return n, sha256.Sum256(avail[int64(len(avail))-n:])
		}
	}
	return tailHash(f.fd, end)
}

// untilScan is how long until the next scan is due.
func (t *Tailer) untilScan() time.Duration {
	if t.lastScan.IsZero() {
		return 0
	}
	return max(t.cfg.PollInterval-t.now().Sub(t.lastScan), 0)
}

// retire finishes rotated files that have been read to the end, have
// stopped growing for RotateWait and are fully confirmed: their descriptor
// is closed, and they stay registered as done while they are on disk. A
// rotated file whose last line never got its newline has that line shipped
// first, marked Partial.
func (t *Tailer) retire() {
	for _, f := range t.snapshotFiles() {
		if f.state != rotated || f.fd == nil || t.now().Sub(f.lastGrow) < t.cfg.RotateWait {
			continue
		}
		fi, err := f.fd.Stat()
		if err != nil || fi.Size() > f.readPos {
			continue
		}
		if len(f.partial) > 0 && !f.skipping {
			t.addLine(f, f.partial, Line{Partial: true})
			t.metrics.partial.Inc()
			t.advance(f, len(f.partial))
			f.partial = f.partial[:0]
			continue // shipped on the next flush; finished after it confirms
		}
		t.mu.Lock()
		busy := len(f.segs) > 0 || (t.cur != nil && t.inBatch(f.id))
		if !busy {
			f.size, f.mtime = fi.Size(), fi.ModTime().UnixNano()
		}
		t.mu.Unlock()
		if busy {
			continue
		}
		t.closeFile(f)
		if !linked(fi) {
			t.drop(f) // deleted: nothing left to recognise
		} else {
			t.setState(f, done)
		}
		t.log.Info("finished rotated file", "path", f.path, "offset", f.readPos)
	}
	t.admit()
}

func (t *Tailer) inBatch(id uint64) bool {
	for _, s := range t.cur.Segments {
		if s.File == id {
			return true
		}
	}
	return false
}

func lastLineEnd(fd *os.File, size int64) int64 {
	const window = 64 << 10
	start := max(size-window, 0)
	buf := make([]byte, size-start)
	if _, err := fd.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
		return size
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return start + int64(i) + 1
	}
	return start
}

// Recycle hands b's buffer back for a later batch. Call it once nothing
// refers to b's lines any more (the sinks copy what they send).
func (t *Tailer) Recycle(b *Batch) {
	buf := b.buf
	b.buf, b.Lines = nil, nil
	if cap(buf) != max(t.cfg.BatchBytes, t.cfg.MaxLineBytes)+1 {
		return
	}
	select {
	case t.free <- buf:
	default:
	}
}

// Flush sends the batch being built, if any (used when draining).
func (t *Tailer) Flush(ctx context.Context, out chan<- *Batch) error { return t.flush(ctx, out) }
