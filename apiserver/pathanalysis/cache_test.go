package pathanalysis

import (
	"runtime"
	"testing"
	"weak"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

func version(t *testing.T, v uint64) *graph.Graph {
	t.Helper()
	doc := pathtest.Document()
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize(test network) = %v", err)
	}
	return graph.Build(v, doc.Devices, graph.Options{})
}

func TestCacheSharesIndexWhileInUse(t *testing.T) {
	c := NewCache()
	g1 := version(t, 1)
	ix1 := c.Index(g1)
	if again := c.Index(g1); again != ix1 {
		t.Errorf("Index(g1) twice = two indexes, want one")
	}
	g2 := version(t, 2)
	ix2 := c.Index(g2)
	if ix2 == ix1 || ix2.G != g2 {
		t.Fatalf("Index(g2) = index of version %d, want version 2", ix2.G.Version)
	}
	// A query still running on version 1 holds ix1: asking again shares it.
	if again := c.Index(g1); again != ix1 {
		t.Errorf("Index(g1) after g2, with ix1 in use = a new index, want ix1")
	}
	runtime.KeepAlive(ix1)
}

func TestCacheLetsPreviousVersionGo(t *testing.T) {
	c := NewCache()
	g1 := version(t, 1)
	c.Index(g1)
	old := weak.Make(g1)
	g1 = nil
	g2 := version(t, 2)
	ix2 := c.Index(g2)
	runtime.GC()
	if old.Value() != nil {
		t.Errorf("version 1 still reachable after version 2 was indexed and nothing used version 1, want it collected")
	}
	// The newest version's index stays however little it is used.
	ref := weak.Make(ix2)
	ix2 = nil
	runtime.GC()
	if ref.Value() == nil {
		t.Fatalf("version 2's index was collected while version 2 is the newest, want it kept")
	}
	if c.Index(g2) != ref.Value() {
		t.Errorf("Index(g2) = a new index, want the kept one")
	}
	_ = g1
}
