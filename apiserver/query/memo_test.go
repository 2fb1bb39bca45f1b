package query_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"weak"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

// countingRegistry has one Memo query whose Run counts its calls and
// answers with the graph version and its parameter.
func countingRegistry(t *testing.T, runs *atomic.Int64, gate <-chan struct{}) (*query.Registry, *query.Definition) {
	t.Helper()
	reg := query.NewRegistry()
	err := reg.Register(query.Definition{
		Name: "hygiene_expensive", Memo: true, Columns: []string{"version", "p"},
		Params: []query.Param{{Name: "p", Type: query.TypeString}},
		Run: func(_ context.Context, env *query.Env, args query.Args) (*query.Result, error) {
			runs.Add(1)
			if gate != nil {
				<-gate
			}
			return &query.Result{Rows: [][]any{{env.Graph.Version, args.String("p")}}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Lookup("hygiene_expensive")
	return reg, d
}

func TestMemoComputesOncePerVersionAndParameters(t *testing.T) {
	var runs atomic.Int64
	reg, d := countingRegistry(t, &runs, nil)
	ask := func(version uint64, p string) [][]any {
		t.Helper()
		resp, err := reg.Execute(context.Background(), d, &query.Env{Graph: &graph.Graph{Version: version}}, params(t, fmt.Sprintf(`{"p":%q}`, p)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Rows
	}
	for range 5 {
		if diff := cmp.Diff([][]any{{uint64(1), "a"}}, ask(1, "a")); diff != "" {
			t.Fatalf("answer at version 1 (-want +got):\n%s", diff)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("runs after 5 identical calls = %d, want 1", n)
	}
	ask(1, "b")
	if n := runs.Load(); n != 2 {
		t.Errorf("runs after other parameters = %d, want 2", n)
	}
	// A new graph version is a new answer, never the old one.
	if diff := cmp.Diff([][]any{{uint64(2), "a"}}, ask(2, "a")); diff != "" {
		t.Errorf("answer at version 2 (-want +got):\n%s", diff)
	}
	if n := runs.Load(); n != 3 {
		t.Errorf("runs after a version change = %d, want 3", n)
	}
}

// Callers asking at the same moment share one computation.
func TestMemoSharesOneComputation(t *testing.T) {
	var runs atomic.Int64
	gate := make(chan struct{})
	reg, d := countingRegistry(t, &runs, gate)
	env := &query.Env{Graph: &graph.Graph{Version: 9}}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := reg.Execute(context.Background(), d, env, nil)
			errs <- err
		}()
	}
	// Let the first computation finish only once it has surely started.
	for runs.Load() == 0 {
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Callers that arrived after the first finished hit the memo; those
	// that arrived during it joined it. Either way: one run.
	if n := runs.Load(); n != 1 {
		t.Errorf("runs for 32 concurrent callers = %d, want 1", n)
	}
}

// The memo is bounded: many distinct parameters evict the oldest answers,
// which are then computed again.
func TestMemoIsBounded(t *testing.T) {
	var runs atomic.Int64
	reg, d := countingRegistry(t, &runs, nil)
	env := &query.Env{Graph: &graph.Graph{Version: 1}}
	for i := range 1000 {
		if _, err := reg.Execute(context.Background(), d, env, params(t, fmt.Sprintf(`{"p":"%d"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	before := runs.Load()
	if _, err := reg.Execute(context.Background(), d, env, params(t, `{"p":"0"}`)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != before+1 {
		t.Errorf("the oldest of 1000 answers was still held: memo not bounded")
	}
	if _, err := reg.Execute(context.Background(), d, env, params(t, `{"p":"999"}`)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != before+1 {
		t.Errorf("the newest answer was computed again: memo holds nothing")
	}
}

// Memoized built-in queries answer as they did before a change, then as the
// changed graph says.
func TestMemoizedBuiltinFollowsTheGraph(t *testing.T) {
	g := campus(t)
	reg := query.NewBuiltin()
	d, _ := reg.Lookup("hygiene_orphan_devices")
	if !d.Memo {
		t.Fatal("hygiene_orphan_devices is not memoized")
	}
	first, err := reg.Execute(context.Background(), d, &query.Env{Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A new version without the campus's one orphan device.
	var kept []facts.Device
	for _, dev := range graphtest.Campus() {
		if dev.Hostname != "orphan1" {
			kept = append(kept, dev)
		}
	}
	doc := facts.Document{Schema: facts.Schema, Devices: kept}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	smaller := graph.Build(g.Version+1, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
	fresh, err := query.NewBuiltin().Execute(context.Background(), d, &query.Env{Graph: smaller}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(first.Rows, fresh.Rows) {
		t.Fatalf("the change left hygiene_orphan_devices as it was (%v): the test could not tell a stale answer", first.Rows)
	}
	got, err := reg.Execute(context.Background(), d, &query.Env{Graph: smaller}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fresh.Rows, got.Rows); diff != "" {
		t.Errorf("memoized answer after a change differs from a fresh registry's (-fresh +memo):\n%s", diff)
	}
	if got.GraphVersion != smaller.Version || first.GraphVersion != g.Version {
		t.Errorf("graph versions = %d then %d, want %d then %d", first.GraphVersion, got.GraphVersion, g.Version, smaller.Version)
	}
}

// Once an answer for a newer graph is stored, the older graph's answers
// are let go, even those nobody asks for again.
func TestMemoDropsOlderVersions(t *testing.T) {
	reg := query.NewRegistry()
	var last atomic.Pointer[query.Result]
	err := reg.Register(query.Definition{
		Name: "hygiene_expensive", Memo: true, Columns: []string{"p"},
		Params: []query.Param{{Name: "p", Type: query.TypeString}},
		Run: func(_ context.Context, env *query.Env, args query.Args) (*query.Result, error) {
			res := &query.Result{Rows: [][]any{{args.String("p")}}}
			last.Store(res)
			return res, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := reg.Lookup("hygiene_expensive")
	ask := func(version uint64, p string) {
		t.Helper()
		if _, err := reg.Execute(context.Background(), d, &query.Env{Graph: &graph.Graph{Version: version}}, params(t, fmt.Sprintf(`{"p":%q}`, p))); err != nil {
			t.Fatal(err)
		}
	}
	ask(1, "only-at-1")
	old := weak.Make(last.Load())
	ask(1, "a")
	runtime.GC()
	if old.Value() == nil {
		t.Fatalf("answer at version 1 collected while version 1 is the newest, want it kept")
	}
	ask(2, "a")
	runtime.GC()
	if old.Value() != nil {
		t.Errorf("answer for p=only-at-1 at version 1 still held after an answer at version 2, want it dropped")
	}
	runtime.KeepAlive(reg) // the memo lives with its registry
}
