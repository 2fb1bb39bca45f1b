package pathanalysis

import (
	"context"
	"errors"
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
			verdict: "permit", reason: "leaves the known network at gw-a towards 203.0.113.1",
			paths: [][]string{{"gw-a lan→"}},
		},
		{
			name: "leaves the network though the destination is known", src: "10.1.1.10", dst: "10.66.0.5", svc: tcpPort(80),
			verdict: "deny", reason: "no route to 10.66.0.5: it is in 10.66.0.0/24 (c-1), but the path leaves the known network at gw-a towards 203.0.113.1",
			paths: [][]string{{"gw-a lan→"}},
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
			var got [][]string
			for _, p := range r.Paths {
				var lines []string
				for _, h := range p.Hops {
					lines = append(lines, hopLine(h))
				}
				got = append(got, lines)
			}
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
