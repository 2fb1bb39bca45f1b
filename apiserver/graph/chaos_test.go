package graph_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
)

func hostnames(ds []*graph.Device) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Hostname)
	}
	return out
}

func survivors(im *graph.Impact) []string {
	var out []string
	for _, s := range im.Survivors {
		out = append(out, fmt.Sprintf("%s lost %v kept %d", s.Device.Hostname, s.Lost, s.Remaining))
	}
	return out
}

// TestSimulateRedundancy: core1 alone fails and dist1 keeps core2, so
// nothing is cut off and the redundancy shows; both cores failing cut
// everything that hung off them.
func TestSimulateRedundancy(t *testing.T) {
	g := campus(t)
	im := g.Simulate(graph.Scenario{Devices: []*graph.Device{g.Device("core1")}})
	if len(im.Devices) != 0 {
		t.Errorf("core1 down: affected %v, want none (dist1 has core2)", hostnames(im.Devices))
	}
	want := []string{"core2 lost [Te1/1/1] kept 1", "dist1 lost [Gi0/1] kept 3"}
	if got := survivors(im); !cmp.Equal(got, want) {
		t.Errorf("core1 down: survivors %v, want %v", got, want)
	}
	if !im.Connected(g.Device("acc1"), g.Device("core2")) || im.Connected(g.Device("acc1"), g.Device("core1")) {
		t.Error("core1 down: acc1 should reach core2 and not the failed core1")
	}

	im = g.Simulate(graph.Scenario{Devices: []*graph.Device{g.Device("core1"), g.Device("core2")}})
	if got, want := hostnames(im.Devices), []string{"acc1", "acc2", "dist1"}; !cmp.Equal(got, want) {
		t.Errorf("both cores down: affected %v, want %v", got, want)
	}
	if len(im.Survivors) != 0 {
		t.Errorf("both cores down: survivors %v, want none", survivors(im))
	}
}

// TestSimulateMixedMatchesSingles: a scenario of one failure answers as
// the single blast-radius call does, and a mixed one takes each endpoint
// once.
func TestSimulateMixedMatchesSingles(t *testing.T) {
	g := campus(t)
	eps := func(br graph.BlastRadius) []string {
		var out []string
		for _, ep := range br.Endpoints {
			out = append(out, ep.Device.Hostname+" "+ep.Interface+" "+ep.MAC)
		}
		return out
	}
	dist1 := g.Device("dist1")
	for name, tc := range map[string]struct {
		s    graph.Scenario
		want graph.BlastRadius
	}{
		"device":    {graph.Scenario{Devices: []*graph.Device{dist1}}, g.BlastDevice(dist1)},
		"interface": {graph.Scenario{Interfaces: []graph.Port{{Device: dist1, Interface: "Gi0/4"}}}, g.BlastInterface(dist1, "Gi0/4")},
		"vlan":      {graph.Scenario{VLANs: []int{20}}, g.BlastVLAN(20)},
		"subnet":    {graph.Scenario{Subnets: []netip.Prefix{netip.MustParsePrefix("10.1.10.0/24")}}, g.BlastSubnet(netip.MustParsePrefix("10.1.10.0/24"))},
	} {
		im := g.Simulate(tc.s)
		if !cmp.Equal(hostnames(im.Devices), hostnames(tc.want.Devices)) || !cmp.Equal(eps(im.BlastRadius), eps(tc.want)) || !cmp.Equal(im.ByVLAN, tc.want.ByVLAN) {
			t.Errorf("%s: Simulate = %v %v %v, single blast = %v %v %v", name,
				hostnames(im.Devices), eps(im.BlastRadius), im.ByVLAN, hostnames(tc.want.Devices), eps(tc.want), tc.want.ByVLAN)
		}
	}
	// acc2's uplink port and VLAN 10 both take acc2's desk endpoint: once.
	im := g.Simulate(graph.Scenario{
		Interfaces: []graph.Port{{Device: dist1, Interface: "Gi0/4"}},
		VLANs:      []int{10},
	})
	want := []string{"acc1 Gi1/0/1 aa:bb:cc:00:00:01", "acc2 Gi1/0/1 aa:bb:cc:00:00:03"}
	if got := eps(im.BlastRadius); !cmp.Equal(got, want) {
		t.Errorf("Gi0/4 + VLAN 10: endpoints %v, want %v", got, want)
	}
	if got := hostnames(im.Devices); !cmp.Equal(got, []string{"acc2"}) {
		t.Errorf("Gi0/4 + VLAN 10: devices %v, want [acc2]", got)
	}
	if !im.PortDown(g.Device("acc2"), "Gi1/0/48") || im.PortDown(g.Device("acc1"), "Gi1/0/48") {
		t.Error("the failed link's far end (acc2 Gi1/0/48) should be down, acc1's uplink not")
	}
	path := g.ShortestPath(g.Device("acc2"), g.Device("core1"))
	if !im.Crosses(path) {
		t.Errorf("path %v should cross the failed link", path)
	}
}
