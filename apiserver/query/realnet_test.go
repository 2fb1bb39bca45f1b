package query_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/facts/factstest"
)

// parseNet parses a facts document as the ingest does and builds its graph.
func parseNet(t *testing.T, doc string) *graph.Graph {
	t.Helper()
	d, err := facts.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(fixture) = %v, want nil", err)
	}
	return graph.Build(1, d.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
}

// mlagPair is an Arista EOS MLAG pair as "show mac address-table", "show
// arp" and "show lldp neighbors" report it, worked out by hand:
//
//	                spine1 Ethernet1/1, Ethernet2/1
//	                │ Ethernet49/1 (routed /31s)
//	leaf1 ══ Port-Channel10 (Ethernet47, Ethernet48; MLAG peer link) ══ leaf2
//	 Ethernet5 H1     Port-Channel20 ←S1 (dual-homed)→ Port-Channel20     Ethernet6 H2
//	 Vxlan1 (to remote VTEPs)                                  Ethernet52 fw1 (no LLDP)
//	                                                           Ethernet53 border1 (no LLDP)
//	                                                           Port-Channel30 acc1 (no LLDP) Gi1/0/5 H5
//
// leaf1 Vlan10 10.1.10.2/24 MAC 001c.7300.0001; leaf2 Vlan10 10.1.10.3/24
// (its MAC not collected); fw1 ethernet1/2 10.1.10.254/24 MAC
// 00:1b:17:00:01:10; border1 Ethernet1/1 10.1.10.250/24 (MAC not
// collected). leaf1's ARP: 10.1.10.3 → 001c.7300.0002, 10.1.10.254 →
// fw1's MAC, 10.1.10.250 → 0022.bdf8.19ff, 10.1.10.11 H1, 10.1.10.12 H2,
// 10.1.10.20 S1, 10.1.10.30 H3 (behind a remote VTEP), 10.1.10.15 H5.
//
// Infrastructure, never endpoints: 001c.7300.0001 (leaf1's interface
// MAC, on leaf2's peer link), 001c.7300.0002 (ARP gives it for leaf2's
// own 10.1.10.3, on leaf1's peer link), fw1's MAC (an interface MAC, on
// leaf2 Ethernet52, a port with no LLDP), 0022.bdf8.19ff (ARP gives it for
// border1's own address, on leaf2 Ethernet53).
// Not locations: leaf1 Port-Channel10 (H2: the peer link), leaf1 Vxlan1
// (H3: a tunnel), leaf2 Port-Channel10 (H1: the peer link, by its
// members' LLDP), leaf2 Port-Channel30 (H5: a LAG, beaten by acc1's
// access port Gi1/0/5).
// Endpoints: H1 leaf1 Ethernet5; H2 leaf2 Ethernet6; S1 leaf1 and leaf2
// Port-Channel20 (one endpoint, two locations); H5 acc1 Gi1/0/5: four.
const mlagPair = `{"schema": "meshq.facts/v1", "devices": [
 {"hostname": "leaf1", "vendor": "arista", "os": "eos", "role": "leaf",
  "interfaces": [
   {"name": "Ethernet1", "lag": "Port-Channel20"},
   {"name": "Ethernet5", "mode": "access", "access_vlan": 10},
   {"name": "Ethernet47", "lag": "Port-Channel10"},
   {"name": "Ethernet48", "lag": "Port-Channel10"},
   {"name": "Ethernet49/1", "mode": "routed", "ips": ["10.0.1.1/31"]},
   {"name": "Port-Channel10", "type": "lag", "mode": "trunk", "mlag_peer_link": true},
   {"name": "Port-Channel20", "type": "lag", "mode": "trunk", "trunk_vlans": [10]},
   {"name": "Vlan10", "type": "vlan", "mac": "001c.7300.0001", "ips": ["10.1.10.2/24"]},
   {"name": "Vxlan1", "type": "vxlan"}],
  "neighbors": [
   {"local_interface": "Ethernet47", "remote_hostname": "leaf2", "remote_interface": "Ethernet47", "protocol": "lldp"},
   {"local_interface": "Ethernet48", "remote_hostname": "leaf2", "remote_interface": "Ethernet48", "protocol": "lldp"},
   {"local_interface": "Ethernet49/1", "remote_hostname": "spine1", "remote_interface": "Ethernet1/1", "protocol": "lldp"}],
  "arp": [
   {"ip": "10.1.10.3", "mac": "001c.7300.0002", "interface": "Vlan10"},
   {"ip": "10.1.10.254", "mac": "001b.1700.0110", "interface": "Vlan10"},
   {"ip": "10.1.10.250", "mac": "0022.bdf8.19ff", "interface": "Vlan10"},
   {"ip": "10.1.10.11", "mac": "5254.0012.3401", "interface": "Vlan10"},
   {"ip": "10.1.10.12", "mac": "5254.0012.3402", "interface": "Vlan10"},
   {"ip": "10.1.10.20", "mac": "0050.5600.00aa", "interface": "Vlan10"},
   {"ip": "10.1.10.30", "mac": "0050.5600.00cc", "interface": "Vlan10"},
   {"ip": "10.1.10.15", "mac": "5254.0012.3405", "interface": "Vlan10"}],
  "mac_table": [
   {"mac": "001c.7300.0002", "vlan": 10, "interface": "Port-Channel10"},
   {"mac": "5254.0012.3401", "vlan": 10, "interface": "Ethernet5"},
   {"mac": "5254.0012.3402", "vlan": 10, "interface": "Port-Channel10"},
   {"mac": "0050.5600.00aa", "vlan": 10, "interface": "Port-Channel20"},
   {"mac": "0050.5600.00cc", "vlan": 10, "interface": "Vxlan1"},
   {"mac": "001b.1700.0110", "vlan": 10, "interface": "Port-Channel10"}]},
 {"hostname": "leaf2", "vendor": "arista", "os": "eos", "role": "leaf",
  "interfaces": [
   {"name": "Ethernet1", "lag": "Port-Channel20"},
   {"name": "Ethernet6", "mode": "access", "access_vlan": 10},
   {"name": "Ethernet47", "lag": "Port-Channel10"},
   {"name": "Ethernet48", "lag": "Port-Channel10"},
   {"name": "Ethernet49/1", "mode": "routed", "ips": ["10.0.1.3/31"]},
   {"name": "Ethernet52", "mode": "access", "access_vlan": 10},
   {"name": "Ethernet53", "mode": "access", "access_vlan": 10},
   {"name": "Port-Channel10", "mode": "trunk"},
   {"name": "Port-Channel20", "mode": "trunk", "trunk_vlans": [10]},
   {"name": "Vlan10", "ips": ["10.1.10.3/24"]}],
  "neighbors": [
   {"local_interface": "Ethernet47", "remote_hostname": "leaf1", "remote_interface": "Ethernet47", "protocol": "lldp"},
   {"local_interface": "Ethernet48", "remote_hostname": "leaf1", "remote_interface": "Ethernet48", "protocol": "lldp"},
   {"local_interface": "Ethernet49/1", "remote_hostname": "spine1", "remote_interface": "Ethernet2/1", "protocol": "lldp"}],
  "mac_table": [
   {"mac": "00:1c:73:00:00:01", "vlan": 10, "interface": "Port-Channel10"},
   {"mac": "52:54:00:12:34:01", "vlan": 10, "interface": "Port-Channel10"},
   {"mac": "52:54:00:12:34:02", "vlan": 10, "interface": "Ethernet6"},
   {"mac": "00:50:56:00:00:aa", "vlan": 10, "interface": "Port-Channel20"},
   {"mac": "00:1b:17:00:01:10", "vlan": 10, "interface": "Ethernet52"},
   {"mac": "00:22:bd:f8:19:ff", "vlan": 10, "interface": "Ethernet53"},
   {"mac": "52:54:00:12:34:05", "vlan": 10, "interface": "Port-Channel30"}]},
 {"hostname": "spine1", "vendor": "arista", "os": "eos", "role": "spine",
  "interfaces": [
   {"name": "Ethernet1/1", "mode": "routed", "ips": ["10.0.1.0/31"]},
   {"name": "Ethernet2/1", "mode": "routed", "ips": ["10.0.1.2/31"]}]},
 {"hostname": "fw1", "vendor": "paloalto", "os": "panos", "role": "firewall",
  "interfaces": [{"name": "ethernet1/2", "mac": "00:1b:17:00:01:10", "ips": ["10.1.10.254/24"]}]},
 {"hostname": "border1", "vendor": "cisco", "os": "nxos", "role": "border",
  "interfaces": [{"name": "Ethernet1/1", "ips": ["10.1.10.250/24"]}]},
 {"hostname": "acc1", "vendor": "cisco", "os": "ios-xe", "role": "access",
  "interfaces": [{"name": "Gi1/0/5", "mode": "access", "access_vlan": 10}],
  "mac_table": [{"mac": "5254.0012.3405", "vlan": 10, "interface": "Gi1/0/5"}]}]}`

// TestDeviceAddressesAreNotEndpoints: the addresses of switches, the
// firewall and the border router are nobody's endpoint; hosts are where
// they are plugged in, not on peer links, tunnels or LAGs towards them.
func TestDeviceAddressesAreNotEndpoints(t *testing.T) {
	g := parseNet(t, mlagPair)
	for _, ip := range []string{"10.1.10.2", "10.1.10.3", "10.1.10.254", "10.1.10.250", "10.1.10.30"} {
		checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"`+ip+`"}`, [][]any{})
	}
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.10.11"}`, [][]any{{"10.1.10.11", "52:54:00:12:34:01", "leaf1", "Ethernet5", 10, "default"}})
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.10.12"}`, [][]any{{"10.1.10.12", "52:54:00:12:34:02", "leaf2", "Ethernet6", 10, "default"}})
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.10.20"}`, [][]any{
		{"10.1.10.20", "00:50:56:00:00:aa", "leaf1", "Port-Channel20", 10, "default"},
		{"10.1.10.20", "00:50:56:00:00:aa", "leaf2", "Port-Channel20", 10, "default"},
	})
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.10.15"}`, [][]any{{"10.1.10.15", "52:54:00:12:34:05", "acc1", "Gi1/0/5", 10, "default"}})
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"001c.7300.0001"}`, [][]any{})
	checkRows(t, g, "endpoints_by_device", `{"hostname":"leaf2"}`, [][]any{
		{"10.1.10.12", "52:54:00:12:34:02", "leaf2", "Ethernet6", 10, "default"},
		{"10.1.10.20", "00:50:56:00:00:aa", "leaf2", "Port-Channel20", 10, "default"},
	})
	if got := g.Stats().Endpoints; got != 4 {
		t.Errorf("Stats().Endpoints = %d, want 4 (H1, H2, S1 once, H5)", got)
	}
	checkRows(t, g, "hygiene_duplicate_ips", "", [][]any{})
}

// sharedAddrs holds addresses shared on purpose and one real duplicate,
// worked out by hand:
//
//   - exit01 (Junos) has lo0.0 192.0.2.1/32, borrowed unnumbered by
//     xe-0/0/0.0 and xe-0/0/1.0: one device, one owner, one address.
//   - leaf1 and leaf2 (EOS) both hold the anycast gateway 10.1.10.1/24 on
//     Vlan10 ("ip address virtual"): shared on purpose.
//   - leaf3 and leaf4 hold 10.1.20.2/24 and 10.1.20.3/24 with the VARP
//     address 10.1.20.1 (given bare, as configured: it takes the /24);
//     leaf3's ARP resolves it to the virtual-router MAC 001c.7300.0099,
//     learned on leaf3's access port Ethernet7 (the uplink of a router
//     outside the facts): the MAC of a virtual address is no endpoint.
//   - rtr1 owns 10.1.30.1/24 (the VRRP owner) and rtr2 holds it as a
//     VRRP address: one unmarked owner, no duplicate.
//   - exit01 xe-0/0/3.0 and exit02 xe-0/0/2.0 both have 198.51.100.1/31:
//     the one duplicate.
//
// subnets_all counts each address once: 192.0.2.1/32 holds 1 address
// (not 3), 10.1.10.0/24 holds 1 (not 2), 10.1.20.0/24 holds 3 (.1, .2, .3).
const sharedAddrs = `{"schema": "meshq.facts/v1", "devices": [
 {"hostname": "exit01", "vendor": "juniper", "os": "junos", "interfaces": [
   {"name": "lo0.0", "type": "loopback", "mtu": 65536, "ips": ["192.0.2.1/32"]},
   {"name": "xe-0/0/0.0", "ips": ["192.0.2.1/32"]},
   {"name": "xe-0/0/1.0", "ips": ["192.0.2.1/32"]},
   {"name": "xe-0/0/3.0", "ips": ["198.51.100.1/31"]}]},
 {"hostname": "exit02", "vendor": "juniper", "os": "junos", "interfaces": [
   {"name": "xe-0/0/2.0", "ips": ["198.51.100.1/31"]}]},
 {"hostname": "leaf1", "vendor": "arista", "os": "eos", "interfaces": [
   {"name": "Vlan10", "addresses": [{"ip": "10.1.10.1/24", "role": "anycast"}]}]},
 {"hostname": "leaf2", "vendor": "arista", "os": "eos", "interfaces": [
   {"name": "Vlan10", "ips": ["10.1.10.1/24"], "addresses": [{"ip": "10.1.10.1/24", "role": "Anycast"}]}]},
 {"hostname": "leaf3", "vendor": "arista", "os": "eos", "interfaces": [
   {"name": "Ethernet7", "mode": "access", "access_vlan": 20},
   {"name": "Vlan20", "mac": "001c.7300.0003", "ips": ["10.1.20.2/24"], "addresses": [{"ip": "10.1.20.1", "role": "varp"}]}],
  "arp": [{"ip": "10.1.20.1", "mac": "001c.7300.0099", "interface": "Vlan20"}],
  "mac_table": [{"mac": "001c.7300.0099", "vlan": 20, "interface": "Ethernet7"}]},
 {"hostname": "leaf4", "vendor": "arista", "os": "eos", "interfaces": [
   {"name": "Vlan20", "mac": "001c.7300.0004", "ips": ["10.1.20.3/24"], "addresses": [{"ip": "10.1.20.1", "role": "varp"}]}]},
 {"hostname": "rtr1", "vendor": "cisco", "os": "ios-xe", "interfaces": [
   {"name": "Vlan30", "ips": ["10.1.30.1/24"]}]},
 {"hostname": "rtr2", "vendor": "cisco", "os": "ios-xe", "interfaces": [
   {"name": "Vlan30", "ips": ["10.1.30.3/24"], "addresses": [{"ip": "10.1.30.1/24", "role": "vrrp"}]}]}]}`

// TestSharedAddressesAreNotDuplicates: unnumbered, anycast, VARP and VRRP
// addresses are not duplicates, the real duplicate is, and subnets count
// an address once.
func TestSharedAddressesAreNotDuplicates(t *testing.T) {
	g := parseNet(t, sharedAddrs)
	checkRows(t, g, "hygiene_duplicate_ips", "", [][]any{
		{"198.51.100.1", "default", []string{"exit01 xe-0/0/3.0", "exit02 xe-0/0/2.0"}},
	})
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.20.1"}`, [][]any{})
	checkRows(t, g, "ips_in_subnet", `{"subnet":"10.1.20.0/24"}`, [][]any{
		{"10.1.20.1", "leaf3", "Vlan20", "interface", nil, "default"},
		{"10.1.20.1", "leaf4", "Vlan20", "interface", nil, "default"},
		{"10.1.20.2", "leaf3", "Vlan20", "interface", nil, "default"},
		{"10.1.20.3", "leaf4", "Vlan20", "interface", nil, "default"},
	})
	checkRows(t, g, "subnets_all", "", [][]any{
		{"10.1.10.0/24", "default", 1, []string{"leaf1", "leaf2"}},
		{"10.1.20.0/24", "default", 3, []string{"leaf3", "leaf4"}},
		{"10.1.30.0/24", "default", 2, []string{"rtr1", "rtr2"}},
		{"192.0.2.1/32", "default", 1, []string{"exit01"}},
		{"198.51.100.0/31", "default", 1, []string{"exit01", "exit02"}},
	})
}

// lldpPorts is a leaf-spine whose LLDP port IDs are what real agents send,
// worked out by hand:
//
//	leaf1 Ethernet49/1 → spine1 "Ethernet1/1"       by name
//	leaf1 Ethernet50/1 → spine2 "to-leaf1-e50"      spine2 Ethernet1/1's description
//	leaf2 Ethernet49/1 → spine1 "001c.73aa.0002"    spine1 Ethernet1/2's MAC
//	leaf2 Ethernet50/1 → spine2 "436211712"         spine2 Ethernet1/2's ifindex (NX-OS)
//	acc1 Gi1/0/48      → leaf2 "Et5"                leaf2 Ethernet5, abbreviated
//	border1 Ethernet1/1 → spine1 "-"                spine1's own record Ethernet1/4 → border1 Ethernet1/1
//	fw1 ethernet1/1    → spine2 "port 7" (LLDP and CDP) nothing on spine2 says which port
//
// Seven links, none to a port that does not exist; fw1's keeps spine2's end
// unknown and is reported once as a warning.
const lldpPorts = `{"schema": "meshq.facts/v1", "devices": [
 {"hostname": "leaf1", "vendor": "arista", "os": "eos", "interfaces": [{"name": "Ethernet49/1"}, {"name": "Ethernet50/1"}],
  "neighbors": [
   {"local_interface": "Ethernet49/1", "remote_hostname": "spine1", "remote_interface": "Ethernet1/1", "protocol": "lldp"},
   {"local_interface": "Ethernet50/1", "remote_hostname": "spine2.dc1.example.net", "remote_interface": "to-leaf1-e50", "protocol": "lldp"}]},
 {"hostname": "leaf2", "vendor": "arista", "os": "eos", "interfaces": [{"name": "Ethernet5"}, {"name": "Ethernet49/1"}, {"name": "Ethernet50/1"}],
  "neighbors": [
   {"local_interface": "Ethernet49/1", "remote_hostname": "spine1", "remote_interface": "001c.73aa.0002", "protocol": "lldp"},
   {"local_interface": "Ethernet50/1", "remote_hostname": "spine2", "remote_interface": "436211712", "protocol": "lldp"}]},
 {"hostname": "spine1", "vendor": "arista", "os": "eos", "interfaces": [
   {"name": "Ethernet1/1", "mac": "001c.73aa.0001"}, {"name": "Ethernet1/2", "mac": "001c.73aa.0002"},
   {"name": "Ethernet1/3", "mac": "001c.73aa.0003"}, {"name": "Ethernet1/4", "mac": "001c.73aa.0004"}],
  "neighbors": [{"local_interface": "Ethernet1/4", "remote_hostname": "border1", "remote_interface": "Ethernet1/1", "protocol": "lldp"}]},
 {"hostname": "spine2", "vendor": "cisco", "os": "nxos", "interfaces": [
   {"name": "Ethernet1/1", "description": "to-leaf1-e50", "ifindex": 436207616},
   {"name": "Ethernet1/2", "description": "to-leaf2-e50", "ifindex": 436211712},
   {"name": "Ethernet1/7", "ifindex": 436232192}]},
 {"hostname": "acc1", "vendor": "cisco", "os": "ios-xe", "interfaces": [{"name": "Gi1/0/48"}],
  "neighbors": [{"local_interface": "Gi1/0/48", "remote_hostname": "leaf2", "remote_interface": "Et5", "protocol": "cdp"}]},
 {"hostname": "border1", "vendor": "cisco", "os": "nxos", "interfaces": [{"name": "Ethernet1/1"}],
  "neighbors": [{"local_interface": "Ethernet1/1", "remote_hostname": "spine1", "remote_interface": "-", "protocol": "lldp"}]},
 {"hostname": "fw1", "vendor": "paloalto", "os": "panos", "interfaces": [{"name": "ethernet1/1"}],
  "neighbors": [
   {"local_interface": "ethernet1/1", "remote_hostname": "spine2", "remote_interface": "port 7", "protocol": "lldp"},
   {"local_interface": "ethernet1/1", "remote_hostname": "spine2", "remote_interface": "port 7", "protocol": "cdp"}]}]}`

// TestNeighborPortsResolved: remote port IDs that are descriptions, MACs,
// ifindexes, abbreviations or "-" resolve to the real interface, one link
// each; one that cannot be resolved keeps the link with the port unknown,
// invents no interface, and is a warning.
func TestNeighborPortsResolved(t *testing.T) {
	g := parseNet(t, lldpPorts)
	checkRows(t, g, "device_neighbors", `{"hostname":"spine1"}`, [][]any{
		{"Ethernet1/1", "leaf1", "Ethernet49/1", "lldp"},
		{"Ethernet1/2", "leaf2", "Ethernet49/1", "lldp"},
		{"Ethernet1/4", "border1", "Ethernet1/1", "lldp"},
	})
	checkRows(t, g, "device_neighbors", `{"hostname":"spine2"}`, [][]any{
		{nil, "fw1", "ethernet1/1", "lldp"},
		{"Ethernet1/1", "leaf1", "Ethernet50/1", "lldp"},
		{"Ethernet1/2", "leaf2", "Ethernet50/1", "lldp"},
	})
	checkRows(t, g, "device_neighbors", `{"hostname":"leaf2"}`, [][]any{
		{"Ethernet49/1", "spine1", "Ethernet1/2", "lldp"},
		{"Ethernet5", "acc1", "Gi1/0/48", "cdp"},
		{"Ethernet50/1", "spine2", "Ethernet1/2", "lldp"},
	})
	if got := len(g.Links); got != 7 {
		t.Errorf("links = %d, want 7", got)
	}
	if _, err := runErr(t, g, "blast_radius_interface", `{"hostname":"spine2","interface":"port 7"}`); err == nil {
		t.Errorf(`blast_radius_interface(spine2, "port 7") = nil error, want not found (no such interface)`)
	}
	want := []graph.Warning{{Hostname: "fw1", Path: "neighbors[0].remote_interface",
		Message: `spine2 has no interface "port 7" (by name, description, MAC or ifindex), and no neighbor record back to fw1 ethernet1/1: the link is kept with the remote port unknown`}}
	if diff := cmp.Diff(want, g.Warnings()); diff != "" {
		t.Errorf("Warnings() (-want +got):\n%s", diff)
	}
}

// TestRealNetFixturesMatchTheSchema: the vendor-derived fixtures above are
// documents the published facts JSON Schema accepts.
func TestRealNetFixturesMatchTheSchema(t *testing.T) {
	s := factstest.Schema(t)
	for name, doc := range map[string]string{"mlagPair": mlagPair, "sharedAddrs": sharedAddrs, "lldpPorts": lldpPorts} {
		if err := factstest.Validate(s, []byte(doc)); err != nil {
			t.Errorf("%s does not validate: %v", name, err)
		}
	}
}
