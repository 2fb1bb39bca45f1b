package parse

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// The first IOS set: one recorded output of ntc-templates' corpus per
// command (from different devices), the expected facts read off the raw
// text by hand.
func TestIOSRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "ios1", "cisco_ios", "cisco_ios/ntc")
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	want := []string{
		// Di0's neighbour is REACH with "-" for its link-layer address.
		`nd (show ipv6 neighbors): skipped: neighbor fe80::9277:eeff:fe9b:4e00 on Dialer0: no link-layer address`,
		// "System Name - not advertised" on Gi1/0/2.
		`lldp (show lldp neighbors detail): skipped: LLDP neighbor on Gi1/0/2 (chassis 7c25.86c9.aaaa): it sends no system name`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]platform.Kind{"version", "interfaces", "ipv4", "switchport", "lag", "gateway", "arp", "nd", "mac_table", "vlans", "lldp", "cdp", "routes", "bgp"}, dr.Parsed); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	// "cisco WS-C4948E (MPC8548) processor", "Processor board ID
	// CAT1451S15C", "Version 12.2(54)SG1".
	if d.Vendor != "cisco" || d.OS != "ios" || d.Model != "WS-C4948E" || d.Serial != "CAT1451S15C" || d.Version != "12.2(54)SG1" {
		t.Errorf("device = %q %q %q %q %q", d.Vendor, d.OS, d.Model, d.Serial, d.Version)
	}
	// show interfaces: "Port-channel1 is up, line protocol is up",
	// dc8c.3700.0000, MTU 9216, BW 20000000 Kbit/sec; its subinterface
	// Po1.13 with 192.168.1.1/24 (BW is no line rate there).
	if diff := cmp.Diff(facts.Interface{Name: "Port-channel1", Description: "Interface", Type: "lag", MAC: "dc:8c:37:00:00:00",
		AdminUp: boolp(true), OperUp: boolp(true), SpeedMbps: 20000, MTU: 9216}, findIface(t, d, "Port-channel1")); diff != "" {
		t.Errorf("Port-channel1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(facts.Interface{Name: "Port-channel1.13", Description: "SubInt", Type: "subinterface", MAC: "dc:8c:37:00:00:00",
		AdminUp: boolp(true), OperUp: boolp(true), MTU: 9216, IPs: []string{"192.168.1.1/24"}}, findIface(t, d, "Port-channel1.13")); diff != "" {
		t.Errorf("Port-channel1.13 (-want +got):\n%s", diff)
	}
	// show ip interface: Loopback0 10.0.0.0/32 (MTU 1514), Serial0/0/0:0
	// 172.1.1.110/30, Virtual-Access1 without an address.
	if diff := cmp.Diff(facts.Interface{Name: "Loopback0", Type: "loopback", AdminUp: boolp(true), OperUp: boolp(true), MTU: 1514, IPs: []string{"10.0.0.0/32"}},
		findIface(t, d, "Loopback0")); diff != "" {
		t.Errorf("Loopback0 (-want +got):\n%s", diff)
	}
	if i := findIface(t, d, "Serial0/0/0:0"); cmp.Diff([]string{"172.1.1.110/30"}, i.IPs) != "" || i.Type != "physical" {
		t.Errorf("Serial0/0/0:0 = %+v", i)
	}
	if i := findIface(t, d, "Virtual-Access1"); len(i.IPs) != 0 || i.Type != "virtual" {
		t.Errorf("Virtual-Access1 = %+v", i)
	}
	// show interfaces switchport: Te5/0/1 trunking 1,12,15,31-36,40-42,80,
	// 85,101,201,240,410,420,602,604,900,910,920,930,940 (a continuation
	// line).
	trunk := []int{1, 12, 15, 31, 32, 33, 34, 35, 36, 40, 41, 42, 80, 85, 101, 201, 240, 410, 420, 602, 604, 900, 910, 920, 930, 940}
	for _, n := range []string{"TenGigabitEthernet5/0/1", "TenGigabitEthernet5/0/2"} {
		if i := findIface(t, d, n); i.Mode != "trunk" || cmp.Diff(trunk, i.TrunkVLANs) != "" {
			t.Errorf("%s = %+v", n, i)
		}
	}
	// show etherchannel summary: Po1 of Te6/4 Te3/5 Te9/4 Te5/5 (one on a
	// continuation line) ... Po51 of Te2/10 Te4/10.
	members := map[string][]string{}
	for _, i := range d.Interfaces {
		if i.LAG != "" {
			members[i.LAG] = append(members[i.LAG], i.Name)
		}
	}
	wantMembers := map[string][]string{
		"Port-channel1":  {"TenGigabitEthernet6/4", "TenGigabitEthernet3/5", "TenGigabitEthernet9/4", "TenGigabitEthernet5/5"},
		"Port-channel3":  {"TenGigabitEthernet4/2", "TenGigabitEthernet2/2"},
		"Port-channel7":  {"TenGigabitEthernet3/3", "TenGigabitEthernet1/3"},
		"Port-channel13": {"TenGigabitEthernet2/8"},
		"Port-channel14": {"TenGigabitEthernet1/8"},
		"Port-channel51": {"TenGigabitEthernet2/10", "TenGigabitEthernet4/10"},
	}
	if diff := cmp.Diff(wantMembers, members); diff != "" {
		t.Errorf("LAG members (-want +got):\n%s", diff)
	}
	if i := findIface(t, d, "Port-channel51"); i.Type != "lag" {
		t.Errorf("Port-channel51 = %+v", i)
	}
	// show standby brief: Vl1 groups 1 (10.1.1.1) and 6 (FE80::DEF); the
	// interface has no address of its own here, so host lengths.
	if diff := cmp.Diff([]facts.Address{{IP: "10.1.1.1/32", Role: "virtual"}, {IP: "fe80::def/128", Role: "virtual"}}, findIface(t, d, "Vlan1").Addresses); diff != "" {
		t.Errorf("Vlan1 addresses (-want +got):\n%s", diff)
	}
	// Vl4010's group is on a continuation line.
	if diff := cmp.Diff([]facts.Address{{IP: "10.1.254.1/32", Role: "virtual"}}, findIface(t, d, "Vlan4010").Addresses); diff != "" {
		t.Errorf("Vlan4010 addresses (-want +got):\n%s", diff)
	}
	// show ip arp: 7 entries; age "-" is the router's own address; the
	// last has no interface.
	var arp4, nd []facts.ARPEntry
	for _, e := range d.ARP {
		if len(e.IP) > 0 && (e.IP[0] == 'f' || e.IP[0] == '2') && len(e.IP) > 15 {
			nd = append(nd, e)
		} else {
			arp4 = append(arp4, e)
		}
	}
	if len(arp4) != 7 {
		t.Errorf("%d ARP entries, want 7", len(arp4))
	} else {
		if diff := cmp.Diff(facts.ARPEntry{IP: "172.16.233.229", MAC: "00:00:0c:59:f8:92", Interface: "Ethernet0/0", State: "permanent"}, arp4[0]); diff != "" {
			t.Errorf("arp[0] (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(facts.ARPEntry{IP: "172.16.168.254", MAC: "00:00:0c:36:69:65", Interface: "Ethernet0/0"}, arp4[5]); diff != "" {
			t.Errorf("arp[5] (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(facts.ARPEntry{IP: "10.0.0.0", MAC: "aa:bb:cc:03:82:00", State: "permanent"}, arp4[6]); diff != "" {
			t.Errorf("arp[6] (-want +got):\n%s", diff)
		}
	}
	// show ipv6 neighbors: 10 rows, Di0's left out; STALE and REACH.
	if len(nd) != 9 {
		t.Errorf("%d ND entries, want 9", len(nd))
	} else {
		if diff := cmp.Diff(facts.ARPEntry{IP: "2402:1234:106:100:793a:f08d:5b3a:ef89", MAC: "54:e1:ad:db:20:0f", Interface: "Vlan6", State: "stale"}, nd[0]); diff != "" {
			t.Errorf("nd[0] (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(facts.ARPEntry{IP: "fe80::208:e3ff:feff:fc28", MAC: "00:08:e3:ff:fc:28", Interface: "Vlan687", State: "reachable"}, nd[8]); diff != "" {
			t.Errorf("nd[8] (-want +got):\n%s", diff)
		}
	}
	// show mac address-table: 9 dynamic entries, 0010.7b00.1540 on Fa0/5
	// in VLAN 2.
	if len(d.MACTable) != 9 {
		t.Errorf("%d MAC entries, want 9", len(d.MACTable))
	} else if diff := cmp.Diff(facts.MACEntry{MAC: "00:10:7b:00:15:40", VLAN: 2, Interface: "FastEthernet0/5"}, d.MACTable[1]); diff != "" {
		t.Errorf("mac_table[1] (-want +got):\n%s", diff)
	}
	// show vlan: 8 VLANs, 1 default ... 1005 trnet-default.
	if len(d.VLANs) != 8 || d.VLANs[0] != (facts.VLAN{ID: 1, Name: "default"}) || d.VLANs[2] != (facts.VLAN{ID: 50, Name: "VLan50"}) || d.VLANs[7] != (facts.VLAN{ID: 1005, Name: "trnet-default"}) {
		t.Errorf("vlans = %v", d.VLANs)
	}
	// LLDP: HpSwitch on Gi1/0/1 (port ID a MAC: no remote port), the AP
	// named by its MAC on Gi1/0/9; CDP: four neighbours with their ports.
	wantNeighbors := []facts.Neighbor{
		{LocalInterface: "GigabitEthernet1/0/1", RemoteHostname: "HpSwitch", Protocol: "lldp"},
		{LocalInterface: "GigabitEthernet1/0/9", RemoteHostname: "44:48:c1:c4:dd:dd", Protocol: "lldp"},
		{LocalInterface: "GigabitEthernet1/0/16", RemoteHostname: "desktop-switch", RemoteInterface: "GigabitEthernet0/1", Protocol: "cdp"},
		{LocalInterface: "GigabitEthernet1/0/22", RemoteHostname: "ce-router", RemoteInterface: "GigabitEthernet0/0", Protocol: "cdp"},
		{LocalInterface: "GigabitEthernet1/0/19", RemoteHostname: "server", RemoteInterface: "eth0", Protocol: "cdp"},
		{LocalInterface: "GigabitEthernet0/3", RemoteHostname: "vIOS-L2-1", RemoteInterface: "GigabitEthernet0/3", Protocol: "cdp"},
	}
	if diff := cmp.Diff(wantNeighbors, d.Neighbors); diff != "" {
		t.Errorf("neighbors (-want +got):\n%s", diff)
	}
	// show ip route vrf *: "Routing Table: TRI", 34 lines of which two
	// prefixes have two equal-cost next hops: 32 routes.
	if len(d.Routes) != 32 {
		t.Fatalf("%d routes, want 32", len(d.Routes))
	}
	wantRoutes := map[int]facts.Route{
		0:  {VRF: "TRI", Prefix: "0.0.0.0/0", NextHop: "10.10.254.3", Protocol: "bgp", AdminDistance: intp(200)},
		2:  {VRF: "TRI", Prefix: "10.10.0.0/18", Interface: "Null0", Protocol: "bgp", AdminDistance: intp(200), Action: "drop"},
		4:  {VRF: "TRI", Prefix: "10.10.5.1/32", Interface: "Vlan5", Protocol: "local", Action: "local"},
		22: {VRF: "TRI", Prefix: "10.20.0.0/16", NextHop: "10.10.254.10", NextHopVRF: "AMB", Protocol: "bgp", AdminDistance: intp(200)},
		27: {VRF: "TRI", Prefix: "50.1.1.1/32", Interface: "Loopback50", Protocol: "connected"},
		28: {VRF: "TRI", Prefix: "10.12.1.0/27", NextHops: []facts.NextHop{{IP: "192.168.12.5"}, {IP: "192.168.12.1"}}, Protocol: "bgp", Metric: 1000, AdminDistance: intp(200)},
		31: {VRF: "TRI", Prefix: "172.16.20.0/24", NextHop: "10.80.10.2", Protocol: "bgp", AdminDistance: intp(200)},
	}
	for i, w := range wantRoutes {
		if diff := cmp.Diff(w, d.Routes[i]); diff != "" {
			t.Errorf("routes[%d] (-want +got):\n%s", i, diff)
		}
	}
	// show ip bgp summary: local AS 65000, ten neighbours; 10.0.0.3 up
	// with 0 prefixes; 10.0.0.10 "Idle (Admin)".
	if len(d.BGPPeers) != 10 {
		t.Fatalf("%d BGP peers, want 10", len(d.BGPPeers))
	}
	if diff := cmp.Diff(facts.BGPPeer{PeerIP: "10.0.0.3", RemoteAS: 65002, LocalAS: 65000, State: "established",
		AFISafi: []facts.AFISafi{{Name: "ipv4-unicast", PrefixesReceived: int64p(0)}}}, d.BGPPeers[2]); diff != "" {
		t.Errorf("bgp_peers[2] (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(facts.BGPPeer{PeerIP: "10.0.0.10", RemoteAS: 65009, LocalAS: 65000, State: "idle",
		AFISafi: []facts.AFISafi{{Name: "ipv4-unicast"}}}, d.BGPPeers[9]); diff != "" {
		t.Errorf("bgp_peers[9] (-want +got):\n%s", diff)
	}
}

// The second IOS set, parsed as IOS XE (which uses IOS's templates):
// a C9500 stack, asdot AS numbers, VRF tables, static MACs on the CPU.
func TestIOSXERecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "xe1", "cisco_xe", "cisco_ios/ntc-2")
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	// A two-member stack: the first member's model and serial.
	if d.OS != "ios-xe" || d.Model != "C9500-40X" || d.Serial != "FCW2233FFG3" || d.Version != "16.9.5" {
		t.Errorf("device = %q %q %q %q", d.OS, d.Model, d.Serial, d.Version)
	}
	// "GigabitEthernet0/0/0 is administratively down, line protocol is
	// down", speed "1000Mbps".
	if i := findIface(t, d, "GigabitEthernet0/0/0"); *i.AdminUp || *i.OperUp || i.SpeedMbps != 1000 || i.MAC != "c4:f7:d5:14:69:00" {
		t.Errorf("GigabitEthernet0/0/0 = %+v", i)
	}
	// switchport: Gi0/1 trunk of ALL (no list: every VLAN), Gi0/2 "static
	// access" in VLAN 100.
	if i := findIface(t, d, "GigabitEthernet0/1"); i.Mode != "trunk" || i.TrunkVLANs != nil {
		t.Errorf("GigabitEthernet0/1 = %+v", i)
	}
	if i := findIface(t, d, "GigabitEthernet0/2"); i.Mode != "access" || i.AccessVLAN != 100 {
		t.Errorf("GigabitEthernet0/2 = %+v", i)
	}
	// LLDP on Tw2/0/33 (TwoGigabitEthernet), port ID a MAC.
	if diff := cmp.Diff(facts.Neighbor{LocalInterface: "TwoGigabitEthernet2/0/33", RemoteHostname: "Foo-BAR-TSC-101-G3", Protocol: "lldp"}, d.Neighbors[0]); diff != "" {
		t.Errorf("neighbors[0] (-want +got):\n%s", diff)
	}
	// CPU entries in VLAN "All": the switch's own, static; a MAC in two
	// VLANs on Po6 is two entries.
	if diff := cmp.Diff(facts.MACEntry{MAC: "01:00:0c:cc:cc:cc", Interface: "CPU", Flags: []string{"router", "static"}}, d.MACTable[0]); diff != "" {
		t.Errorf("mac_table[0] (-want +got):\n%s", diff)
	}
	if n := len(d.MACTable); n != 17 || cmp.Diff(facts.MACEntry{MAC: "30:a3:30:a3:a1:cd", VLAN: 2000, Interface: "Port-channel6"}, d.MACTable[n-1]) != "" {
		t.Errorf("mac_table has %d entries, last %+v", n, d.MACTable[n-1])
	}
	// show ip route vrf *: the global table is empty; CODE-DAVE-INSIDE and
	// CODE-DAVE-OUTSIDE hold 5 and 3 routes; "S ... is directly connected,
	// Null0" drops.
	if len(d.Routes) != 8 {
		t.Fatalf("%d routes, want 8", len(d.Routes))
	}
	if diff := cmp.Diff(facts.Route{VRF: "CODE-DAVE-INSIDE", Prefix: "10.197.70.0/23", Interface: "Null0", Protocol: "static", Action: "drop"}, d.Routes[4]); diff != "" {
		t.Errorf("routes[4] (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(facts.Route{VRF: "CODE-DAVE-OUTSIDE", Prefix: "0.0.0.0/0", NextHop: "1.1.1.1", Protocol: "static", AdminDistance: intp(200)}, d.Routes[5]); diff != "" {
		t.Errorf("routes[5] (-want +got):\n%s", diff)
	}
	// asdot: local AS 65000.1000 is 65000*65536+1000; 662.47492 likewise.
	if p := d.BGPPeers[0]; p.LocalAS != 65000*65536+1000 || p.RemoteAS != 65000*65536+1000 {
		t.Errorf("bgp_peers[0] = %+v", p)
	}
	if p := d.BGPPeers[3]; p.PeerIP != "192.88.99.1" || p.RemoteAS != 662*65536+47492 || *p.AFISafi[0].PrefixesReceived != 435 {
		t.Errorf("bgp_peers[3] = %+v", p)
	}
}

// What the templates cannot read is reported per command and contributes
// nothing; the other outputs still become facts.
func TestIOSBrokenOutputs(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "ios3", "cisco_ios", "", map[platform.Kind]string{
		platform.KindVersion: "% Invalid input detected at '^' marker.\n",
		platform.KindIPv6:    "GigabitEthernet0/0 is up, line protocol is up\n  IPv6 is enabled, link-local address is FE80::1\n",
		platform.KindVLANs:   "VLAN Name                             Status    Ports\n---- -------------------------------- --------- -------------------------------\n1    default                          active    Gi0/1\nthis line is not a VLAN\n",
		platform.KindARP:     "Protocol  Address          Age (min)  Hardware Addr   Type   Interface\nInternet  10.0.0.1                -   0000.0c07.zzzz  ARPA   Vlan10\nInternet  10.0.0.2                5   0000.0c07.ac0a  ARPA   Vlan10\n",
		platform.KindSwitchport: "Name: Gi0/9\nSwitchport: Enabled\nAdministrative Mode: trunk\nOperational Mode: trunk\n" +
			"Access Mode VLAN: 1 (default)\nTrunking Native Mode VLAN: 1 (default)\nTrunking VLANs Enabled: NONE\n",
	})
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	want := []string{
		`version (show version): not parsed: the device refused the command: "% Invalid input detected at '^' marker."`,
		`ipv6 (show ipv6 interface): not parsed: ntc-templates has no template for "show ipv6 interface" on cisco_ios`,
		`switchport (show interfaces switchport): skipped: interface GigabitEthernet0/9: trunk VLANs: the trunk allows no VLAN, which the facts format cannot say (an empty list is every VLAN)`,
		`arp (show ip arp): skipped: ARP 10.0.0.1: hardware address "0000.0c07.zzzz" is not a MAC address`,
	}
	got := problems(dr)
	if len(got) != 5 {
		t.Fatalf("problems = %q, want 5", got)
	}
	// The VLAN table's stray line trips the template's Error rule.
	vlans := got[4]
	if diff := cmp.Diff(want, got[:4]); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if wantPrefix := `vlans (show vlan): not parsed: template cisco_ios_show_vlan.textfsm rejects the output: `; len(vlans) < len(wantPrefix) || vlans[:len(wantPrefix)] != wantPrefix {
		t.Errorf("vlans problem = %q, want it to start %q", vlans, wantPrefix)
	}
	if len(d.VLANs) != 0 || len(d.ARP) != 1 || d.ARP[0].IP != "10.0.0.2" {
		t.Errorf("vlans %v, arp %v", d.VLANs, d.ARP)
	}
	if i := findIface(t, d, "GigabitEthernet0/9"); i.Mode != "" {
		t.Errorf("GigabitEthernet0/9 = %+v, want no mode", i)
	}
}
