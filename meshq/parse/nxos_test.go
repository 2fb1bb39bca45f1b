package parse

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

func TestNXOSNapalmRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "nx1", "cisco_nxos", "testdata/cisco_nxos/napalm", nil)
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	if got := problems(dr); len(got) != 0 {
		t.Errorf("problems = %q, want none", got)
	}
	if diff := cmp.Diff([]platform.Kind{"version", "interfaces", "ipv4", "arp", "mac_table", "vlans", "bgp"}, dr.Parsed); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	// show version: chassis_id "NX-OSv Chassis", sys_ver_str (7.x has no
	// nxos_ver_str), proc_board_id.
	if d.Vendor != "cisco" || d.OS != "nx-os" || d.Model != "NX-OSv" || d.Serial != "TM6017D760B" || d.Version != "7.3(1)D1(1) [build 7.3(1)D1(0.10)]" {
		t.Errorf("device = %q %q %q %q %q", d.Vendor, d.OS, d.Model, d.Serial, d.Version)
	}
	// show interface: Ethernet1/1 admin up, link down; Ethernet1/2 admin
	// down; eth_bw 1000000 Kbit/s; eth_mtu given as a string. Then show ip
	// interface adds Ethernet1/1's address (its VRF lists do not pair up:
	// 6 TABLE_vrf for 7 TABLE_intf, so no VRF is set).
	if diff := cmp.Diff(facts.Interface{Name: "Ethernet1/1", Type: "physical", MAC: "2c:c2:60:4f:fe:b2", AdminUp: boolp(true), OperUp: boolp(false),
		SpeedMbps: 1000, MTU: 1500, Mode: "routed", IPs: []string{"172.16.100.1/24"}}, findIface(t, d, "Ethernet1/1")); diff != "" {
		t.Errorf("Ethernet1/1 (-want +got):\n%s", diff)
	}
	if i := findIface(t, d, "Ethernet1/2"); *i.AdminUp || *i.OperUp || len(i.IPs) != 0 {
		t.Errorf("Ethernet1/2 = %+v", i)
	}
	if i := findIface(t, d, "loopback100"); cmp.Diff([]string{"10.0.0.100/24"}, i.IPs) != "" {
		t.Errorf("loopback100 = %+v", i)
	}
	wantARP := []facts.ARPEntry{{IP: "10.122.100.3", MAC: "18:8b:9d:0b:b3:3f", Interface: "Vlan100", VRF: "default"}}
	if diff := cmp.Diff(wantARP, d.ARP); diff != "" {
		t.Errorf("arp (-want +got):\n%s", diff)
	}
	// One gateway MAC on the supervisor's inband port, marked (R), VLAN 0
	// ("no VLAN"), static.
	wantMAC := []facts.MACEntry{{MAC: "50:87:89:a1:de:75", Interface: "SUP_INBAND_CFSOE", Flags: []string{"router", "static"}}}
	if diff := cmp.Diff(wantMAC, d.MACTable); diff != "" {
		t.Errorf("mac_table (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]facts.VLAN{{ID: 230, Name: "database"}, {ID: 231, Name: "APPLICATION"}}, d.VLANs); diff != "" {
		t.Errorf("vlans (-want +got):\n%s", diff)
	}
	// 14 sessions in 7 VRFs, local AS 64861; the two in default are EVPN.
	if len(d.BGPPeers) != 14 {
		t.Fatalf("%d BGP peers, want 14", len(d.BGPPeers))
	}
	if diff := cmp.Diff(facts.BGPPeer{PeerIP: "10.1.1.177", RemoteAS: 64862, LocalAS: 64861, State: "established", VRF: "RED-PRE-PROD",
		AFISafi: []facts.AFISafi{{Name: "ipv4-unicast", State: "established", PrefixesReceived: int64p(13)}}}, d.BGPPeers[0]); diff != "" {
		t.Errorf("bgp_peers[0] (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(facts.BGPPeer{PeerIP: "10.1.1.135", RemoteAS: 64861, LocalAS: 64861, State: "established", VRF: "default",
		AFISafi: []facts.AFISafi{{Name: "l2vpn-evpn", State: "established", PrefixesReceived: int64p(7237)}}}, d.BGPPeers[13]); diff != "" {
		t.Errorf("bgp_peers[13] (-want +got):\n%s", diff)
	}
}

// SVIs report their state and address in svi_* fields.
func TestNXOSSVIs(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "nx2", "cisco_nxos", "testdata/cisco_nxos/napalm-svi", nil)
	d, dr := parseOne(t, dir)
	if d == nil || len(dr.Problems) != 0 {
		t.Fatalf("device %v, report %+v", d, dr)
	}
	want := []facts.Interface{
		{Name: "Vlan120", Type: "vlan", MAC: "00:2a:6a:d3:00:00", AdminUp: boolp(true), OperUp: boolp(true), SpeedMbps: 1000, MTU: 1500, IPs: []string{"192.168.0.10/24"}},
		{Name: "Vlan198", Type: "vlan", MAC: "00:2a:6a:d3:00:00", AdminUp: boolp(false), OperUp: boolp(false), SpeedMbps: 1000, MTU: 1500, IPs: []string{"192.168.0.11/24"}},
		{Name: "Vlan199", Type: "vlan", Description: "This is a description", MAC: "00:2a:6a:d3:00:00", AdminUp: boolp(false), OperUp: boolp(false), SpeedMbps: 1000, MTU: 1500, IPs: []string{"192.168.0.11/24"}},
	}
	if diff := cmp.Diff(want, d.Interfaces); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
}

// NX-OS error paths: an output of the wrong command, a truncated one, and
// a row of the wrong type.
func TestNXOSBrokenOutputs(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "nx3", "cisco_nxos", "", map[platform.Kind]string{
		platform.KindVersion: `{"TABLE_interface": {"ROW_interface": []}}`,
		platform.KindARP:     `{"TABLE_vrf": {"ROW_vrf": {"vrf-name-out": "default", "TABLE_adj": {"ROW_adj": [{"ip-addr-out": "10.0.0.1", "mac": "INCOMPLETE", "intf-out": "Eth1/1"}, {"ip-addr-out": "10.0.0.300", "mac": "0000.0c9f.f001"}]}}}}`,
		platform.KindVLANs:   `{"TABLE_vlanbriefxbrief": {"ROW_vlanbriefxbrief": [{"vlanshowbr-vlanid": 10, "vlanshowbr-vlanname": "users"}`,
		platform.KindMAC:     `{"TABLE_mac_address": {"ROW_mac_address": "none"}}`,
	})
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	want := []string{
		`version (show version | json): not parsed: not the output of "show version": it has no "chassis_id"`,
		`arp (show ip arp vrf all | json): skipped: vrf default: address "10.0.0.300" is not an IP address`,
		`mac_table (show mac address-table | json): not parsed: unexpected JSON: field TABLE_mac_address.ROW_mac_address is a string, want an object`,
		`vlans (show vlan brief | json): not parsed: truncated JSON: the output ends after 108 bytes inside the document`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	// The incomplete entry is kept without a MAC, on the expanded name.
	if diff := cmp.Diff([]facts.ARPEntry{{IP: "10.0.0.1", Interface: "Ethernet1/1", VRF: "default", State: "incomplete"}}, d.ARP); diff != "" {
		t.Errorf("arp (-want +got):\n%s", diff)
	}
}
