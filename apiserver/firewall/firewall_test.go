package firewall

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
)

func ptr[T any](v T) *T { return &v }

// testPolicy is a small firewall whose answers are worked out by hand in
// the tests below.
//
//	zones: trust (eth1), dmz (eth2), untrust (eth3); eth4 has no zone.
//	web       network 10.9.0.0/24
//	web-extra range   10.9.1.10-10.9.1.20
//	web-all   group   [web-group-inner]      (nested twice)
//	web-group-inner group [web, web-extra]
//	cdn       fqdn    cdn.example.com
//	v6-net    network 2001:db8:1::/48
//	admins    host    10.1.1.5
//	https tcp/443, web-ports group [https, alt-http], alt-http tcp/8000-8080
//
//	10 permit trust→dmz  any     → web-all   web-ports
//	20 deny   trust→dmz  admins  → any       any         (disabled)
//	30 deny   trust→dmz  any     → web       tcp/22
//	40 permit trust→dmz  any     → cdn       https
//	50 deny   any→any    any     → 10.9.2.0/24 any
//	60 permit trust→trust any    → any       any         (intra-zone)
//	70 permit any→dmz    v6-net  → 2001:db8:9::/48 tcp/22
//	default deny
func testPolicy() *Policy {
	fw := &facts.Firewall{
		DefaultAction: "deny",
		Zones: []facts.Zone{
			{Name: "trust", Interfaces: []string{"eth1"}},
			{Name: "dmz", Interfaces: []string{"eth2"}},
			{Name: "untrust", Interfaces: []string{"eth3"}},
		},
		AddressObjects: []facts.AddressObject{
			{Name: "web", Type: "network", Value: "10.9.0.0/24"},
			{Name: "web-extra", Type: "range", Value: "10.9.1.10-10.9.1.20"},
			{Name: "web-all", Type: "group", Members: []string{"web-group-inner"}},
			{Name: "web-group-inner", Type: "group", Members: []string{"web", "web-extra"}},
			{Name: "cdn", Type: "fqdn", Value: "cdn.example.com"},
			{Name: "v6-net", Type: "network", Value: "2001:db8:1::/48"},
			{Name: "admins", Type: "host", Value: "10.1.1.5"},
		},
		ServiceObjects: []facts.ServiceObject{
			{Name: "https", Protocol: "tcp", DestPorts: "443"},
			{Name: "alt-http", Protocol: "tcp", DestPorts: "8000-8080"},
			{Name: "web-ports", Members: []string{"https", "alt-http"}},
		},
		Rules: []facts.Rule{
			// Out of document order on purpose: rule_order decides.
			{RuleID: "30", RuleOrder: 30, Action: "deny", SrcZones: []string{"trust"}, DstZones: []string{"dmz"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"web"}, Services: []string{"tcp/22"}},
			{RuleID: "10", RuleName: "web-in", RuleOrder: 10, Action: "permit", SrcZones: []string{"trust"}, DstZones: []string{"dmz"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"web-all"}, Services: []string{"web-ports"}},
			{RuleID: "20", RuleOrder: 20, Action: "deny", SrcZones: []string{"trust"}, DstZones: []string{"dmz"},
				SrcAddresses: []string{"admins"}, DstAddresses: []string{"any"}, Services: []string{"any"}, Enabled: ptr(false)},
			{RuleID: "40", RuleOrder: 40, Action: "permit", SrcZones: []string{"trust"}, DstZones: []string{"dmz"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"cdn"}, Services: []string{"https"}},
			{RuleID: "50", RuleOrder: 50, Action: "deny", SrcZones: []string{"any"}, DstZones: []string{"any"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"10.9.2.0/24"}, Services: []string{"any"}},
			{RuleID: "60", RuleOrder: 60, Action: "permit", SrcZones: []string{"trust"}, DstZones: []string{"trust"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"any"}, Services: []string{"any"}},
			{RuleID: "70", RuleOrder: 70, Action: "permit", SrcZones: []string{"any"}, DstZones: []string{"dmz"},
				SrcAddresses: []string{"v6-net"}, DstAddresses: []string{"2001:db8:9::/48"}, Services: []string{"tcp/22"}},
		},
	}
	return Compile("fw-1", fw, []facts.Interface{{Name: "eth1"}, {Name: "eth2"}, {Name: "eth3"}, {Name: "eth4"}})
}

func tcp(port uint16) Ranges { return ServiceSet(ProtoTCP, []Span{{uint32(port), uint32(port)}}) }

type evalCase struct {
	name            string
	src, dst        string
	svc             Ranges
	inZone, outZone string
	verdict, rule   string // rule "" = default action
	reason          string // substring of Reason
}

func TestEvaluate(t *testing.T) {
	p := testPolicy()
	cases := []evalCase{
		{name: "nested group network", src: "10.1.1.5", dst: "10.9.0.7", svc: tcp(443), inZone: "trust", outZone: "dmz", verdict: "permit", rule: "10"},
		{name: "nested group range and port range", src: "10.1.1.5", dst: "10.9.1.15", svc: tcp(8080), inZone: "trust", outZone: "dmz", verdict: "permit", rule: "10"},
		{name: "just outside the range falls to rule 40's fqdn", src: "10.1.1.5", dst: "10.9.1.21", svc: tcp(443), inZone: "trust", outZone: "dmz", verdict: "unknown", reason: "address object cdn is an fqdn"},
		{name: "port outside the group, ssh denied by 30", src: "10.1.1.5", dst: "10.9.0.7", svc: tcp(22), inZone: "trust", outZone: "dmz", verdict: "deny", rule: "30"},
		{name: "disabled rule 20 skipped", src: "10.1.1.5", dst: "10.9.0.7", svc: tcp(8000), inZone: "trust", outZone: "dmz", verdict: "permit", rule: "10"},
		{name: "fqdn cannot change a deny into a deny", src: "10.1.1.5", dst: "10.9.3.1", svc: tcp(80), inZone: "trust", outZone: "dmz", verdict: "deny", rule: ""},
		{name: "fqdn could permit what default denies", src: "10.1.1.5", dst: "10.9.3.1", svc: tcp(443), inZone: "trust", outZone: "dmz", verdict: "unknown", reason: "rule 40 on fw-1 may match first"},
		{name: "fqdn rule before a deny rule", src: "10.1.1.5", dst: "10.9.2.1", svc: tcp(443), inZone: "trust", outZone: "dmz", verdict: "unknown", reason: "cdn is an fqdn"},
		{name: "any zones deny", src: "10.1.1.5", dst: "10.9.2.1", svc: tcp(80), inZone: "untrust", outZone: "dmz", verdict: "deny", rule: "50"},
		{name: "intra-zone flow", src: "10.1.1.5", dst: "10.1.2.9", svc: tcp(3389), inZone: "trust", outZone: "trust", verdict: "permit", rule: "60"},
		{name: "wrong zone pair falls to default", src: "10.1.1.5", dst: "10.9.0.7", svc: tcp(443), inZone: "untrust", outZone: "dmz", verdict: "deny", rule: ""},
		{name: "unzoned interface matches only any zones", src: "10.1.1.5", dst: "10.9.2.1", svc: tcp(443), inZone: "", outZone: "dmz", verdict: "deny", rule: "50"},
		{name: "ipv6", src: "2001:db8:1::10", dst: "2001:db8:9::1", svc: tcp(22), inZone: "untrust", outZone: "dmz", verdict: "permit", rule: "70"},
		{name: "ipv6 wrong port", src: "2001:db8:1::10", dst: "2001:db8:9::1", svc: tcp(23), inZone: "untrust", outZone: "dmz", verdict: "deny", rule: ""},
		{name: "all tcp ports split between permit and default deny", src: "10.1.1.5", dst: "10.9.0.7", svc: ServiceSet(ProtoTCP, []Span{{0, 65535}}), inZone: "trust", outZone: "dmz", verdict: "unknown", reason: "depends on the service"},
		{name: "whole service set decided by one rule", src: "10.1.1.5", dst: "10.9.2.1", svc: AllServices(), inZone: "untrust", outZone: "dmz", verdict: "deny", rule: "50"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := p.Evaluate(Flow{Src: netip.MustParseAddr(c.src), Dst: netip.MustParseAddr(c.dst), Services: c.svc, InZone: c.inZone, OutZone: c.outZone})
			got := ""
			if d.Rule != nil {
				got = d.Rule.RuleID
			}
			if d.Verdict != c.verdict || (c.verdict != "unknown" && got != c.rule) || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("Evaluate(%s→%s %s) = %s by rule %q (%q), want %s by rule %q (%q)",
					c.src, c.dst, FormatServices(c.svc), d.Verdict, got, d.Reason, c.verdict, c.rule, c.reason)
			}
		})
	}
}

func TestCompileProblems(t *testing.T) {
	fw := &facts.Firewall{
		DefaultAction: "deny",
		AddressObjects: []facts.AddressObject{
			{Name: "a", Type: "group", Members: []string{"b"}},
			{Name: "b", Type: "group", Members: []string{"a", "h"}},
			{Name: "h", Type: "host", Value: "10.0.0.1"},
		},
		Rules: []facts.Rule{
			{RuleID: "1", RuleOrder: 1, Action: "permit", SrcAddresses: []string{"a"}, DstAddresses: []string{"nope"}, Services: []string{"bogus"}},
			{RuleID: "2", RuleOrder: 2, Action: "permit", SrcAddresses: []string{"h"}, DstAddresses: []string{"any"}, Services: []string{"any"}},
		},
	}
	p := Compile("fw", fw, nil)
	want := []string{
		"address group a has a cycle (a → b → a)",
		"address object nope is not defined",
		"service object bogus is not defined",
	}
	if diff := cmp.Diff(want, p.Problems); diff != "" {
		t.Errorf("Compile problems (-want +got):\n%s", diff)
	}
	// The cycle keeps the member that does resolve: 10.0.0.1 surely matches
	// rule 1's source, but its destination is undefined, so a flow to
	// anywhere is unknown until rule 2 (same action) decides.
	d := p.Evaluate(Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("192.0.2.1"), Services: tcp(80)})
	if d.Verdict != "permit" || d.Rule == nil || d.Rule.RuleID != "2" {
		t.Errorf("Evaluate through undefined objects = %s by %v (%s), want permit by rule 2", d.Verdict, d.Rule, d.Reason)
	}
}

func TestEvaluateNoDefaultAction(t *testing.T) {
	p := Compile("fw", &facts.Firewall{}, nil)
	d := p.Evaluate(Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Services: tcp(80)})
	if d.Verdict != "unknown" || !d.Default || !strings.Contains(d.Reason, "no usable default action") {
		t.Errorf("Evaluate with no default action = %s default=%v (%q), want unknown by default", d.Verdict, d.Default, d.Reason)
	}
}

func TestShadowedHandBuilt(t *testing.T) {
	// Rule 30 (10.0.0.0/24 tcp/80-90) is covered by rules 10 (lower half
	// of the network) and 20 (upper half, tcp/any) together, though by
	// neither alone. Rule 40 is covered except one port. Rule 50 is a
	// duplicate of 10 behind a disabled rule. Rule 60 is behind an fqdn
	// rule only, so it is not shadowed. Rule 70 is covered by 10+20 on
	// IPv4 but names IPv6 too, so it is not.
	fw := &facts.Firewall{
		DefaultAction: "deny",
		Zones:         []facts.Zone{{Name: "in"}, {Name: "out"}},
		AddressObjects: []facts.AddressObject{
			{Name: "lo-half", Type: "range", Value: "10.0.0.0-10.0.0.127"},
			{Name: "hi-half", Type: "network", Value: "10.0.0.128/25"},
			{Name: "net", Type: "group", Members: []string{"lo-grp"}},
			{Name: "lo-grp", Type: "group", Members: []string{"lo-half", "hi-half"}},
			{Name: "cdn", Type: "fqdn", Value: "cdn.example.com"},
		},
		Rules: []facts.Rule{
			{RuleID: "10", RuleOrder: 10, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"lo-half"}, Services: []string{"tcp/0-100"}},
			{RuleID: "20", RuleOrder: 20, Action: "deny", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"hi-half"}, Services: []string{"tcp"}},
			{RuleID: "30", RuleOrder: 30, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"192.0.2.0/24"}, DstAddresses: []string{"net"}, Services: []string{"tcp/80-90"}},
			{RuleID: "40", RuleOrder: 40, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"net"}, Services: []string{"tcp/100-101"}},
			{RuleID: "45", RuleOrder: 45, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"any"}, Services: []string{"any"}, Enabled: ptr(false)},
			{RuleID: "50", RuleOrder: 50, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"10.0.0.0/25"}, Services: []string{"tcp/0-100"}},
			{RuleID: "55", RuleOrder: 55, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"cdn"}, Services: []string{"any"}},
			{RuleID: "60", RuleOrder: 60, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"198.51.100.1"}, Services: []string{"udp/53"}},
			{RuleID: "70", RuleOrder: 70, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"net", "2001:db8::/32"}, Services: []string{"tcp/80"}},
			{RuleID: "80", RuleOrder: 80, Action: "permit", SrcZones: []string{"in", "out"}, DstZones: []string{"out"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"net"}, Services: []string{"tcp/80"}},
		},
	}
	p := Compile("fw", fw, nil)
	got, st := p.Shadowed()
	type row struct {
		ID   string
		By   []string
		Diff bool
	}
	var rows []row
	for _, s := range got {
		r := row{ID: s.Rule.RuleID, Diff: s.DifferentAction}
		for _, b := range s.By {
			r.By = append(r.By, b.RuleID)
		}
		rows = append(rows, r)
	}
	want := []row{
		{ID: "30", By: []string{"10", "20"}, Diff: true},
		{ID: "50", By: []string{"10"}, Diff: false},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("Shadowed() (-want +got):\n%s", diff)
	}
	if st.Rules != 9 || st.Undecided != 0 {
		t.Errorf("Shadowed() stats = %+v, want 9 rules, 0 undecided", st)
	}
}
