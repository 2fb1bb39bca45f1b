package parse

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// ASA show commands recorded for ntc-templates, expected facts read off
// the raw text.
func TestASARecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "asa1", "cisco_asa", "cisco_asa/ntc")
	d, dr := parseText(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	// With "names" configured, six networks print as names; one mask
	// (255.255.255.64) is not a mask.
	want := []string{
		`routes (show route): skipped: route Server1 255.255.255.255: not a network address and mask`,
		`routes (show route): skipped: route Sever-2 255.255.255.255: not a network address and mask`,
		`routes (show route): skipped: route Server_3 255.255.255.255: not a network address and mask`,
		`routes (show route): skipped: route SERVER 255.255.255.255: not a network address and mask`,
		`routes (show route): skipped: route 192.168.10.0 255.255.255.64: not a network address and mask`,
		`routes (show route): skipped: route server 255.255.255.255: not a network address and mask`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// "Software Version 9.5(2)204", "Model Id: ASAv10", "Serial Number:
	// 9AT1L9EX0DF".
	if d.OS != "asa" || d.Model != "ASAv10" || d.Serial != "9AT1L9EX0DF" || d.Version != "9.5(2)204" {
		t.Errorf("device = %q %q %q %q", d.OS, d.Model, d.Serial, d.Version)
	}
	// Interface GigabitEthernet0/0 "outside": its nameif is its zone.
	if diff := cmp.Diff(facts.Interface{Name: "GigabitEthernet0/0", Description: "to iosv-1", Type: "physical", MAC: "fa:16:3e:b0:c3:d3",
		AdminUp: boolp(true), OperUp: boolp(true), SpeedMbps: 1000, MTU: 1500, Zone: "outside", IPs: []string{"10.0.0.5/30"}}, findIface(t, d, "GigabitEthernet0/0")); diff != "" {
		t.Errorf("GigabitEthernet0/0 (-want +got):\n%s", diff)
	}
	// show interface ip brief: states only ("administratively down down").
	if i := findIface(t, d, "GigabitEthernet1/4"); *i.AdminUp || *i.OperUp || len(i.IPs) != 0 {
		t.Errorf("GigabitEthernet1/4 = %+v", i)
	}
	if i := findIface(t, d, "Port-channel1.144"); i.Type != "subinterface" || !*i.OperUp {
		t.Errorf("Port-channel1.144 = %+v", i)
	}
	// show arp: "outside" is GigabitEthernet0/0; the other nameifs are not
	// in this show interface.
	if diff := cmp.Diff(facts.ARPEntry{IP: "1.2.3.4", MAC: "44:4e:6d:f8:b9:7e", Interface: "GigabitEthernet0/0"}, d.ARP[0]); diff != "" || len(d.ARP) != 5 || d.ARP[4].Interface != "INSIDE" {
		t.Errorf("arp = %+v", d.ARP)
	}
	// show route: 27 route lines, 6 skipped, 3 continuation lines joined.
	if len(d.Routes) != 21 {
		t.Fatalf("%d routes, want 21", len(d.Routes))
	}
	if diff := cmp.Diff(facts.Route{Prefix: "10.64.65.82/32", Protocol: "static", AdminDistance: intp(1), NextHops: []facts.NextHop{
		{IP: "10.100.67.246", Interface: "GigabitEthernet0/0"}, {IP: "10.0.5.12", Interface: "GigabitEthernet0/0"}}}, d.Routes[0]); diff != "" {
		t.Errorf("routes[0] (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(facts.Route{Prefix: "172.16.2.254/32", NextHop: "192.168.2.2", Interface: "inside", Protocol: "ospf", Metric: 11, AdminDistance: intp(110)}, d.Routes[8]); diff != "" {
		t.Errorf("routes[8] (-want +got):\n%s", diff)
	}
	// The last route's "is directly connected, inside" is on a line of
	// its own.
	if diff := cmp.Diff(facts.Route{Prefix: "192.168.2.0/24", Interface: "inside", Protocol: "connected"}, d.Routes[20]); diff != "" {
		t.Errorf("routes[20] (-want +got):\n%s", diff)
	}
}

// An ASA on Firepower hardware, as FTD (ASA templates; the port-channel
// bundle from "Active member of Port-channel1").
func TestFTDRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "ftd1", "cisco_ftd", "cisco_asa/ntc-2")
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	if d.OS != "ftd" || d.Model != "FPR4K-SM-12" || d.Version != "9.8(3)21" || d.Serial != "" {
		t.Errorf("device = %q %q %q %q", d.OS, d.Model, d.Version, d.Serial)
	}
	if i := findIface(t, d, "GigabitEthernet1/3"); i.LAG != "Port-channel1" || i.SpeedMbps != 1000 || i.MAC != "00:ea:bd:1c:f7:da" {
		t.Errorf("GigabitEthernet1/3 = %+v", i)
	}
	// Two next hops on continuation lines below the prefix.
	if diff := cmp.Diff(facts.Route{Prefix: "172.23.42.0/23", Protocol: "ospf", Metric: 11, AdminDistance: intp(110), NextHops: []facts.NextHop{
		{IP: "172.17.13.52", Interface: "routing"}, {IP: "172.17.13.51", Interface: "routing"}}}, d.Routes[3]); diff != "" {
		t.Errorf("routes[3] (-want +got):\n%s", diff)
	}
	if len(d.Routes) != 10 || d.Routes[0].Prefix != "0.0.0.0/0" || d.Routes[0].NextHop != "192.168.1.2" {
		t.Errorf("routes = %+v", d.Routes)
	}
}

func TestArubaRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "aruba1", "aruba_os", "aruba_os/ntc")
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	if d.Version != "WC.16.05.0007" {
		t.Errorf("version = %q", d.Version)
	}
	// "vlan 93  162.25.53.4 / 255.255.255.192" is vlan93, the name show
	// arp uses.
	if diff := cmp.Diff(facts.Interface{Name: "vlan93", Type: "vlan", AdminUp: boolp(true), OperUp: boolp(true), IPs: []string{"162.25.53.4/26"}}, findIface(t, d, "vlan93")); diff != "" {
		t.Errorf("vlan93 (-want +got):\n%s", diff)
	}
	if i := findIface(t, d, "vlan999"); cmp.Diff([]string{"162.21.33.196/28"}, i.IPs) != "" {
		t.Errorf("vlan999 = %+v", i)
	}
	if len(d.ARP) != 12 || cmp.Diff(facts.ARPEntry{IP: "10.13.68.150", MAC: "78:f2:9e:90:f1:72", Interface: "vlan10"}, d.ARP[11]) != "" {
		t.Errorf("arp = %+v", d.ARP)
	}
	if len(d.VLANs) != 8 || d.VLANs[0] != (facts.VLAN{ID: 1, Name: "DEFAULT_VLAN"}) || d.VLANs[7] != (facts.VLAN{ID: 108, Name: "WiFi_guest"}) {
		t.Errorf("vlans = %v", d.VLANs)
	}
	// ntc-templates has no aruba_os "show ip route".
	dir = t.TempDir()
	cacheDevice(t, dir, "aruba2", "aruba_os", "", map[platform.Kind]string{platform.KindRoutes: "Gateway of last resort is 10.0.0.1 to network 0.0.0.0\n"})
	_, dr = parseText(t, dir)
	if diff := cmp.Diff([]string{`routes (show ip route): not parsed: ntc-templates has no template for "show ip route" on aruba_os`}, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestPANOSRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "pa1", "paloalto_panos", "paloalto_panos/ntc")
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	// "model: PA-VM", "sw-version: 7.0.1", "serial: unknown" (left out).
	if d.Model != "PA-VM" || d.Version != "7.0.1" || d.Serial != "" {
		t.Errorf("device = %q %q %q", d.Model, d.Version, d.Serial)
	}
	// Both tables of show interface all: ethernet1/13 "1000/full/up",
	// zone ZONE_INET, vr:vrf02, two addresses (one on a continuation line).
	if diff := cmp.Diff(facts.Interface{Name: "ethernet1/13", Type: "physical", MAC: "00:1b:17:aa:bb:02", OperUp: boolp(true), SpeedMbps: 1000,
		VRF: "vrf02", Zone: "ZONE_INET", IPs: []string{"192.0.2.33/29", "10.10.10.1/29"}}, findIface(t, d, "ethernet1/13")); diff != "" {
		t.Errorf("ethernet1/13 (-want +got):\n%s", diff)
	}
	// ha1-b "ukn/ukn/down((autoneg))/ukn".
	if i := findIface(t, d, "ha1-b"); *i.OperUp || i.SpeedMbps != 0 {
		t.Errorf("ha1-b = %+v", i)
	}
	if i := findIface(t, d, "ae1.99"); i.Type != "subinterface" || i.Zone != "ZONE_OTSC" || i.VRF != "vrf03" {
		t.Errorf("ae1.99 = %+v", i)
	}
	// show arp all: "(incomplete)" has no MAC.
	if len(d.ARP) != 4 || cmp.Diff(facts.ARPEntry{IP: "172.25.2.197", Interface: "vlan.1", State: "incomplete"}, d.ARP[3]) != "" {
		t.Errorf("arp = %+v", d.ARP)
	}
	// show routing route: virtual router VR_HANDOFF, 28 routes: BGP via a
	// next hop, static discard, connected on an interface, host (local).
	if len(d.Routes) != 28 {
		t.Fatalf("%d routes, want 28", len(d.Routes))
	}
	for i, w := range map[int]facts.Route{
		0:  {VRF: "VR_HANDOFF", Prefix: "0.0.0.0/0", NextHop: "192.168.2.49", Protocol: "bgp"},
		1:  {VRF: "VR_HANDOFF", Prefix: "10.0.0.0/8", Protocol: "static", Metric: 10, Action: "drop"},
		20: {VRF: "VR_HANDOFF", Prefix: "192.168.2.0/29", Interface: "ethernet1/8.3111", Protocol: "connected"},
		21: {VRF: "VR_HANDOFF", Prefix: "192.168.2.3/32", Protocol: "local", Action: "local"},
	} {
		if diff := cmp.Diff(w, d.Routes[i]); diff != "" {
			t.Errorf("routes[%d] (-want +got):\n%s", i, diff)
		}
	}
}

// Two virtual routers, each table parsed on its own (the template stops
// at a table's "total routes shown").
func TestPANOSVirtualRouters(t *testing.T) {
	out := "flags: A:active, ?:loose, C:connect, H:host, S:static, ~:internal, R:rip, O:ospf, B:bgp, \n" +
		"       Oi:ospf intra-area, Oo:ospf inter-area, O1:ospf ext-type-1, O2:ospf ext-type-2, E:ecmp, M:multicast\n\n" +
		"VIRTUAL ROUTER: default (id 1)\n  ==========\n" +
		"destination                                 nexthop                                 metric flags      age   interface          next-AS    \n" +
		"0.0.0.0/0                                   203.0.113.1                             10     A S                ethernet1/1                   \n" +
		"10.9.0.0/16                                 10.1.1.2                                10       S                ethernet1/2                   \n" +
		"total routes shown: 2\n\n" +
		"VIRTUAL ROUTER: lab (id 2)\n  ==========\n" +
		"destination                                 nexthop                                 metric flags      age   interface          next-AS    \n" +
		"0.0.0.0/0                                   198.51.100.1                            10     A S                ethernet1/3                   \n" +
		"total routes shown: 1\n"
	dir := t.TempDir()
	cacheDevice(t, dir, "pa2", "paloalto_panos", "", map[platform.Kind]string{platform.KindRoutes: out})
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	// The inactive static route (no A) is not forwarding.
	want := []facts.Route{
		{VRF: "default", Prefix: "0.0.0.0/0", NextHop: "203.0.113.1", Interface: "ethernet1/1", Protocol: "static", Metric: 10},
		{VRF: "lab", Prefix: "0.0.0.0/0", NextHop: "198.51.100.1", Interface: "ethernet1/3", Protocol: "static", Metric: 10},
	}
	if diff := cmp.Diff(want, d.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

func TestFortiOSRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "fgt1", "fortinet", "fortinet/ntc")
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	// "Version: FortiGate-60E-POE v7.4.1,build2463,230830 (GA.F)".
	if d.Model != "FortiGate-60E-POE" || d.Version != "7.4.1 build2463" || d.Serial != "FG60EPTK19010019" {
		t.Errorf("device = %q %q %q", d.Model, d.Version, d.Serial)
	}
	// "ip: 0.0.0.0 0.0.0.0" is no address; fortilink is an aggregate.
	if diff := cmp.Diff(facts.Interface{Name: "port1", Type: "physical", AdminUp: boolp(true), IPs: []string{"192.168.0.205/24"}}, findIface(t, d, "port1")); diff != "" {
		t.Errorf("port1 (-want +got):\n%s", diff)
	}
	if i := findIface(t, d, "port2"); len(i.IPs) != 0 {
		t.Errorf("port2 = %+v", i)
	}
	if i := findIface(t, d, "fortilink"); i.Type != "lag" || cmp.Diff([]string{"10.255.1.1/24"}, i.IPs) != "" {
		t.Errorf("fortilink = %+v", i)
	}
	if len(d.ARP) != 4 || cmp.Diff(facts.ARPEntry{IP: "192.168.1.4", MAC: "b0:a8:6e:01:61:81", Interface: "lan"}, d.ARP[0]) != "" {
		t.Errorf("arp = %+v", d.ARP)
	}
	// VRF=0 is the default table; a connected route on two tunnels and a
	// static one via two gateways are equal-cost.
	if len(d.Routes) != 8 {
		t.Fatalf("%d routes, want 8", len(d.Routes))
	}
	for i, w := range map[int]facts.Route{
		0: {Prefix: "0.0.0.0/0", NextHop: "10.149.127.253", Interface: "Tu-Hub01-Main", Protocol: "ospf", Metric: 10, AdminDistance: intp(110)},
		5: {Prefix: "10.149.0.0/16", NextHops: []facts.NextHop{{Interface: "Tu-Hub01-Main"}, {Interface: "Tu-Hub02-Main"}}, Protocol: "connected"},
		7: {Prefix: "1.2.3.4/32", NextHops: []facts.NextHop{{IP: "10.152.1.229", Interface: "lan"}, {IP: "4.3.2.1", Interface: "wan"}}, Protocol: "static", AdminDistance: intp(10)},
	} {
		if diff := cmp.Diff(w, d.Routes[i]); diff != "" {
			t.Errorf("routes[%d] (-want +got):\n%s", i, diff)
		}
	}
}

func TestGaiaRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheRaw(t, dir, "gw1", "checkpoint_gaia", "checkpoint_gaia/ntc")
	d, dr := parseText(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	if d.Version != "R77.30" {
		t.Errorf("version = %q", d.Version)
	}
	if diff := cmp.Diff(facts.Interface{Name: "Mgmt", Type: "mgmt", MAC: "00:1c:7f:00:11:22", AdminUp: boolp(true), OperUp: boolp(true), SpeedMbps: 1000, MTU: 1500,
		IPs: []string{"192.168.1.1/24"}}, findIface(t, d, "Mgmt")); diff != "" {
		t.Errorf("Mgmt (-want +got):\n%s", diff)
	}
	// A VLAN interface: "link-state not available", its port's speed.
	if diff := cmp.Diff(facts.Interface{Name: "eth1-01.264", Description: "This-is-a-comment", Type: "subinterface", MAC: "00:1c:7f:00:11:23", AdminUp: boolp(true), MTU: 1500,
		IPs: []string{"10.10.10.0/29"}}, findIface(t, d, "eth1-01.264")); diff != "" {
		t.Errorf("eth1-01.264 (-want +got):\n%s", diff)
	}
	want := []facts.Route{
		{Prefix: "0.0.0.0/0", NextHop: "10.10.10.1", Interface: "eth1-02.122", Protocol: "static"},
		{Prefix: "10.0.0.0/24", NextHop: "10.1.1.254", Interface: "eth1-01.100", Protocol: "static"},
		{Prefix: "10.1.1.0/24", Interface: "eth1.111", Protocol: "connected"},
	}
	if diff := cmp.Diff(want, d.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if len(d.ARP) != 6 || cmp.Diff(facts.ARPEntry{IP: "192.168.13.233", MAC: "bc:30:5b:b5:76:db"}, d.ARP[0]) != "" {
		t.Errorf("arp = %+v", d.ARP)
	}
}

// Without the templates every screen-text output says how to get them;
// JSON outputs of the same cache are unaffected.
func TestTemplatesMissing(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "ios9", "cisco_ios", "", map[platform.Kind]string{platform.KindVersion: "Cisco IOS Software, Version 15.2(4)M\n"})
	doc, rep, err := CacheWith(dir, Options{NTCTemplates: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Devices) != 0 || len(rep.Devices[0].Problems) != 1 {
		t.Fatalf("document %v, report %+v", doc.Devices, rep.Devices)
	}
	msg := rep.Devices[0].Problems[0].Message
	for _, want := range []string{"ntc-templates templates are not installed", "MESHQ_NTC_TEMPLATES", "make run and make test install it"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}
