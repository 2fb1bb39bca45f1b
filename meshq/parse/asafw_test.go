package parse

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// The outbound ACL example of Cisco's ASA firewall configuration guide:
// three hosts may reach a web server, bound "out interface outside".
func TestASAOutboundACL(t *testing.T) {
	dir := t.TempDir()
	cacheConfig(t, dir, "asa1", "cisco_asa", "cisco_asa/config-guide")
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	var want []facts.Rule
	for i, host := range []string{"10.1.1.14", "10.1.2.67", "10.1.3.34"} {
		want = append(want, facts.Rule{RuleID: "OUTSIDE:" + string(rune('1'+i)), RuleName: "OUTSIDE", RuleOrder: i, Action: "permit",
			DstZones: []string{"outside"}, SrcAddresses: []string{host}, DstAddresses: []string{"209.165.200.225"}, Services: []string{"tcp/80"}})
	}
	if diff := cmp.Diff(&facts.Firewall{Rules: want}, d.Firewall); diff != "" {
		t.Errorf("firewall (-want +got):\n%s", diff)
	}
}

// The ASA examples of Cisco's ASA-to-FTD migration guide, bound "in
// interface outside": networks with masks, a service object in the
// protocol position, and a source port, which the facts cannot say.
func TestASAMigrationGuideRules(t *testing.T) {
	dir := t.TempDir()
	cacheConfig(t, dir, "asa2", "cisco_asa", "cisco_asa/migration-guide")
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	// The binding comes last, so the rules (and the note) appear with it.
	if diff := cmp.Diff([]string{`fw_bindings (show running-config access-group): skipped: access list acp1 line 2: left out: source ports are not in the facts format`}, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	want := &facts.Firewall{
		ServiceObjects: []facts.ServiceObject{{Name: "servObj1", Protocol: "tcp", DestPorts: "78"}},
		Rules: []facts.Rule{
			{RuleID: "acp1:1", RuleName: "acp1", RuleOrder: 0, Action: "permit", SrcZones: []string{"outside"},
				SrcAddresses: []string{"3.4.5.0/24"}, DstAddresses: []string{"5.6.7.0/24"}, Services: []string{"tcp"}},
			{RuleID: "acp1:3", RuleName: "acp1", RuleOrder: 1, Action: "permit", SrcZones: []string{"outside"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"any"}, Services: []string{"servObj1"}},
		},
	}
	if diff := cmp.Diff(want, d.Firewall); diff != "" {
		t.Errorf("firewall (-want +got):\n%s", diff)
	}
}

// Objects and groups recorded for ntc-templates: hosts, subnets, ranges
// and FQDNs (IPv4 and IPv6); groups with literal members become groups of
// objects named by their value; groups naming undefined objects are left
// out, with why.
func TestASAObjects(t *testing.T) {
	dir := t.TempDir()
	cacheConfig(t, dir, "asa3", "cisco_asa", "cisco_asa/ntc-config")
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	want := []string{
		`fw_services (show running-config object-group): skipped: network Dev: left out: member dev_web-servers is not defined`,
		`fw_services (show running-config object-group): skipped: network Prod: left out: member svr01 is not defined`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	objs := map[string]facts.AddressObject{}
	for _, o := range d.Firewall.AddressObjects {
		objs[o.Name] = o
	}
	for _, w := range []facts.AddressObject{
		{Name: "corp", Type: "network", Value: "10.0.0.0/8"},
		{Name: "host-10.10.11.1", Type: "host", Value: "10.10.11.1"},
		{Name: "visitors", Type: "range", Value: "10.10.10.4-10.10.10.60"},
		{Name: "cloudflare-ipv6-dns-primary", Type: "host", Value: "2606:4700:4700::1111"},
		{Name: "internal-ipv6-range", Type: "range", Value: "fd00::-fd00::ffff"},
		{Name: "internal-ipv6-subnet", Type: "network", Value: "fd00::/8"},
		{Name: "fqdn_test_v6", Type: "fqdn", Value: "example.com"},
		// "network-object 10.143.185.10 255.255.255.255" is a host.
		{Name: "Lab", Type: "group", Members: []string{"10.143.185.10", "10.143.185.15"}},
		{Name: "10.143.185.10", Type: "host", Value: "10.143.185.10"},
		{Name: "NETWORK-10.42.89.0_24", Type: "group", Members: []string{"10.142.89.0/24"}},
		{Name: "10.142.89.0/24", Type: "network", Value: "10.142.89.0/24"},
	} {
		if diff := cmp.Diff(w, objs[w.Name]); diff != "" {
			t.Errorf("object %s (-want +got):\n%s", w.Name, diff)
		}
	}
	// 15 objects, and 7 groups (Dev and Prod left out, with the objects
	// their literal members would have made) of 8 literal members.
	if n := len(d.Firewall.AddressObjects); n != 30 {
		t.Errorf("%d address objects, want 30", n)
	}
	if _, ok := objs["Prod"]; ok {
		t.Error("Prod is in the facts")
	}
	// Seven access groups bind lists this cache does not hold: no rules.
	if len(d.Firewall.Rules) != 0 {
		t.Errorf("rules = %v", d.Firewall.Rules)
	}
}

// Service groups recorded for ntc-templates: what the facts format cannot
// say (ICMP types, protocol numbers, source ports) leaves the group out,
// and the groups that contain it.
func TestASAServiceGroups(t *testing.T) {
	dir := t.TempDir()
	cacheConfig(t, dir, "asa4", "cisco_asa", "cisco_asa/ntc-services")
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	want := []string{
		`fw_services (show running-config object-group): skipped: service one: left out: member "icmp echo 0": ICMP types are not in the facts format`,
		`fw_services (show running-config object-group): skipped: service two: left out: member "137": protocol 137 is not tcp, udp, icmp or ip`,
		`fw_services (show running-config object-group): skipped: service three: left out: member "udp source range 48129 48137": source ports are not in the facts format`,
		`fw_services (show running-config object-group): skipped: service four: left out: member three is left out (member "udp source range 48129 48137": source ports are not in the facts format)`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// Group five is a port group (ports for rules, no object); the
	// objects made for the members of groups left out go with them.
	if d.Firewall != nil {
		t.Errorf("firewall = %+v, want none", d.Firewall)
	}
}

// Rules with a port group, a protocol group, network groups, port
// operators, an inactive entry, and what cannot be a rule; global rules
// after interface ones; an ACL bound twice.
func TestASARuleForms(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "asa5", "cisco_asa", "", map[platform.Kind]string{
		platform.KindFirewall: strings.Join([]string{
			"access-list inside_in remark allow the web servers",
			"access-list inside_in extended permit tcp object-group CLIENTS object-group WEB object-group WEB_PORTS",
			"access-list inside_in extended permit object-group TCPUDP any host 192.0.2.53 eq domain log",
			"access-list inside_in extended deny tcp any any range 6000 6063 inactive",
			"access-list inside_in extended permit tcp any any neq telnet",
			"access-list inside_in extended permit icmp any any echo-reply",
			"access-list inside_in extended permit esp any any",
			"access-list inside_in extended permit tcp any interface outside eq https",
			"access-list inside_in extended permit ip any6 2001:db8::/32",
			"access-list global_acl extended deny ip any4 any4",
			"access-list nat_only extended permit ip 10.0.0.0 255.0.0.0 any",
			"",
		}, "\n"),
		platform.KindFWServices: "object-group network CLIENTS\n network-object 10.10.0.0 255.255.0.0\n network-object host 10.20.0.5\n" +
			"object-group network WEB\n network-object object web1\n" +
			"object-group service WEB_PORTS tcp\n port-object eq www\n port-object range 8080 8081\n" +
			"object-group protocol TCPUDP\n protocol-object tcp\n protocol-object udp\n",
		platform.KindFWObjects:  "object network web1\n host 192.0.2.80\n",
		platform.KindFWBindings: "access-group inside_in in interface inside\naccess-group global_acl global\naccess-group inside_in in interface dmz\n",
	})
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	want := []string{
		`fw_bindings (show running-config access-group): skipped: access list inside_in line 6: left out: ICMP types are not in the facts format`,
		`fw_bindings (show running-config access-group): skipped: access list inside_in line 7: left out: protocol esp is not tcp, udp, icmp or ip`,
		`fw_bindings (show running-config access-group): skipped: access list inside_in line 8: left out: destination: an interface's own address (interface outside) is not in the output`,
		`fw_bindings (show running-config access-group): skipped: access list nat_only is bound by no access-group: not interface policy, left out`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// inside_in is bound twice: its five rules for inside, again for dmz,
	// then the global rule.
	rules := d.Firewall.Rules
	if len(rules) != 11 {
		t.Fatalf("%d rules, want 11: %+v", len(rules), rules)
	}
	in := func(z string) []string { return []string{z} }
	wantFirst := []facts.Rule{
		{RuleID: "inside_in:2/in/inside", RuleName: "inside_in", RuleOrder: 0, Action: "permit", SrcZones: in("inside"),
			SrcAddresses: in("CLIENTS"), DstAddresses: in("WEB"), Services: []string{"tcp/80", "tcp/8080-8081"}},
		{RuleID: "inside_in:3/in/inside", RuleName: "inside_in", RuleOrder: 1, Action: "permit", SrcZones: in("inside"),
			SrcAddresses: in("any"), DstAddresses: in("192.0.2.53"), Services: []string{"tcp/53", "udp/53"}},
		{RuleID: "inside_in:4/in/inside", RuleName: "inside_in", RuleOrder: 2, Action: "deny", SrcZones: in("inside"),
			SrcAddresses: in("any"), DstAddresses: in("any"), Services: in("tcp/6000-6063"), Enabled: boolp(false)},
		{RuleID: "inside_in:5/in/inside", RuleName: "inside_in", RuleOrder: 3, Action: "permit", SrcZones: in("inside"),
			SrcAddresses: in("any"), DstAddresses: in("any"), Services: in("tcp/1-22,24-65535")},
		{RuleID: "inside_in:9/in/inside", RuleName: "inside_in", RuleOrder: 4, Action: "permit", SrcZones: in("inside"),
			SrcAddresses: in("::/0"), DstAddresses: in("2001:db8::/32"), Services: in("any")},
	}
	if diff := cmp.Diff(wantFirst, rules[:5]); diff != "" {
		t.Errorf("inside rules (-want +got):\n%s", diff)
	}
	if r := rules[5]; r.RuleID != "inside_in:2/in/dmz" || cmp.Diff(in("dmz"), r.SrcZones) != "" || r.RuleOrder != 5 {
		t.Errorf("rules[5] = %+v", r)
	}
	if diff := cmp.Diff(facts.Rule{RuleID: "global_acl:1", RuleName: "global_acl", RuleOrder: 10, Action: "deny",
		SrcAddresses: in("0.0.0.0/0"), DstAddresses: in("0.0.0.0/0"), Services: in("any")}, rules[10]); diff != "" {
		t.Errorf("global rule (-want +got):\n%s", diff)
	}
	// Groups with literal members: objects named by their value.
	if diff := cmp.Diff([]facts.AddressObject{
		{Name: "web1", Type: "host", Value: "192.0.2.80"},
		{Name: "10.10.0.0/16", Type: "network", Value: "10.10.0.0/16"},
		{Name: "10.20.0.5", Type: "host", Value: "10.20.0.5"},
		{Name: "CLIENTS", Type: "group", Members: []string{"10.10.0.0/16", "10.20.0.5"}},
		{Name: "WEB", Type: "group", Members: []string{"web1"}},
	}, d.Firewall.AddressObjects); diff != "" {
		t.Errorf("address objects (-want +got):\n%s", diff)
	}
}

// ASA configuration is told by its content from the other firewall
// forms another parser reads, and refusals are reported.
func TestASADetection(t *testing.T) {
	for in, want := range map[string]bool{
		": Saved\n!\naccess-list outside_in extended permit ip any any\n":     true,
		"object network web1\n host 192.0.2.80\n":                             true,
		"access-group outside_in in interface outside\n":                      true,
		`<response status="success"><result><config>`:                         false,
		`{"configuration": {"security": {}}}`:                                 false,
		"config firewall policy\n    edit 1\n        set srcintf \"port1\"\n": false,
		"ip access-list extended WEB\n permit tcp any any eq 80\n":            false,
	} {
		if got := isASAConfig([]byte(in)); got != want {
			t.Errorf("isASAConfig(%q) = %v, want %v", in, got, want)
		}
	}
	dir := t.TempDir()
	cacheDevice(t, dir, "asa6", "cisco_asa", "", map[platform.Kind]string{
		platform.KindFWBindings: "ERROR: % Invalid input detected at '^' marker.\n",
		platform.KindFirewall:   "access-list a extended permit ip any any\n",
	})
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	// Without any access-group the list is not known to be policy.
	if diff := cmp.Diff([]string{`fw_bindings (show running-config access-group): not parsed: the device refused the command: "ERROR: % Invalid input detected at '^' marker."`}, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if d.Firewall != nil {
		t.Errorf("firewall = %+v, want none", d.Firewall)
	}
}
