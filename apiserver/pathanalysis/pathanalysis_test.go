package pathanalysis

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/common/facts"
)

func testNetwork(t *testing.T) *graph.Graph {
	t.Helper()
	doc := pathtest.Document()
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize(test network) = %v", err)
	}
	return graph.Build(1, doc.Devices, graph.Options{})
}

func tcpPort(p uint32) firewall.Ranges {
	return firewall.ServiceSet(firewall.ProtoTCP, []firewall.Span{{Lo: p, Hi: p}})
}

// hopLine is a hop as one comparable line: host in→out zones rule action.
func hopLine(h Hop) string {
	s := h.Device.Hostname + " " + h.In + "→" + h.Out
	if h.Firewall != nil && h.Decision.Verdict != "" {
		rule := "default"
		if h.Decision.Rule != nil {
			rule = h.Decision.Rule.RuleID
		}
		s += " [" + h.InZone + "→" + h.OutZone + " " + rule + " " + h.Decision.Action + "]"
	}
	return s
}

// pathLines is every path of r as its hops' lines.
func pathLines(r Result) [][]string {
	var got [][]string
	for _, p := range r.Paths {
		var lines []string
		for _, h := range p.Hops {
			lines = append(lines, hopLine(h))
		}
		got = append(got, lines)
	}
	return got
}

func TestAnalyze(t *testing.T) {
	ix := NewIndex(testNetwork(t))
	cases := []struct {
		name     string
		src, dst string
		svc      firewall.Ranges
		verdict  string
		reason   string // substring
		paths    [][]string
	}{
		{
			name: "permitted through nested groups", src: "10.1.1.10", dst: "10.9.0.7", svc: tcpPort(443),
			verdict: "permit", reason: "permitted by rule 10 on fw-1",
			paths: [][]string{{"gw-a lan→p1", "fw-1 outside→inside [untrust→trust 10 permit]"}},
		},
		{
			name: "denied by rule", src: "10.1.1.10", dst: "10.9.0.7", svc: tcpPort(22),
			verdict: "deny", reason: "denied by rule 20 on fw-1",
			paths: [][]string{{"gw-a lan→p1", "fw-1 outside→inside [untrust→trust 20 deny]"}},
		},
		{
			name: "default action", src: "10.1.1.10", dst: "10.9.0.7", svc: firewall.ServiceSet(firewall.ProtoUDP, []firewall.Span{{Lo: 53, Hi: 53}}),
			verdict: "deny", reason: "denied by the default action (deny) on fw-1",
			paths: [][]string{{"gw-a lan→p1", "fw-1 outside→inside [untrust→trust default deny]"}},
		},
		{
			name: "fqdn makes it unknown", src: "10.1.1.10", dst: "10.9.1.5", svc: tcpPort(443),
			verdict: "unknown", reason: "address object cdn-hosts is an fqdn",
			paths: [][]string{{"gw-a lan→p1", "fw-1 outside→dmz1 [untrust→dmz default deny]"}},
		},
		{
			name: "intra-zone flow at the source's gateway", src: "10.9.1.5", dst: "10.9.2.5", svc: tcpPort(80),
			verdict: "permit", reason: "permitted by rule 40 on fw-1",
			paths: [][]string{{"fw-1 dmz1→dmz2 [dmz→dmz 40 permit]"}},
		},
		{
			name: "equal-cost paths that agree", src: "10.1.1.10", dst: "10.8.0.9", svc: tcpPort(443),
			verdict: "permit", reason: "all 2 equal-cost paths agree",
			paths: [][]string{
				{"gw-a lan→p1", "fw-1 outside→c3 [untrust→core 60 permit]", "c-1 p3→lan"},
				{"gw-a lan→p2", "rtr-b p2→p4", "c-1 p4→lan"},
			},
		},
		{
			name: "equal-cost paths that disagree", src: "10.1.1.10", dst: "10.8.0.9", svc: tcpPort(22),
			verdict: "unknown", reason: "equal-cost paths disagree: path 1 deny (denied by the default action (deny) on fw-1); path 2 permit",
			paths: [][]string{
				{"gw-a lan→p1", "fw-1 outside→c3 [untrust→core default deny]"},
				{"gw-a lan→p2", "rtr-b p2→p4", "c-1 p4→lan"},
			},
		},
		{
			name: "routing loop", src: "10.1.1.10", dst: "10.7.0.1", svc: tcpPort(80),
			verdict: "deny", reason: "routing loop: gw-a → rtr-b → gw-a",
			paths: [][]string{{"gw-a lan→p2", "rtr-b p2→p2", "gw-a p2→"}},
		},
		{
			name: "no route", src: "10.1.1.10", dst: "10.6.0.5", svc: tcpPort(80),
			verdict: "deny", reason: "no route to 10.6.0.5 on rtr-b",
			paths: [][]string{{"gw-a lan→p2", "rtr-b p2→"}},
		},
		{
			name: "leaves the known network", src: "10.1.1.10", dst: "8.8.8.8", svc: tcpPort(53),
			verdict: "permit", reason: "leaves the known network at gw-a towards 203.0.113.1; the verdict covers only the known part of the path, not what lies beyond the known network",
			paths: [][]string{{"gw-a lan→wan"}},
		},
		{
			name: "leaves the network though the destination is known", src: "10.1.1.10", dst: "10.66.0.5", svc: tcpPort(80),
			verdict: "deny", reason: "no route to 10.66.0.5: it is in 10.66.0.0/24 (c-1), but the path leaves the known network at gw-a towards 203.0.113.1",
			paths: [][]string{{"gw-a lan→wan"}},
		},
		{
			name: "no route on the firewall", src: "10.1.1.10", dst: "10.9.9.9", svc: tcpPort(443),
			verdict: "deny", reason: "no route to 10.9.9.9 on fw-1",
			paths: [][]string{{"gw-a lan→p1", "fw-1 outside→"}},
		},
		{
			name: "topology where devices have no routes", src: "10.1.1.10", dst: "10.5.0.9", svc: tcpPort(80),
			verdict: "permit", reason: "delivered to 10.5.0.9 at srv-r; no firewall on the path",
			paths: [][]string{{"gw-a lan→p5", "l3sw up→down", "sw-x up→down", "srv-r eth0→eth0"}},
		},
		{
			name: "ipv6", src: "2001:db8:a::10", dst: "2001:db8:9::5", svc: tcpPort(443),
			verdict: "permit", reason: "permitted by rule 50 on fw-1",
			paths: [][]string{{"gw-a lan→p1", "fw-1 outside6→inside6 [untrust→trust 50 permit]"}},
		},
		{
			name: "vrf without the route", src: "172.16.0.9", dst: "10.9.0.7", svc: tcpPort(443),
			verdict: "deny", reason: "no route to 10.9.0.7 on gw-a (vrf red)",
			paths: [][]string{{"gw-a red-lan→"}},
		},
		{
			name: "same subnet never crosses the gateway", src: "10.9.1.5", dst: "10.9.1.9", svc: tcpPort(22),
			verdict: "permit", reason: "10.9.1.5 and 10.9.1.9 are in the same subnet 10.9.1.0/24: switched within the segment",
		},
		{
			// Rule 20 denies ssh into trust only; the firewall's own dmz1
			// address is in dmz, so the intra-zone rule 40 decides.
			name: "to the gateway's own address", src: "10.9.1.5", dst: "10.9.1.1", svc: tcpPort(22),
			verdict: "permit", reason: "permitted by rule 40 on fw-1",
			paths: [][]string{{"fw-1 dmz1→dmz1 [dmz→dmz 40 permit]"}},
		},
		{
			name: "source nobody routes", src: "192.0.2.50", dst: "10.9.0.7", svc: tcpPort(443),
			verdict: "unknown", reason: "no subnet in the graph contains the source 192.0.2.50",
		},
		{
			name: "all services split by the firewall", src: "10.1.1.10", dst: "10.9.0.7", svc: firewall.AllServices(),
			verdict: "unknown", reason: "the answer depends on the service on fw-1",
			paths: [][]string{{"gw-a lan→p1", "fw-1 outside→inside [untrust→trust 10 permit]"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ix.Analyze(Query{Src: netip.MustParseAddr(c.src), Dst: netip.MustParseAddr(c.dst), Services: c.svc})
			got := pathLines(r)
			if r.Verdict != c.verdict || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("Analyze(%s → %s) = %s (%q), want %s (%q)", c.src, c.dst, r.Verdict, r.Reason, c.verdict, c.reason)
			}
			if diff := cmp.Diff(c.paths, got); diff != "" {
				t.Errorf("Analyze(%s → %s) paths (-want +got):\n%s", c.src, c.dst, diff)
			}
		})
	}
}

func TestScanShadowedCancelled(t *testing.T) {
	ix := NewIndex(testNetwork(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ScanShadowed(ctx, ix.Firewalls); !errors.Is(err, context.Canceled) {
		t.Errorf("ScanShadowed(cancelled) = %v, want context.Canceled", err)
	}
	if err := ScanShadowed(context.Background(), ix.Firewalls); err != nil {
		t.Errorf("ScanShadowed = %v, want nil", err)
	}
}

// TestECMPTruncated: twenty equal-cost next hops give MaxBranches paths and
// Truncated, never more, and no verdict the unfollowed paths could change.
func TestECMPTruncated(t *testing.T) {
	r0 := facts.Device{Hostname: "r0", Interfaces: []facts.Interface{{Name: "lan", Mode: facts.ModeRouted, IPs: []string{"192.168.0.1/24"}}}}
	devices := []facts.Device{}
	for i := 1; i <= 20; i++ {
		port := fmt.Sprintf("p%d", i)
		r0.Interfaces = append(r0.Interfaces, facts.Interface{Name: port, Mode: facts.ModeRouted, IPs: []string{fmt.Sprintf("10.0.%d.1/30", i)}})
		r0.Routes = append(r0.Routes, facts.Route{Prefix: "10.50.0.0/16", NextHop: fmt.Sprintf("10.0.%d.2", i)})
		devices = append(devices, facts.Device{
			Hostname:   fmt.Sprintf("r%02d", i),
			Interfaces: []facts.Interface{{Name: "up", Mode: facts.ModeRouted, IPs: []string{fmt.Sprintf("10.0.%d.2/30", i)}}, {Name: "lan", Mode: facts.ModeRouted, IPs: []string{"10.50.0.1/24"}}},
			Routes:     []facts.Route{{Prefix: "0.0.0.0/0", NextHop: fmt.Sprintf("10.0.%d.1", i)}},
		})
	}
	doc := &facts.Document{Schema: facts.Schema, Devices: append(devices, r0)}
	if err := facts.Normalize(doc); err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(graph.Build(1, doc.Devices, graph.Options{}))
	r := ix.Analyze(Query{Src: netip.MustParseAddr("192.168.0.9"), Dst: netip.MustParseAddr("10.50.0.7"), Services: tcpPort(80)})
	// The four paths not followed could disagree: unknown, saying so.
	if len(r.Paths) != MaxBranches || !r.Truncated || r.Verdict != "unknown" || !strings.Contains(r.Reason, "the first 16 equal-cost paths agree (delivered to 10.50.0.7 at r01; no firewall on the path), but more were not followed") {
		t.Errorf("Analyze over 20 equal-cost routes = %d paths, truncated %v, %s (%s); want %d, true, unknown", len(r.Paths), r.Truncated, r.Verdict, r.Reason, MaxBranches)
	}
	if got := r.Paths[0].Hops[1].Device.Hostname; got != "r01" {
		t.Errorf("first equal-cost path goes to %s, want r01 (next hops in address order)", got)
	}
}

// recursiveNetwork, worked out by hand:
//
//	lan 10.60.1.0/24 ── yr1 ─to-fw── yfw (default deny, no rules) ─out── yr3 (lo 10.60.250.3, lan 10.60.9.0/24)
//
// yr1 learns 10.60.9.0/24 by BGP with next hop 10.60.250.3, yr3's
// loopback, which it reaches by 10.60.250.3/32 via yfw. yr1 also has
// 10.61.0.0/16 via 10.99.0.1 (no route to it) and 10.62.0.0/16 via
// 10.62.0.1 (resolvable only through itself), and 10.63.0.0/16 via
// 10.60.1.77, on its lan but configured only on yr3 (as a /32), which is
// not adjacent to it. yfw's e2 (10.60.30.0/24) and e3 (10.60.31.0/24) are
// in no zone; one any-zone rule permits everything to 10.60.31.0/24.
// yr3 also has yr1's lan address 10.60.1.1 (a duplicate).
func recursiveNetwork(t *testing.T) *Index {
	t.Helper()
	doc := &facts.Document{Schema: facts.Schema, Devices: []facts.Device{
		{
			Hostname:   "yr1",
			Interfaces: []facts.Interface{pathIface("lan", "10.60.1.1/24"), pathIface("to-fw", "10.60.12.1/30")},
			Neighbors:  []facts.Neighbor{{LocalInterface: "to-fw", RemoteHostname: "yfw", RemoteInterface: "in", Protocol: "lldp"}},
			Routes: []facts.Route{
				{Prefix: "10.60.9.0/24", NextHop: "10.60.250.3", Protocol: "bgp"},
				{Prefix: "10.60.250.3/32", NextHop: "10.60.12.2", Protocol: "ospf"},
				{Prefix: "10.61.0.0/16", NextHop: "10.99.0.1", Protocol: "bgp"},
				{Prefix: "10.62.0.0/16", NextHop: "10.62.0.1", Protocol: "bgp"},
				{Prefix: "10.63.0.0/16", NextHop: "10.60.1.77", Protocol: "static"},
				{Prefix: "10.60.30.0/23", NextHop: "10.60.12.2", Protocol: "ospf"},
			},
		},
		{
			Hostname:   "yfw",
			Role:       "firewall",
			Interfaces: []facts.Interface{pathIface("in", "10.60.12.2/30"), pathIface("out", "10.60.23.1/30"), pathIface("e2", "10.60.30.1/24"), pathIface("e3", "10.60.31.1/24")},
			Neighbors:  []facts.Neighbor{{LocalInterface: "out", RemoteHostname: "yr3", RemoteInterface: "up", Protocol: "lldp"}},
			Routes: []facts.Route{
				{Prefix: "10.60.9.0/24", NextHop: "10.60.23.2", Protocol: "static"},
				{Prefix: "10.60.250.3/32", NextHop: "10.60.23.2", Protocol: "static"},
				{Prefix: "10.60.1.0/24", NextHop: "10.60.12.1", Protocol: "static"},
			},
			Firewall: &facts.Firewall{DefaultAction: "deny", Zones: []facts.Zone{
				{Name: "inside", Interfaces: []string{"in"}},
				{Name: "outside", Interfaces: []string{"out"}},
			}, Rules: []facts.Rule{
				{RuleID: "5", RuleOrder: 5, Action: "permit", SrcZones: []string{"any"}, DstZones: []string{"any"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"10.60.31.0/24"}, Services: []string{"any"}},
			}},
		},
		{
			Hostname:   "yr3",
			Interfaces: []facts.Interface{pathIface("up", "10.60.23.2/30"), pathIface("lo", "10.60.250.3/32"), pathIface("lan", "10.60.9.1/24"), pathIface("far", "10.60.1.77/32"), pathIface("dup", "10.60.1.1/32")},
			Routes:     []facts.Route{{Prefix: "10.60.1.0/24", NextHop: "10.60.23.1", Protocol: "static"}},
		},
	}}
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize(recursive network) = %v", err)
	}
	return NewIndex(graph.Build(1, doc.Devices, graph.Options{}))
}

func pathIface(name, ip string) facts.Interface {
	return facts.Interface{Name: name, Mode: facts.ModeRouted, IPs: []string{ip}}
}

// TestRecursiveNextHop: a next hop that is not on a connected subnet is
// resolved through the same device's routes, so the flow goes to the
// adjacent firewall (which denies it) rather than jumping to the device
// that holds the address; one that cannot be resolved is unknown.
func TestRecursiveNextHop(t *testing.T) {
	ix := recursiveNetwork(t)
	cases := []struct {
		name, dst string
		verdict   string
		reason    string // substring
		paths     [][]string
	}{
		{
			name: "through the firewall in between", dst: "10.60.9.5",
			verdict: "deny", reason: "denied by the default action (deny) on yfw",
			paths: [][]string{{"yr1 lan→to-fw", "yfw in→out [inside→outside default deny]"}},
		},
		{
			name: "next hop with no route to it", dst: "10.61.0.5",
			verdict: "unknown", reason: "next hop 10.99.0.1 of route 10.61.0.0/16 on yr1 cannot be resolved: yr1 has no route to it",
			paths: [][]string{{"yr1 lan→"}},
		},
		{
			name: "next hop resolvable only through itself", dst: "10.62.0.5",
			verdict: "unknown", reason: "next hop 10.62.0.1 of route 10.62.0.0/16 on yr1 cannot be resolved: it resolves through itself",
			paths: [][]string{{"yr1 lan→"}},
		},
		{
			name: "next hop held only by a device that is not adjacent", dst: "10.63.0.5",
			verdict: "unknown", reason: "next hop 10.60.1.77 out lan on yr1 is held by yr3, which is not adjacent to yr1",
			paths: [][]string{{"yr1 lan→lan"}},
		},
		{
			// The default action would deny, but a zone rule could decide
			// had e2 a zone: not a definite answer.
			name: "out of an interface in no zone", dst: "10.60.30.5",
			verdict: "unknown", reason: "interface e2 of yfw is in no zone",
			paths: [][]string{{"yr1 lan→to-fw", "yfw in→e2 [inside→ default deny]"}},
		},
		{
			name: "an any-zone rule decides regardless of the zone", dst: "10.60.31.5",
			verdict: "permit", reason: "permitted by rule 5 on yfw",
			paths: [][]string{{"yr1 lan→to-fw", "yfw in→e3 [inside→ 5 permit]"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ix.Analyze(Query{Src: netip.MustParseAddr("10.60.1.10"), Dst: netip.MustParseAddr(c.dst), Services: tcpPort(443)})
			got := pathLines(r)
			if r.Verdict != c.verdict || !strings.Contains(r.Reason, c.reason) {
				t.Errorf("Analyze(10.60.1.10 → %s) = %s (%q), want %s (%q)", c.dst, r.Verdict, r.Reason, c.verdict, c.reason)
			}
			if diff := cmp.Diff(c.paths, got); diff != "" {
				t.Errorf("Analyze(10.60.1.10 → %s) paths (-want +got):\n%s", c.dst, diff)
			}
		})
	}
}

// TestDuplicateSourceAddress: a source address configured on two devices
// does not silently start at the first.
func TestDuplicateSourceAddress(t *testing.T) {
	ix := recursiveNetwork(t)
	r := ix.Analyze(Query{Src: netip.MustParseAddr("10.60.1.1"), Dst: netip.MustParseAddr("10.60.9.5"), Services: tcpPort(443)})
	want := "the source 10.60.1.1 is configured on more than one device (yr1 lan, yr3 dup): which one sends the flow is not known"
	if r.Verdict != "unknown" || r.Reason != want || len(r.Paths) != 0 {
		t.Errorf("Analyze(10.60.1.1 → 10.60.9.5) = %s (%q) with %d paths, want unknown (%q) and none", r.Verdict, r.Reason, len(r.Paths), want)
	}
}
