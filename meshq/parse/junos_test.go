package parse

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// TestJunosLabPE is a vMX 25.4 PE router recorded by Batfish's lab
// validation (JSON): a VRF CUSTOMERS on ge-0/0/1.0, the management
// instance mgmt_junos on fxp0 and one iBGP VPN session.
func TestJunosLabPE(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "pe1", "juniper_junos", "testdata/juniper_junos/lab-pe1", nil)
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	if got := problems(dr); len(got) != 0 {
		t.Errorf("problems = %q, want none", got)
	}
	if diff := cmp.Diff([]platform.Kind{"version", "interfaces", "routes", "bgp"}, dr.Parsed); diff != "" {
		t.Errorf("parsed kinds (-want +got):\n%s", diff)
	}
	if d.Vendor != "juniper" || d.OS != "junos" || d.Model != "vmx" || d.Version != "25.4R1.12" {
		t.Errorf("device = %s %s %s %s", d.Vendor, d.OS, d.Model, d.Version)
	}
	// 45 physical interfaces and 22 units, as the device lists them.
	units := 0
	for _, i := range d.Interfaces {
		if strings.Contains(i.Name, ".") {
			units++
		}
	}
	if len(d.Interfaces) != 67 || units != 22 {
		t.Errorf("%d interfaces, %d of them units; want 67 and 22", len(d.Interfaces), units)
	}
	want := map[string]facts.Interface{
		"ge-0/0/0": {Name: "ge-0/0/0", Description: "PE-PE link to pe2", Type: "physical", MAC: "aa:c1:ab:02:13:d3", IfIndex: 528,
			AdminUp: boolp(true), OperUp: boolp(true), SpeedMbps: 1000, MTU: 1514},
		// The unit's VRF comes from its connected route in inet.0.
		"ge-0/0/0.0": {Name: "ge-0/0/0.0", Type: "subinterface", OperUp: boolp(true), MTU: 1500, VRF: "default", IPs: []string{"10.0.12.0/31"}},
		"ge-0/0/1": {Name: "ge-0/0/1", Description: "CE-facing interface in CUSTOMERS VRF", Type: "physical", MAC: "2c:6b:f5:78:ad:01", IfIndex: 529,
			AdminUp: boolp(true), OperUp: boolp(false), SpeedMbps: 1000, MTU: 1514},
		// Down: CUSTOMERS has no connected route for it, so its
		// instance is not known ("10.100.1/24" gives the length).
		"ge-0/0/1.0": {Name: "ge-0/0/1.0", Type: "subinterface", OperUp: boolp(false), MTU: 1500, IPs: []string{"10.100.1.1/24"}},
		"fxp0.0": {Name: "fxp0.0", Type: "mgmt", OperUp: boolp(true), MTU: 1500, VRF: "mgmt_junos",
			IPs: []string{"10.0.0.15/24", "2001:db8::2/64", "fe80::e00:74ff:fe61:4000/64"}},
		// A loopback unit has no destination: a host address.
		"lo0.0": {Name: "lo0.0", Type: "loopback", VRF: "default", IPs: []string{"10.255.0.1/32"}},
	}
	for name, w := range want {
		if diff := cmp.Diff(w, findIface(t, d, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// show route: the active route of every IP table of every instance
	// (inet.0, mgmt_junos.inet.0, CUSTOMERS.inet.0, mgmt_junos.inet6.0);
	// inet.3, mpls.0 and bgp.l3vpn.0 are not IP forwarding tables.
	wantRoutes := []facts.Route{
		{VRF: "default", Prefix: "10.0.12.0/31", Interface: "ge-0/0/0.0", Protocol: "connected", AdminDistance: intp(0)},
		{VRF: "default", Prefix: "10.0.12.0/32", Interface: "ge-0/0/0.0", Protocol: "local", AdminDistance: intp(0), Action: "local"},
		{VRF: "default", Prefix: "10.255.0.1/32", Interface: "lo0.0", Protocol: "connected", AdminDistance: intp(0)},
		{VRF: "default", Prefix: "10.255.0.2/32", NextHop: "10.0.12.1", Interface: "ge-0/0/0.0", Protocol: "static", AdminDistance: intp(5)},
		{VRF: "default", Prefix: "224.0.0.2/32", Protocol: "ldp", Metric: 1, AdminDistance: intp(9), Action: "local"},
		{VRF: "mgmt_junos", Prefix: "0.0.0.0/0", NextHop: "10.0.0.2", Interface: "fxp0.0", Protocol: "static", AdminDistance: intp(5)},
		{VRF: "mgmt_junos", Prefix: "10.0.0.0/24", Interface: "fxp0.0", Protocol: "connected", AdminDistance: intp(0)},
		{VRF: "mgmt_junos", Prefix: "10.0.0.15/32", Interface: "fxp0.0", Protocol: "local", AdminDistance: intp(0), Action: "local"},
		{VRF: "CUSTOMERS", Prefix: "10.100.1.0/24", Protocol: "static", AdminDistance: intp(5), Action: "drop"},
		{VRF: "CUSTOMERS", Prefix: "10.100.1.1/32", Protocol: "local", AdminDistance: intp(0), Action: "reject"},
		{VRF: "CUSTOMERS", Prefix: "10.100.2.0/24", NextHop: "10.0.12.1", Interface: "ge-0/0/0.0", Protocol: "bgp", AdminDistance: intp(170)},
		{VRF: "mgmt_junos", Prefix: "::/0", NextHop: "2001:db8::1", Interface: "fxp0.0", Protocol: "static", AdminDistance: intp(5)},
		{VRF: "mgmt_junos", Prefix: "2001:db8::/64", Interface: "fxp0.0", Protocol: "connected", AdminDistance: intp(0)},
		{VRF: "mgmt_junos", Prefix: "2001:db8::2/128", Interface: "fxp0.0", Protocol: "local", AdminDistance: intp(0), Action: "local"},
		{VRF: "mgmt_junos", Prefix: "fe80::e00:74ff:fe61:4000/128", Interface: "fxp0.0", Protocol: "local", AdminDistance: intp(0), Action: "local"},
	}
	if diff := cmp.Diff(wantRoutes, d.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	// show bgp neighbor: "10.255.0.2+57412" is the peer and its port; the
	// session carries inet-vpn-unicast with one prefix in bgp.l3vpn.0.
	wantBGP := []facts.BGPPeer{{PeerIP: "10.255.0.2", RemoteAS: 65000, LocalAS: 65000, State: "established", VRF: "default",
		AFISafi: []facts.AFISafi{{Name: "vpnv4-unicast", PrefixesReceived: int64p(1), PrefixesAccepted: int64p(1)}}}}
	if diff := cmp.Diff(wantBGP, d.BGPPeers); diff != "" {
		t.Errorf("bgp (-want +got):\n%s", diff)
	}
}

// TestJunosNapalmXML reads the XML replies NAPALM's Junos tests record:
// the same trees as `| display json`, in the other form.
func TestJunosNapalmXML(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "sw1", "juniper_junos", "testdata/juniper_junos/napalm", nil)
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	if got := problems(dr); len(got) != 0 {
		t.Errorf("problems = %q, want none", got)
	}
	if diff := cmp.Diff([]platform.Kind{"arp", "nd", "vlans", "mac_table", "lldp"}, dr.Parsed); diff != "" {
		t.Errorf("parsed kinds (-want +got):\n%s", diff)
	}
	// ARP then ND in one list; the permanent entry keeps its state.
	wantARP := []facts.ARPEntry{
		{IP: "172.17.17.1", MAC: "02:01:00:00:00:05", Interface: "em1.0"},
		{IP: "172.17.17.3", MAC: "00:0f:53:2b:c5:e1", Interface: "ae7.10"},
		{IP: "172.17.17.2", MAC: "2c:60:0c:7a:7e:63", Interface: "ae7.637", State: "permanent"},
		{IP: "fd00:1111:1111::2", MAC: "fe:54:00:08:ee:00", Interface: "em0.0", State: "stale"},
		{IP: "fd00:2222:2222::2", MAC: "fe:54:00:08:ee:00", Interface: "em0.0", State: "reachable"},
		{IP: "fe80::24e6:6cff:fe85:9ecb", MAC: "fe:54:00:08:ee:00", Interface: "em0.0", State: "stale"},
	}
	if diff := cmp.Diff(wantARP, d.ARP); diff != "" {
		t.Errorf("arp (-want +got):\n%s", diff)
	}
	wantVLANs := []facts.VLAN{{ID: 1, Name: "default"}, {ID: 2, Name: "VLAN2"}, {ID: 10, Name: "VLAN10"}, {ID: 300, Name: "VLAN300"}, {ID: 4000, Name: "VLAN4000"}}
	if diff := cmp.Diff(wantVLANs, d.VLANs); diff != "" {
		t.Errorf("vlans (-want +got):\n%s", diff)
	}
	// 120 learned MACs, all on ge-0/0/0.0: 3 in VLAN 610, 7 in 631, 110 in 999.
	perVLAN := map[int]int{}
	for _, m := range d.MACTable {
		if m.Interface != "ge-0/0/0.0" || len(m.Flags) != 0 {
			t.Errorf("mac entry %+v, want a dynamic entry on ge-0/0/0.0", m)
		}
		perVLAN[m.VLAN]++
	}
	if diff := cmp.Diff(map[int]int{610: 3, 631: 7, 999: 110}, perVLAN); diff != "" {
		t.Errorf("MACs per VLAN (-want +got):\n%s", diff)
	}
	if len(d.MACTable) > 0 {
		if diff := cmp.Diff(facts.MACEntry{MAC: "00:0c:e6:18:ea:07", VLAN: 610, Interface: "ge-0/0/0.0"}, d.MACTable[0]); diff != "" {
			t.Errorf("mac_table[0] (-want +got):\n%s", diff)
		}
	}
	// Only the first neighbor says its port ID is an interface name.
	wantLLDP := []facts.Neighbor{
		{LocalInterface: "xe-4/3/6", RemoteHostname: "peer00.lab.demo", RemoteInterface: "Ethernet1", Protocol: "lldp"},
		{LocalInterface: "me0.0", RemoteHostname: "lom-bjg61-r1-1", Protocol: "lldp"},
		{LocalInterface: "ge-0/0/0.0", RemoteHostname: "rtr00.demo", Protocol: "lldp"},
		{LocalInterface: "xe-0/1/0.0", RemoteHostname: "spine00", Protocol: "lldp"},
	}
	if diff := cmp.Diff(wantLLDP, d.Neighbors); diff != "" {
		t.Errorf("lldp (-want +got):\n%s", diff)
	}
}

// An ND entry that could not be resolved has no MAC ("none") and the
// state unreachable, which the facts call failed.
func TestJunosUnresolvedND(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "r1", "juniper_junos", "testdata/juniper_junos/napalm-nd", nil)
	d, dr := parseOne(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, problems %q", d, problems(dr))
	}
	if diff := cmp.Diff([]facts.ARPEntry{{IP: "2001:db8::3", Interface: "ae0.3", State: "failed"}}, d.ARP); diff != "" {
		t.Errorf("nd (-want +got):\n%s", diff)
	}
}

// A LAG member's unit names its bundle in the aenet family. No recording
// with a bundle was found; this is the element layout Junos documents
// for `show interfaces`, written in its JSON form.
func TestJunosBundleMember(t *testing.T) {
	const ifaces = `{"interface-information": [{"physical-interface": [
	  {"name": [{"data": "xe-0/0/24"}], "admin-status": [{"data": "up"}], "oper-status": [{"data": "up"}],
	   "logical-interface": [
	     {"name": [{"data": "xe-0/0/24.0"}], "address-family": [{"address-family-name": [{"data": "aenet"}], "ae-bundle-name": [{"data": "ae120.0"}]}]},
	     {"name": [{"data": "xe-0/0/24.1876"}], "address-family": [{"address-family-name": [{"data": "aenet"}], "ae-bundle-name": [{"data": "ae120.1876"}]}]}]},
	  {"name": [{"data": "ae120"}], "admin-status": [{"data": "up"}], "oper-status": [{"data": "up"}],
	   "logical-interface": [{"name": [{"data": "ae120.0"}], "if-config-flags": [{"iff-up": [{"data": [null]}]}],
	     "address-family": [{"address-family-name": [{"data": "inet"}], "interface-address": [{"ifa-local": [{"data": "192.0.2.1"}], "ifa-destination": [{"data": "192.0.2/30"}]}]}]}]}
	]}]}`
	dir := t.TempDir()
	cacheDevice(t, dir, "sw1", "juniper_junos", "", map[platform.Kind]string{platform.KindInterfaces: ifaces})
	d, dr := parseOne(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, problems %q", d, problems(dr))
	}
	if got := findIface(t, d, "xe-0/0/24"); got.LAG != "ae120" || got.Type != "physical" {
		t.Errorf("xe-0/0/24 = %+v, want a physical member of ae120", got)
	}
	if diff := cmp.Diff(facts.Interface{Name: "ae120.0", Type: "subinterface", OperUp: boolp(true), IPs: []string{"192.0.2.1/30"}}, findIface(t, d, "ae120.0")); diff != "" {
		t.Errorf("ae120.0 (-want +got):\n%s", diff)
	}
	if got := findIface(t, d, "ae120"); got.Type != "lag" || got.LAG != "" {
		t.Errorf("ae120 = %+v, want a LAG that is no member", got)
	}
}

// Broken Junos outputs: each is reported naming its command and leaves
// nothing behind.
func TestJunosBrokenOutputs(t *testing.T) {
	routes := readFile(t, "testdata/juniper_junos/lab-pe1/routes.json")
	arp := readFile(t, "testdata/juniper_junos/napalm/arp.xml")
	dir := t.TempDir()
	cacheDevice(t, dir, "r1", "juniper_junos", "", map[platform.Kind]string{
		platform.KindVersion:    `{"software-information": [{"host-name": [{"data": "r1"}], "junos-version": [{"data": "21.4R3"}]}]}`,
		platform.KindRoutes:     routes[:len(routes)/3],                                             // truncated JSON
		platform.KindARP:        arp[:len(arp)/2],                                                   // truncated XML
		platform.KindInterfaces: `{"interface-information": [{"physical-interface": {"name": 1}}]}`, // wrong type
		platform.KindBGP:        routes,                                                             // another command's output
		platform.KindLLDP:       "\nerror: syntax error, expecting <command>: lldp\n",
		platform.KindND: `<rpc-reply><rpc-error><error-severity>error</error-severity>` +
			`<error-message>the ipv6 subsystem is not running</error-message></rpc-error></rpc-reply>`,
		platform.KindVLANs: `{"vlan-information": [{"l2ng-l2ald-vlan-instance-group": [{"l2ng-l2rtb-vlan-name": [{"data": "v10"}], "l2ng-l2rtb-vlan-tag": [{"data": "10"}]},
			{"l2ng-l2rtb-vlan-name": [{"data": "bad"}], "l2ng-l2rtb-vlan-tag": [{"data": "5000"}]}]}]}`,
	})
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	if diff := cmp.Diff([]platform.Kind{"version", "vlans"}, dr.Parsed); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	want := []string{
		`interfaces (show interfaces | display json): not parsed: unexpected JSON: interface-information/physical-interface is an object, want a list`,
		`arp (show arp no-resolve | display json): not parsed: truncated XML: the output ends inside <arp-table-entry>`,
		`nd (show ipv6 neighbors | display json): not parsed: the device answered with an error: the ipv6 subsystem is not running`,
		`vlans (show vlans | display json): skipped: vlan "bad": tag "5000" is not a VLAN id`,
		`lldp (show lldp neighbors | display json): not parsed: neither JSON nor XML: the device answered "error: syntax error, expecting <command>: lldp"`,
		`routes (show route | display json): not parsed: truncated JSON: the output ends after 17021 bytes inside the document`,
		`bgp (show bgp neighbor | display json): not parsed: not the output of "show bgp neighbor": it has no "bgp-information"`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(d.Interfaces) != 0 || len(d.Routes) != 0 || len(d.ARP) != 0 || len(d.BGPPeers) != 0 || len(d.Neighbors) != 0 {
		t.Errorf("broken outputs left facts behind: %+v", d)
	}
	if diff := cmp.Diff([]facts.VLAN{{ID: 10, Name: "v10"}}, d.VLANs); diff != "" || d.Version != "21.4R3" {
		t.Errorf("vlans (-want +got):\n%s\nversion %q", diff, d.Version)
	}
}
