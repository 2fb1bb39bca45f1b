package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/sync/errgroup"

	"github.com/meshoptixiq/mesh/common/facts"
)

// FileName is the store's file inside the data directory.
const FileName = "graph.db"

// initialMmapSize reserves address space for the file's map (not memory,
// not disk).
const initialMmapSize = 1 << 30

// formatVersion is the layout this code reads and writes. A store written
// by a newer layout is refused rather than misread.
const formatVersion = 1

// Bucket and key names of the layout.
var (
	bucketMeta     = []byte("meta")     // format, version
	bucketDevices  = []byte("devices")  // hostname → encoded facts.Device without metadata
	bucketMetadata = []byte("metadata") // hostname → JSON object of the device's metadata
	keyFormat      = []byte("format")
	keyVersion     = []byte("version")
)

// Embedded is the embedded store: one bbolt file, one writer at a time,
// readers never blocked by the writer.
type Embedded struct {
	db    *bolt.DB
	path  string
	codec codec
}

// OpenEmbedded opens (creating if needed) the store in dir. It fails with a
// clear error when dir cannot be created or written, when another process
// holds the store, or when the file is not a store this code can read.
func OpenEmbedded(dir string) (*Embedded, error) {
	if dir == "" {
		return nil, errors.New("opening the embedded store: no data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening the embedded store: creating data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		// A second process on the same directory gets an error, not a hang.
		Timeout:      2 * time.Second,
		FreelistType: bolt.FreelistMapType,
		// Address space only: growing the map during a commit makes bbolt
		// copy every dirty value out of it (most of a 10k-device ingest's
		// time and memory without this).
		InitialMmapSize: initialMmapSize,
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("opening the embedded store %s: in use by another process", path)
	case err != nil:
		return nil, fmt.Errorf("opening the embedded store %s: %w", path, err)
	}
	c, err := newCodec()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the embedded store: %w", err)
	}
	s := &Embedded{db: db, path: path, codec: c}
	if created {
		// Make the new file's directory entry durable too.
		if err := syncDir(dir); err != nil {
			db.Close()
			return nil, fmt.Errorf("opening the embedded store: %w", err)
		}
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the embedded store %s: %w", path, err)
	}
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing data directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing data directory: %w", err)
	}
	return nil
}

// init creates the layout in a new file and checks the format of an
// existing one.
func (s *Embedded) init() error {
	var format uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketMeta); b != nil {
			if v := b.Get(keyFormat); len(v) == 8 {
				format = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case format == formatVersion:
		return nil
	case format > formatVersion:
		return fmt.Errorf("store format %d is newer than this binary reads (%d)", format, formatVersion)
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketDevices, bucketMetadata} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("creating bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, u64(formatVersion))
	})
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// Path is the store's file.
func (s *Embedded) Path() string { return s.path }

// Close closes the file; an ingest in flight finishes first.
func (s *Embedded) Close() error { return s.db.Close() }

// Ping checks that the store is open and readable.
func (s *Embedded) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("store layout missing")
		}
		return nil
	})
}

// Version returns the store's version without loading devices.
func (s *Embedded) Version(ctx context.Context) (uint64, error) {
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v = version(tx)
		return nil
	})
	return v, err
}

func version(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(keyVersion); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// bump increments the version inside a write transaction.
func bump(tx *bolt.Tx) (uint64, error) {
	v := version(tx) + 1
	if err := tx.Bucket(bucketMeta).Put(keyVersion, u64(v)); err != nil {
		return 0, err
	}
	return v, nil
}

// Load returns the version and every device, sorted by hostname, with its
// metadata. Decoding runs on every core: at 10,000 devices it is most of
// restart time.
func (s *Embedded) Load(ctx context.Context) (uint64, []facts.Device, error) {
	var ver uint64
	var devices []facts.Device
	err := s.db.View(func(tx *bolt.Tx) error {
		ver = version(tx)
		b := tx.Bucket(bucketDevices)
		meta := tx.Bucket(bucketMetadata)
		n := b.Stats().KeyN
		keys := make([][]byte, 0, n)
		vals := make([][]byte, 0, n)
		// Values point into the memory map, valid until the transaction
		// ends, so they are decoded before View returns.
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			keys = append(keys, k)
			vals = append(vals, v)
		}
		devices = make([]facts.Device, len(keys))
		return parallel(ctx, len(keys), func(i int) error {
			if err := s.codec.decodeDevice(vals[i], &devices[i]); err != nil {
				return fmt.Errorf("decoding device %q: %w", keys[i], err)
			}
			if string(keys[i]) != devices[i].Hostname {
				return fmt.Errorf("device under key %q is %q", keys[i], devices[i].Hostname)
			}
			if m := meta.Get(keys[i]); m != nil {
				if err := json.Unmarshal(m, &devices[i].Metadata); err != nil {
					return fmt.Errorf("decoding metadata of %q: %w", keys[i], err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, nil, fmt.Errorf("loading the embedded store: %w", err)
	}
	releaseMapped(s.path)
	return ver, devices, nil
}

// parallel runs f(0..n-1) on every core, stopping at the first error or
// when ctx ends.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), max(n/64, 1))
	g, ctx := errgroup.WithContext(ctx)
	var mu sync.Mutex
	next := 0
	const chunk = 32
	for range workers {
		g.Go(func() error {
			for {
				if err := ctx.Err(); err != nil {
					return err
				}
				mu.Lock()
				lo := next
				next += chunk
				mu.Unlock()
				if lo >= n {
					return nil
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					if err := f(i); err != nil {
						return err
					}
				}
			}
		})
	}
	return g.Wait()
}

// Ingest writes devices in mode (ModeMerge or ModeReplace) in one
// transaction and returns the new version. It is atomic: on any error
// nothing changed. When it returns nil the data is on disk.
//
// A device given with metadata replaces the stored metadata; a device
// given without keeps what the store has.
func (s *Embedded) Ingest(ctx context.Context, mode string, devices []facts.Device) (uint64, error) {
	if mode != ModeMerge && mode != ModeReplace {
		return 0, fmt.Errorf("ingest: mode %q is not %s or %s", mode, ModeMerge, ModeReplace)
	}
	order := make([]int, len(devices))
	for i := range order {
		order[i] = i
	}
	// Sorted keys make bbolt's page splits sequential (and find duplicates).
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(devices[a].Hostname, devices[b].Hostname) })
	for k, i := range order {
		if devices[i].Hostname == "" {
			return 0, fmt.Errorf("ingest: devices[%d] has no hostname", i)
		}
		if k > 0 && devices[order[k-1]].Hostname == devices[i].Hostname {
			return 0, fmt.Errorf("ingest: hostname %q given twice", devices[i].Hostname)
		}
	}
	encoded := make([][]byte, len(devices))
	metas := make([][]byte, len(devices))
	err := parallel(ctx, len(devices), func(i int) error {
		var err error
		if encoded[i], err = s.codec.encodeDevice(&devices[i]); err != nil {
			return fmt.Errorf("encoding device %q: %w", devices[i].Hostname, err)
		}
		if len(devices[i].Metadata) > 0 {
			if metas[i], err = json.Marshal(devices[i].Metadata); err != nil {
				return fmt.Errorf("encoding metadata of %q: %w", devices[i].Hostname, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ingest: %w", err)
	}

	var ver uint64
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		meta := tx.Bucket(bucketMetadata)
		if mode == ModeReplace {
			if err := removeAbsent(tx, devices, order); err != nil {
				return err
			}
		}
		for n, i := range order {
			if n%256 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			key := []byte(devices[i].Hostname)
			if err := b.Put(key, encoded[i]); err != nil {
				return fmt.Errorf("writing device %q: %w", key, err)
			}
			if metas[i] != nil {
				if err := meta.Put(key, metas[i]); err != nil {
					return fmt.Errorf("writing metadata of %q: %w", key, err)
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		ver, err = bump(tx)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ingest into the embedded store: %w", err)
	}
	return ver, nil
}

// removeAbsent deletes every device (and its metadata) that is not among
// devices, which order lists sorted by hostname.
func removeAbsent(tx *bolt.Tx, devices []facts.Device, order []int) error {
	var gone [][]byte
	k := 0
	c := tx.Bucket(bucketDevices).Cursor()
	for key, _ := c.First(); key != nil; key, _ = c.Next() {
		for k < len(order) && devices[order[k]].Hostname < string(key) {
			k++
		}
		if k < len(order) && devices[order[k]].Hostname == string(key) {
			continue
		}
		gone = append(gone, bytes.Clone(key))
	}
	for _, key := range gone {
		if err := tx.Bucket(bucketDevices).Delete(key); err != nil {
			return fmt.Errorf("removing device %q: %w", key, err)
		}
		if err := tx.Bucket(bucketMetadata).Delete(key); err != nil {
			return fmt.Errorf("removing metadata of %q: %w", key, err)
		}
	}
	return nil
}

// UpdateMetadata merges patch into the device's metadata (a nil value
// removes the key), bumps the version and returns the device as stored. It
// returns an error wrapping ErrNotFound when the store has no such device.
func (s *Embedded) UpdateMetadata(ctx context.Context, hostname string, patch map[string]any) (uint64, facts.Device, error) {
	var ver uint64
	var dev facts.Device
	err := s.db.Update(func(tx *bolt.Tx) error {
		key := []byte(hostname)
		raw := tx.Bucket(bucketDevices).Get(key)
		if raw == nil {
			return fmt.Errorf("%w: %q", ErrNotFound, hostname)
		}
		if err := s.codec.decodeDevice(raw, &dev); err != nil {
			return fmt.Errorf("decoding device %q: %w", hostname, err)
		}
		meta := tx.Bucket(bucketMetadata)
		var old map[string]any
		if m := meta.Get(key); m != nil {
			if err := json.Unmarshal(m, &old); err != nil {
				return fmt.Errorf("decoding metadata of %q: %w", hostname, err)
			}
		}
		dev.Metadata = MergeMetadata(old, patch)
		if dev.Metadata == nil {
			if err := meta.Delete(key); err != nil {
				return err
			}
		} else {
			m, err := json.Marshal(dev.Metadata)
			if err != nil {
				return fmt.Errorf("encoding metadata: %w", err)
			}
			if err := meta.Put(key, m); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		ver, err = bump(tx)
		return err
	})
	if err != nil {
		return 0, facts.Device{}, fmt.Errorf("updating metadata in the embedded store: %w", err)
	}
	// The caller gets the metadata as it will read back after a restart
	// (JSON numbers are float64), not the caller's own values.
	if dev.Metadata != nil {
		m, _ := json.Marshal(dev.Metadata)
		dev.Metadata = nil
		if err := json.Unmarshal(m, &dev.Metadata); err != nil {
			return 0, facts.Device{}, fmt.Errorf("updating metadata in the embedded store: %w", err)
		}
	}
	return ver, dev, nil
}
