package pathanalysis

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
)

// vendorIndex indexes one of the hand-built vendor networks of
// common/facts/testdata, edited by the replacements given (old, new, …).
func vendorIndex(t *testing.T, name string, edits ...string) *Index {
	t.Helper()
	data, err := os.ReadFile("../../common/facts/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(doc, edits[i]) {
			t.Fatalf("%s has no %q to edit", name, edits[i])
		}
		doc = strings.Replace(doc, edits[i], edits[i+1], 1)
	}
	return parseIndex(t, doc)
}

// hops writes a path as "device in→out" steps.
func hops(p Path) []string {
	var out []string
	for _, h := range p.Hops {
		out = append(out, h.Device.Hostname+" "+h.In+"→"+h.Out)
	}
	return out
}

func analyze(ix *Index, src, dst string) Result {
	return ix.Analyze(Query{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Services: firewall.AllServices()})
}

// The EVPN fabric of eos_evpn_mlag.json (see query's vendor_test.go for
// the picture), worked out by hand.
func TestOverlayL3VNI(t *testing.T) {
	ix := vendorIndex(t, "eos_evpn_mlag.json")

	// h1 (10.1.10.11, VLAN 10 on leaf1) to db1 (10.1.20.50, VLAN 20 on
	// leaf3). The anycast gateway 10.1.10.1 is on the three leaves: three
	// first hops. leaf1 and leaf2 route 10.1.20.0/24 in tenant-a to the
	// VTEP 10.0.255.13 with the L3 VNI 50001 (an EVPN type-5 route); the
	// underlay has a route to it (10.0.255.13/32 over both spines); leaf3
	// owns that VTEP (Loopback1) and maps VNI 50001 to tenant-a, where
	// 10.1.20.0/24 is connected on Vlan20: delivered. leaf3 itself has it
	// connected.
	r := analyze(ix, "10.1.10.11", "10.1.20.50")
	if r.Verdict != firewall.VerdictPermit || !strings.Contains(r.Reason, "delivered to 10.1.20.50 at leaf3") ||
		!strings.Contains(r.Reason, "all 3 equal-cost paths agree") || !strings.Contains(r.Reason, "anycast gateway 10.1.10.1 on leaf1, leaf2, leaf3") {
		t.Errorf("h1 → db1 = %s (%s), want permit at leaf3 over 3 first hops", r.Verdict, r.Reason)
	}
	var got [][]string
	for _, p := range r.Paths {
		got = append(got, hops(p))
	}
	want := [][]string{
		{"leaf1 Vlan10→Vxlan1", "leaf3 Vxlan1→Vlan20"},
		{"leaf2 Vlan10→Vxlan1", "leaf3 Vxlan1→Vlan20"},
		{"leaf3 Vlan10→Vlan20"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("h1 → db1 paths (-want +got):\n%s", diff)
	}
	if h := r.Paths[0].Hops[0]; h.Note != "route 10.1.20.0/24 via VTEP 10.0.255.13, VXLAN VNI 50001" || h.NextHop != netip.MustParseAddr("10.0.255.13") || r.Paths[0].Hops[1].VRF != "tenant-a" {
		t.Errorf("leaf1 hop = %+v, then VRF %q; want the VTEP route, then tenant-a", h, r.Paths[0].Hops[1].VRF)
	}

	// db1 to srv30 (10.1.30.40): leaf3 routes 10.1.30.0/24 to the VTEP
	// 10.0.255.12, which leaf1 and leaf2 share (MLAG): two paths, each
	// delivered on the VTEP's connected Vlan30.
	r = analyze(ix, "10.1.20.50", "10.1.30.40")
	got = nil
	for _, p := range r.Paths {
		got = append(got, hops(p))
	}
	want = [][]string{
		{"leaf3 Vlan20→Vxlan1", "leaf1 Vxlan1→Vlan30"},
		{"leaf3 Vlan20→Vxlan1", "leaf2 Vxlan1→Vlan30"},
	}
	if diff := cmp.Diff(want, got); diff != "" || r.Verdict != firewall.VerdictPermit {
		t.Errorf("db1 → srv30 = %s (%s), paths (-want +got):\n%s", r.Verdict, r.Reason, diff)
	}

	// leaf3 discards 10.99.0.0/16 in tenant-a (a static to Null0).
	r = analyze(ix, "10.1.20.50", "10.99.1.1")
	if r.Verdict != firewall.VerdictDeny || r.Reason != "dropped by route 10.99.0.0/16 on leaf3 (vrf tenant-a)" {
		t.Errorf("db1 → 10.99.1.1 = %s (%s), want deny by the drop route", r.Verdict, r.Reason)
	}

	// Where the remote VTEP does not say what VNI 50001 is, the paths over
	// the overlay are unknown and say why; leaf3's own path still
	// delivers, so the equal-cost paths disagree.
	ix = vendorIndex(t, "eos_evpn_mlag.json", `{"vni": 10020, "vlan": 20}, {"vni": 50001, "vrf": "tenant-a"}`, `{"vni": 10020, "vlan": 20}`)
	r = analyze(ix, "10.1.10.11", "10.1.20.50")
	if r.Verdict != firewall.VerdictUnknown || !strings.Contains(r.Reason, "leaf3, the VTEP 10.0.255.13, maps no VRF to VNI 50001") {
		t.Errorf("h1 → db1 without leaf3's L3 VNI = %s (%s), want unknown naming the missing map", r.Verdict, r.Reason)
	}

	// Without an underlay route to the VTEP, the overlay path is unknown.
	ix = vendorIndex(t, "eos_evpn_mlag.json", `{"prefix": "10.0.255.12/32", "protocol": "bgp", "admin_distance": 200,
    "next_hops": [{"ip": "10.0.1.4"`, `{"prefix": "10.0.255.99/32", "protocol": "bgp", "admin_distance": 200,
    "next_hops": [{"ip": "10.0.1.4"`)
	r = analyze(ix, "10.1.20.50", "10.1.30.40")
	if r.Verdict != firewall.VerdictUnknown || !strings.Contains(r.Reason, "has no underlay route to the VTEP 10.0.255.12") {
		t.Errorf("db1 → srv30 with no underlay route = %s (%s), want unknown", r.Verdict, r.Reason)
	}
}

// h1 (10.1.10.11 on leaf1) to lb1 (10.1.10.100, a device on leaf3's
// Ethernet7) in one subnet: bridged from leaf1 over the L2 VNI 10010 of
// VLAN 10 to leaf3, which switches it out Ethernet7 to lb1.
func TestOverlayL2VNI(t *testing.T) {
	ix := vendorIndex(t, "eos_evpn_mlag.json")
	r := analyze(ix, "10.1.10.11", "10.1.10.100")
	if r.Verdict != firewall.VerdictPermit || len(r.Paths) != 1 {
		t.Fatalf("h1 → lb1 = %s (%s) with %d paths, want one permitted path", r.Verdict, r.Reason, len(r.Paths))
	}
	want := []string{"leaf1 Ethernet5→Vxlan1", "leaf3 Vxlan1→Ethernet7", "lb1 1.1→1.1"}
	if diff := cmp.Diff(want, hops(r.Paths[0])); diff != "" {
		t.Errorf("h1 → lb1 hops (-want +got):\n%s", diff)
	}
	if n := r.Paths[0].Hops[1].Note; n != "bridged over VXLAN VNI 10010 (layer 2)" {
		t.Errorf("leaf3 note = %q, want the VNI", n)
	}
	// leaf3 not mapping VLAN 10: the segment is stretched (leaf1 maps it)
	// but no VTEP leads to lb1: unknown, not a guess.
	ix = vendorIndex(t, "eos_evpn_mlag.json", `"vnis": [{"vni": 10010, "vlan": 10}, {"vni": 10020`, `"vnis": [{"vni": 10020`)
	r = analyze(ix, "10.1.10.11", "10.1.10.100")
	if r.Verdict != firewall.VerdictUnknown || r.Reason != "the segment of 10.1.10.100 is stretched over VXLAN VNI 10010, but no VTEP that maps the VNI leads from leaf1 to lb1, which owns it" {
		t.Errorf("h1 → lb1 without leaf3's VNI 10010 = %s (%s), want unknown", r.Verdict, r.Reason)
	}
}

// nxos_unnumbered.json: next hops are the neighbours' IPv6 link-local
// addresses on unnumbered interfaces (RFC 5549); the device on the far
// end of the interface is the next one. app01 (10.3.10.10 on nxlf1) to
// db02 (10.3.20.20 on nxlf2): nxlf1 → nxsp1 → nxlf2.
func TestUnnumberedNextHops(t *testing.T) {
	ix := vendorIndex(t, "nxos_unnumbered.json")
	r := analyze(ix, "10.3.10.10", "10.3.20.20")
	if r.Verdict != firewall.VerdictPermit || len(r.Paths) != 1 {
		t.Fatalf("app01 → db02 = %s (%s), want one permitted path", r.Verdict, r.Reason)
	}
	want := []string{"nxlf1 Vlan10→Ethernet1/49", "nxsp1 Ethernet1/1→Ethernet1/2", "nxlf2 Ethernet1/49→Vlan20"}
	if diff := cmp.Diff(want, hops(r.Paths[0])); diff != "" {
		t.Errorf("app01 → db02 hops (-want +got):\n%s", diff)
	}
}

// junos_edge.json, worked out by hand: core1 sends everything to edge1
// (ae0). edge1 prefers the ISP-A default (preference 5) to the ISP-B one
// (10), discards 192.0.2.0/24 (its own aggregate) and rejects the rest of
// 10.0.0.0/8 beyond 10.20.0.0/16.
func TestJunosRouteActions(t *testing.T) {
	ix := vendorIndex(t, "junos_edge.json")
	for _, c := range []struct{ dst, verdict, reason string }{
		{"192.0.2.55", firewall.VerdictDeny, "dropped by route 192.0.2.0/24 on edge1"},
		{"10.30.1.1", firewall.VerdictDeny, "rejected by route 10.0.0.0/8 on edge1"},
		{"10.255.0.1", firewall.VerdictPermit, "delivered to 10.255.0.1 at edge1; no firewall on the path"},
	} {
		if r := analyze(ix, "10.20.0.10", c.dst); r.Verdict != c.verdict || r.Reason != c.reason {
			t.Errorf("10.20.0.10 → %s = %s (%s), want %s (%s)", c.dst, r.Verdict, r.Reason, c.verdict, c.reason)
		}
	}
	r := analyze(ix, "10.20.0.10", "8.8.8.8")
	if len(r.Paths) != 1 || r.Paths[0].Hops[1].NextHop != netip.MustParseAddr("203.0.113.1") {
		t.Errorf("10.20.0.10 → 8.8.8.8: paths %v, want one, via ISP-A (preference 5)", r.Paths)
	}
	edge1 := ix.G.Device("edge1")
	ms, ok := ix.RouteLookup(edge1, "", netip.MustParseAddr("8.8.8.8"))
	if !ok || len(ms) != 1 || ms[0].NextHop != netip.MustParseAddr("203.0.113.1") || *ms[0].AdminDistance != 5 {
		t.Errorf("RouteLookup(edge1, 8.8.8.8) = %+v, want the preference-5 default only", ms)
	}
	// Without preferences both defaults are equal-cost.
	ix = vendorIndex(t, "junos_edge.json", `"protocol": "static", "admin_distance": 5}`, `"protocol": "static"}`,
		`"protocol": "static", "admin_distance": 10}`, `"protocol": "static"}`)
	if ms, _ := ix.RouteLookup(ix.G.Device("edge1"), "default", netip.MustParseAddr("8.8.8.8")); len(ms) != 2 {
		t.Errorf("RouteLookup without preferences = %+v, want both defaults", ms)
	}
}

// A route leaked from VRF blue into the default VRF (next_hop_vrf), worked
// out by hand: pe1's blue subnet 10.60.0.0/24 (Vlan60) routes 10.50.0.0/16
// via 10.0.0.2 resolved in the default VRF, where 10.0.0.0/30 is connected
// (Ethernet1) to pe2, which has 10.50.0.0/16 connected. The flow goes on in
// the default VRF and is delivered at pe2.
func TestLeakedRouteNextHopVRF(t *testing.T) {
	const leak = `{"schema": "meshq.facts/v1", "devices": [
 {"hostname": "pe1", "interfaces": [
   {"name": "Vlan60", "vrf": "blue", "ips": ["10.60.0.1/24"]},
   {"name": "Ethernet1", "mode": "routed", "ips": ["10.0.0.1/30"]}],
  "neighbors": [{"local_interface": "Ethernet1", "remote_hostname": "pe2", "remote_interface": "Ethernet1"}],
  "routes": [{"vrf": "blue", "prefix": "10.50.0.0/16", "next_hop": "10.0.0.2", "next_hop_vrf": "default", "protocol": "static"}]},
 {"hostname": "pe2", "interfaces": [
   {"name": "Ethernet1", "mode": "routed", "ips": ["10.0.0.2/30"]},
   {"name": "Vlan50", "ips": ["10.50.0.1/16"]}],
  "routes": [{"prefix": "10.60.0.0/24", "next_hop": "10.0.0.1", "protocol": "static"}]}]}`
	r := analyze(parseIndex(t, leak), "10.60.0.10", "10.50.1.1")
	if r.Verdict != firewall.VerdictPermit || len(r.Paths) != 1 {
		t.Fatalf("blue → default = %s (%s), want permit", r.Verdict, r.Reason)
	}
	want := []string{"pe1 Vlan60→Ethernet1", "pe2 Ethernet1→Vlan50"}
	if diff := cmp.Diff(want, hops(r.Paths[0])); diff != "" || r.Paths[0].Hops[1].VRF != "default" || r.Paths[0].Hops[0].Note != "route 10.50.0.0/16 via 10.0.0.2 (vrf default)" {
		t.Errorf("leaked route hops (-want +got):\n%s\nhops %+v", diff, r.Paths[0].Hops)
	}
}
