package parse

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// TestFortiOSPolicies is Batfish's FortiOS policy test configuration,
// each config block cached under the command that prints it.
func TestFortiOSPolicies(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "fg1", "fortinet", "testdata/fortinet/batfish-policy", nil)
	d, dr := parseOne(t, dir)
	if d == nil || d.Firewall == nil {
		t.Fatalf("no firewall; report %+v", dr)
	}
	if diff := cmp.Diff([]platform.Kind{"fw_objects", "fw_services", "firewall"}, dr.Parsed); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	// "12:11" is destination port 12 from source port 11: not held, and
	// the two policies using it go with it.
	want := []string{
		`fw_services (show firewall service custom): skipped: service "custom_tcp_12_from_11": tcp range 12:11 matches source ports, which the facts cannot hold`,
		`firewall (show firewall policy): skipped: rule "4294967294": service "custom_tcp_12_from_11" is not a service the facts hold`,
		`firewall (show firewall policy): skipped: rule "1": service "custom_tcp_12_from_11" is not a service the facts hold`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	fw := d.Firewall
	// "edit all" with nothing set is FortiOS's every-address object.
	wantAddrs := []facts.AddressObject{
		{Name: "addr1", Type: "network", Value: "10.0.1.0/24"},
		{Name: "addr2", Type: "network", Value: "10.0.2.0/24"},
		{Name: "all", Type: "network", Value: "0.0.0.0/0"},
	}
	if diff := cmp.Diff(wantAddrs, fw.AddressObjects); diff != "" {
		t.Errorf("address objects (-want +got):\n%s", diff)
	}
	wantSvcs := []facts.ServiceObject{{Name: "custom_tcp_11", Protocol: "tcp", DestPorts: "11"}, {Name: "ALL", Protocol: "any", DestPorts: "any"}}
	if diff := cmp.Diff(wantSvcs, fw.ServiceObjects); diff != "" {
		t.Errorf("service objects (-want +got):\n%s", diff)
	}
	// In the order written (ids are not the order); append adds to a
	// list, a second set replaces it.
	wantRules := []facts.Rule{
		{RuleID: "0", RuleOrder: 0, Action: "deny", SrcZones: []string{"port1"}, DstZones: []string{"port2"},
			SrcAddresses: []string{"addr1"}, DstAddresses: []string{"addr2"}, Services: []string{"custom_tcp_11"}, Enabled: boolp(false)},
		{RuleID: "2", RuleOrder: 1, Action: "permit", SrcZones: []string{"any"}, DstZones: []string{"any"},
			SrcAddresses: []string{"all"}, DstAddresses: []string{"all"}, Services: []string{"ALL"}},
		{RuleID: "3", RuleOrder: 2, Action: "permit", SrcZones: []string{"zone1", "port2", "zone3", "zone2"}, DstZones: []string{"zone1", "zone3"},
			SrcAddresses: []string{"all"}, DstAddresses: []string{"all"}, Services: []string{"ALL"}},
	}
	if diff := cmp.Diff(wantRules, fw.Rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

// A group that excludes members cannot be held; the group containing it
// and the policy naming that group go too, each reported.
func TestFortiOSExcludedGroup(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "fg1", "fortinet", "testdata/fortinet/batfish-addrgrp", nil)
	d, dr := parseOne(t, dir)
	if d == nil || d.Firewall == nil {
		t.Fatalf("no firewall; report %+v", dr)
	}
	want := []string{
		`fw_addr_groups (show firewall addrgrp): skipped: address group "grp1_child": it excludes members, which the facts cannot hold`,
		`fw_addr_groups (show firewall addrgrp): skipped: address group "grp1_parent": a member is not an address the facts hold (grp1_child)`,
		`firewall (show firewall policy): skipped: rule "1": address "grp1_parent" is not an address the facts hold`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	var names []string
	for _, o := range d.Firewall.AddressObjects {
		names = append(names, o.Name)
	}
	if diff := cmp.Diff([]string{"addr1", "addr1b", "addr2", "grp2"}, names); diff != "" || len(d.Firewall.Rules) != 0 {
		t.Errorf("address objects (-want +got):\n%s\nrules %+v", diff, d.Firewall.Rules)
	}
}

// TestPANOSIronSkillet is Palo Alto's published day-one configuration
// (PAN-OS 9.0): five deny rules, four of which name external dynamic
// lists, which are fetched at run time and not in the configuration.
func TestPANOSIronSkillet(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "pa1", "paloalto_panos", "testdata/paloalto_panos/iron-skillet", nil)
	d, dr := parseOne(t, dir)
	if d == nil || d.Firewall == nil {
		t.Fatalf("no firewall; report %+v", dr)
	}
	want := []string{
		`firewall (show config running): skipped: rule "Outbound Block Rule": address "panw-highrisk-ip-list" is not an address the facts hold`,
		`firewall (show config running): skipped: rule "Inbound Block Rule": address "panw-highrisk-ip-list" is not an address the facts hold`,
		`firewall (show config running): skipped: rule "Outbound Bogon Block Rule": address "Team Cymru Bogons IPv4" is not an address the facts hold`,
		`firewall (show config running): skipped: rule "Inbound Bogon Block Rule": address "Team Cymru Bogons IPv4" is not an address the facts hold`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	wantFW := &facts.Firewall{
		AddressObjects: []facts.AddressObject{{Name: "Sinkhole-IPv4", Type: "host", Value: "72.5.65.111"}, {Name: "Sinkhole-IPv6", Type: "host", Value: "2600:5200::1"}},
		Rules: []facts.Rule{{RuleID: "DNS Sinkhole Block", RuleName: "DNS Sinkhole Block", Action: "deny", SrcZones: []string{"any"}, DstZones: []string{"any"},
			SrcAddresses: []string{"any"}, DstAddresses: []string{"Sinkhole-IPv4", "Sinkhole-IPv6"}, Services: []string{"any"}}},
	}
	if diff := cmp.Diff(wantFW, d.Firewall); diff != "" {
		t.Errorf("firewall (-want +got):\n%s", diff)
	}
}

// A PAN-OS configuration in the XML API's wrapper, with zones, groups,
// services and the matches the facts cannot hold. No recorded
// configuration with all of these was found; this one is written in the
// element layout of the PAN-OS XML API documentation.
func TestPANOSObjectsAndRules(t *testing.T) {
	const cfg = `<response status="success"><result><config version="10.1.0"><devices><entry name="localhost.localdomain">
<vsys><entry name="vsys1">
 <zone><entry name="trust"><network><layer3><member>ethernet1/2</member></layer3></network></entry>
       <entry name="untrust"><network><layer3><member>ethernet1/1</member></layer3></network></entry></zone>
 <address><entry name="web1"><ip-netmask>10.1.1.10/32</ip-netmask></entry>
          <entry name="lan"><ip-netmask>10.1.0.5/16</ip-netmask></entry>
          <entry name="pool"><ip-range>10.2.0.1-10.2.0.9</ip-range></entry>
          <entry name="wild"><ip-wildcard>10.0.0.1/0.255.0.255</ip-wildcard></entry></address>
 <address-group><entry name="servers"><static><member>web1</member><member>pool</member></static></entry>
                <entry name="tagged"><dynamic><filter>'web'</filter></dynamic></entry></address-group>
 <service><entry name="tcp-8443"><protocol><tcp><port>8443</port></tcp></protocol></entry></service>
 <service-group><entry name="web"><members><member>tcp-8443</member><member>service-https</member></members></entry></service-group>
 <rulebase><security><rules>
  <entry name="allow-web"><from><member>untrust</member></from><to><member>trust</member></to><source><member>any</member></source>
   <destination><member>servers</member></destination><application><member>any</member></application><service><member>tcp-8443</member><member>service-https</member></service><action>allow</action></entry>
  <entry name="apps"><from><member>trust</member></from><to><member>untrust</member></to><source><member>lan</member></source>
   <destination><member>any</member></destination><application><member>ssl</member></application><service><member>application-default</member></service><action>allow</action></entry>
  <entry name="old"><from><member>any</member></from><to><member>any</member></to><source><member>lan</member></source>
   <destination><member>192.0.2.0/24</member></destination><application><member>any</member></application><service><member>any</member></service><action>reset-both</action><disabled>yes</disabled></entry>
 </rules></security></rulebase>
</entry></vsys></entry></devices></config></result></response>`
	dir := t.TempDir()
	cacheDevice(t, dir, "pa1", "paloalto_panos", "", map[platform.Kind]string{platform.KindFirewall: cfg})
	d, dr := parseOne(t, dir)
	if d == nil || d.Firewall == nil {
		t.Fatalf("no firewall; report %+v", dr)
	}
	want := []string{
		`firewall (show config running): skipped: address "wild": a type the facts cannot hold (only ip-netmask, ip-range and fqdn)`,
		`firewall (show config running): skipped: address group "tagged": a dynamic group (members chosen by tag at run time)`,
		`firewall (show config running): skipped: rule "apps": it matches application ssl, which the facts cannot hold`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	wantFW := &facts.Firewall{
		Zones: []facts.Zone{{Name: "trust", Interfaces: []string{"ethernet1/2"}}, {Name: "untrust", Interfaces: []string{"ethernet1/1"}}},
		AddressObjects: []facts.AddressObject{
			{Name: "web1", Type: "host", Value: "10.1.1.10"}, {Name: "lan", Type: "network", Value: "10.1.0.0/16"},
			{Name: "pool", Type: "range", Value: "10.2.0.1-10.2.0.9"}, {Name: "servers", Type: "group", Members: []string{"web1", "pool"}}},
		ServiceObjects: []facts.ServiceObject{
			// service-https is PAN-OS's own; a group is added once its
			// members are.
			{Name: "tcp-8443", Protocol: "tcp", DestPorts: "8443"}, {Name: "service-https", Protocol: "tcp", DestPorts: "443"},
			{Name: "web", Members: []string{"tcp-8443", "service-https"}}},
		Rules: []facts.Rule{
			{RuleID: "allow-web", RuleName: "allow-web", RuleOrder: 0, Action: "permit", SrcZones: []string{"untrust"}, DstZones: []string{"trust"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"servers"}, Services: []string{"tcp-8443", "service-https"}},
			{RuleID: "old", RuleName: "old", RuleOrder: 1, Action: "reject", SrcZones: []string{"any"}, DstZones: []string{"any"},
				SrcAddresses: []string{"lan"}, DstAddresses: []string{"192.0.2.0/24"}, Services: []string{"any"}, Enabled: boolp(false)},
		},
	}
	if diff := cmp.Diff(wantFW, d.Firewall); diff != "" {
		t.Errorf("firewall (-want +got):\n%s", diff)
	}
}

// srxZones is an SRX security configuration in the XML layout Juniper
// documents for `show configuration security | display xml` (hand-written:
// no permissively licensed recording of one was found): a functional zone,
// a security zone with its address book (prefix, DNS name, range, a
// wildcard the facts cannot hold, sets of them) and one policy with a
// negated match.
const srxZones = `<rpc-reply><configuration><security>
<zones>
<functional-zone><management><interfaces><name>fxp0.0</name></interfaces></management></functional-zone>
<security-zone><name>trust</name>
<address-book>
<address><name>lan</name><ip-prefix>192.0.2.0/24</ip-prefix></address>
<address><name>ns</name><dns-name><name>ns1.example.net</name></dns-name></address>
<address><name>pool</name><range-address><name>198.51.100.10</name><to><range-high>198.51.100.20</range-high></to></range-address></address>
<address><name>wild</name><wildcard-address><name>10.3.0.1/255.255.0.255</name></wildcard-address></address>
<address><name>lan2</name><ip-prefix>203.0.113.0/25</ip-prefix></address>
<address-set><name>set1</name><address><name>lan</name></address><address><name>ns</name></address></address-set>
<address-set><name>set2</name><address><name>wild</name></address></address-set>
<address-set><name>set3</name><address-set><name>set2</name></address-set></address-set>
</address-book>
<interfaces><name>ge-0/0/3.0</name></interfaces><interfaces><name>ge-0/0/4.0</name></interfaces>
</security-zone>
</zones>
<policies><policy><from-zone-name>trust</from-zone-name><to-zone-name>trust</to-zone-name>
<policy><name>not-lan</name><match><source-address>lan</source-address><source-address-excluded/><destination-address>any</destination-address><application>any</application></match><then><deny/></then></policy>
</policy></policies>
</security></configuration></rpc-reply>`

// TestSRXZones: the security zone and its addresses join the facts (the
// functional zone is not a security zone); the wildcard, the sets that
// need it and the negated policy are left out and reported; with policies
// and no default policy, the default is Junos's deny-all.
func TestSRXZones(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "srx1", "juniper_junos", "", map[platform.Kind]string{platform.KindFirewall: srxZones})
	d, dr := parseOne(t, dir)
	if d == nil || d.Firewall == nil {
		t.Fatalf("no firewall; report %+v", dr)
	}
	want := []string{
		`firewall (show configuration security | display xml): skipped: address "wild": a type the facts cannot hold (only ip-prefix, dns-name and range-address)`,
		`firewall (show configuration security | display xml): skipped: policy trust>trust:not-lan: source-address-excluded (a negated match), which the facts cannot hold`,
		`firewall (show configuration security | display xml): skipped: address group "set2": a member is not an address the facts hold (wild)`,
		`firewall (show configuration security | display xml): skipped: address group "set3": a member is not an address the facts hold (set2)`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	wantFW := &facts.Firewall{DefaultAction: "deny",
		Zones: []facts.Zone{{Name: "trust", Interfaces: []string{"ge-0/0/3.0", "ge-0/0/4.0"}}},
		AddressObjects: []facts.AddressObject{
			{Name: "lan", Type: "network", Value: "192.0.2.0/24"}, {Name: "ns", Type: "fqdn", Value: "ns1.example.net"},
			{Name: "pool", Type: "range", Value: "198.51.100.10-198.51.100.20"}, {Name: "lan2", Type: "network", Value: "203.0.113.0/25"},
			{Name: "set1", Type: "group", Members: []string{"lan", "ns"}}},
	}
	if diff := cmp.Diff(wantFW, d.Firewall); diff != "" {
		t.Errorf("firewall (-want +got):\n%s", diff)
	}
}

// SRX applications (collected before the policies) resolve the policies'
// application names; the predefined junos-* ones are not collected.
func TestSRXApplicationsAndPolicies(t *testing.T) {
	const apps = `<rpc-reply><configuration><applications>
<application><name>tcp-8080</name><protocol>tcp</protocol><destination-port>8080</destination-port></application>
<application-set><name>web</name><application><name>tcp-8080</name></application></application-set>
</applications></configuration></rpc-reply>`
	const sec = `<rpc-reply><configuration><security>
<address-book><name>global</name><address><name>srv</name><ip-prefix>10.9.0.0/24</ip-prefix></address></address-book>
<zones><security-zone><name>trust</name><interfaces><name>ge-0/0/1.0</name></interfaces></security-zone>
<security-zone><name>untrust</name><interfaces><name>ge-0/0/0.0</name></interfaces></security-zone></zones>
<policies><policy><from-zone-name>untrust</from-zone-name><to-zone-name>trust</to-zone-name>
<policy><name>in-web</name><match><source-address>any</source-address><destination-address>srv</destination-address><application>web</application></match><then><permit/></then></policy>
<policy inactive="inactive"><name>in-ssh</name><match><source-address>any</source-address><destination-address>srv</destination-address><application>junos-ssh</application></match><then><permit/></then></policy>
<policy><name>in-drop</name><match><source-address>any</source-address><destination-address>any</destination-address><application>any</application></match><then><reject/><log><session-init/></log></then></policy>
</policy><default-policy><permit-all/></default-policy></policies></security></configuration></rpc-reply>`
	dir := t.TempDir()
	cacheDevice(t, dir, "srx1", "juniper_junos", "", map[platform.Kind]string{platform.KindFWServices: apps, platform.KindFirewall: sec})
	d, dr := parseOne(t, dir)
	if d == nil || d.Firewall == nil {
		t.Fatalf("no firewall; report %+v", dr)
	}
	want := []string{`firewall (show configuration security | display xml): skipped: rule "untrust>trust:in-ssh": service "junos-ssh" is not a service the facts hold`}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	wantFW := &facts.Firewall{DefaultAction: "permit",
		Zones:          []facts.Zone{{Name: "trust", Interfaces: []string{"ge-0/0/1.0"}}, {Name: "untrust", Interfaces: []string{"ge-0/0/0.0"}}},
		AddressObjects: []facts.AddressObject{{Name: "srv", Type: "network", Value: "10.9.0.0/24"}},
		ServiceObjects: []facts.ServiceObject{{Name: "tcp-8080", Protocol: "tcp", DestPorts: "8080"}, {Name: "web", Members: []string{"tcp-8080"}}},
		Rules: []facts.Rule{
			{RuleID: "untrust>trust:in-web", RuleName: "in-web", RuleOrder: 0, Action: "permit", SrcZones: []string{"untrust"}, DstZones: []string{"trust"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"srv"}, Services: []string{"web"}},
			{RuleID: "untrust>trust:in-drop", RuleName: "in-drop", RuleOrder: 1, Action: "reject", SrcZones: []string{"untrust"}, DstZones: []string{"trust"},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"any"}, Services: []string{"any"}},
		},
	}
	if diff := cmp.Diff(wantFW, d.Firewall); diff != "" {
		t.Errorf("firewall (-want +got):\n%s", diff)
	}
}

// Each format is recognised by its own recordings only.
func TestFirewallDetection(t *testing.T) {
	samples := map[string]string{
		"PAN-OS XML configuration":         readFile(t, "testdata/paloalto_panos/iron-skillet/firewall.xml"),
		"Junos security configuration XML": srxZones,
		"FortiOS firewall configuration":   readFile(t, "testdata/fortinet/batfish-policy/firewall.txt"),
	}
	others := []string{"testdata/juniper_junos/lab-pe1/routes.json", "testdata/juniper_junos/napalm/arp.xml", "testdata/arista_eos/napalm/bgp.json"}
	seen := map[string]bool{}
	for _, f := range firewallFormats {
		if _, ok := samples[f.name]; !ok {
			continue // another platform's format
		}
		seen[f.name] = true
		for name, data := range samples {
			if got := f.detect([]byte(data)); got != (name == f.name) {
				t.Errorf("%s detects the %s sample = %v", f.name, name, got)
			}
		}
		for _, p := range others {
			if f.detect([]byte(readFile(t, p))) {
				t.Errorf("%s detects %s", f.name, p)
			}
		}
	}
	for name := range samples {
		if !seen[name] {
			t.Errorf("format not registered: %s", name)
		}
	}
}

// Broken firewall outputs contribute nothing and name their command.
func TestBrokenFirewallOutputs(t *testing.T) {
	pan := readFile(t, "testdata/paloalto_panos/iron-skillet/firewall.xml")
	forti := readFile(t, "testdata/fortinet/batfish-policy/firewall.txt")
	addrs := readFile(t, "testdata/fortinet/batfish-policy/fw_objects.txt")
	for _, c := range []struct {
		deviceType string
		outputs    map[platform.Kind]string
		want       string
	}{
		{"paloalto_panos", map[platform.Kind]string{platform.KindFirewall: pan[:len(pan)/2]},
			`firewall (show config running): not parsed: truncated XML: the output ends inside <`},
		{"paloalto_panos", map[platform.Kind]string{platform.KindFirewall: `<response status="error"><msg><line>show -&gt; config is unexpected</line></msg></response>`},
			`firewall (show config running): not parsed: the device answered with an error: show -> config is unexpected`},
		{"fortinet", map[platform.Kind]string{platform.KindFWObjects: addrs, platform.KindFirewall: forti[:strings.Index(forti, "edit 2")]},
			`firewall (show firewall policy): not parsed: truncated: the output ends inside config firewall policy`},
		{"fortinet", map[platform.Kind]string{platform.KindFirewall: "config firewall policy\n    edit 1\n        set name \"open\n    next\nend\n"},
			`firewall (show firewall policy): not parsed: line 3: unterminated quote`},
		{"juniper_junos", map[platform.Kind]string{platform.KindFirewall: "<rpc-reply><configuration><security><policies><policy>"},
			`firewall (show configuration security | display xml): not parsed: truncated XML: the output ends inside <policy>`},
	} {
		dir := t.TempDir()
		cacheDevice(t, dir, "fw1", c.deviceType, "", c.outputs)
		d, dr := parseOne(t, dir)
		var got []string
		for _, p := range dr.Problems {
			if p.Kind == platform.KindFirewall {
				got = append(got, p.String())
			}
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
			t.Errorf("%s: problems %q, want one starting %q", c.deviceType, got, c.want)
		}
		if d != nil && d.Firewall != nil && len(d.Firewall.Rules) > 0 {
			t.Errorf("%s: a broken policy left rules behind: %+v", c.deviceType, d.Firewall.Rules)
		}
	}
}
