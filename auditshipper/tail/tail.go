// Package tail follows the audit log files matched by a path or glob and
// turns their complete lines into batches, keeping per file the offset up to
// which the sink has confirmed every record.
//
// Every file in the log directories that belongs to a followed file's
// rotation family is registered with its identity (device, inode and a hash
// of its first bytes) the moment it is seen, read or not, and the
// checkpoint saves that whole inventory: after a crash or restart a file
// the inventory does not list is new and is read, and a listed one is found
// by its inode wherever it was renamed, or as a copy (copytruncate). Rename
// rotation, copytruncate, truncation in place, deletion and inode reuse are
// each recognised; a rotated file is read to its end through its open
// descriptor, and only so many rotated files hold one at a time.
//
// The code is split along its seams: identity.go (what a file is),
// registry.go (what is known and confirmed, shared with the shipper under
// Tailer.mu), scan.go (finding files) and reader.go (lines and batches).
package tail

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
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
	MaxOpenFiles  int           // rotated files holding a descriptor at once; 0: from RLIMIT_NOFILE
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

// Tailer follows the files. Run owns the reading; Confirm, Snapshot, Behind
// and Changed may be used from other goroutines.
type Tailer struct {
	cfg     Config
	log     *slog.Logger
	metrics metrics
	now     func() time.Time

	mu      sync.Mutex
	files   map[uint64]*file
	nextID  uint64
	changed chan struct{}
	// Descriptors held: by every file, and by rotated files (bounded by
	// maxOpen; live files always keep theirs).
	openFiles, openRotated int

	free chan []byte // batch buffers handed back by Recycle

	// loop-only state
	cur      *Batch
	lastScan time.Time // zero: a scan is due now
	families map[string]map[string]bool
	maxOpen  int
	reading  *file  // the file readAll is in the middle of
	chunk    []byte // the read buffer, shared by every file
	scratch  []byte
}

type metrics struct {
	records, blank, tooLong, partial prometheus.Counter
	linesRead                        *prometheus.CounterVec
	bytesRead                        prometheus.Counter
	rotations                        *prometheus.CounterVec
	lost                             *prometheus.CounterVec
	tracked                          prometheus.GaugeFunc
	open                             prometheus.GaugeFunc
}

// New builds a Tailer that resumes from st, registering its metrics on reg.
// The state it starts from is Snapshot's: save it before Run, so that a
// crash at any later moment finds every file seen so far in the checkpoint.
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
	if cfg.MaxOpenFiles <= 0 {
		cfg.MaxOpenFiles = DefaultMaxOpenFiles()
	}
	if _, err := filepath.Match(cfg.Pattern, ""); err != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", cfg.Pattern, err)
	}
	t := &Tailer{cfg: cfg, log: log, now: time.Now, files: map[uint64]*file{}, changed: make(chan struct{}, 1),
		free: make(chan []byte, 4), families: map[string]map[string]bool{}, maxOpen: cfg.MaxOpenFiles}
	t.metrics = metrics{
		linesRead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_records_read_total", Help: "Records read from the audit log, by kind (record, blank, too_long, partial)."}, []string{"kind"}),
		bytesRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "auditshipper_bytes_read_total", Help: "Bytes read from the audit log files."}),
		rotations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_rotations_total", Help: "Rotations seen, by kind (rename, truncate, copytruncate, replaced)."}, []string{"kind"}),
		lost:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_files_lost_total", Help: "Files whose unread records are lost: gone while the shipper was down (gone_while_down) or deleted before they could be read (vanished_unread)."}, []string{"reason"}),
		tracked: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auditshipper_files_tracked", Help: "Files being followed or read (rotated ones waiting for a descriptor included)."}, func() float64 {
			t.mu.Lock()
			defer t.mu.Unlock()
			n := 0
			for _, f := range t.files {
				if f.state == live || f.state == rotated {
					n++
				}
			}
			return float64(n)
		}),
		open: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "auditshipper_files_open", Help: "Log files holding a descriptor."}, func() float64 {
			t.mu.Lock()
			defer t.mu.Unlock()
			return float64(t.openFiles)
		}),
	}
	m := &t.metrics
	m.records, m.blank, m.tooLong, m.partial = m.linesRead.WithLabelValues("record"), m.linesRead.WithLabelValues("blank"), m.linesRead.WithLabelValues("too_long"), m.linesRead.WithLabelValues("partial")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.linesRead, m.bytesRead, m.rotations, m.lost, m.tracked, m.open} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering metrics: %w", err)
			}
		}
	}
	t.resume(st)
	return t, nil
}

// DefaultMaxOpenFiles leaves room under the soft RLIMIT_NOFILE for the
// sink's connections, the metrics listener, the checkpoint and the
// dead-letter file: a long outage with hundreds of rotations must not take
// the descriptor the sink needs once it is back.
func DefaultMaxOpenFiles() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 64
	}
	return int(max(4, min(256, int64(lim.Cur)/2-16)))
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
			return nilIfCanceled(ctx, err)
		}
		if progress {
			// A steady trickle keeps the loop busy; still send what has
			// waited long enough.
			if t.cur != nil && t.now().Sub(t.cur.ReadAt) >= maxBatchDelay {
				if err := t.flush(ctx, out); err != nil {
					return nilIfCanceled(ctx, err)
				}
			}
			continue
		}
		if err := t.flush(ctx, out); err != nil {
			return nilIfCanceled(ctx, err)
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

// nilIfCanceled: stopping is not an error.
func nilIfCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
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
	for _, f := range t.snapshotFiles() {
		t.closeFile(f)
	}
}

// scanDue reports whether PollInterval has passed since the last scan.
func (t *Tailer) scanDue() bool {
	return t.lastScan.IsZero() || t.now().Sub(t.lastScan) >= t.cfg.PollInterval
}
