package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

// BenchmarkChaos5Devices10k is a chaos result's latency, submission to
// done, on the 10k-device demo network: two distribution switches, a spine
// and two leaves fail at once, with 8 flows to trace and a 4-node job to
// watch. The path-analysis index is built before the clock starts (it is
// built once per graph version and shared with the queries).
func BenchmarkChaos5Devices10k(b *testing.B) {
	doc := demo.Generate(demo.Options{Seed: 1, Devices: 10000})
	if err := facts.Normalize(doc); err != nil {
		b.Fatal(err)
	}
	eng := engine.New(graphtest.NewMemStore(), graph.Options{RootRoles: graph.DefaultRootRoles()}, quiet())
	g, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices)
	if err != nil {
		b.Fatal(err)
	}
	var req Request
	want := map[string]int{"distribution": 2, "spine": 1, "leaf": 2}
	for _, d := range g.Devices {
		if want[d.Role] > 0 {
			want[d.Role]--
			req.Devices = append(req.Devices, d.Hostname)
		}
	}
	// Flows and GPU nodes from endpoints spread over the network.
	var ips []string
	for i := 0; i < len(g.Endpoints) && len(ips) < 16; i += len(g.Endpoints) / 16 {
		if ep := g.Endpoints[i]; len(ep.IPs) > 0 {
			ips = append(ips, ep.IPs[0].IP.String())
		}
	}
	for i := 0; i+1 < len(ips) && len(req.Pairs) < 8; i += 2 {
		req.Pairs = append(req.Pairs, Pair{Src: ips[i], Dst: ips[i+1]})
	}
	req.Jobs = []Job{{Name: "train", Nodes: ips[:4]}}
	if len(req.Devices) != 5 || len(req.Pairs) != 8 {
		b.Fatalf("scenario %d devices, %d pairs; want 5 and 8", len(req.Devices), len(req.Pairs))
	}

	svc := New(eng, quiet(), Options{Workers: 1})
	svc.opt.Paths.Index(g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx) //nolint:errcheck // ends with cancel
	b.ReportAllocs()
	var affected int
	for b.Loop() {
		rec, err := svc.Submit(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		for rec.Status == StatusPending || rec.Status == StatusRunning {
			time.Sleep(50 * time.Microsecond)
			rec, _, _ = svc.Get(ctx, rec.ID)
		}
		if rec.Status != StatusDone {
			b.Fatalf("run %s: %s", rec.Status, rec.Error)
		}
		affected = rec.Result.Summary.AffectedDevices
	}
	b.ReportMetric(float64(affected), "affected_devices")
}
