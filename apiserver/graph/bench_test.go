package graph_test

import (
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// BenchmarkBuild10k is the cost of every ingest's graph swap and of a
// restart's load, on the 10k-device demo network.
func BenchmarkBuild10k(b *testing.B) {
	doc := demo.Generate(demo.Options{Seed: 1, Devices: 10000})
	if err := facts.Normalize(doc); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		graph.Build(1, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
	}
}
