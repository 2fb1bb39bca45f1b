package pathanalysis

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

func parseIndex(t *testing.T, doc string) *Index {
	t.Helper()
	d, err := facts.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse(fixture) = %v, want nil", err)
	}
	return NewIndex(graph.Build(1, d.Devices, graph.Options{}))
}

// evpnPair is an EVPN leaf pair with an anycast gateway and servers that
// report their own facts, worked out by hand:
//
//	         spine1 Ethernet3/1 10.9.0.1/24 (the destination's lan)
//	Ethernet1/1 10.0.1.0/31     Ethernet2/1 10.0.1.2/31
//	leaf1 Ethernet49/1 .1       leaf2 Ethernet49/1 .3
//	Vlan101 anycast 172.16.1.1/24 on both ("ip address virtual")
//	Ethernet5: host 172.16.1.10 (not in the facts)
//	Ethernet6: srv01 eth0 172.16.1.20 (role server)   leaf2 Ethernet6: srv02 eth0 172.16.1.21 (no role)
//
// The servers have default routes via 172.16.1.1 and the source host in
// their ARP tables; so does leaf1, not leaf2. Both leaves route
// 10.9.0.0/24 to spine1. The gateway is the anycast address on leaf1 and
// leaf2, both valid first hops; no server is.
//
// A second subnet, 172.16.2.0/24: r1 (role router) Gi0/0 172.16.2.1,
// db01 (role server) eth0 172.16.2.30 and nas01 (no role) eth0
// 172.16.2.40, both routing by 172.16.2.1 and holding the source in ARP.
// r1 is the gateway by role and by address (its address is their next
// hop); r1 sends everything else out Gi0/1 to 203.0.113.1, beyond the
// known network.
//
// A third, 172.16.3.0/24, has only db02 (role server) in the facts: its
// gateway 172.16.3.1 is not known, and db02 is not one.
const evpnPair = `{"schema": "meshq.facts/v1", "devices": [
 {"hostname": "leaf1", "vendor": "arista", "os": "eos", "role": "leaf", "interfaces": [
   {"name": "Ethernet5", "mode": "access", "access_vlan": 101},
   {"name": "Ethernet6", "mode": "access", "access_vlan": 101},
   {"name": "Ethernet47", "mode": "trunk", "mlag_peer_link": true},
   {"name": "Ethernet49/1", "mode": "routed", "ips": ["10.0.1.1/31"]},
   {"name": "Vlan101", "type": "vlan", "addresses": [{"ip": "172.16.1.1/24", "role": "anycast"}]}],
  "neighbors": [
   {"local_interface": "Ethernet49/1", "remote_hostname": "spine1", "remote_interface": "Ethernet1/1", "protocol": "lldp"},
   {"local_interface": "Ethernet47", "remote_hostname": "leaf2", "remote_interface": "Ethernet47", "protocol": "lldp"}],
  "arp": [{"ip": "172.16.1.10", "mac": "5254.0012.3410", "interface": "Vlan101"}],
  "mac_table": [{"mac": "5254.0012.3410", "vlan": 101, "interface": "Ethernet5"}],
  "routes": [{"prefix": "10.9.0.0/24", "next_hop": "10.0.1.0", "protocol": "bgp"}]},
 {"hostname": "leaf2", "vendor": "arista", "os": "eos", "role": "leaf", "interfaces": [
   {"name": "Ethernet6", "mode": "access", "access_vlan": 101},
   {"name": "Ethernet47", "mode": "trunk", "mlag_peer_link": true},
   {"name": "Ethernet49/1", "mode": "routed", "ips": ["10.0.1.3/31"]},
   {"name": "Vlan101", "type": "vlan", "addresses": [{"ip": "172.16.1.1/24", "role": "anycast"}]}],
  "neighbors": [{"local_interface": "Ethernet49/1", "remote_hostname": "spine1", "remote_interface": "Ethernet2/1", "protocol": "lldp"}],
  "routes": [{"prefix": "10.9.0.0/24", "next_hop": "10.0.1.2", "protocol": "bgp"}]},
 {"hostname": "spine1", "vendor": "arista", "os": "eos", "role": "spine", "interfaces": [
   {"name": "Ethernet1/1", "mode": "routed", "ips": ["10.0.1.0/31"]},
   {"name": "Ethernet2/1", "mode": "routed", "ips": ["10.0.1.2/31"]},
   {"name": "Ethernet3/1", "mode": "routed", "ips": ["10.9.0.1/24"]}],
  "routes": [
   {"prefix": "172.16.1.0/24", "next_hop": "10.0.1.1", "protocol": "bgp"},
   {"prefix": "172.16.1.0/24", "next_hop": "10.0.1.3", "protocol": "bgp"}]},
 {"hostname": "srv01", "vendor": "linux", "os": "ubuntu", "role": "server", "interfaces": [{"name": "eth0", "ips": ["172.16.1.20/24", "172.16.1.77/24"]}],
  "neighbors": [{"local_interface": "eth0", "remote_hostname": "leaf1", "remote_interface": "Ethernet6", "protocol": "lldp"}],
  "arp": [{"ip": "172.16.1.10", "mac": "52:54:00:12:34:10", "interface": "eth0"}],
  "routes": [{"prefix": "0.0.0.0/0", "next_hop": "172.16.1.1", "interface": "eth0", "protocol": "static"}]},
 {"hostname": "srv02", "vendor": "linux", "os": "rhel", "interfaces": [{"name": "eth0", "ips": ["172.16.1.21/24", "172.16.1.77/24"]}],
  "neighbors": [{"local_interface": "eth0", "remote_hostname": "leaf2", "remote_interface": "Ethernet6", "protocol": "lldp"}],
  "arp": [{"ip": "172.16.1.10", "mac": "52:54:00:12:34:10", "interface": "eth0"}],
  "routes": [{"prefix": "0.0.0.0/0", "next_hop": "172.16.1.1", "protocol": "static"}]},
 {"hostname": "r1", "vendor": "cisco", "os": "ios-xe", "role": "router", "interfaces": [
   {"name": "Gi0/0", "ips": ["172.16.2.1/24"]}, {"name": "Gi0/1", "ips": ["203.0.113.2/30"]}],
  "routes": [{"prefix": "0.0.0.0/0", "next_hop": "203.0.113.1", "protocol": "static"}]},
 {"hostname": "db01", "vendor": "linux", "os": "rhel", "role": "Server", "interfaces": [{"name": "eth0", "ips": ["172.16.2.30/24"]}],
  "arp": [{"ip": "172.16.2.50", "mac": "52:54:00:12:35:50", "interface": "eth0"}],
  "routes": [{"prefix": "0.0.0.0/0", "next_hop": "172.16.2.1", "protocol": "static"}]},
 {"hostname": "nas01", "vendor": "linux", "os": "truenas", "interfaces": [{"name": "eth0", "ips": ["172.16.2.40/24"]}],
  "arp": [{"ip": "172.16.2.50", "mac": "52:54:00:12:35:50", "interface": "eth0"}],
  "routes": [{"prefix": "0.0.0.0/0", "next_hop": "172.16.2.1", "protocol": "static"}]},
 {"hostname": "db02", "vendor": "linux", "os": "rhel", "role": "server", "interfaces": [{"name": "eth0", "ips": ["172.16.3.30/24"]}],
  "arp": [{"ip": "172.16.3.50", "mac": "52:54:00:12:36:50", "interface": "eth0"}],
  "routes": [{"prefix": "0.0.0.0/0", "next_hop": "172.16.3.1", "protocol": "static"}]}]}`

// TestGatewayByRoleAndAddress: the path starts at the subnet's gateway,
// never at a server of the subnet; both holders of an anycast gateway are
// first hops, and the reason says so.
func TestGatewayByRoleAndAddress(t *testing.T) {
	ix := parseIndex(t, evpnPair)
	r := ix.Analyze(Query{Src: netip.MustParseAddr("172.16.1.10"), Dst: netip.MustParseAddr("10.9.0.5"), Services: tcpPort(443)})
	want := [][]string{
		{"leaf1 Vlan101→Ethernet49/1", "spine1 Ethernet1/1→Ethernet3/1"},
		{"leaf2 Vlan101→Ethernet49/1", "spine1 Ethernet2/1→Ethernet3/1"},
	}
	if diff := cmp.Diff(want, pathLines(r)); diff != "" {
		t.Errorf("Analyze(172.16.1.10 → 10.9.0.5) paths (-want +got):\n%s", diff)
	}
	if r.Verdict != "permit" || !strings.Contains(r.Reason, "first hop: the anycast gateway 172.16.1.1 on leaf1, leaf2, each a valid first hop") {
		t.Errorf("Analyze(172.16.1.10 → 10.9.0.5) = %s (%q), want permit naming the anycast gateway on leaf1 and leaf2", r.Verdict, r.Reason)
	}

	r = ix.Analyze(Query{Src: netip.MustParseAddr("172.16.2.50"), Dst: netip.MustParseAddr("198.51.100.7"), Services: tcpPort(443)})
	if diff := cmp.Diff([][]string{{"r1 Gi0/0→Gi0/1"}}, pathLines(r)); diff != "" {
		t.Errorf("Analyze(172.16.2.50 → 198.51.100.7) paths (-want +got):\n%s", diff)
	}

	r = ix.Analyze(Query{Src: netip.MustParseAddr("172.16.3.50"), Dst: netip.MustParseAddr("10.9.0.5"), Services: tcpPort(443)})
	want3 := "the gateway of 172.16.3.0/24, the source's subnet, is not in the graph: only hosts (db02) have an interface in it"
	if r.Verdict != "unknown" || r.Reason != want3 || len(r.Paths) != 0 {
		t.Errorf("Analyze(172.16.3.50 → 10.9.0.5) = %s (%q) with %d paths, want unknown (%q)", r.Verdict, r.Reason, len(r.Paths), want3)
	}
}

// TestSameSubnetDeliveredToOwner: a destination in the source's subnet
// that a device owns is delivered at that device, along the layer-2 path,
// not "delivered" at the source or at the gateway. Worked out on evpnPair:
//
//   - srv02 → srv01: srv02 sends on eth0; leaf2 Ethernet6 → peer link →
//     leaf1 Ethernet6; srv01 receives on eth0.
//   - the host 172.16.1.10 (at leaf1 Ethernet5) → srv01: leaf1 switches it
//     to Ethernet6; the gateway routes nothing.
//   - spine1's lan → srv01: spine1 has equal-cost routes to both leaves;
//     each routes onto Vlan101 and switches to srv01, leaf2 across the peer
//     link.
//   - the host → 172.16.1.1: the anycast gateway on the host's own switch.
//   - the host → 172.16.1.77: on both servers; which one answers is not known.
func TestSameSubnetDeliveredToOwner(t *testing.T) {
	ix := parseIndex(t, evpnPair)
	cases := []struct {
		name, src, dst string
		verdict        string
		reason         string // substring
		paths          [][]string
	}{
		{
			name: "server to server", src: "172.16.1.21", dst: "172.16.1.20",
			verdict: "permit", reason: "delivered to 172.16.1.20 at srv01",
			paths: [][]string{{"srv02 eth0→eth0", "leaf2 Ethernet6→Ethernet47", "leaf1 Ethernet47→Ethernet6", "srv01 eth0→eth0"}},
		},
		{
			name: "host to server", src: "172.16.1.10", dst: "172.16.1.20",
			verdict: "permit", reason: "delivered to 172.16.1.20 at srv01",
			paths: [][]string{{"leaf1 Ethernet5→Ethernet6", "srv01 eth0→eth0"}},
		},
		{
			name: "routed to the server's segment", src: "10.9.0.5", dst: "172.16.1.20",
			verdict: "permit", reason: "delivered to 172.16.1.20 at srv01; no firewall on the path (all 2 equal-cost paths agree)",
			paths: [][]string{
				{"spine1 Ethernet3/1→Ethernet1/1", "leaf1 Ethernet49/1→Vlan101", "srv01 eth0→eth0"},
				{"spine1 Ethernet3/1→Ethernet2/1", "leaf2 Ethernet49/1→Vlan101", "leaf1 Ethernet47→Ethernet6", "srv01 eth0→eth0"},
			},
		},
		{
			name: "host to the anycast gateway", src: "172.16.1.10", dst: "172.16.1.1",
			verdict: "permit", reason: "delivered to 172.16.1.1 at leaf1",
			paths: [][]string{{"leaf1 Vlan101→Vlan101"}},
		},
		{
			name: "owned by two servers", src: "172.16.1.10", dst: "172.16.1.77",
			verdict: "unknown", reason: "the destination 172.16.1.77 is configured on more than one device (srv01 eth0, srv02 eth0): which one receives the flow is not known",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ix.Analyze(Query{Src: netip.MustParseAddr(c.src), Dst: netip.MustParseAddr(c.dst), Services: tcpPort(5432)})
			if r.Verdict != c.verdict || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("Analyze(%s → %s) = %s (%q), want %s (%q)", c.src, c.dst, r.Verdict, r.Reason, c.verdict, c.reason)
			}
			if diff := cmp.Diff(c.paths, pathLines(r)); diff != "" {
				t.Errorf("Analyze(%s → %s) paths (-want +got):\n%s", c.src, c.dst, diff)
			}
		})
	}
}

// unnumbered is a Junos exit router whose loopback address is borrowed by
// its unnumbered uplinks, worked out by hand:
//
//	core1 lan Ethernet2 10.0.2.0/24; Ethernet1 (unnumbered, loopback0 10.0.0.11) ── exit01 xe-0/0/0.0
//	core2 lan Ethernet2 10.0.4.0/24; Ethernet3 10.0.3.1/30 ── spine2 (not exit01)
//	exit01: xe-0/0/0.0, lo0.0 and xe-0/0/1.0 all hold 192.0.2.1/32 (listed in that order);
//	        xe-0/0/2.0 203.0.113.2/30 to the ISP
//
// core1 reaches 192.0.2.1/32 out Ethernet1 and routes everything by it.
// exit01 has a static 10.20.0.0/16 via 192.0.2.1, its own address (a
// misconfiguration collectors report as it is). core2 has a stale
// 198.51.100.0/24 via 192.0.2.1 out Ethernet3, which leads to spine2.
const unnumbered = `{"schema": "meshq.facts/v1", "devices": [
 {"hostname": "core1", "vendor": "arista", "os": "eos", "role": "core", "interfaces": [
   {"name": "Ethernet1", "ips": ["10.0.0.11/32"]}, {"name": "Ethernet2", "ips": ["10.0.2.1/24"]},
   {"name": "Loopback0", "type": "loopback", "ips": ["10.0.0.11/32"]}],
  "neighbors": [{"local_interface": "Ethernet1", "remote_hostname": "exit01", "remote_interface": "xe-0/0/0", "protocol": "lldp"}],
  "routes": [
   {"prefix": "192.0.2.1/32", "interface": "Ethernet1", "protocol": "bgp"},
   {"prefix": "0.0.0.0/0", "next_hop": "192.0.2.1", "protocol": "bgp"}]},
 {"hostname": "core2", "vendor": "arista", "os": "eos", "role": "core", "interfaces": [
   {"name": "Ethernet2", "ips": ["10.0.4.1/24"]}, {"name": "Ethernet3", "ips": ["10.0.3.1/30"]}],
  "neighbors": [{"local_interface": "Ethernet3", "remote_hostname": "spine2", "remote_interface": "Ethernet3", "protocol": "lldp"}],
  "routes": [{"prefix": "198.51.100.0/24", "next_hop": "192.0.2.1", "interface": "Ethernet3", "protocol": "static"}]},
 {"hostname": "spine2", "vendor": "arista", "os": "eos", "interfaces": [{"name": "Ethernet3", "ips": ["10.0.3.2/30"]}]},
 {"hostname": "exit01", "vendor": "juniper", "os": "junos", "role": "border", "interfaces": [
   {"name": "xe-0/0/0.0", "ips": ["192.0.2.1/32"]},
   {"name": "lo0.0", "mtu": 65536, "ips": ["192.0.2.1/32"]},
   {"name": "xe-0/0/1.0", "ips": ["192.0.2.1/32"]},
   {"name": "xe-0/0/2.0", "ips": ["203.0.113.2/30"]}],
  "routes": [
   {"prefix": "0.0.0.0/0", "next_hop": "203.0.113.1", "protocol": "static"},
   {"prefix": "10.20.0.0/16", "next_hop": "192.0.2.1", "protocol": "static"}]}]}`

// TestUnnumberedHops: an address borrowed by unnumbered interfaces is
// delivered at the loopback that owns it, a hop whose next hop is the
// device itself has no out interface (it does not borrow the in
// interface), and a reason names a device once however many of its
// interfaces hold the address.
func TestUnnumberedHops(t *testing.T) {
	ix := parseIndex(t, unnumbered)
	cases := []struct {
		name, src, dst string
		verdict        string
		reason         string
		paths          [][]string
	}{
		{
			name: "to the loopback", src: "10.0.2.50", dst: "192.0.2.1",
			verdict: "permit", reason: "delivered to 192.0.2.1 at exit01; no firewall on the path",
			paths: [][]string{{"core1 Ethernet2→Ethernet1", "exit01 xe-0/0/0.0→lo0.0"}},
		},
		{
			name: "next hop is the device itself", src: "10.0.2.50", dst: "10.20.1.1",
			verdict: "unknown", reason: "next hop 192.0.2.1 of route 10.20.0.0/16 on exit01 cannot be resolved: it is an address of exit01 itself",
			paths: [][]string{{"core1 Ethernet2→Ethernet1", "exit01 xe-0/0/0.0→"}},
		},
		{
			name: "held by a device that is not adjacent", src: "10.0.4.50", dst: "198.51.100.9",
			verdict: "unknown", reason: "next hop 192.0.2.1 out Ethernet3 on core2 is held by exit01, which is not adjacent to core2",
			paths: [][]string{{"core2 Ethernet2→Ethernet3"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ix.Analyze(Query{Src: netip.MustParseAddr(c.src), Dst: netip.MustParseAddr(c.dst), Services: tcpPort(443)})
			if r.Verdict != c.verdict || r.Reason != c.reason {
				t.Errorf("Analyze(%s → %s) = %s (%q), want %s (%q)", c.src, c.dst, r.Verdict, r.Reason, c.verdict, c.reason)
			}
			if diff := cmp.Diff(c.paths, pathLines(r)); diff != "" {
				t.Errorf("Analyze(%s → %s) paths (-want +got):\n%s", c.src, c.dst, diff)
			}
		})
	}
	// The same address on a second device names each device once.
	g := ix.G
	holders := append(slices.Clone(g.InterfacesByIP(netip.MustParseAddr("192.0.2.1"))), &graph.Interface{Interface: facts.Interface{Name: "lo0"}, Device: g.Device("spine2")})
	if got, want := ownerNames(holders), "exit01 (lo0.0, xe-0/0/0.0, xe-0/0/1.0), spine2 lo0"; got != want {
		t.Errorf("ownerNames(192.0.2.1 holders) = %q, want %q", got, want)
	}
}

// TestHostRouteIsNotOnTheSegment: yr3 holds 10.60.1.77 as a /32 (in
// recursiveNetwork), far from yr1's lan 10.60.1.0/24 that contains it: a
// flow to it on that lan is delivered on the lan by yr1, not handed to yr3
// as if yr3 were on the segment.
func TestHostRouteIsNotOnTheSegment(t *testing.T) {
	ix := recursiveNetwork(t)
	r := ix.Analyze(Query{Src: netip.MustParseAddr("10.60.1.10"), Dst: netip.MustParseAddr("10.60.1.77"), Services: tcpPort(443)})
	if diff := cmp.Diff([][]string{{"yr1 lan→lan"}}, pathLines(r)); diff != "" || r.Verdict != "permit" {
		t.Errorf("Analyze(10.60.1.10 → 10.60.1.77) = %s (%q), paths (-want +got):\n%s", r.Verdict, r.Reason, diff)
	}
}
