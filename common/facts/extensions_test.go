package facts

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// extended uses every field the format gained for real networks, in the
// notations the vendors print (EOS "Estab", Junos "inet-unicast" and
// "discard", Linux "ip neigh" states, an ND entry with its zone).
const extended = `{"schema": "meshq.facts/v1", "devices": [{
  "hostname": "leaf1",
  "interfaces": [{"name": "Loopback1", "ips": ["10.0.255.11/32"]}, {"name": "Vlan10", "ips": ["10.1.10.1/24"]}],
  "arp": [
    {"ip": "10.1.10.11", "mac": "5254.0012.3401", "interface": "Vlan10", "state": "REACHABLE"},
    {"ip": "10.1.10.99", "interface": "Vlan10", "state": "INCOMPLETE"},
    {"ip": "fe80::5054:ff:fe12:3401%Vlan10", "mac": "5254.0012.3401", "state": "stale"},
    {"ip": "10.1.10.30", "mac": "0050.5600.00cc", "interface": "Vxlan1", "remote": true}],
  "mac_table": [
    {"mac": "0050.5600.00cc", "vlan": 10, "interface": "Vxlan1", "flags": ["EVPN", "dynamic"], "remote_vtep": "10.0.255.13"},
    {"mac": "001c.7300.0001", "vlan": 10, "interface": "Router", "flags": ["self", "static", "router"]}],
  "routes": [
    {"vrf": "tenant-a", "prefix": "10.2.0.0/24", "protocol": "BGP", "admin_distance": 200,
     "next_hops": [{"ip": "10.0.255.13", "vrf": "default", "vni": 50001}, {"ip": "10.0.255.14", "vrf": "default", "vni": 50001}]},
    {"prefix": "192.0.2.0/24", "action": "discard", "interface": "Null0"},
    {"prefix": "10.3.0.0/16", "next_hop": "10.0.0.1", "next_hop_vrf": "shared"}],
  "bgp_peers": [
    {"peer_interface": "Ethernet1", "remote_as": 65000, "state": "Estab",
     "afi_safi": [{"name": "IPv4 Unicast", "state": "Estab", "prefixes_received": 12}, {"name": "evpn", "state": "idle", "prefixes_received": null}]}],
  "vxlan": {"source_interface": "Loopback1", "source_ip": "10.0.255.11",
            "vnis": [{"vni": 10010, "vlan": 10}, {"vni": 50001, "vrf": "tenant-a"}]}
}]}`

func TestParseExtensions(t *testing.T) {
	doc, err := Parse([]byte(extended))
	if err != nil {
		t.Fatalf("Parse(extended) = %v, want nil", err)
	}
	d := doc.Devices[0]
	got := map[string]any{
		"arp states":    []string{d.ARP[0].State, d.ARP[1].State, d.ARP[2].State},
		"nd ip":         d.ARP[2].IP,
		"nd interface":  d.ARP[2].Interface,
		"incomplete":    d.ARP[1].Resolved(),
		"remote arp":    d.ARP[3].Remote,
		"mac flags 0":   d.MACTable[0].Flags,
		"mac remote":    d.MACTable[0].IsRemote(),
		"mac flags 1":   d.MACTable[1].Flags,
		"ecmp":          len(d.Routes[0].Hops()),
		"drop":          d.Routes[1].Action,
		"leak":          d.Routes[2].Hops()[0].VRF,
		"ad":            *d.Routes[0].AdminDistance,
		"peer state":    d.BGPPeers[0].State,
		"families":      []string{d.BGPPeers[0].AFISafi[0].Name, d.BGPPeers[0].AFISafi[1].Name},
		"family states": []string{d.BGPPeers[0].AFISafi[0].State, d.BGPPeers[0].AFISafi[1].State},
		"evpn prefixes": d.BGPPeers[0].AFISafi[1].PrefixesReceived == nil,
	}
	want := map[string]any{
		"arp states":    []string{"reachable", "incomplete", "stale"},
		"nd ip":         "fe80::5054:ff:fe12:3401",
		"nd interface":  "Vlan10",
		"incomplete":    false,
		"remote arp":    true,
		"mac flags 0":   []string{"remote"},
		"mac remote":    true,
		"mac flags 1":   []string{"router", "static"},
		"ecmp":          2,
		"drop":          "drop",
		"leak":          "shared",
		"ad":            200,
		"peer state":    "established",
		"families":      []string{"ipv4-unicast", "l2vpn-evpn"},
		"family states": []string{"established", "idle"},
		"evpn prefixes": true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extended facts (-want +got):\n%s", diff)
	}
	// Normalize is idempotent on the new fields too.
	again := *doc
	if err := Normalize(&again); err != nil {
		t.Fatalf("Normalize(normalized) = %v", err)
	}
	if diff := cmp.Diff(doc, &again); diff != "" {
		t.Errorf("normalizing twice changed the document:\n%s", diff)
	}
}

func TestExtensionProblems(t *testing.T) {
	tests := []struct{ name, from, to, path, msg string }{
		{"arp state", `"state": "stale"`, `"state": "zombie"`, "devices[0].arp[2].state", `unknown neighbour state "zombie"`},
		{"arp mac needed when resolved", `{"ip": "10.1.10.99", "interface": "Vlan10", "state": "INCOMPLETE"}`, `{"ip": "10.1.10.99", "interface": "Vlan10"}`, "devices[0].arp[1].mac", "required"},
		{"mac flag", `"flags": ["EVPN", "dynamic"]`, `"flags": ["sticky", "bogus"]`, "devices[0].mac_table[0].flags[1]", `unknown MAC flag "bogus"`},
		{"remote vtep", `"remote_vtep": "10.0.255.13"`, `"remote_vtep": "leaf3"`, "devices[0].mac_table[0].remote_vtep", "not an IP address"},
		{"route action", `"action": "discard"`, `"action": "police"`, "devices[0].routes[1].action", `unknown route action "police"`},
		{"admin distance", `"admin_distance": 200`, `"admin_distance": 256`, "devices[0].routes[0].admin_distance", "0-255"},
		{"both next hop forms", `"protocol": "BGP", "admin_distance"`, `"next_hop": "10.0.0.9", "protocol": "BGP", "admin_distance"`, "devices[0].routes[0].next_hop", "given with next_hops"},
		{"next hop ip", `{"ip": "10.0.255.14"`, `{"ip": "10.0.255.300"`, "devices[0].routes[0].next_hops[1].ip", "not an IP address"},
		{"next hop empty", `{"ip": "10.0.255.14", "vrf": "default", "vni": 50001}`, `{"vni": 50001}`, "devices[0].routes[0].next_hops[1]", "neither ip nor interface"},
		{"next hop vni", `"vrf": "default", "vni": 50001}]`, `"vrf": "default", "vni": 16777216}]`, "devices[0].routes[0].next_hops[1].vni", "not a VNI"},
		{"peer without address", `"peer_interface": "Ethernet1", `, ``, "devices[0].bgp_peers[0].peer_ip", "or peer_interface"},
		{"family name", `"name": "evpn"`, `"name": "ev pn!"`, "devices[0].bgp_peers[0].afi_safi[1].name", "not an address family"},
		{"family duplicate", `"name": "evpn"`, `"name": "ipv4"`, "devices[0].bgp_peers[0].afi_safi[1].name", `duplicate address family "ipv4-unicast"`},
		{"family state", `"state": "idle"`, `"state": "sleeping"`, "devices[0].bgp_peers[0].afi_safi[1].state", "unknown BGP state"},
		{"family prefixes", `"prefixes_received": 12`, `"prefixes_received": -1`, "devices[0].bgp_peers[0].afi_safi[0].prefixes_received", "negative"},
		{"vtep address", `"source_ip": "10.0.255.11"`, `"source_ip": "lo1"`, "devices[0].vxlan.source_ip", "not an IP address"},
		{"vni range", `{"vni": 10010, "vlan": 10}`, `{"vni": 0, "vlan": 10}`, "devices[0].vxlan.vnis[0].vni", "not a VNI"},
		{"vni duplicate", `{"vni": 50001, "vrf": "tenant-a"}`, `{"vni": 10010, "vrf": "tenant-a"}`, "devices[0].vxlan.vnis[1].vni", "duplicate VNI 10010"},
		{"vni maps nothing", `{"vni": 50001, "vrf": "tenant-a"}`, `{"vni": 50001}`, "devices[0].vxlan.vnis[1]", "neither a vlan nor a vrf"},
		{"vlan on two vnis", `{"vni": 50001, "vrf": "tenant-a"}`, `{"vni": 50001, "vlan": 10}`, "devices[0].vxlan.vnis[1].vlan", "mapped to another VNI"},
		{"unknown field", `"remote_vtep"`, `"remote_vtep_ip"`, "devices[0].mac_table[0].remote_vtep_ip", "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(extended, tc.from) {
				t.Fatalf("fixture lacks %q", tc.from)
			}
			_, err := Parse([]byte(strings.Replace(extended, tc.from, tc.to, 1)))
			fe, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse = %v, want a facts error", err)
			}
			for _, p := range fe.Problems {
				if p.Path == tc.path && strings.Contains(p.Message, tc.msg) {
					return
				}
			}
			t.Errorf("problems = %v, want %s: …%s…", fe.Problems, tc.path, tc.msg)
		})
	}
}

// The extensions are additive: a document that uses none of them parses to
// the same devices it did before (the design example, unchanged).
func TestExtensionsLeaveOldDocumentsAlone(t *testing.T) {
	for _, r := range []Route{{Prefix: "10.0.0.0/8", NextHop: "10.0.0.1"}, {Prefix: "10.0.0.0/8", Interface: "Null0"}} {
		if h := r.Hops(); len(h) != 1 || h[0].IP != r.NextHop || h[0].Interface != r.Interface {
			t.Errorf("Hops(%+v) = %+v, want the single next hop", r, h)
		}
	}
	if h := (&Route{Prefix: "10.0.0.0/8"}).Hops(); h != nil {
		t.Errorf("Hops of a route without next hop = %+v, want nil", h)
	}
}
