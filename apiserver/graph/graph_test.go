package graph_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

func TestPrefixTableLongestMatch(t *testing.T) {
	pt := graph.NewPrefixTable[string]()
	for _, p := range []string{"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "2001:db8::/32", "2001:db8:1::/48"} {
		pt.Insert(netip.MustParsePrefix(p), p)
	}
	for _, tc := range []struct{ addr, want string }{
		{"10.1.2.3", "10.1.2.0/24"}, {"10.1.3.3", "10.1.0.0/16"}, {"10.9.9.9", "10.0.0.0/8"}, {"192.0.2.1", "0.0.0.0/0"},
		{"2001:db8:1::5", "2001:db8:1::/48"}, {"2001:db8:2::5", "2001:db8::/32"}, {"::ffff:10.1.2.3", "10.1.2.0/24"},
	} {
		_, got, ok := pt.Lookup(netip.MustParseAddr(tc.addr))
		if !ok || got != tc.want {
			t.Errorf("Lookup(%s) = %q, %v, want %q", tc.addr, got, ok, tc.want)
		}
	}
	if _, _, ok := pt.Lookup(netip.MustParseAddr("3fff::1")); ok {
		t.Error("Lookup(3fff::1) found a prefix, want none (no IPv6 default)")
	}
	if pt.Len() != 6 {
		t.Errorf("Len() = %d, want 6", pt.Len())
	}
}

func campus(t *testing.T) *graph.Graph {
	t.Helper()
	doc := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	return graph.Build(1, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
}

func TestIndexes(t *testing.T) {
	g := campus(t)
	if s, ok := g.SubnetFor(netip.MustParseAddr("10.1.10.200")); !ok || s.Prefix.String() != "10.1.10.0/24" {
		t.Errorf("SubnetFor(10.1.10.200) = %v, %v, want 10.1.10.0/24", s, ok)
	}
	ifs := g.InterfacesByIP(netip.MustParseAddr("10.0.0.6"))
	if len(ifs) != 1 || ifs[0].Device.Hostname != "dist1" || ifs[0].Name != "Gi0/2" {
		t.Errorf("InterfacesByIP(10.0.0.6) = %v, want dist1 Gi0/2", ifs)
	}
	// The one-sided acc1 → dist1 report and the two-sided ones are one
	// link each; adjacency is symmetric.
	var adj []string
	for _, a := range g.Device("dist1").Adj {
		adj = append(adj, g.Devices[a.Peer].Hostname)
	}
	if want := []string{"acc1", "acc2", "core1", "core2"}; !cmp.Equal(adj, want) {
		t.Errorf("dist1 adjacency = %v, want %v", adj, want)
	}
	if got := len(g.Device("acc1").Adj); got != 1 {
		t.Errorf("acc1 adjacency = %d, want 1", got)
	}
	eps := g.EndpointsByMAC("aa:bb:cc:00:00:01")
	if len(eps) != 1 || eps[0].Device.Hostname != "acc1" || eps[0].Interface != "Gi1/0/1" {
		t.Errorf("EndpointsByMAC(A) = %v, want only acc1 Gi1/0/1 (dist1 Gi0/3 is a linked port)", eps)
	}
	if got := len(g.InterfacesInVLAN(10)); got != 7 {
		t.Errorf("InterfacesInVLAN(10) = %d interfaces, want 7", got)
	}
}

// A trunk with no allowed list carries every VLAN.
func TestTrunkWithoutListCarriesAll(t *testing.T) {
	g := graph.Build(1, []facts.Device{{Hostname: "s", VLANs: []facts.VLAN{{ID: 5}, {ID: 6}}, Interfaces: []facts.Interface{{Name: "t", Mode: "trunk"}}}}, graph.Options{})
	if got := len(g.InterfacesInVLAN(6)); got != 1 || !g.Device("s").Iface("t").Carries(4000) {
		t.Errorf("trunk without list: in VLAN 6 = %d, carries 4000 = %v, want 1 and true", got, g.Device("s").Iface("t").Carries(4000))
	}
}

func TestEmptyGraph(t *testing.T) {
	g := graph.Build(0, nil, graph.Options{RootRoles: graph.DefaultRootRoles()})
	if g.Stats() != (graph.Stats{}) || len(g.AddrsIn(netip.MustParsePrefix("0.0.0.0/0"), "")) != 0 {
		t.Errorf("empty graph stats = %+v, want zero", g.Stats())
	}
}

// TestDownLinks: a link with an end admin- or oper-down carries nothing.
//
//	core ── d1 ─(sw up1 oper-down)─ sw
//	core ── d2 ───────(sw up2)───── sw
//
// Failing d2 cuts sw off (its other uplink is down), and the shortest path
// from sw to core goes by d2 although d1 sorts first. The down link is
// still a link of the topology, marked down.
func TestDownLinks(t *testing.T) {
	down := false
	nb := func(local, remote, remoteIf string) facts.Neighbor {
		return facts.Neighbor{LocalInterface: local, RemoteHostname: remote, RemoteInterface: remoteIf, Protocol: "lldp"}
	}
	devices := []facts.Device{
		{Hostname: "core", Role: "core", Neighbors: []facts.Neighbor{nb("p1", "d1", "up"), nb("p2", "d2", "up")}},
		{Hostname: "d1", Role: "distribution", Neighbors: []facts.Neighbor{nb("down", "sw", "up1")}},
		{Hostname: "d2", Role: "distribution", Neighbors: []facts.Neighbor{nb("down", "sw", "up2")}},
		{Hostname: "sw", Role: "access", Interfaces: []facts.Interface{{Name: "up1", OperUp: &down}, {Name: "up2"}}},
	}
	g := graph.Build(1, devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
	var affected []string
	for _, d := range g.BlastDevice(g.Device("d2")).Devices {
		affected = append(affected, d.Hostname)
	}
	if want := []string{"sw"}; !cmp.Equal(affected, want) {
		t.Errorf("BlastDevice(d2) devices = %v, want %v (sw's uplink to d1 is oper-down)", affected, want)
	}
	var hops []string
	for _, h := range g.ShortestPath(g.Device("sw"), g.Device("core")) {
		hops = append(hops, h.Device.Hostname)
	}
	if want := []string{"sw", "d2", "core"}; !cmp.Equal(hops, want) {
		t.Errorf("ShortestPath(sw, core) = %v, want %v", hops, want)
	}
	var states []string
	for _, l := range g.Links {
		states = append(states, l.A.Hostname+"-"+l.B.Hostname+" "+map[bool]string{true: "up", false: "down"}[l.Up])
	}
	if want := []string{"core-d1 up", "core-d2 up", "d1-sw down", "d2-sw up"}; !cmp.Equal(states, want) {
		t.Errorf("links = %v, want %v", states, want)
	}
}

// TestNeighborNotADevice: an IP phone's LLDP entry does not hide the hosts
// behind it; a neighbour named in another case or with a domain suffix is
// the device it names.
//
//	acc Gi1 ── phone-1 (not a device) ── pc
//	acc up  ── DIST1.corp.example (dist1 down, reported by acc only)
func TestNeighborNotADevice(t *testing.T) {
	devices := []facts.Device{
		{Hostname: "acc", Interfaces: []facts.Interface{{Name: "Gi1"}, {Name: "up"}},
			Neighbors: []facts.Neighbor{
				{LocalInterface: "Gi1", RemoteHostname: "phone-1", RemoteInterface: "port1", Protocol: "lldp"},
				{LocalInterface: "up", RemoteHostname: "DIST1.corp.example", RemoteInterface: "down", Protocol: "lldp"},
			},
			MACTable: []facts.MACEntry{
				{MAC: "aa:00:00:00:00:01", VLAN: 10, Interface: "Gi1"}, // the phone
				{MAC: "aa:00:00:00:00:02", VLAN: 10, Interface: "Gi1"}, // the pc behind it
				{MAC: "aa:00:00:00:00:03", VLAN: 10, Interface: "up"},  // learned from dist1
			}},
		{Hostname: "dist1", Interfaces: []facts.Interface{{Name: "down"}}},
	}
	g := graph.Build(1, devices, graph.Options{})
	var eps []string
	for _, ep := range g.Endpoints {
		eps = append(eps, ep.Device.Hostname+" "+ep.Interface+" "+ep.MAC)
	}
	if want := []string{"acc Gi1 aa:00:00:00:00:01", "acc Gi1 aa:00:00:00:00:02"}; !cmp.Equal(eps, want) {
		t.Errorf("endpoints = %v, want %v", eps, want)
	}
	var adj []string
	for _, a := range g.Device("acc").Adj {
		adj = append(adj, g.Devices[a.Peer].Hostname+" "+a.Link.B.Interface)
	}
	if want := []string{"dist1 down"}; !cmp.Equal(adj, want) {
		t.Errorf("acc adjacency = %v, want %v (DIST1.corp.example is dist1)", adj, want)
	}
}

// TestDefaultRootRolesIsACopy: changing the returned default does not
// change the next caller's.
func TestDefaultRootRolesIsACopy(t *testing.T) {
	r := graph.DefaultRootRoles()
	r[0] = "changed"
	if got, want := graph.DefaultRootRoles(), []string{"core", "border", "wan", "firewall"}; !cmp.Equal(got, want) {
		t.Errorf("DefaultRootRoles() after a caller changed its copy = %v, want %v", got, want)
	}
}
