package pathanalysis

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

// benchSpec is the 10,000-device network with 50 firewalls × 2,000 rules.
var benchSpec = pathtest.LargeSpec{Sites: 50, AccessPerSite: 197, RulesPerFW: 2000, Seed: 1, RouteLessSites: 2}

func largeGraph(b *testing.B) *graph.Graph {
	b.Helper()
	doc := pathtest.Large(benchSpec)
	if err := facts.Normalize(doc); err != nil {
		b.Fatalf("Normalize(large network) = %v", err)
	}
	g := graph.Build(1, doc.Devices, graph.Options{})
	if n := len(g.Devices); n < 10000 {
		b.Fatalf("large network has %d devices, want at least 10000", n)
	}
	return g
}

// BenchmarkPathAnalysis runs random site-to-site flows (4 firewalls of
// 2,000 rules on each of 2 equal-cost paths) and reports the p50 and p99
// latency of one analysis besides the mean.
func BenchmarkPathAnalysis(b *testing.B) {
	ix := NewIndex(largeGraph(b))
	rng := rand.New(rand.NewPCG(5, 5))
	var lat []time.Duration
	verdicts := map[string]int{}
	for b.Loop() {
		src, dst, port := pathtest.RandomFlow(rng, benchSpec.Sites)
		svc := firewall.ServiceSet(firewall.ProtoTCP, []firewall.Span{{Lo: port, Hi: port}})
		start := time.Now()
		r := ix.Analyze(Query{Src: src, Dst: dst, Services: svc})
		lat = append(lat, time.Since(start))
		verdicts[r.Verdict]++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(verdicts["permit"]), "permits")
	b.ReportMetric(float64(verdicts["deny"]), "denies")
	b.ReportMetric(float64(verdicts["unknown"]), "unknowns")
}

// BenchmarkShadowedAll scans every firewall of the large network (50 ×
// 2,000 rules) for shadowed rules, as hygiene_shadowed_rules does on a
// fresh graph version (one firewall per CPU); one op is the whole scan.
func BenchmarkShadowedAll(b *testing.B) {
	g := largeGraph(b)
	total, firewalls := 0, 0
	for b.Loop() {
		b.StopTimer()
		ix := NewIndex(g)
		b.StartTimer()
		if err := ScanShadowed(context.Background(), ix.Firewalls); err != nil {
			b.Fatal(err)
		}
		total, firewalls = 0, len(ix.Firewalls)
		for _, fw := range ix.Firewalls {
			sh, _ := fw.Shadowed()
			total += len(sh)
		}
	}
	b.ReportMetric(float64(firewalls), "firewalls")
	b.ReportMetric(float64(total), "shadowed")
}

// BenchmarkIndexBuild compiles every policy and routing table of the
// large network, as the first query after an ingest does.
func BenchmarkIndexBuild(b *testing.B) {
	g := largeGraph(b)
	for b.Loop() {
		NewIndex(g)
	}
}
