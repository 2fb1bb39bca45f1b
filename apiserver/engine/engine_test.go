package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

func newEngine(st engine.Store) *engine.Engine {
	return engine.New(st, graph.Options{RootRoles: graph.DefaultRootRoles}, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	if got := g.Device("a"); got.Vendor != "cisco" || !cmp.Equal(got.Metadata, map[string]any{"rack": "r1"}) {
		t.Errorf("merged a = vendor %q metadata %v, want cisco with rack r1 kept", got.Vendor, got.Metadata)
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
	if got, want := fresh.Graph().Device("a").Metadata, g.Device("a").Metadata; !cmp.Equal(got, want) || fresh.Graph().Version != 4 {
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
