// Package engine keeps the current graph version in memory and in step
// with the store: every change is written through the store first (durable
// on return), then a new immutable graph is built and swapped in with one
// atomic pointer store, so readers never wait and never see a half-applied
// change.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
)

// Ingest modes.
const (
	ModeMerge   = store.ModeMerge
	ModeReplace = store.ModeReplace
)

// Store is the persistence the engine writes through. Devices it returns
// carry user metadata in Device.Metadata.
type Store interface {
	Load(ctx context.Context) (version uint64, devices []facts.Device, err error)
	Ingest(ctx context.Context, mode string, devices []facts.Device) (version uint64, err error)
	UpdateMetadata(ctx context.Context, hostname string, patch map[string]any) (version uint64, dev facts.Device, err error)
	Ping(ctx context.Context) error
}

// ErrNotFound is what a Store returns (wrapped or not) for a hostname it
// does not hold; the engine's callers test for it with errors.Is.
var ErrNotFound = store.ErrNotFound

// Engine holds the current graph.
type Engine struct {
	store Store
	opts  graph.Options
	log   *slog.Logger
	cur   atomic.Pointer[graph.Graph]
	// mu serialises changes so the store's version order and the swapped
	// graphs' order agree.
	mu sync.Mutex
	// onChange is told about every local change (Redis broadcast).
	onChange func(version uint64)
}

// New returns an engine over store with an empty graph at version 0; call
// Load to read the store.
func New(store Store, opts graph.Options, log *slog.Logger) *Engine {
	e := &Engine{store: store, opts: opts, log: log}
	e.cur.Store(graph.Build(0, nil, opts))
	return e
}

// OnChange registers f to be called after each local change commits.
func (e *Engine) OnChange(f func(version uint64)) { e.onChange = f }

// Graph returns the current version. It never blocks.
func (e *Engine) Graph() *graph.Graph { return e.cur.Load() }

// Ping checks the store.
func (e *Engine) Ping(ctx context.Context) error { return e.store.Ping(ctx) }

// Load reads the whole store and swaps in a graph built from it.
func (e *Engine) Load(ctx context.Context) error {
	defer e.returnMemory()
	e.mu.Lock()
	defer e.mu.Unlock()
	v, devs, err := e.store.Load(ctx)
	if err != nil {
		return fmt.Errorf("loading the graph from the store: %w", err)
	}
	e.cur.Store(graph.Build(v, devs, e.opts))
	return nil
}

// Reload loads the store when it holds a newer version than the graph (a
// change made by another replica); it reports whether it swapped.
func (e *Engine) Reload(ctx context.Context, version uint64) (bool, error) {
	if version != 0 && version <= e.Graph().Version {
		return false, nil
	}
	defer e.returnMemory()
	e.mu.Lock()
	defer e.mu.Unlock()
	// A write of this replica may have swapped the version in while this
	// waited (its own notification arrives during the write).
	if version != 0 && version <= e.Graph().Version {
		return false, nil
	}
	v, devs, err := e.store.Load(ctx)
	if err != nil {
		return false, fmt.Errorf("reloading the graph from the store: %w", err)
	}
	if v == e.Graph().Version {
		return false, nil
	}
	e.cur.Store(graph.Build(v, devs, e.opts))
	return true, nil
}

// Ingest writes normalized devices through the store in mode, then swaps in
// the graph they make with the current one. Devices without metadata keep
// the metadata they had (user metadata survives re-collection).
func (e *Engine) Ingest(ctx context.Context, mode string, devices []facts.Device) (*graph.Graph, error) {
	g, _, err := e.IngestCommitted(ctx, mode, devices)
	return g, err
}

// IngestCommitted is Ingest that also returns the version the write
// committed as. It is the graph's version unless another replica committed
// between this write and the reload it then needed: the graph is then
// newer, and only the committed version names this write.
func (e *Engine) IngestCommitted(ctx context.Context, mode string, devices []facts.Device) (*graph.Graph, uint64, error) {
	if mode != ModeMerge && mode != ModeReplace {
		return nil, 0, fmt.Errorf("ingest mode %q is not merge or replace", mode)
	}
	defer e.returnMemory()
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.Graph()
	v, err := e.store.Ingest(ctx, mode, devices)
	if err != nil {
		return nil, 0, fmt.Errorf("writing to the store: %w", err)
	}
	// The new graph keeps these devices for as long as it lives.
	compact(devices)
	if v != old.Version+1 {
		// Another replica changed the store since this one loaded it: the
		// merge result, and for a replace the metadata the store kept, are
		// only in the store.
		g, err := e.reloadAfterWrite(ctx, v)
		return g, v, err
	}
	next := make([]facts.Device, 0, len(devices)+len(old.Devices))
	given := make(map[string]bool, len(devices))
	for _, d := range devices {
		given[d.Hostname] = true
		if len(d.Metadata) == 0 {
			d.Metadata = old.Metadata(d.Hostname)
		}
		next = append(next, d)
	}
	if mode == ModeMerge {
		for _, od := range old.Facts() {
			if !given[od.Hostname] {
				next = append(next, od)
			}
		}
	}
	g := graph.Build(v, next, e.opts)
	e.cur.Store(g)
	e.changed(v)
	return g, v, nil
}

// UpdateMetadata merges patch into a device's metadata through the store
// (a nil value removes the key) and swaps in the new version.
func (e *Engine) UpdateMetadata(ctx context.Context, hostname string, patch map[string]any) (*graph.Graph, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.Graph()
	v, dev, err := e.store.UpdateMetadata(ctx, hostname, patch)
	if err != nil {
		return nil, fmt.Errorf("updating metadata of %s: %w", hostname, err)
	}
	if v != old.Version+1 || old.Device(hostname) == nil {
		// Another replica changed the store since this one loaded it.
		return e.reloadAfterWrite(ctx, v)
	}
	// Metadata is outside every index: the new version shares them all.
	g := old.WithMetadata(v, hostname, maps.Clone(dev.Metadata))
	e.cur.Store(g)
	e.changed(v)
	return g, nil
}

// ReloadError is a write that is durable in the store as Version, after
// which this replica failed to load the graph: the change is applied, but
// this replica still answers from its previous version.
type ReloadError struct {
	Version uint64
	Err     error
}

func (e *ReloadError) Error() string {
	return fmt.Sprintf("the change was stored as version %d but reloading the graph failed: %v", e.Version, e.Err)
}

func (e *ReloadError) Unwrap() error { return e.Err }

// reloadAfterWrite swaps in the whole store after a write this replica
// cannot apply in memory. The write itself is already durable.
func (e *Engine) reloadAfterWrite(ctx context.Context, v uint64) (*graph.Graph, error) {
	lv, devs, err := e.store.Load(ctx)
	if err != nil {
		return nil, &ReloadError{Version: v, Err: err}
	}
	g := graph.Build(lv, devs, e.opts)
	e.cur.Store(g)
	e.changed(v)
	return g, nil
}

// returnMemoryDevices is the graph size from which a rebuild is followed
// by returnMemory; a smaller one leaves too little garbage to be worth a
// forced collection.
const returnMemoryDevices = 1000

// returnMemory collects the garbage of a graph rebuild and hands the freed
// pages back to the OS at once. Building a version from a whole document
// allocates two to four times the graph's own size (the decoded document,
// the store's encoding, the indexes), and the collector's goal is set at
// that peak: without this, a server that had ingested the 10k-device demo
// network three times held 2.3 GiB where one restarted on the same store
// holds 0.5 GiB, and the background scavenger gives that back over
// minutes, not seconds. The cost is one full collection, against an ingest
// of seconds. It runs after the lock is released so that it delays no
// other writer.
func (e *Engine) returnMemory() {
	if len(e.Graph().Devices) >= returnMemoryDevices {
		debug.FreeOSMemory()
	}
}

func (e *Engine) changed(v uint64) {
	if e.onChange != nil {
		e.onChange(v)
	}
}
