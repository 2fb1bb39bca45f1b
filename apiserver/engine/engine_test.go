package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

func newEngine(st engine.Store) *engine.Engine {
	return engine.New(st, graph.Options{RootRoles: graph.DefaultRootRoles()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func names(g *graph.Graph) []string {
	var out []string
	for _, d := range g.Devices {
		out = append(out, d.Hostname)
	}
	return out
}

func TestIngestModesAndMetadata(t *testing.T) {
	ctx := context.Background()
	st := graphtest.NewMemStore()
	e := newEngine(st)
	var changes []uint64
	e.OnChange(func(v uint64) { changes = append(changes, v) })
	if _, err := e.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "a"}, {Hostname: "b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateMetadata(ctx, "a", map[string]any{"rack": "r1"}); err != nil {
		t.Fatal(err)
	}
	g, err := e.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "a", Vendor: "cisco"}, {Hostname: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(g), []string{"a", "b", "c"}; !cmp.Equal(got, want) {
		t.Errorf("after merge devices = %v, want %v", got, want)
	}
	if got, md := g.Device("a"), g.Metadata("a"); got.Vendor != "cisco" || !cmp.Equal(md, map[string]any{"rack": "r1"}) {
		t.Errorf("merged a = vendor %q metadata %v, want cisco with rack r1 kept", got.Vendor, md)
	}
	g, err = e.Ingest(ctx, engine.ModeReplace, []facts.Device{{Hostname: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(g), []string{"a"}; !cmp.Equal(got, want) {
		t.Errorf("after replace devices = %v, want %v", got, want)
	}
	if !cmp.Equal(changes, []uint64{1, 2, 3, 4}) || g.Version != 4 || e.Graph() != g {
		t.Errorf("changes = %v, version %d, want 1..4 and the returned graph current", changes, g.Version)
	}
	// What the engine built equals what the store reloads.
	fresh := newEngine(st)
	if err := fresh.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := fresh.Graph().Metadata("a"), g.Metadata("a"); !cmp.Equal(got, want) || len(want) == 0 || fresh.Graph().Version != 4 {
		t.Errorf("reloaded a metadata = %v (version %d), want %v (version 4)", got, fresh.Graph().Version, want)
	}
	if _, err := e.Ingest(ctx, "upsert", nil); err == nil {
		t.Error("Ingest(mode upsert) = nil error, want one")
	}
}

func TestFailuresLeaveTheGraph(t *testing.T) {
	ctx := context.Background()
	st := graphtest.NewMemStore()
	e := newEngine(st)
	before, err := e.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	st.Fail = errors.New("disk full")
	if _, err := e.Ingest(ctx, engine.ModeReplace, []facts.Device{{Hostname: "z"}}); err == nil {
		t.Error("Ingest with a failing store = nil error")
	}
	if _, err := e.UpdateMetadata(ctx, "a", map[string]any{"k": 1}); err == nil {
		t.Error("UpdateMetadata with a failing store = nil error")
	}
	if err := e.Load(ctx); err == nil {
		t.Error("Load with a failing store = nil error")
	}
	if e.Graph() != before {
		t.Error("a failed change swapped the graph")
	}
	st.Fail = nil
	if _, err := e.UpdateMetadata(ctx, "ghost", map[string]any{"k": 1}); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("UpdateMetadata(ghost) = %v, want ErrNotFound", err)
	}
}

func TestReloadOnlyWhenNewer(t *testing.T) {
	ctx := context.Background()
	st := graphtest.NewMemStore()
	writer, reader := newEngine(st), newEngine(st)
	if _, err := writer.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "a"}}); err != nil {
		t.Fatal(err)
	}
	if swapped, err := reader.Reload(ctx, 1); err != nil || !swapped || reader.Graph().Version != 1 {
		t.Errorf("Reload(1) = %v, %v (version %d), want a swap to version 1", swapped, err, reader.Graph().Version)
	}
	g := reader.Graph()
	if swapped, err := reader.Reload(ctx, 1); err != nil || swapped || reader.Graph() != g {
		t.Errorf("Reload(1) again = %v, %v, want no swap", swapped, err)
	}
}

// Readers never see a half-applied change: every graph they get is one
// whole version (version v holds exactly v devices here).
func TestReadersSeeWholeVersions(t *testing.T) {
	ctx := context.Background()
	e := newEngine(graphtest.NewMemStore())
	done := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				g := e.Graph()
				if n := uint64(g.Stats().Devices); n != g.Version {
					errs <- fmt.Sprintf("graph version %d holds %d devices", g.Version, n)
					return
				}
			}
		}()
	}
	for i := range 50 {
		if _, err := e.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: fmt.Sprintf("d%03d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 4 {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
}

// A write after another replica changed the store reloads the store rather
// than label this replica's stale graph with the new version.
func TestWriteAfterAnotherReplicaReloads(t *testing.T) {
	ctx := context.Background()
	st := graphtest.NewMemStore()
	a, b := newEngine(st), newEngine(st)
	if _, err := a.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "x"}}); err != nil {
		t.Fatal(err)
	}
	// b has not heard of version 1.
	g, err := b.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(g), []string{"x", "y"}; !cmp.Equal(got, want) || g.Version != 2 {
		t.Errorf("b after merge = %v at version %d, want %v at 2", got, g.Version, want)
	}
	if _, err := a.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "z"}}); err != nil {
		t.Fatal(err)
	}
	g, err = b.UpdateMetadata(ctx, "z", map[string]any{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(g), []string{"x", "y", "z"}; !cmp.Equal(got, want) || g.Version != 4 || g.Metadata("z")["k"] != "v" {
		t.Errorf("b after metadata = %v at version %d (z metadata %v), want %v at 4 with k=v", got, g.Version, g.Metadata("z"), want)
	}
}

// TestReloadFailureAfterDurableWrite: when the write is stored but this
// replica cannot reload the graph, the error says which version was stored
// and the graph stays as it was.
func TestReloadFailureAfterDurableWrite(t *testing.T) {
	ctx := context.Background()
	st := graphtest.NewMemStore()
	a, b := newEngine(st), newEngine(st)
	if _, err := a.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "x"}}); err != nil {
		t.Fatal(err)
	}
	st.FailLoad = errors.New("disk read error")
	_, err := b.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "y"}})
	var re *engine.ReloadError
	if !errors.As(err, &re) || re.Version != 2 {
		t.Fatalf("Ingest with the reload failing = %v, want a ReloadError for version 2", err)
	}
	if v := b.Graph().Version; v != 0 {
		t.Errorf("graph version after the failed reload = %d, want 0 (unchanged)", v)
	}
	_, err = b.UpdateMetadata(ctx, "x", map[string]any{"k": "v"})
	if !errors.As(err, &re) || re.Version != 3 {
		t.Errorf("UpdateMetadata with the reload failing = %v, want a ReloadError for version 3", err)
	}
}

// gatedStore blocks Ingest until released and counts Loads.
type gatedStore struct {
	*graphtest.MemStore
	entered, release chan struct{}
	loads            atomic.Int32
}

func (s *gatedStore) Ingest(ctx context.Context, mode string, devs []facts.Device) (uint64, error) {
	close(s.entered)
	<-s.release
	return s.MemStore.Ingest(ctx, mode, devs)
}

func (s *gatedStore) Load(ctx context.Context) (uint64, []facts.Device, error) {
	s.loads.Add(1)
	return s.MemStore.Load(ctx)
}

// The notification of a replica's own write (PostgreSQL NOTIFY reaches
// its sender too) can arrive while that write still holds the engine:
// once the write has swapped in the version, the reload is a no-op, not a
// second read of the whole store.
func TestReloadOfOwnWriteReadsNothing(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{MemStore: graphtest.NewMemStore(), entered: make(chan struct{}), release: make(chan struct{})}
	e := newEngine(st)
	done := make(chan error, 1)
	go func() {
		_, err := e.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "a"}})
		done <- err
	}()
	<-st.entered
	reloaded := make(chan bool, 1)
	go func() {
		swapped, _ := e.Reload(ctx, 1)
		reloaded <- swapped
	}()
	// Let Reload reach the engine's lock before the write finishes.
	time.Sleep(50 * time.Millisecond)
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if swapped := <-reloaded; swapped || st.loads.Load() != 0 {
		t.Errorf("Reload(1) during the write of version 1: swapped %v after %d store loads, want no swap and no load", swapped, st.loads.Load())
	}
}

// interleavedStore commits another replica's change right after each of
// this replica's ingests, before this replica can reload.
type interleavedStore struct {
	*graphtest.MemStore
	other int
}

func (s *interleavedStore) Ingest(ctx context.Context, mode string, devs []facts.Device) (uint64, error) {
	v, err := s.MemStore.Ingest(ctx, mode, devs)
	if err == nil {
		s.other++
		_, err = s.MemStore.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: fmt.Sprintf("other%d", s.other)}})
	}
	return v, err
}

// An ingest that has to reload after another replica's commit, with yet
// another committed before the reload, reports its own version, not the
// newer graph's: each write is named by exactly one version.
func TestIngestReportsItsOwnVersion(t *testing.T) {
	ctx := context.Background()
	st := &interleavedStore{MemStore: graphtest.NewMemStore()}
	e := newEngine(st)
	// a commits as 1 and is built in memory (other1, version 2, is this
	// replica's to hear of); b commits as 3 and reloads, finding other2 (4).
	for _, want := range []struct {
		host             string
		version, graphAt uint64
	}{{"a", 1, 1}, {"b", 3, 4}} {
		g, v, err := e.IngestCommitted(ctx, engine.ModeMerge, []facts.Device{{Hostname: want.host}})
		if err != nil {
			t.Fatal(err)
		}
		if v != want.version || g.Version != want.graphAt || g.Device(want.host) == nil {
			t.Errorf("ingest of %s = version %d, graph at %d with %v; want version %d, graph at %d holding it",
				want.host, v, g.Version, names(g), want.version, want.graphAt)
		}
	}
}

// A replace after another replica set a device's metadata keeps the
// metadata the store kept, not this replica's stale copy.
func TestReplaceAfterAnotherReplicaKeepsItsMetadata(t *testing.T) {
	ctx := context.Background()
	st := graphtest.NewMemStore()
	a, b := newEngine(st), newEngine(st)
	if _, err := a.Ingest(ctx, engine.ModeMerge, []facts.Device{{Hostname: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reload(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateMetadata(ctx, "x", map[string]any{"owner": "noc"}); err != nil {
		t.Fatal(err)
	}
	// b has not heard of version 2.
	g, err := b.Ingest(ctx, engine.ModeReplace, []facts.Device{{Hostname: "x", Vendor: "arista"}})
	if err != nil {
		t.Fatal(err)
	}
	_, stored, _ := st.Load(ctx)
	if g.Metadata("x")["owner"] != "noc" || stored[0].Metadata["owner"] != "noc" {
		t.Errorf("x's metadata after the replace: graph %v, store %v; want owner=noc in both", g.Metadata("x"), stored[0].Metadata)
	}
}
