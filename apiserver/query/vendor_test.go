package query_test

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// vendorNet parses one of the hand-built vendor networks of
// common/facts/testdata (docs/facts.md describes the format) as the ingest
// does, and builds its graph.
func vendorNet(t *testing.T, name string) *graph.Graph {
	t.Helper()
	data, err := os.ReadFile("../../common/facts/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return parseNet(t, string(data))
}

// eos_evpn_mlag.json is an Arista EOS EVPN fabric, worked out by hand:
//
//	spine1 (Ethernet1-3: 10.0.1.0/.2/.4)   spine2 (Ethernet1-3: 10.0.2.0/.2/.4)
//	leaf1 ══ Port-Channel1000 (MLAG peer link) ══ leaf2            leaf3
//	  VTEP 10.0.255.12 (Loopback1, anycast on both)                   VTEP 10.0.255.13
//	  Ethernet5 h1 5254.0012.3401 10.1.10.11                          Ethernet5 h3 5254.0012.3431 10.1.10.31
//	  Ethernet6 srv30 5254.0012.3430 10.1.30.40                       Ethernet6 db1 5254.0012.3450 10.1.20.50
//	  Port-Channel10 srv10 0050.5600.0010 (on both)                   Ethernet7 lb1 1.1 10.1.10.100
//
// VRF tenant-a, L3 VNI 50001 on every leaf; VLAN 10 ↔ VNI 10010 everywhere
// (anycast gateway 10.1.10.1, SVI MAC 001c.7300.0099 on every leaf), VLAN
// 30 ↔ 10030 on the pair, VLAN 20 ↔ 10020 on leaf3.
// Remote entries: leaf1 learns h3 on Vx1 from 10.0.255.13 and h4
// (5254.0012.3499) from 10.0.255.14, a VTEP not in the facts; leaf3 learns
// h1 from 10.0.255.12. None of them is a location.
func TestVendorEVPNQueries(t *testing.T) {
	g := vendorNet(t, "eos_evpn_mlag.json")
	checkRows(t, g, "mac_entries_by_device", `{"hostname":"leaf1","vlan":10}`, [][]any{
		{"leaf1", "52:54:00:12:34:01", 10, "Ethernet5", []string{}, nil, true},
		// srv10 dual-homed: the MLAG port-channel on both leaves.
		{"leaf1", "00:50:56:00:00:10", 10, "Port-Channel10", []string{}, nil, true},
		{"leaf1", "52:54:00:12:34:31", 10, "Vx1", []string{"remote"}, "10.0.255.13", false},
		{"leaf1", "52:54:00:12:34:99", 10, "Vx1", []string{}, "10.0.255.14", false},
	})
	// h3 is where leaf3's own table has it; h4 is behind a VTEP the graph
	// does not know: no endpoint at all.
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"5254.0012.3431"}`, [][]any{
		{"10.1.10.31", "52:54:00:12:34:31", "leaf3", "Ethernet5", 10, "tenant-a"},
	})
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"5254.0012.3499"}`, [][]any{})
	// h1's addresses: the IPv4 and the global IPv6 one; the link-local
	// neighbour entry is no address of h1 in a VRF.
	checkRows(t, g, "mac_owners", `{"mac":"52-54-00-12-34-01"}`, [][]any{
		{"endpoint", "leaf1", "Ethernet5", 10, []string{"10.1.10.11", "2001:db8:10::11"}},
	})
	// The anycast gateway's MAC is every leaf's SVIs'.
	checkRows(t, g, "mac_owners", `{"mac":"001C.7300.0099"}`, [][]any{
		{"interface", "leaf1", "Vlan10", 10, []string{"10.1.10.1/24"}},
		{"interface", "leaf1", "Vlan30", 30, []string{"10.1.30.1/24"}},
		{"interface", "leaf2", "Vlan10", 10, []string{"10.1.10.1/24"}},
		{"interface", "leaf2", "Vlan30", 30, []string{"10.1.30.1/24"}},
		{"interface", "leaf3", "Vlan10", 10, []string{"10.1.10.1/24"}},
		{"interface", "leaf3", "Vlan20", 20, []string{"10.1.20.1/24"}},
	})
	checkRows(t, g, "arp_entries_by_device", `{"hostname":"leaf1"}`, [][]any{
		{"leaf1", "10.1.10.11", "ipv4", "52:54:00:12:34:01", "Vlan10", "tenant-a", nil, false},
		{"leaf1", "10.1.10.20", "ipv4", "00:50:56:00:00:10", "Vlan10", "tenant-a", nil, false},
		{"leaf1", "10.1.10.31", "ipv4", "52:54:00:12:34:31", "Vlan10", "tenant-a", nil, true},
		{"leaf1", "10.1.10.77", "ipv4", nil, "Vlan10", "tenant-a", "incomplete", false},
		{"leaf1", "10.1.30.40", "ipv4", "52:54:00:12:34:30", "Vlan30", "tenant-a", nil, false},
		{"leaf1", "2001:db8:10::11", "ipv6", "52:54:00:12:34:01", "Vlan10", "tenant-a", "reachable", false},
		{"leaf1", "fe80::5054:ff:fe12:3401", "ipv6", "52:54:00:12:34:01", "Vlan10", "tenant-a", "stale", false},
	})
	// Down: leaf1's EVPN family towards spine2 (the session is up), and
	// the leaf3–spine2 session seen from both ends (leaf3 lists its
	// families, spine2 none).
	evpnIdle := []map[string]any{{"name": "l2vpn-evpn", "state": "idle", "prefixes_received": nil, "prefixes_accepted": nil, "prefixes_sent": nil}}
	checkRows(t, g, "bgp_sessions_down", "", [][]any{
		{"leaf1", "10.0.2.0", "spine2", int64(65000), int64(65101), "established", "default", nil, evpnIdle},
		{"leaf3", "10.0.2.4", "spine2", int64(65000), int64(65102), "active", "default", nil, []map[string]any{
			{"name": "ipv4-unicast", "state": "active", "prefixes_received": nil, "prefixes_accepted": nil, "prefixes_sent": nil},
			{"name": "l2vpn-evpn", "state": "active", "prefixes_received": nil, "prefixes_accepted": nil, "prefixes_sent": nil}}},
		{"spine2", "10.0.2.5", "leaf3", int64(65102), int64(65000), "active", "default", nil, []map[string]any{}},
	})
	// Two sessions down (leaf3–spine2 from both ends); per family, the
	// sessions each is down on, whether the session is down or only the
	// family.
	wantSummary := map[string]any{"sessions_down": 2, "families_down": []map[string]any{
		{"afi_safi": "ipv4-unicast", "down": 1}, {"afi_safi": "l2vpn-evpn", "down": 2}}}
	if diff := cmp.Diff(wantSummary, run(t, g, "bgp_sessions_down", "").Extra["summary"]); diff != "" {
		t.Errorf("bgp_sessions_down summary (-want +got):\n%s", diff)
	}
	checkRows(t, g, "routes_by_device", `{"hostname":"leaf1"}`, [][]any{
		{"leaf1", "default", "10.0.255.13/32", nil, nil, "bgp", 0, 200, nil, nil, []map[string]any{
			{"ip": "10.0.1.0", "interface": "Ethernet49/1", "vrf": nil}, {"ip": "10.0.2.0", "interface": "Ethernet50/1", "vrf": nil}}},
		{"leaf1", "tenant-a", "10.1.20.0/24", nil, nil, "bgp", 0, 200, nil, nil, []map[string]any{
			{"ip": "10.0.255.13", "interface": nil, "vrf": "default", "vni": 50001}}},
	})
	// By description, by an address (the shared VTEP), by a MAC in Cisco
	// notation.
	byName := func(resp [][]any) (out []string) {
		for _, r := range resp {
			out = append(out, r[0].(string)+" "+r[1].(string))
		}
		return out
	}
	for q, want := range map[string][]string{
		`{"q":"SPINE1"}`:         {"leaf1 Ethernet49/1", "leaf2 Ethernet49/1", "leaf3 Ethernet49/1"},
		`{"q":"10.0.255.12"}`:    {"leaf1 Loopback1", "leaf2 Loopback1"},
		`{"q":"0094.A1B2.C3D4"}`: {"lb1 1.1"},
		`{"q":"10.1.30."}`:       {"leaf1 Vlan30", "leaf2 Vlan30"},
		`{"q":"A1B2.C3"}`:        {"lb1 1.1"},
		`{"q":"a1-b2"}`:          {"lb1 1.1"},
	} {
		if got := byName(run(t, g, "interfaces_search", q).Rows); !equalStrings(got, want) {
			t.Errorf("interfaces_search(%s) = %v, want %v", q, got, want)
		}
	}
	// The shared VTEP and the anycast gateway are shared on purpose.
	checkRows(t, g, "hygiene_duplicate_ips", "", [][]any{})
	wantQueryError(t, func() error { _, err := runErr(t, g, "interfaces_search", `{"q":"  "}`); return err }(), 400, `parameter "q"`)
	wantQueryError(t, func() error { _, err := runErr(t, g, "mac_entries_by_device", `{"hostname":"leaf9"}`); return err }(), 404, `no device named "leaf9"`)
}

// nxos_unnumbered.json: NX-OS leaves peering with the spine over
// unnumbered interfaces (ip unnumbered loopback0, BGP by interface over
// IPv6 link-local addresses). The peer of an unnumbered session is the
// device LLDP finds on its interface.
func TestVendorUnnumberedBGP(t *testing.T) {
	g := vendorNet(t, "nxos_unnumbered.json")
	checkRows(t, g, "bgp_peers_by_device", `{"hostname":"nxlf1"}`, [][]any{
		{"nxlf1", nil, "nxsp1", int64(65200), int64(65201), "established", "default", "Ethernet1/49", []map[string]any{
			{"name": "ipv4-unicast", "state": "established", "prefixes_received": int64(3), "prefixes_accepted": nil, "prefixes_sent": nil}}},
	})
	// The spine reaches nxlf2 by its FQDN (LLDP) and Eth1/49 abbreviated.
	checkRows(t, g, "bgp_sessions_down", "", [][]any{
		{"nxlf2", nil, "nxsp1", int64(65200), int64(65202), "established", "default", "Ethernet1/49", []map[string]any{
			{"name": "l2vpn-evpn", "state": "idle", "prefixes_received": nil, "prefixes_accepted": nil, "prefixes_sent": nil}}},
		{"nxsp1", nil, "nxlf2", int64(65202), int64(65200), "established", "default", "Ethernet1/2", []map[string]any{
			{"name": "l2vpn-evpn", "state": "idle", "prefixes_received": nil, "prefixes_accepted": nil, "prefixes_sent": nil}}},
	})
	// One device's unnumbered /32s are one owner: no duplicates.
	checkRows(t, g, "hygiene_duplicate_ips", "", [][]any{})
	// Eth1/5 in the MAC table is Ethernet1/5, an access port.
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.3.10.10"}`, [][]any{
		{"10.3.10.10", "00:50:56:aa:00:10", "nxlf1", "Eth1/5", 10, "default"},
	})
}

// ios_campus_portchannel.json: a Cisco campus, worked out by hand:
//
//	core1 Port-channel1 (Te1/0/1-2, routed 10.0.0.1/30) ═ dist1 Port-channel1 (10.0.0.2/30)
//	dist1 Port-channel11 (Gi1/0/1-2) ═ acc1 Port-channel1 (Gi1/0/49-50): pc1 Gi1/0/5, printer Gi1/0/6 (sticky)
//	dist1 Port-channel12 (Gi1/0/3-4) ═ acc2 Port-channel1 (Gi1/0/49-50): pc2 Gi1/0/7
//
// The MAC tables name ports as IOS prints them (Po11, Gi1/0/5): Po11 is
// Port-channel11, whose members are CDP-linked to acc1, so no host is
// located on dist1. dist1's own MAC (00a7.4200.10ff, flag router on
// Vlan10) and the HSRP MAC are no endpoints.
func TestVendorCampusPortChannels(t *testing.T) {
	g := vendorNet(t, "ios_campus_portchannel.json")
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"3c52.8200.0011"}`, [][]any{
		{"10.10.10.11", "3c:52:82:00:00:11", "acc1", "Gi1/0/5", 10, "default"},
	})
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"3c52.8200.0012"}`, [][]any{
		{"10.10.10.12", "3c:52:82:00:00:12", "acc1", "Gi1/0/6", 10, "default"},
	})
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"00a7.4200.10ff"}`, [][]any{})
	// 3c52.8200.0013 aged out of acc1's table: dist1 still has it on
	// Po11, towards acc1, which is no location. Where it is is not known.
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"3c52.8200.0013"}`, [][]any{})
	checkRows(t, g, "endpoints_by_device", `{"hostname":"dist1"}`, [][]any{})
	checkRows(t, g, "mac_entries_by_device", `{"hostname":"acc1"}`, [][]any{
		{"acc1", "3c:52:82:00:00:11", 10, "Gi1/0/5", []string{}, nil, true},
		{"acc1", "3c:52:82:00:00:12", 10, "Gi1/0/6", []string{"static"}, nil, true},
		{"acc1", "3c:52:82:00:00:21", 20, "Po1", []string{}, nil, false},
		{"acc1", "00:a7:42:00:10:01", 10, "Po1", []string{}, nil, false},
	})
	checkRows(t, g, "mac_owners", `{"mac":"00a7.4200.1001"}`, [][]any{
		{"interface", "dist1", "Vlan10", 10, []string{"10.10.10.2/24", "10.10.10.1/24"}},
		{"interface", "dist1", "Vlan20", 20, []string{"10.10.20.2/24", "10.10.20.1/24"}},
	})
	// Six port-channels contain "port-channel1"; a page of four.
	resp := run(t, g, "interfaces_search", `{"q":"port-channel1","limit":4}`)
	if len(resp.Rows) != 4 || !resp.Truncated || resp.TotalRows != 6 {
		t.Errorf("interfaces_search(port-channel1, limit 4) = %d rows of %d, truncated %v; want 4 of 6, truncated", len(resp.Rows), resp.TotalRows, resp.Truncated)
	}
	checkRows(t, g, "arp_entries_by_device", `{"hostname":"dist1"}`, [][]any{
		{"dist1", "10.10.10.11", "ipv4", "3c:52:82:00:00:11", "Vlan10", "default", nil, false},
		{"dist1", "10.10.10.12", "ipv4", "3c:52:82:00:00:12", "Vlan10", "default", nil, false},
		{"dist1", "10.10.20.21", "ipv4", "3c:52:82:00:00:21", "Vlan20", "default", nil, false},
		{"dist1", "10.10.10.99", "ipv4", nil, "Vlan10", "default", "incomplete", false},
		{"dist1", "10.10.10.13", "ipv4", "3c:52:82:00:00:13", "Vlan10", "default", "stale", false},
	})
}

// junos_edge.json: a Junos border router and core switch, worked out by
// hand: loopbacks at MTU 65536 (as Junos reports lo0), aggregated
// Ethernet ae0 between them, two transit uplinks, a discard and a reject
// route.
func TestVendorJunosEdge(t *testing.T) {
	g := vendorNet(t, "junos_edge.json")
	checkRows(t, g, "hygiene_mtu_mismatch", "", [][]any{})
	if w := g.Warnings(); len(w) != 0 {
		t.Errorf("warnings = %v, want none", w)
	}
	checkRows(t, g, "bgp_sessions_down", "", [][]any{
		{"edge1", "198.51.100.1", nil, int64(64501), int64(64512), "active", "default", nil, []map[string]any{
			{"name": "ipv4-unicast", "state": nil, "prefixes_received": nil, "prefixes_accepted": nil, "prefixes_sent": nil}}},
		{"edge1", "10.255.0.2", "core1", int64(64512), int64(64512), "established", "default", nil, []map[string]any{
			{"name": "ipv6-unicast", "state": "idle", "prefixes_received": nil, "prefixes_accepted": nil, "prefixes_sent": nil}}},
	})
	checkRows(t, g, "interfaces_search", `{"q":"isp-"}`, [][]any{
		{"edge1", "xe-0/1/0.0", "ISP-A transit", nil, nil, nil, nil, nil, nil, nil, nil, nil, "2c:6b:f5:00:01:01", []string{"203.0.113.2/30", "2001:db8:a::2/64"}},
		{"edge1", "xe-0/1/1.0", "ISP-B transit", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, []string{"198.51.100.2/30"}},
	})
	// core1's table names xe-0/0/10.0, the unit of the access port.
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.20.0.10"}`, [][]any{
		{"10.20.0.10", "00:50:56:00:20:10", "core1", "xe-0/0/10.0", 20, "default"},
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Every vendor network is valid facts with no warnings.
func TestVendorNetworksValid(t *testing.T) {
	for _, name := range []string{"eos_evpn_mlag.json", "junos_edge.json", "nxos_unnumbered.json", "ios_campus_portchannel.json"} {
		data, err := os.ReadFile("../../common/facts/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := facts.Parse(data)
		if err != nil {
			t.Errorf("Parse(%s) = %v", name, err)
			continue
		}
		g := graph.Build(1, doc.Devices, graph.Options{})
		if w := g.WarningsFor(doc.Devices); len(w) != 0 {
			t.Errorf("%s: warnings %v, want none", name, w)
		}
	}
}
