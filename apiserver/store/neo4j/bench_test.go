package neo4jstore

import (
	"context"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
)

// BenchmarkIngestDemo1k replaces the database's graph with a 1,000-device
// demo network and loads it back (restart), reporting both times:
//
//	go test -run '^$' -bench IngestDemo -benchtime 1x ./apiserver/store/neo4j/
func BenchmarkIngestDemo1k(b *testing.B) {
	doc := demo.Generate(demo.Options{Seed: 1, Devices: 1000})
	if err := facts.Normalize(doc); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	s := openEmpty(b, server.URI)
	var ingest, load time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := s.Ingest(ctx, store.ModeReplace, doc.Devices); err != nil {
			b.Fatal(err)
		}
		ingest += time.Since(start)
		start = time.Now()
		_, devs, err := s.Load(ctx)
		if err != nil || len(devs) != len(doc.Devices) {
			b.Fatalf("Load = %d devices, %v", len(devs), err)
		}
		load += time.Since(start)
	}
	b.ReportMetric(ingest.Seconds()/float64(b.N), "ingest-s/op")
	b.ReportMetric(load.Seconds()/float64(b.N), "load-s/op")
	b.ReportMetric(float64(len(doc.Devices)), "devices")
}
