package graph_test

import (
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// A Junos EVPN leaf learns a multihomed host behind a remote Ethernet
// segment on "esi.1785", a name that says nothing of a tunnel: the remote
// flag (or remote_vtep) keeps it from being located there. A router entry
// on an SVI is the device's own MAC, never an endpoint; an incomplete ARP
// entry binds no MAC.
func TestMACFlagsDecideLocations(t *testing.T) {
	doc := &facts.Document{Schema: facts.Schema, Devices: []facts.Device{{
		Hostname: "qfx1", Interfaces: []facts.Interface{{Name: "xe-0/0/5", Mode: "access", AccessVLAN: 10}, {Name: "irb.10", Type: "irb", IPs: []string{"10.1.10.1/24"}}},
		ARP: []facts.ARPEntry{
			{IP: "10.1.10.40", MAC: "52:54:00:00:00:40", Interface: "irb.10"},
			{IP: "10.1.10.41", Interface: "irb.10", State: "incomplete"},
		},
		MACTable: []facts.MACEntry{
			{MAC: "52:54:00:00:00:40", VLAN: 10, Interface: "esi.1785", Flags: []string{"remote"}},
			{MAC: "52:54:00:00:00:41", VLAN: 10, Interface: "esi.1785", RemoteVTEP: "10.0.255.21"},
			{MAC: "2c:6b:f5:00:00:01", VLAN: 10, Interface: "irb.10", Flags: []string{"router"}},
			{MAC: "52:54:00:00:00:42", VLAN: 10, Interface: "xe-0/0/5", Flags: []string{"static"}},
		},
	}}}
	if err := facts.Normalize(doc); err != nil {
		t.Fatal(err)
	}
	g := graph.Build(1, doc.Devices, graph.Options{})
	var got []string
	for _, e := range g.Endpoints {
		got = append(got, e.MAC+" "+e.Interface)
	}
	if len(got) != 1 || got[0] != "52:54:00:00:00:42 xe-0/0/5" {
		t.Errorf("endpoints = %v, want only the static MAC on the access port", got)
	}
	// Without the flags the remote ones would be located on esi.1785.
	doc.Devices[0].MACTable[0].Flags, doc.Devices[0].MACTable[1].RemoteVTEP, doc.Devices[0].MACTable[2].Flags = nil, "", nil
	if n := len(graph.Build(2, doc.Devices, graph.Options{}).Endpoints); n != 4 {
		t.Errorf("endpoints without flags = %d, want 4 (the test's premise)", n)
	}
}

// An unnumbered session on an interface the device lacks, and a VTEP
// whose address cannot be told, are accepted with warnings at their paths.
func TestReferenceWarnings(t *testing.T) {
	devs := []facts.Device{{
		Hostname:   "leaf9",
		Interfaces: []facts.Interface{{Name: "Ethernet1"}, {Name: "Loopback1", Type: "loopback"}},
		BGPPeers:   []facts.BGPPeer{{PeerInterface: "Ethernet1"}, {PeerInterface: "Ethernet2"}},
		VXLAN:      &facts.VXLAN{SourceInterface: "Loopback1", VNIs: []facts.VNI{{VNI: 10010, VLAN: 10}}},
	}}
	got := graph.Build(1, devs, graph.Options{}).WarningsFor(devs)
	want := []facts.Problem{
		{Path: "devices[0].bgp_peers[1].peer_interface", Message: `no interface "Ethernet2" on this device: the unnumbered peer cannot be named`},
		{Path: "devices[0].vxlan.source_interface", Message: `"Loopback1" has no address on this device, and source_ip is not given: the VTEP address is not known`},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("warnings = %v, want %v", got, want)
	}
}
