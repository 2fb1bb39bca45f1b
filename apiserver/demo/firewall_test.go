package demo

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/common/facts"
)

func showcaseDevice(rules int) facts.Device {
	zones := []FirewallZone{
		{Name: "users", Interfaces: []string{"eth1"}, Subnets: []netip.Prefix{netip.MustParsePrefix("10.10.0.0/24"), netip.MustParsePrefix("10.10.1.0/24")}},
		{Name: "servers", Interfaces: []string{"eth2"}, Subnets: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}},
		{Name: "outside", Interfaces: []string{"eth3"}},
	}
	return facts.Device{
		Hostname: "fw-demo",
		Interfaces: []facts.Interface{
			{Name: "eth1", IPs: []string{"10.10.0.1/24"}}, {Name: "eth2", IPs: []string{"10.20.0.1/24"}}, {Name: "eth3", IPs: []string{"192.0.2.1/30"}},
		},
		Firewall: FirewallPolicy(rand.New(rand.NewPCG(1, 2)), "fw-demo", zones, rules),
	}
}

func TestFirewallPolicyShowcase(t *testing.T) {
	doc := &facts.Document{Schema: facts.Schema, Devices: []facts.Device{showcaseDevice(ShowcaseRules)}}
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize(showcase policy) = %v", err)
	}
	d := doc.Devices[0]
	p := firewall.Compile(d.Hostname, d.Firewall, d.Interfaces)
	if len(p.Rules) != ShowcaseRules {
		t.Fatalf("showcase policy has %d rules, want %d", len(p.Rules), ShowcaseRules)
	}
	sh, _ := p.Shadowed()
	type row struct {
		ID   string
		By   []string
		Diff bool
	}
	var got []row
	for _, s := range sh {
		r := row{ID: s.Rule.RuleID, Diff: s.DifferentAction}
		for _, b := range s.By {
			r.By = append(r.By, b.RuleID)
		}
		got = append(got, r)
	}
	want := []row{
		{ID: "50", By: []string{"30", "40"}, Diff: true},  // behind two partial denies
		{ID: "110", By: []string{"10", "20"}, Diff: true}, // behind the web-farm group and b-https
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("showcase shadowed rules (-want +got):\n%s", diff)
	}
	eval := func(src, dst string, port uint32, in, out string) firewall.Decision {
		return p.Evaluate(firewall.Flow{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst),
			Services: firewall.ServiceSet(firewall.ProtoTCP, []firewall.Span{{Lo: port, Hi: port}}), InZone: in, OutZone: out})
	}
	for _, c := range []struct {
		src, dst, in, out string
		port              uint32
		verdict, rule     string
	}{
		{"10.10.0.5", "10.20.0.30", "users", "servers", 80, "permit", "10"},      // range in a nested group
		{"10.10.0.5", "10.10.1.9", "users", "users", 3389, "permit", "60"},       // intra-zone
		{"10.10.0.5", "10.20.0.200", "users", "servers", 22, "deny", "40"},       // the upper partial deny
		{"10.10.0.5", "10.20.0.30", "users", "servers", 8080, "permit", "90"},    // overlapping alt-web
		{"10.10.0.5", "10.20.0.30", "users", "servers", 9999, "deny", "default"}, // no rule for the port, the fqdn rule is https only
		{"10.10.0.5", "203.0.113.9", "users", "servers", 443, "unknown", ""},     // fqdn could permit what default denies
		{"10.20.0.250", "10.10.0.9", "servers", "users", 161, "deny", "default"}, // snmp is udp: tcp/161 falls through
	} {
		dec := eval(c.src, c.dst, c.port, c.in, c.out)
		rule := "default"
		if dec.Rule != nil {
			rule = dec.Rule.RuleID
		}
		if c.verdict == "unknown" {
			rule = ""
		}
		if dec.Verdict != c.verdict || (c.verdict != "unknown" && rule != c.rule) {
			t.Errorf("Evaluate(%s→%s tcp/%d) = %s by %s (%s), want %s by %s", c.src, c.dst, c.port, dec.Verdict, rule, dec.Reason, c.verdict, c.rule)
		}
	}
	var unused []string
	for _, o := range p.UnusedObjects() {
		unused = append(unused, o.Name)
	}
	if diff := cmp.Diff([]string{"legacy-server", "legacy-servers", "legacy-telnet"}, unused); diff != "" {
		t.Errorf("showcase unused objects (-want +got):\n%s", diff)
	}
}

func TestFirewallPolicyBulkValid(t *testing.T) {
	doc := &facts.Document{Schema: facts.Schema, Devices: []facts.Device{showcaseDevice(2000)}}
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize(2,000-rule policy) = %v", err)
	}
	d := doc.Devices[0]
	p := firewall.Compile(d.Hostname, d.Firewall, d.Interfaces)
	if len(p.Rules) != 2000 || !cmp.Equal(p.Problems, []string{"address object cdn-hosts is an fqdn"}) {
		t.Fatalf("2,000-rule policy: %d rules, problems %v; want 2000 rules, only the fqdn", len(p.Rules), p.Problems)
	}
}
