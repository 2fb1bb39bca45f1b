package query_test

import (
	"context"
	"sync"
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

// The hot queries on the 10k-device demo network (built once).
var benchNet = sync.OnceValues(func() (*graph.Graph, error) {
	doc := demo.Generate(demo.Options{Seed: 1, Devices: 10000})
	if err := facts.Normalize(doc); err != nil {
		return nil, err
	}
	return graph.Build(1, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()}), nil
})

func benchQuery(b *testing.B, name string, params func(g *graph.Graph, i int) map[string]query.RawValue) {
	g, err := benchNet()
	if err != nil {
		b.Fatal(err)
	}
	reg := query.NewBuiltin()
	d, _ := reg.Lookup(name)
	env := &query.Env{Graph: g}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := reg.Execute(ctx, d, env, params(g, i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func raw(k, v string) map[string]query.RawValue {
	return map[string]query.RawValue{k: query.RawValue(`"` + v + `"`)}
}

func BenchmarkLocateEndpointByIP(b *testing.B) {
	benchQuery(b, "locate_endpoint_by_ip", func(g *graph.Graph, i int) map[string]query.RawValue {
		e := g.Endpoints[(i*7919)%len(g.Endpoints)]
		return raw("ip", e.IPs[0].IP.String())
	})
}

func BenchmarkIPsInSubnet24(b *testing.B) {
	var s24 []string
	benchQuery(b, "ips_in_subnet", func(g *graph.Graph, i int) map[string]query.RawValue {
		if s24 == nil {
			for _, s := range g.Subnets {
				if s.Prefix.Bits() == 24 && s.Prefix.Addr().Is4() {
					s24 = append(s24, s.Prefix.String())
				}
			}
		}
		return raw("subnet", s24[i%len(s24)])
	})
}

func BenchmarkBlastRadiusFromDevice(b *testing.B) {
	benchQuery(b, "blast_radius_from_device", func(g *graph.Graph, i int) map[string]query.RawValue {
		return raw("hostname", g.Devices[(i*7919)%len(g.Devices)].Hostname)
	})
}

func BenchmarkSummaryStats(b *testing.B) {
	benchQuery(b, "summary_stats", func(*graph.Graph, int) map[string]query.RawValue { return nil })
}

func BenchmarkAllDevicesPage(b *testing.B) {
	benchQuery(b, "all_devices", func(*graph.Graph, int) map[string]query.RawValue { return nil })
}
