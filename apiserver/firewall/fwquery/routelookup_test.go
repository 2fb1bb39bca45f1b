package fwquery

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

// route_lookup on the EVPN fabric of common/facts/testdata/eos_evpn_mlag.json,
// answers worked out by hand from its routing tables.
func TestRouteLookup(t *testing.T) {
	data, err := os.ReadFile("../../../common/facts/testdata/eos_evpn_mlag.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := facts.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	reg := query.NewRegistry()
	reg.MustRegister(Definitions(pathanalysis.NewCache())...)
	f := fixture{reg: reg, env: &query.Env{Graph: graph.Build(1, doc.Devices, graph.Options{})}}
	for _, c := range []struct {
		params string
		want   [][]any
	}{
		// The EVPN type-5 route: to leaf3's VTEP over the L3 VNI.
		{`{"hostname":"leaf1","vrf":"tenant-a","ip":"10.1.20.50"}`, [][]any{
			{"leaf1", "tenant-a", "10.1.20.0/24", "10.0.255.13", nil, "default", 50001, "bgp", 200, 0, "forward"}}},
		// The underlay route to that VTEP: equal-cost over both spines.
		{`{"hostname":"leaf1","ip":"10.0.255.13"}`, [][]any{
			{"leaf1", "default", "10.0.255.13/32", "10.0.1.0", "Ethernet49/1", nil, nil, "bgp", 200, 0, "forward"},
			{"leaf1", "default", "10.0.255.13/32", "10.0.2.0", "Ethernet50/1", nil, nil, "bgp", 200, 0, "forward"}}},
		// A connected subnet (no route collected for it).
		{`{"hostname":"leaf1","vrf":"tenant-a","ip":"10.1.30.9"}`, [][]any{
			{"leaf1", "tenant-a", "10.1.30.0/24", nil, "Vlan30", nil, nil, "connected", 0, 0, "forward"}}},
		// The discard route.
		{`{"hostname":"leaf3","vrf":"tenant-a","ip":"10.99.3.3"}`, [][]any{
			{"leaf3", "tenant-a", "10.99.0.0/16", nil, "Null0", nil, nil, "static", 1, 0, "drop"}}},
		// No route at all: no rows.
		{`{"hostname":"leaf1","vrf":"tenant-a","ip":"192.0.2.1"}`, [][]any{}},
	} {
		r := f.mustExec(t, "route_lookup", c.params)
		if diff := cmp.Diff(c.want, r.Rows); diff != "" {
			t.Errorf("route_lookup(%s) (-want +got):\n%s", c.params, diff)
		}
	}
	if _, err := f.exec(t, "route_lookup", `{"hostname":"leaf9","ip":"10.0.0.1"}`); err == nil || !strings.Contains(err.Error(), `no device named "leaf9"`) {
		t.Errorf("route_lookup(leaf9) = %v, want a 404 naming it", err)
	}
	if _, err := f.exec(t, "route_lookup", `{"hostname":"leaf1","ip":"10.0.0"}`); err == nil || !strings.Contains(err.Error(), `"ip"`) {
		t.Errorf("route_lookup(bad ip) = %v, want a 400 naming ip", err)
	}
}
