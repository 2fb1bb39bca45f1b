package demo

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/meshoptixiq/mesh/common/facts"
)

func marshal(t testing.TB, doc *facts.Document) []byte {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("json.Marshal(Generate()) = %v", err)
	}
	return b
}

func TestGenerateDeterministic(t *testing.T) {
	a := marshal(t, Generate(Options{Seed: 7, Devices: 300}))
	b := marshal(t, Generate(Options{Seed: 7, Devices: 300}))
	if !bytes.Equal(a, b) {
		t.Error("Generate(seed 7) twice gave different documents")
	}
	c := marshal(t, Generate(Options{Seed: 8, Devices: 300}))
	if bytes.Equal(a, c) {
		t.Error("Generate(seed 7) and Generate(seed 8) gave the same document")
	}
}

// TestGenerateIsCanonical checks that the document passes Parse (strict
// decoding and Normalize) and that normalizing changes nothing: the
// generator writes canonical facts.
func TestGenerateIsCanonical(t *testing.T) {
	for _, n := range []int{0, MinDevices, 1000} {
		b := marshal(t, Generate(Options{Seed: 1, Devices: n, FirewallRules: 200}))
		doc, err := facts.Parse(b)
		if err != nil {
			t.Fatalf("Parse(Generate(%d devices)) = %v", n, err)
		}
		if got := marshal(t, doc); !bytes.Equal(got, b) {
			t.Errorf("Normalize changed Generate(%d devices)", n)
		}
	}
}

func TestGenerateSizes(t *testing.T) {
	for _, tt := range []struct{ ask, lo, hi int }{
		{0, 95, 105}, {10, MinDevices, MinDevices + 2}, {1000, 980, 1020}, {3000, 2950, 3050}, {1 << 30, MaxDevices - 200, MaxDevices + 200},
	} {
		if tt.ask > 5000 && testing.Short() {
			continue
		}
		p := planFor(min(max(tt.ask, MinDevices), MaxDevices))
		if tt.ask == 0 {
			p = planFor(DefaultDevices)
		}
		total := fixedDevices + 2*p.pairs + p.leaves
		for _, a := range p.access {
			total += a
			if a > maxAccessPerDP {
				t.Errorf("planFor(%d) puts %d access switches on a pair, want at most %d", tt.ask, a, maxAccessPerDP)
			}
		}
		if total < tt.lo || total > tt.hi {
			t.Errorf("planFor(%d) = %d devices, want %d..%d", tt.ask, total, tt.lo, tt.hi)
		}
	}
	doc := Generate(Options{Seed: 1, Devices: 1000})
	if got := len(doc.Devices); got < 980 || got > 1020 {
		t.Errorf("Generate(1000 devices) = %d devices, want about 1000", got)
	}
}

// network indexes a document for the structural checks.
type network struct {
	doc   *facts.Document
	dev   map[string]*facts.Device
	ifc   map[string]map[string]*facts.Interface
	owner map[netip.Addr][]string // interface address → "host ifc"
}

func index(t *testing.T, doc *facts.Document) *network {
	t.Helper()
	n := &network{doc: doc, dev: map[string]*facts.Device{}, ifc: map[string]map[string]*facts.Interface{}, owner: map[netip.Addr][]string{}}
	for i := range doc.Devices {
		d := &doc.Devices[i]
		n.dev[d.Hostname] = d
		n.ifc[d.Hostname] = map[string]*facts.Interface{}
		for j := range d.Interfaces {
			ifc := &d.Interfaces[j]
			n.ifc[d.Hostname][ifc.Name] = ifc
			for _, ip := range ifc.IPs {
				p := netip.MustParsePrefix(ip)
				if ifc.VRF == "default" {
					n.owner[p.Addr()] = append(n.owner[p.Addr()], d.Hostname+" "+ifc.Name)
				}
			}
		}
	}
	return n
}

func TestGenerateStructure(t *testing.T) {
	doc := Generate(Options{Seed: 3, Devices: 600})
	n := index(t, doc)
	roles := map[string]int{}
	for _, d := range doc.Devices {
		roles[d.Role]++
	}
	for role, want := range map[string]int{"core": 2, "border": 2, "firewall": 2, "spine": 2} {
		if roles[role] != want {
			t.Errorf("%s devices = %d, want %d", role, roles[role], want)
		}
	}

	// Every neighbor entry is seen from the other end, on interfaces that
	// exist, with matching MTU and speed except the deliberate mismatches.
	for _, d := range doc.Devices {
		for _, nb := range d.Neighbors {
			peer, ok := n.dev[nb.RemoteHostname]
			if !ok {
				t.Errorf("%s %s: neighbor %s is not in the network", d.Hostname, nb.LocalInterface, nb.RemoteHostname)
				continue
			}
			if n.ifc[peer.Hostname][nb.RemoteInterface] == nil {
				t.Errorf("%s %s: neighbor's interface %s %s does not exist", d.Hostname, nb.LocalInterface, peer.Hostname, nb.RemoteInterface)
			}
			back := false
			for _, pn := range peer.Neighbors {
				if pn.RemoteHostname == d.Hostname && pn.RemoteInterface == nb.LocalInterface && pn.LocalInterface == nb.RemoteInterface {
					back = true
				}
			}
			if !back {
				t.Errorf("%s %s → %s %s has no neighbor entry the other way", d.Hostname, nb.LocalInterface, nb.RemoteHostname, nb.RemoteInterface)
			}
		}
	}

	// Access switches: two uplinks to the two members of one distribution
	// pair, about 40 interfaces and 20 endpoints.
	var ifcs, endpoints, switches int
	for _, d := range doc.Devices {
		if d.Role != "access" || d.Hostname == "lab-sw-01" || d.Hostname == "dmz-sw-01" {
			continue
		}
		switches++
		ifcs += len(d.Interfaces)
		uplinks := map[string]bool{}
		for _, nb := range d.Neighbors {
			if n.dev[nb.RemoteHostname].Role != "distribution" {
				t.Errorf("%s has a neighbor %s of role %s, want distribution", d.Hostname, nb.RemoteHostname, n.dev[nb.RemoteHostname].Role)
			}
			uplinks[nb.RemoteHostname] = true
		}
		if len(d.Neighbors) != 2 || len(uplinks) != 2 {
			t.Errorf("%s has uplinks to %v, want 2 to distinct distribution switches", d.Hostname, uplinks)
		}
		linked := map[string]bool{}
		for _, nb := range d.Neighbors {
			linked[nb.LocalInterface] = true
		}
		for _, e := range d.MACTable {
			if !linked[e.Interface] {
				endpoints++
			}
		}
	}
	if avg := float64(ifcs) / float64(switches); avg < 38 || avg > 44 {
		t.Errorf("access switches have %.1f interfaces on average, want about 40", avg)
	}
	if avg := float64(endpoints) / float64(switches); avg < 17 || avg > 23 {
		t.Errorf("access switches have %.1f endpoints on average, want about 20", avg)
	}

	// Leaves are dual-homed to both spines.
	for _, d := range doc.Devices {
		if d.Role != "leaf" {
			continue
		}
		if len(d.Neighbors) != 2 || d.Neighbors[0].RemoteHostname == d.Neighbors[1].RemoteHostname {
			t.Errorf("%s neighbors = %v, want one to each spine", d.Hostname, d.Neighbors)
		}
	}

	// Every ARP entry's IP is in a subnet of the interface it was seen on;
	// every route's next hop is in a connected subnet of the device.
	for _, d := range doc.Devices {
		for _, e := range d.ARP {
			if !inSubnetOf(n.ifc[d.Hostname][e.Interface], e.IP) {
				t.Errorf("%s arp %s on %s: not in the interface's subnets", d.Hostname, e.IP, e.Interface)
			}
		}
		for _, r := range d.Routes {
			if r.NextHop == "" {
				continue
			}
			if !inSubnetOf(n.ifc[d.Hostname][r.Interface], r.NextHop) {
				t.Errorf("%s route %s via %s on %s: next hop not on that interface's subnets", d.Hostname, r.Prefix, r.NextHop, r.Interface)
			}
		}
	}

	// Firewalls have zones bound to interfaces that exist, and rules.
	for _, name := range []string{"fw-edge-01", "fw-dc-01"} {
		fw := n.dev[name].Firewall
		if fw == nil || len(fw.Zones) < 3 || len(fw.Rules) < ShowcaseRules {
			t.Errorf("%s firewall = %+v, want at least 3 zones and %d rules", name, fw, ShowcaseRules)
			continue
		}
		for _, z := range fw.Zones {
			for _, i := range z.Interfaces {
				if ifc := n.ifc[name][i]; ifc == nil || ifc.Zone != z.Name {
					t.Errorf("%s zone %s interface %s missing or not bound", name, z.Name, i)
				}
			}
		}
	}

	// Some IPv6, and BGP: many sessions, exactly one not established.
	v6 := 0
	for a := range n.owner {
		if a.Is6() {
			v6++
		}
	}
	if v6 < 10 {
		t.Errorf("%d IPv6 interface addresses, want some", v6)
	}
	var down []string
	sessions := 0
	for _, d := range doc.Devices {
		for _, p := range d.BGPPeers {
			sessions++
			if p.State != "established" {
				down = append(down, d.Hostname+" "+p.PeerIP)
			}
		}
	}
	if want := []string{"border-rtr-02 198.51.100.6"}; sessions < 10 || !cmp.Equal(down, want) {
		t.Errorf("%d BGP sessions, down %v, want many and down %v", sessions, down, want)
	}

	// The only duplicate interface address is the deliberate one.
	var dups []string
	for a, owners := range n.owner {
		if len(owners) > 1 {
			dups = append(dups, a.String()+": "+strings.Join(owners, ", "))
		}
	}
	if want := []string{"10.32.0.2: dist-sw-001 Vlan10, lab-sw-01 Vlan1"}; !cmp.Equal(dups, want) {
		t.Errorf("duplicate interface addresses = %v, want %v", dups, want)
	}
}

func inSubnetOf(ifc *facts.Interface, ip string) bool {
	if ifc == nil {
		return false
	}
	a := netip.MustParseAddr(ip)
	for _, s := range ifc.IPs {
		if netip.MustParsePrefix(s).Masked().Contains(a) {
			return true
		}
	}
	return false
}

// TestGenerateProblems checks that each deliberate problem in Problems is
// in the facts, and that there are no accidental ones of the same kinds.
func TestGenerateProblems(t *testing.T) {
	for _, size := range []int{MinDevices, 500} {
		doc := Generate(Options{Seed: 11, Devices: size})
		n := index(t, doc)
		peerOf := func(host, ifc string) *facts.Interface {
			for _, nb := range n.dev[host].Neighbors {
				if nb.LocalInterface == ifc {
					return n.ifc[nb.RemoteHostname][nb.RemoteInterface]
				}
			}
			return nil
		}
		type finding struct{ Kind, Host, Ifc string }
		var got []finding
		for _, d := range doc.Devices {
			if len(d.Neighbors) == 0 {
				got = append(got, finding{"hygiene_orphan_devices", d.Hostname, ""})
			}
			for _, p := range d.BGPPeers {
				if p.State != "established" {
					got = append(got, finding{"bgp_sessions_down", d.Hostname, ""})
				}
			}
			for _, ifc := range d.Interfaces {
				if ifc.AdminUp != nil && *ifc.AdminUp && ifc.OperUp != nil && !*ifc.OperUp {
					got = append(got, finding{"interfaces_down", d.Hostname, ifc.Name})
				}
				if ifc.OperUp != nil && *ifc.OperUp && ifc.Description == "" {
					got = append(got, finding{"hygiene_interfaces_no_description", d.Hostname, ifc.Name})
				}
				for _, ip := range ifc.IPs {
					a := netip.MustParsePrefix(ip).Addr()
					if len(n.owner[a]) > 1 && d.Hostname == "lab-sw-01" {
						got = append(got, finding{"hygiene_duplicate_ips", d.Hostname, ifc.Name})
					}
				}
				peer := peerOf(d.Hostname, ifc.Name)
				// Each link is reported once, from the end whose name sorts first
				// among access switches (the access side here).
				if peer == nil || d.Role != "access" {
					continue
				}
				if peer.MTU != ifc.MTU {
					got = append(got, finding{"hygiene_mtu_mismatch", d.Hostname, ifc.Name})
				}
				if peer.SpeedMbps != ifc.SpeedMbps {
					got = append(got, finding{"hygiene_speed_mismatch", d.Hostname, ifc.Name})
				}
				if !cmp.Equal(peer.TrunkVLANs, ifc.TrunkVLANs) {
					got = append(got, finding{"hygiene_vlan_mismatch", d.Hostname, ifc.Name})
				}
			}
		}
		var want []finding
		for _, p := range Problems() {
			want = append(want, finding{p.Kind, p.Hostname, p.Interface})
		}
		less := func(a, b finding) bool { return a.Kind+a.Host+a.Ifc < b.Kind+b.Host+b.Ifc }
		if diff := cmp.Diff(want, got, cmpopts.SortSlices(less)); diff != "" {
			t.Errorf("Generate(%d devices) hygiene findings differ from Problems (-want +got):\n%s", size, diff)
		}
	}
}

// The address plan of the largest network: every campus /24 distinct,
// inside the inside zones' aggregates and clear of every other part, and
// every management address distinct and in its device's subnet. Networks
// up to 24,000 devices keep the addresses they always had.
func TestAddressPlanToMaxDevices(t *testing.T) {
	for _, tt := range []struct {
		p, vi int
		want  string
	}{
		{0, 0, "10.32.0.0/24"}, {1023, 3, "10.63.251.0/24"}, // first block: as before
		{1024, 0, "10.64.0.0/24"}, {3071, 3, "10.127.251.0/24"}, {3072, 0, "10.144.0.0/24"},
	} {
		if got := campusSubnet(tt.p, tt.vi).String(); got != tt.want {
			t.Errorf("campusSubnet(%d, %d) = %s, want %s", tt.p, tt.vi, got, tt.want)
		}
	}
	for k, want := range map[int]string{0: "10.255.0.2", 249: "10.255.0.251", 250: "10.255.1.2", 63999: "10.255.255.251", 64000: "10.253.0.2"} {
		if got := mgmtAddr(k).String(); got != want {
			t.Errorf("mgmtAddr(%d) = %s, want %s", k, got, want)
		}
	}

	p := planFor(MaxDevices)
	others := []netip.Prefix{dcAggregate, dmzSubnet, jumpSubnet, netip.MustParsePrefix("10.254.0.0/16")}
	others = append(others, mgmtBlocks...)
	aggs := campusAggregates(p.pairs)
	seen := map[netip.Prefix]bool{}
	for pair := range p.pairs {
		for vi := range campusVLANs {
			s := campusSubnet(pair, vi)
			if seen[s] {
				t.Fatalf("campusSubnet(%d, %d) = %s, given twice", pair, vi, s)
			}
			seen[s] = true
			if !slices.ContainsFunc(aggs, func(a netip.Prefix) bool { return a.Contains(s.Addr()) }) {
				t.Fatalf("campusSubnet(%d, %d) = %s, outside the campus aggregates %v", pair, vi, s, aggs)
			}
			for _, o := range others {
				if o.Overlaps(s) {
					t.Fatalf("campusSubnet(%d, %d) = %s overlaps %s", pair, vi, s, o)
				}
			}
		}
	}
	addrs := map[netip.Addr]bool{}
	for k := range MaxDevices + 200 {
		a := mgmtAddr(k)
		if addrs[a] || !mgmtBlock(k).Contains(a) {
			t.Fatalf("mgmtAddr(%d) = %s: repeated, or outside %s", k, a, mgmtBlock(k))
		}
		addrs[a] = true
	}
	// Point-to-point /31s: four per distribution pair, two per leaf and
	// the fixed parts' (counted on a small network) must fit in
	// 10.254.0.0/16.
	small := &gen{seed: 1, plan: planFor(1000)}
	small.build()
	fixed := small.nextP2P - 4*small.plan.pairs - 2*small.plan.leaves
	if n := 4*p.pairs + 2*p.leaves + fixed; n > 32768 {
		t.Errorf("planFor(%d) needs %d point-to-point /31s, 10.254.0.0/16 has 32768", MaxDevices, n)
	}
}
