// Package tail follows the audit log files matched by a path or glob and
// turns their complete lines into batches, keeping per file the offset up to
// which the sink has confirmed every record. Files are known by device and
// inode plus a hash of their first bytes, so rename rotation, copytruncate,
// truncation in place, deletion and inode reuse are each recognised, and a
// rotated or deleted file is read to its end through the open descriptor.
// The directory is scanned even while the reader waits on a slow sink, and
// rotated files that were never followed are found there and read.
package tail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
)

// HeadMax is how many leading bytes identify a file's content; TailMax how
// many bytes before a saved offset are hashed to check it on restart. An
// audit line carries its timestamp and request id within its first bytes,
// and is well under TailMax long, so both windows cover at least one id.
const (
	HeadMax = 1024
	TailMax = 4096
)

// maxBatchDelay bounds how long a read line waits for its batch to fill.
const maxBatchDelay = 100 * time.Millisecond

// turnChunks is how many read chunks one file may read before the next
// file (and the scan, when due) gets its turn.
const turnChunks = 16

// Config tunes a Tailer.
type Config struct {
	Pattern       string        // file path or glob
	PollInterval  time.Duration // rescan and stat period (also the fsnotify fallback)
	RotateWait    time.Duration // how long a rotated file stays open after its last growth
	BatchBytes    int           // flush a batch at this many bytes of records
	BatchRecords  int           // ... or this many records
	MaxLineBytes  int           // longer lines are cut and marked TooLong
	ReadChunk     int           // bytes per read call
	StartAtEnd    bool          // on first start, skip what the files already hold
	DisableNotify bool          // poll only
}

// Line is one record read from a file.
type Line struct {
	Data    []byte // without the newline
	Path    string
	Offset  int64
	TooLong bool // cut at MaxLineBytes; the rest of the line was skipped
	Partial bool // a rotated file ended without a newline
}

// Segment is the byte range of one file that a batch covers.
type Segment struct {
	File       uint64
	Start, End int64
	tailLen    int64
	tailHash   [32]byte
}

// Batch is what the tailer hands to the shipper: lines and the file ranges
// they came from. Confirm it once every line is delivered or dead-lettered.
type Batch struct {
	Lines    []Line
	Segments []Segment
	Bytes    int
	ReadAt   time.Time
	buf      []byte
}

// Tailer follows the files. Run owns the reading; Confirm, Snapshot and
// Behind may be called from other goroutines.
type Tailer struct {
	cfg     Config
	log     *slog.Logger
	metrics metrics

	mu     sync.Mutex
	files  map[uint64]*file
	nextID uint64

	free chan []byte // batch buffers handed back by Recycle

	// loop-only state
	cur         *Batch
	first       bool // first scan of a fresh start (StartAtEnd applies)
	scratchHead []byte
	lastScan    time.Time // zero: a scan is due now
	// prefixes are the rotation families of every followed name, by
	// directory; known are the rotated files there that need no reading
	// (there before this start, copies of a followed file, or finished).
	prefixes map[string]map[string]bool
	known    map[fileKey]knownFile
}

type fileKey struct{ dev, ino uint64 }

// knownFile is a rotated file not to read again: its content is identified
// by its head, and what it held up to offset is handled. Size and mtime
// let a scan skip it without opening it while it is unchanged.
type knownFile struct {
	dir      string
	size     int64
	mtime    int64
	offset   int64
	headLen  int64
	headHash [32]byte
}

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
	dev, ino  uint64
	headLen   int64
	headHash  [32]byte
	confirmed int64
	tailLen   int64
	tailHash  [32]byte
	segs      []pendingSeg
	size      int64
	ghost     bool // content destroyed (truncated in place); dropped once confirmed

	// loop-only
	fd        *os.File
	readPos   int64  // next byte to read
	lineStart int64  // file offset of pending[0]
	pending   []byte // read, not yet consumed (a window of backing)
	backing   []byte
	recent    []byte // the last bytes read before readPos (copy detection)
	skipping  bool   // discarding the rest of an over-long line
	inGlob    bool
	draining  bool
	lastGrow  time.Time
}

type metrics struct {
	records, blank, tooLong, partial prometheus.Counter
	linesRead                        *prometheus.CounterVec
	bytesRead                        prometheus.Counter
	rotations                        *prometheus.CounterVec
	lost                             *prometheus.CounterVec
	tracked                          prometheus.GaugeFunc
}

// New builds a Tailer that resumes from st, registering its metrics on reg.
func New(cfg Config, st checkpoint.State, log *slog.Logger, reg prometheus.Registerer) (*Tailer, error) {
	if cfg.ReadChunk <= 0 {
		cfg.ReadChunk = 256 << 10
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = 1 << 20
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.BatchRecords <= 0 {
		cfg.BatchRecords = 10000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if _, err := filepath.Match(cfg.Pattern, ""); err != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", cfg.Pattern, err)
	}
	t := &Tailer{cfg: cfg, log: log, files: map[uint64]*file{}, first: len(st.Files) == 0, free: make(chan []byte, 4),
		prefixes: map[string]map[string]bool{}, known: map[fileKey]knownFile{}}
	t.metrics = metrics{
		linesRead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_records_read_total", Help: "Records read from the audit log, by kind (record, blank, too_long, partial)."}, []string{"kind"}),
		bytesRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "auditshipper_bytes_read_total", Help: "Bytes read from the audit log files."}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_rotations_total", Help: "Rotations seen, by kind (rename, truncate, copytruncate, replaced)."}, []string{"kind"}),
		lost:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_files_lost_total", Help: "Checkpointed files that disappeared while the shipper was down, or were truncated before being read to the end."}, []string{"reason"}),
		tracked: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auditshipper_files_tracked", Help: "Files currently followed (including rotated ones being drained)."}, func() float64 {
			t.mu.Lock()
			defer t.mu.Unlock()
			return float64(len(t.files))
		}),
	}
	m := &t.metrics
	m.records, m.blank, m.tooLong, m.partial = m.linesRead.WithLabelValues("record"), m.linesRead.WithLabelValues("blank"), m.linesRead.WithLabelValues("too_long"), m.linesRead.WithLabelValues("partial")
	if reg != nil {
		for _, c := range []prometheus.Collector{t.metrics.linesRead, t.metrics.bytesRead, t.metrics.rotations, t.metrics.lost, t.metrics.tracked} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	t.resume(st)
	return t, nil
}

// resume reopens the checkpointed files: by device and inode where they
// still match the glob, else by looking in their directory for the same
// inode (renamed while we were down) or a copy with the same content
// (copytruncate while we were down).
func (t *Tailer) resume(st checkpoint.State) {
	used := make([]bool, len(st.Files))
	matches, _ := filepath.Glob(t.cfg.Pattern)
	for _, path := range matches {
		fd, fi, err := openRegular(path)
		if err != nil {
			continue
		}
		dev, ino := devIno(fi)
		matched := false
		for i, e := range st.Files {
			if used[i] || e.Dev != dev || e.Ino != ino {
				continue
			}
			if verify(fd, fi.Size(), e) {
				used[i] = true
				t.add(fd, path, dev, ino, e.Offset, &e, true)
				matched = true
			} else {
				t.log.Info("checkpointed inode holds different content; reading it from the start", "path", path, "ino", ino)
				t.metrics.rotations.WithLabelValues("replaced").Inc()
			}
			break
		}
		if !matched {
			start := int64(0)
			if len(st.Files) == 0 && t.cfg.StartAtEnd {
				start = lastLineEnd(fd, fi.Size())
			}
			t.add(fd, path, dev, ino, start, nil, true)
		}
	}
	for i, e := range st.Files {
		if used[i] {
			continue
		}
		if e.HeadLen == 0 && e.Offset == 0 {
			continue // an empty file went away: nothing was in it
		}
		if t.findElsewhere(e) {
			continue
		}
		t.log.Warn("checkpointed file is gone; anything it held after the checkpoint could not be shipped", "path", e.Path, "offset", e.Offset)
		t.metrics.lost.WithLabelValues("gone_while_down").Inc()
	}
	if len(st.Files) > 0 {
		t.adoptUnseen(st, matches)
	}
	// Every other rotated file beside ours is old: shipped before, or
	// there before the shipper was first started (it follows live files
	// only). Files that appear from now on are new and will be read.
	t.notePrefixes(append(append([]string(nil), matches...), pathsOf(st.Files)...))
	cands, _ := t.siblings(pathSet(matches))
	for _, c := range cands {
		if t.trackedInode(c.dev, c.ino) {
			continue
		}
		if fd, fi, err := openRegular(c.path); err == nil {
			if d, i := devIno(fi); d == c.dev && i == c.ino {
				t.remember(fd, fi, filepath.Dir(c.path), fi.Size())
			}
			fd.Close()
		}
	}
}

// notePrefixes records the rotation families of paths: rotated files are
// looked for under them.
func (t *Tailer) notePrefixes(paths []string) {
	for _, p := range paths {
		dir := filepath.Dir(p)
		if t.prefixes[dir] == nil {
			t.prefixes[dir] = map[string]bool{}
		}
		t.prefixes[dir][rotationFamily(filepath.Base(p))] = true
	}
}

func pathSet(paths []string) map[string]bool {
	m := make(map[string]bool, len(paths))
	for _, p := range paths {
		m[p] = true
	}
	return m
}

// sibling is a possible rotated file: a regular, uncompressed file named
// with a rotation prefix of a followed file, not matched by the glob.
type sibling struct {
	path     string
	dev, ino uint64
	size     int64
	mtime    int64
}

// siblings lists the possible rotated files, and the directories it could
// list (only their known files can be forgotten when missing).
func (t *Tailer) siblings(skip map[string]bool) ([]sibling, map[string]bool) {
	var out []sibling
	listed := map[string]bool{}
	for dir, pre := range t.prefixes {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		listed[dir] = true
		for _, de := range ents {
			name := de.Name()
			path := filepath.Join(dir, name)
			if !de.Type().IsRegular() || skip[path] || !inFamilies(name, pre) || hasAnySuffix(name, compressed) {
				continue
			}
			fi, err := os.Stat(path)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			dev, ino := devIno(fi)
			out = append(out, sibling{path: path, dev: dev, ino: ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()})
		}
	}
	return out, listed
}

// remember marks the file open as fd as not to be read up to offset.
func (t *Tailer) remember(fd *os.File, fi os.FileInfo, dir string, offset int64) {
	n := min(fi.Size(), HeadMax)
	head := make([]byte, n)
	if _, err := fd.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	dev, ino := devIno(fi)
	t.known[fileKey{dev, ino}] = knownFile{dir: dir, size: fi.Size(), mtime: fi.ModTime().UnixNano(), offset: offset, headLen: n, headHash: sha256.Sum256(head)}
}

// discover opens the rotated files that appeared since the last scan and
// were never followed: a file created and rotated away between two scans
// (or during a stall), which the glob alone never shows. Copies of a
// followed file (copytruncate) are left to findCopy; a known file that grew
// is read from where it was left.
func (t *Tailer) discover(matches map[string]bool) {
	cands, listed := t.siblings(matches)
	seen := map[fileKey]bool{}
	for _, c := range cands {
		key := fileKey{c.dev, c.ino}
		seen[key] = true
		if t.byInode(c.dev, c.ino) != nil {
			continue
		}
		k, isKnown := t.known[key]
		if isKnown && k.size == c.size && k.mtime == c.mtime {
			continue
		}
		if c.size == 0 {
			continue
		}
		fd, fi, err := openRegular(c.path)
		if err != nil {
			continue
		}
		if d, i := devIno(fi); d != c.dev || i != c.ino { // renamed meanwhile
			fd.Close()
			continue
		}
		head := make([]byte, min(fi.Size(), HeadMax))
		if _, err := fd.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
			fd.Close()
			continue
		}
		start := int64(0)
		switch {
		case t.copyOfFollowed(head):
			// Left to findCopy, which reads it from where the followed
			// file was when it is truncated.
			t.remember(fd, fi, filepath.Dir(c.path), fi.Size())
			fd.Close()
			continue
		case isKnown && k.headLen <= int64(len(head)) && sha256.Sum256(head[:k.headLen]) == k.headHash:
			if fi.Size() <= k.offset {
				k.size, k.mtime = fi.Size(), fi.ModTime().UnixNano()
				t.known[key] = k
				fd.Close()
				continue
			}
			start = k.offset // the same file, written to after we were done
		case t.copyOfKnown(head):
			t.remember(fd, fi, filepath.Dir(c.path), fi.Size())
			fd.Close()
			continue
		}
		delete(t.known, key)
		f := t.add(fd, c.path, c.dev, c.ino, start, nil, false)
		f.draining = true
		t.metrics.rotations.WithLabelValues("rename").Inc()
		t.log.Info("reading a rotated file that was never followed", "path", c.path, "offset", start)
	}
	for key, k := range t.known {
		if listed[k.dir] && !seen[key] {
			delete(t.known, key) // gone: its inode number may come back as a new file
		}
	}
}

// copyOfKnown reports whether head starts like a known file (a copy of a
// rotated file that needs no reading).
func (t *Tailer) copyOfKnown(head []byte) bool {
	for _, k := range t.known {
		if k.headLen > 0 && k.headLen <= int64(len(head)) && sha256.Sum256(head[:k.headLen]) == k.headHash {
			return true
		}
	}
	return false
}

// copyOfFollowed reports whether head starts like a followed file that has
// been read from (a copy made by copytruncate; findCopy reads its rest).
// A copy still being written may be shorter than the followed file's
// identity: then its bytes are compared with the followed file's own.
// A followed file not read from yet has no identity: a copy of it is read
// as a new file, since a truncation would leave its content nowhere else.
func (t *Tailer) copyOfFollowed(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var own []byte
	for _, f := range t.files {
		if f.ghost || f.headLen == 0 {
			continue
		}
		if f.headLen <= int64(len(head)) {
			if sha256.Sum256(head[:f.headLen]) == f.headHash {
				return true
			}
			continue
		}
		if f.fd == nil {
			continue
		}
		own = append(own[:0], make([]byte, len(head))...)
		if _, err := f.fd.ReadAt(own, 0); err == nil && bytes.Equal(own, head) {
			return true
		}
	}
	return false
}

// compressed names the suffixes of rotated files that were compressed (their
// content was shipped, or is in the uncompressed file they came from).
var compressed = []string{".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4"}

// adoptUnseen reads the rotated files that were created or written after
// the last checkpoint and that we never followed: a file that appeared and
// was rotated away (or copytruncated) while the shipper was down.
func (t *Tailer) adoptUnseen(st checkpoint.State, matches []string) {
	prefixes := map[string]map[string]bool{} // dir → rotation families
	for _, p := range append(append([]string(nil), matches...), pathsOf(st.Files)...) {
		dir, base := filepath.Dir(p), filepath.Base(p)
		if prefixes[dir] == nil {
			prefixes[dir] = map[string]bool{}
		}
		prefixes[dir][rotationFamily(base)] = true
	}
	for dir, pre := range prefixes {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, de := range ents {
			name := de.Name()
			if !de.Type().IsRegular() || !inFamilies(name, pre) || hasAnySuffix(name, compressed) {
				continue
			}
			path := filepath.Join(dir, name)
			fi, err := os.Stat(path)
			if err != nil || fi.ModTime().UnixNano() <= st.SavedAt || fi.Size() == 0 {
				continue
			}
			dev, ino := devIno(fi)
			if t.trackedInode(dev, ino) {
				continue
			}
			fd, fi, err := openRegular(path)
			if err != nil {
				continue
			}
			if d, i := devIno(fi); d != dev || i != ino { // renamed between stat and open
				fd.Close()
				continue
			}
			t.log.Info("reading a file rotated while the shipper was down", "path", path)
			f := t.add(fd, path, dev, ino, 0, nil, false)
			f.draining = true
		}
	}
}

func pathsOf(fs []checkpoint.File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
	}
	return out
}

// rotationFamily names the family of a log file: the live name that it or
// its rotated names come from. A rotated name is the live name with a
// numeric or date suffix ("audit.jsonl.1", "audit.jsonl.2026-11-23",
// logrotate's dateext "audit.jsonl-20261123") or with a date before the
// extension ("audit-2026-11-23.jsonl"); all of these have the family
// "audit.jsonl". Any other name ("audit.jsonl.tmp",
// "audit-export-2025.jsonl") is another file, never read as a rotation.
func rotationFamily(base string) string {
	for _, x := range compressed {
		base = strings.TrimSuffix(base, x)
	}
	base = trimNumericSegments(base)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		if stem := trimNumericSegments(base[:i]); stem != "" {
			base = stem + base[i:]
		}
	}
	return base
}

// trimNumericSegments drops the trailing segments of s, separated by '.',
// '-' or '_', that are all digits: "audit.jsonl.2026-11-23" → "audit.jsonl".
func trimNumericSegments(s string) string {
	for {
		i := strings.LastIndexAny(s, ".-_")
		if i <= 0 || i == len(s)-1 || strings.Trim(s[i+1:], "0123456789") != "" {
			return s
		}
		s = s[:i]
	}
}

// inFamilies reports whether name belongs to one of the families in fams.
func inFamilies(name string, fams map[string]bool) bool {
	return fams[rotationFamily(name)]
}

func hasAnySuffix(s string, suf []string) bool {
	for _, x := range suf {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// findElsewhere looks in e's directory for the file e describes.
func (t *Tailer) findElsewhere(e checkpoint.File) bool {
	dir := filepath.Dir(e.Path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	// Same inode first (renamed), then a content copy.
	for pass := 0; pass < 2; pass++ {
		for _, de := range ents {
			if !de.Type().IsRegular() {
				continue
			}
			path := filepath.Join(dir, de.Name())
			fi, err := os.Stat(path)
			if err != nil {
				continue
			}
			dev, ino := devIno(fi)
			if pass == 0 && (dev != e.Dev || ino != e.Ino) {
				continue
			}
			if pass == 1 && ((dev == e.Dev && ino == e.Ino) || t.trackedInode(dev, ino) || e.HeadLen == 0 ||
				rotationFamily(de.Name()) != rotationFamily(filepath.Base(e.Path))) {
				continue
			}
			fd, fi, err := openRegular(path)
			if err != nil {
				continue
			}
			if !verify(fd, fi.Size(), e) {
				fd.Close()
				continue
			}
			t.log.Info("resuming a file rotated while the shipper was down", "was", e.Path, "now", path, "offset", e.Offset)
			f := t.add(fd, path, dev, ino, e.Offset, &e, false)
			f.draining = true
			return true
		}
	}
	return false
}

func (t *Tailer) trackedInode(dev, ino uint64) bool {
	for _, f := range t.files {
		if !f.ghost && f.dev == dev && f.ino == ino {
			return true
		}
	}
	return false
}

// verify reports whether fd still holds what e describes: the same first
// bytes and the same bytes just before the saved offset.
func verify(fd *os.File, size int64, e checkpoint.File) bool {
	if size < e.Offset || size < e.HeadLen {
		return false
	}
	if e.HeadLen > 0 && !hashMatches(fd, 0, e.HeadLen, e.HeadHash) {
		return false
	}
	if e.TailLen > 0 && !hashMatches(fd, e.Offset-e.TailLen, e.TailLen, e.TailHash) {
		return false
	}
	return true
}

func hashMatches(fd *os.File, off, n int64, want string) bool {
	buf := make([]byte, n)
	if _, err := fd.ReadAt(buf, off); err != nil {
		return false
	}
	h := sha256.Sum256(buf)
	return hex.EncodeToString(h[:]) == want
}

func openRegular(path string) (*os.File, os.FileInfo, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := fd.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		fd.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	return fd, fi, nil
}

func devIno(fi os.FileInfo) (uint64, uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), st.Ino
	}
	return 0, 0
}

// add starts following fd from offset; e (when resuming) carries the saved
// identity.
func (t *Tailer) add(fd *os.File, path string, dev, ino uint64, offset int64, e *checkpoint.File, inGlob bool) *file {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	f := &file{id: t.nextID, path: path, dev: dev, ino: ino, fd: fd, readPos: offset, lineStart: offset, confirmed: offset, inGlob: inGlob, lastGrow: time.Now()}
	if e != nil {
		f.headLen = e.HeadLen
		if h, err := hex.DecodeString(e.HeadHash); err == nil && len(h) == 32 {
			copy(f.headHash[:], h)
		}
		f.tailLen = e.TailLen
		if h, err := hex.DecodeString(e.TailHash); err == nil && len(h) == 32 {
			copy(f.tailHash[:], h)
		}
	}
	t.files[f.id] = f
	return f
}

// Run reads until ctx ends, sending batches on out. A full out blocks the
// reader: the log file itself is the buffer while the sink is slow or down.
func (t *Tailer) Run(ctx context.Context, out chan<- *Batch) error {
	wake := make(chan struct{}, 1)
	var watcher *fsnotify.Watcher
	if !t.cfg.DisableNotify {
		w, err := fsnotify.NewWatcher()
		if err != nil {
			t.log.Warn("fsnotify unavailable; polling only", "err", err)
		} else {
			watcher = w
			defer w.Close()
			for _, dir := range watchDirs(t.cfg.Pattern) {
				if err := w.Add(dir); err != nil {
					t.log.Warn("cannot watch directory; polling it", "dir", dir, "err", err)
				}
			}
		}
	}
	notifyDone := make(chan struct{})
	defer func() { <-notifyDone }()
	nctx, stopNotify := context.WithCancel(ctx)
	defer stopNotify()
	go func() {
		// Owned by Run: it ends when Run returns (stopNotify) and Run
		// waits for it (notifyDone).
		defer close(notifyDone)
		if watcher == nil {
			return
		}
		for {
			select {
			case <-nctx.Done():
				return
			case _, ok := <-watcher.Events:
				if !ok {
					return
				}
			case err, ok := <-watcher.Errors:
				if !ok {
					return
				}
				t.log.Warn("fsnotify error", "err", err)
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()

	ticker := time.NewTicker(t.cfg.PollInterval)
	defer ticker.Stop()
	defer t.closeAll()
	for {
		if t.scanDue() {
			t.scan()
		}
		progress, err := t.readAll(ctx, out)
		if err != nil {
			return err
		}
		if progress {
			// A steady trickle keeps the loop busy; still send what has
			// waited long enough.
			if t.cur != nil && time.Since(t.cur.ReadAt) >= maxBatchDelay {
				if err := t.flush(ctx, out); err != nil {
					return err
				}
			}
			continue
		}
		if err := t.flush(ctx, out); err != nil {
			return err
		}
		t.retire()
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			// A directory event: rescan now (new file, rename, delete).
			t.lastScan = time.Time{}
		case <-ticker.C:
		}
	}
}

func watchDirs(pattern string) []string {
	dir := filepath.Dir(pattern)
	if !strings.ContainsAny(dir, `*?[\`) {
		return []string{dir}
	}
	dirs, _ := filepath.Glob(dir)
	return dirs
}

func (t *Tailer) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.files {
		if f.fd != nil {
			f.fd.Close()
			f.fd = nil
		}
	}
}

// scanDue reports whether PollInterval has passed since the last scan.
func (t *Tailer) scanDue() bool {
	return t.lastScan.IsZero() || time.Since(t.lastScan) >= t.cfg.PollInterval
}

// scan matches the glob: new files are opened, known inodes get their
// current path, and files no longer matched start draining.
func (t *Tailer) scan() {
	t.lastScan = time.Now()
	matches, err := filepath.Glob(t.cfg.Pattern)
	if err != nil {
		return
	}
	first := t.first
	t.first = false
	t.notePrefixes(matches)
	// Rotated files first, so they get lower ids than new live files and
	// are read before them.
	t.discover(pathSet(matches))
	seen := map[uint64]bool{}
	for _, path := range matches {
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		dev, ino := devIno(fi)
		if f := t.byInode(dev, ino); f != nil {
			seen[f.id] = true
			t.mu.Lock()
			if f.path != path {
				t.log.Info("file renamed", "from", f.path, "to", path)
				f.path = path
			}
			t.mu.Unlock()
			f.inGlob, f.draining = true, false
			continue
		}
		fd, fi, err := openRegular(path)
		if err != nil {
			continue
		}
		dev, ino = devIno(fi)
		if f := t.byInode(dev, ino); f != nil { // raced with a rename
			fd.Close()
			seen[f.id] = true
			continue
		}
		start := int64(0)
		if first && t.cfg.StartAtEnd {
			start = lastLineEnd(fd, fi.Size())
		}
		f := t.add(fd, path, dev, ino, start, nil, true)
		seen[f.id] = true
		t.log.Info("following file", "path", path, "offset", start)
	}
	for _, f := range t.snapshotFiles() {
		if f.ghost || seen[f.id] || !f.inGlob {
			continue
		}
		f.inGlob, f.draining = false, true
		t.metrics.rotations.WithLabelValues("rename").Inc()
		t.log.Info("file rotated away or deleted; reading it to the end", "path", f.path)
	}
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

func (t *Tailer) byInode(dev, ino uint64) *file {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.files {
		if !f.ghost && f.fd != nil && f.dev == dev && f.ino == ino {
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

// readAll gives every file one turn; it reports whether any made progress.
// A turn ends at the file's end, after turnChunks chunks, or when a scan is
// due: a file that grows faster than it is read must not keep the tailer
// from noticing rotations and new files, nor starve the other files.
func (t *Tailer) readAll(ctx context.Context, out chan<- *Batch) (bool, error) {
	progress := false
	turn := int64(turnChunks * t.cfg.ReadChunk)
	for _, f := range t.snapshotFiles() {
		if f.ghost || f.fd == nil {
			continue
		}
		from := f.readPos
		for {
			p, err := t.readFile(ctx, f, out)
			if err != nil {
				return progress, err
			}
			if !p {
				break
			}
			progress = true
			if ctx.Err() != nil {
				return progress, nil
			}
			if f.fd == nil || f.readPos-from >= turn || t.scanDue() {
				break
			}
		}
	}
	return progress, nil
}

// readFile consumes the lines already read, or reads one chunk. It reports
// whether anything happened.
func (t *Tailer) readFile(ctx context.Context, f *file, out chan<- *Batch) (bool, error) {
	if consumed, err := t.consume(ctx, f, out); consumed || err != nil {
		return consumed, err
	}
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
	if cap(f.pending)-len(f.pending) < int(n) {
		// Move the unconsumed bytes to the front of the buffer (or a
		// bigger one) to make room for the next chunk.
		need := len(f.pending) + int(n)
		if cap(f.backing) >= need {
			copy(f.backing[:len(f.pending)], f.pending)
			f.pending = f.backing[:len(f.pending)]
		} else {
			grown := make([]byte, len(f.pending), need+t.cfg.ReadChunk)
			copy(grown, f.pending)
			f.backing, f.pending = grown[:cap(grown)], grown
		}
	}
	buf := f.pending[len(f.pending) : len(f.pending)+int(n)]
	got, err := f.fd.ReadAt(buf, f.readPos)
	if got == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			t.log.Warn("reading file", "path", f.path, "err", err)
		}
		return false, nil
	}
	f.pending = f.pending[:len(f.pending)+got]
	f.readPos += int64(got)
	f.lastGrow = time.Now()
	f.recent = appendRecent(f.recent, buf[:got])
	t.metrics.bytesRead.Add(float64(got))
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
// by, extending the identity while the file is shorter than HeadMax.
func (t *Tailer) checkHead(f *file, size int64) bool {
	n := min(size, HeadMax)
	if cap(t.scratchHead) < HeadMax {
		t.scratchHead = make([]byte, HeadMax)
	}
	head := t.scratchHead[:n]
	if _, err := f.fd.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return true // cannot tell; the size check still guards truncation
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if f.headLen > 0 && sha256.Sum256(head[:f.headLen]) != f.headHash {
		return false
	}
	if n > f.headLen {
		f.headLen, f.headHash = n, sha256.Sum256(head)
	}
	return true
}

// truncated handles a file whose content was cut or replaced under us. The
// bytes we have read are in flight under the old identity; what we had not
// read yet may survive in a copy (copytruncate), which then takes over the
// old identity and is read from where we were. The live inode is followed
// again from its start under a new identity.
func (t *Tailer) truncated(f *file, kind string) {
	copyFd, copyPath, dev, ino := t.findCopy(f)
	t.mu.Lock()
	t.nextID++
	fresh := &file{id: t.nextID, path: f.path, dev: f.dev, ino: f.ino, fd: f.fd, inGlob: f.inGlob, draining: f.draining, lastGrow: time.Now()}
	t.files[fresh.id] = fresh
	if copyFd != nil {
		f.fd, f.path, f.dev, f.ino = copyFd, copyPath, dev, ino
		f.inGlob, f.draining = false, true
		kind = "copytruncate"
	} else {
		f.fd = nil
		f.ghost = true
		f.pending = nil
		if len(f.segs) == 0 {
			delete(t.files, f.id)
		}
	}
	t.mu.Unlock()
	t.metrics.rotations.WithLabelValues(kind).Inc()
	if copyFd != nil {
		t.log.Info("file truncated after being copied; reading the rest from the copy", "path", fresh.path, "copy", copyPath, "offset", f.readPos)
	} else {
		t.log.Warn("file truncated in place; following it from its start", "path", fresh.path, "read_to", f.readPos)
	}
}

// findCopy looks beside f for a file (not one we follow) that starts with
// f's head and holds the same bytes just before f's read position.
func (t *Tailer) findCopy(f *file) (*os.File, string, uint64, uint64) {
	if f.headLen == 0 || f.readPos == 0 {
		return nil, "", 0, 0
	}
	t.mu.Lock()
	headLen, headHash, path := f.headLen, f.headHash, f.path
	t.mu.Unlock()
	dir, base := filepath.Dir(path), filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, "", 0, 0
	}
	for _, de := range ents {
		name := de.Name()
		if !de.Type().IsRegular() || name == base || rotationFamily(name) != rotationFamily(base) {
			continue
		}
		p := filepath.Join(dir, name)
		fd, fi, err := openRegular(p)
		if err != nil {
			continue
		}
		dev, ino := devIno(fi)
		ok := t.byInode(dev, ino) == nil && fi.Size() >= f.readPos && fi.Size() >= headLen
		if ok {
			head := make([]byte, headLen)
			_, err1 := fd.ReadAt(head, 0)
			tail := make([]byte, len(f.recent))
			_, err2 := fd.ReadAt(tail, f.readPos-int64(len(tail)))
			ok = err1 == nil && err2 == nil && sha256.Sum256(head) == headHash && bytes.Equal(tail, f.recent)
		}
		if ok {
			return fd, p, dev, ino
		}
		fd.Close()
	}
	return nil, "", 0, 0
}

// consume moves complete lines from f.pending into the current batch,
// sending batches as they fill. It reports whether it consumed anything.
func (t *Tailer) consume(ctx context.Context, f *file, out chan<- *Batch) (bool, error) {
	did := false
	for len(f.pending) > 0 {
		i := bytes.IndexByte(f.pending, '\n')
		if f.skipping {
			n := len(f.pending)
			if i >= 0 {
				n = i + 1
				f.skipping = false
			}
			t.advance(f, n)
			did = true
			continue
		}
		if i < 0 || i > t.cfg.MaxLineBytes {
			if i < 0 && len(f.pending) < t.cfg.MaxLineBytes {
				break
			}
			// Over-long line: ship its head marked TooLong, skip the rest.
			if err := t.room(ctx, out, t.cfg.MaxLineBytes); err != nil {
				return did, err
			}
			t.addLine(f, f.pending[:t.cfg.MaxLineBytes], Line{TooLong: true})
			t.metrics.tooLong.Inc()
			t.advance(f, t.cfg.MaxLineBytes)
			f.skipping = true
			did = true
			continue
		}
		line := bytes.TrimRight(f.pending[:i], "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			t.metrics.blank.Inc()
			t.segmentFor(f)
			t.advance(f, i+1)
			did = true
			continue
		}
		if err := t.room(ctx, out, len(line)); err != nil {
			return did, err
		}
		t.addLine(f, line, Line{})
		t.metrics.records.Inc()
		t.advance(f, i+1)
		did = true
	}
	if len(f.pending) == 0 && cap(f.backing) > 4*t.cfg.ReadChunk {
		f.pending, f.backing = nil, nil // drop a buffer grown for a long line
	}
	return did, nil
}

// advance drops n consumed bytes from f.pending, extending f's segment in
// the current batch to cover them.
func (t *Tailer) advance(f *file, n int) {
	s := t.segmentFor(f)
	f.lineStart += int64(n)
	s.End = f.lineStart
	f.pending = f.pending[n:]
	if len(f.pending) == 0 && f.backing != nil {
		f.pending = f.backing[:0]
	}
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
		t.cur = &Batch{ReadAt: time.Now(), buf: buf[:0]}
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
func (t *Tailer) flush(ctx context.Context, out chan<- *Batch) error {
	b := t.cur
	if b == nil || len(b.Segments) == 0 {
		return nil
	}
	t.cur = nil
	t.mu.Lock()
	for i := range b.Segments {
		s := &b.Segments[i]
		f := t.files[s.File]
		if f == nil {
			continue
		}
		s.tailLen, s.tailHash = tailHashOf(f, s.End)
		f.segs = append(f.segs, pendingSeg{start: s.Start, end: s.End, readAt: b.ReadAt, tailLen: s.tailLen, tailHash: s.tailHash})
	}
	t.mu.Unlock()
	select {
	case out <- b:
		return nil
	default:
	}
	// Backpressure: the sink is slow or down. Keep scanning while waiting,
	// so that files created and rotated meanwhile are opened (and held)
	// before they can be rotated out of reach or deleted.
	timer := time.NewTimer(t.untilScan())
	defer timer.Stop()
	for {
		select {
		case out <- b:
			return nil
		case <-timer.C:
			t.scan()
			timer.Reset(t.cfg.PollInterval)
		case <-ctx.Done():
			// Not sent: take the segments back so nothing claims them.
			t.mu.Lock()
			for _, s := range b.Segments {
				if f := t.files[s.File]; f != nil && len(f.segs) > 0 {
					f.segs = f.segs[:len(f.segs)-1]
				}
			}
			t.mu.Unlock()
			return nil
		}
	}
}

// untilScan is how long until the next scan is due.
func (t *Tailer) untilScan() time.Duration {
	if t.lastScan.IsZero() {
		return 0
	}
	return max(t.cfg.PollInterval-time.Since(t.lastScan), 0)
}

// tailHashOf hashes the bytes just before end. They are the tail of what we
// read (f.recent ends at readPos; pending sits between end and readPos).
func tailHashOf(f *file, end int64) (int64, [32]byte) {
	gap := f.readPos - end
	if gap < 0 || gap > int64(len(f.recent)) {
		return 0, [32]byte{}
	}
	avail := f.recent[:int64(len(f.recent))-gap]
	n := min(int64(len(avail)), TailMax, end)
	return n, sha256.Sum256(avail[int64(len(avail))-n:])
}

// retire closes rotated files that have been read to the end, have stopped
// growing for RotateWait and are fully confirmed. A rotated file whose last
// line never got its newline has that line shipped first, marked Partial.
func (t *Tailer) retire() {
	for _, f := range t.snapshotFiles() {
		if !f.draining || f.ghost || f.fd == nil || time.Since(f.lastGrow) < t.cfg.RotateWait {
			continue
		}
		fi, err := f.fd.Stat()
		if err == nil && fi.Size() > f.readPos {
			continue
		}
		if len(f.pending) > 0 && !f.skipping {
			t.addLine(f, f.pending, Line{Partial: true})
			t.metrics.partial.Inc()
			t.advance(f, len(f.pending))
			continue // shipped on the next flush; retired after it confirms
		}
		t.mu.Lock()
		if len(f.segs) == 0 && (t.cur == nil || !t.inBatch(f.id)) {
			if fi, err := f.fd.Stat(); err == nil {
				// Still on disk under a rotated name: not to be found
				// and read again by a later scan.
				t.remember(f.fd, fi, filepath.Dir(f.path), f.confirmed)
			}
			f.fd.Close()
			f.fd = nil
			delete(t.files, f.id)
			t.log.Info("finished rotated file", "path", f.path, "offset", f.confirmed)
		}
		t.mu.Unlock()
	}
}

func (t *Tailer) inBatch(id uint64) bool {
	for _, s := range t.cur.Segments {
		if s.File == id {
			return true
		}
	}
	return false
}

// Confirm records that every line of b was delivered or dead-lettered, and
// advances each file's confirmed offset over the contiguous confirmed run.
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
		for n < len(f.segs) && f.segs[n].done {
			p := f.segs[n]
			f.confirmed, f.tailLen, f.tailHash = p.end, p.tailLen, p.tailHash
			moved = true
			n++
		}
		f.segs = append(f.segs[:0], f.segs[n:]...)
		if f.ghost && len(f.segs) == 0 {
			delete(t.files, f.id)
		}
	}
	return moved
}

// Snapshot is the state to checkpoint: every followed file with its
// confirmed offset.
func (t *Tailer) Snapshot() checkpoint.State {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := checkpoint.State{Files: make([]checkpoint.File, 0, len(t.files))}
	ids := make([]uint64, 0, len(t.files))
	for id, f := range t.files {
		if !f.ghost {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		f := t.files[id]
		e := checkpoint.File{Path: f.path, Dev: f.dev, Ino: f.ino, HeadLen: f.headLen, Offset: f.confirmed, TailLen: f.tailLen}
		if f.headLen > 0 {
			e.HeadHash = hex.EncodeToString(f.headHash[:])
		}
		if f.tailLen > 0 {
			e.TailHash = hex.EncodeToString(f.tailHash[:])
		}
		st.Files = append(st.Files, e)
	}
	return st
}

// Behind reports the bytes not yet confirmed across the followed files and
// when the oldest unconfirmed batch was read (zero when none is pending).
func (t *Tailer) Behind() (int64, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var bytesBehind int64
	var oldest time.Time
	for _, f := range t.files {
		if !f.ghost && f.size > f.confirmed {
			bytesBehind += f.size - f.confirmed
		}
		if len(f.segs) > 0 && (oldest.IsZero() || f.segs[0].readAt.Before(oldest)) {
			oldest = f.segs[0].readAt
		}
	}
	return bytesBehind, oldest
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
