package facts

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// example is the example document of the facts format, with values written in the
// non-canonical notations collectors send.
const example = `{
  "schema": "meshq.facts/v1",
  "collected_at": "2026-11-20T10:00:00Z",
  "devices": [{
    "hostname": "core-sw-01", "mgmt_ip": "::ffff:10.0.0.1", "vendor": "cisco", "os": "ios-xe",
    "model": "C9500-48Y4C", "serial": "FXS2231Q1AB", "version": "17.9.4", "role": "core", "site": "hq",
    "metadata": {"owner": "netops", "rack": 12},
    "interfaces": [{
      "name": "Gi1/0/1", "description": "to dist-sw-01", "mac": "001A.2B00.0001",
      "admin_up": true, "oper_up": true, "speed_mbps": 10000, "mtu": 9000,
      "mode": "Routed", "access_vlan": 0, "trunk_vlans": [30, 10, 20, 10], "vrf": "default", "zone": "",
      "ips": ["10.0.12.1/30", "2001:DB8:0:0::1/64", "10.0.12.1/30"]
    }, {
      "name": "ethernet1/1", "ips": ["10.9.0.1/24"], "addresses": [{"ip": "10.9.0.254", "role": "HSRP"}]
    }, {
      "name": "ethernet1/2", "zone": "dmz"
    }, {
      "name": "Vlan10", "type": "SVI"
    }, {
      "name": "Port-Channel1", "type": "port-channel", "mlag_peer_link": true
    }, {
      "name": "Ethernet49/1", "lag": "Port-Channel1"
    }],
    "vlans":      [{"id": 10, "name": "users"}],
    "neighbors":  [{"local_interface": "Gi1/0/1", "remote_hostname": "dist-sw-01",
                    "remote_interface": "Gi0/1", "protocol": "LLDP"}],
    "arp":        [{"ip": "10.1.10.23", "mac": "AA-BB-CC-00-00-01", "interface": "Vlan10", "vrf": "default"}],
    "mac_table":  [{"mac": "aabbcc000001", "vlan": 10, "interface": "Gi1/0/1"}],
    "routes":     [{"vrf": "default", "prefix": "10.20.1.7/16", "next_hop": "10.0.12.2",
                    "interface": "Null0", "protocol": "Static"}],
    "bgp_peers":  [{"peer_ip": "10.255.0.2", "remote_as": 65002, "local_as": 65001, "state": "Open_Sent"}],
    "firewall": {
      "default_action": "Deny",
      "zones":           [{"name": "trust", "interfaces": ["ethernet1/1", "ethernet1/1"]}, {"name": "dmz"}],
      "address_objects": [{"name": "web-servers", "type": "network", "value": "10.9.0.5/24"},
                          {"name": "web-host", "type": "HOST", "value": "10.9.0.7/32"},
                          {"name": "pool", "type": "range", "value": "10.9.0.10 - 10.9.0.20"},
                          {"name": "site", "type": "fqdn", "value": "WWW.Example.com."},
                          {"name": "web", "type": "group", "members": ["web-servers", "web-host"]}],
      "service_objects": [{"name": "https", "protocol": "TCP", "dest_ports": "443"},
                          {"name": "alt", "protocol": "tcp", "dest_ports": " 8000-8080 , 80 "},
                          {"name": "ping", "protocol": "icmp"},
                          {"name": "webs", "members": ["https", "alt"]}],
      "rules": [{"rule_id": "20", "rule_order": 20, "action": "deny", "src_addresses": ["ANY"],
                 "dst_addresses": ["10.9.0.7", "10.9.0.0/255"], "services": ["any"]},
                {"rule_id": "10", "rule_name": "allow-web", "rule_order": 10, "action": "allow",
                 "src_zones": ["trust"], "dst_zones": ["dmz"], "src_addresses": ["any"],
                 "dst_addresses": ["web", "10.9.0.9/24", "10.9.0.1-10.9.0.3"], "services": ["webs", "TCP/443", "udp/53,5353"],
                 "enabled": true, "hit_count": 1234}]
    }
  }]
}`

func ptr[T any](v T) *T { return &v }

func TestParseCanonicalises(t *testing.T) {
	// The rule with the bad prefix literal is fixed first: that one is an
	// error case below.
	doc, err := Parse([]byte(strings.Replace(example, `"10.9.0.0/255"`, `"10.9.0.0/25"`, 1)))
	if err != nil {
		t.Fatalf("Parse(example) = %v, want nil", err)
	}
	d := doc.Devices[0]
	got := map[string]any{
		"mgmt_ip":      d.MgmtIP,
		"mac":          d.Interfaces[0].MAC,
		"mode":         d.Interfaces[0].Mode,
		"trunk":        d.Interfaces[0].TrunkVLANs,
		"ips":          d.Interfaces[0].IPs,
		"zone1":        d.Interfaces[1].Zone,
		"addr1":        []any{d.Interfaces[1].IPs, d.Interfaces[1].Addresses},
		"types":        []string{d.Interfaces[3].Type, d.Interfaces[4].Type, d.Interfaces[5].LAG},
		"zones":        d.Firewall.Zones,
		"neigh":        d.Neighbors[0].Protocol,
		"arp_mac":      d.ARP[0].MAC,
		"mac_table":    d.MACTable[0].MAC,
		"route":        d.Routes[0].Prefix,
		"route_proto":  d.Routes[0].Protocol,
		"bgp_state":    d.BGPPeers[0].State,
		"default":      d.Firewall.DefaultAction,
		"objects":      d.Firewall.AddressObjects,
		"services":     d.Firewall.ServiceObjects,
		"rule_order":   []string{d.Firewall.Rules[0].RuleID, d.Firewall.Rules[1].RuleID},
		"action":       d.Firewall.Rules[0].Action,
		"dst_literals": d.Firewall.Rules[0].DstAddresses,
		"svc_literals": d.Firewall.Rules[0].Services,
		"any":          d.Firewall.Rules[1].SrcAddresses,
	}
	want := map[string]any{
		"mgmt_ip":     "10.0.0.1",
		"mac":         "00:1a:2b:00:00:01",
		"mode":        "routed",
		"trunk":       []int{10, 20, 30},
		"ips":         []string{"10.0.12.1/30", "2001:db8::1/64"},
		"zone1":       "trust",
		"addr1":       []any{[]string{"10.9.0.1/24", "10.9.0.254/24"}, []Address{{IP: "10.9.0.254/24", Role: "virtual"}}},
		"types":       []string{"vlan", "lag", "Port-Channel1"},
		"zones":       []Zone{{Name: "trust", Interfaces: []string{"ethernet1/1"}}, {Name: "dmz", Interfaces: []string{"ethernet1/2"}}},
		"neigh":       "lldp",
		"arp_mac":     "aa:bb:cc:00:00:01",
		"mac_table":   "aa:bb:cc:00:00:01",
		"route":       "10.20.0.0/16",
		"route_proto": "static",
		"bgp_state":   "opensent",
		"default":     "deny",
		"objects": []AddressObject{
			{Name: "web-servers", Type: "network", Value: "10.9.0.0/24"},
			{Name: "web-host", Type: "host", Value: "10.9.0.7"},
			{Name: "pool", Type: "range", Value: "10.9.0.10-10.9.0.20"},
			{Name: "site", Type: "fqdn", Value: "www.example.com"},
			{Name: "web", Type: "group", Members: []string{"web-servers", "web-host"}},
		},
		"services": []ServiceObject{
			{Name: "https", Protocol: "tcp", DestPorts: "443"},
			{Name: "alt", Protocol: "tcp", DestPorts: "8000-8080,80"},
			{Name: "ping", Protocol: "icmp", DestPorts: "any"},
			{Name: "webs", Members: []string{"https", "alt"}},
		},
		"rule_order":   []string{"10", "20"},
		"action":       "permit",
		"dst_literals": []string{"web", "10.9.0.0/24", "10.9.0.1-10.9.0.3"},
		"svc_literals": []string{"webs", "tcp/443", "udp/53,5353"},
		"any":          []string{"any"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse(example) canonical values differ (-want +got):\n%s", diff)
	}
	if got, want := d.Metadata, map[string]any{"owner": "netops", "rack": float64(12)}; !cmp.Equal(got, want) {
		t.Errorf("Parse(example).metadata = %v, want %v", got, want)
	}

	// Idempotent: the canonical document normalizes to itself.
	again := *doc
	b, _ := json.Marshal(doc)
	doc2, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Parse(example)) = %v, want nil", err)
	}
	if diff := cmp.Diff(&again, doc2); diff != "" {
		t.Errorf("normalizing twice changed the document (-once +twice):\n%s", diff)
	}
}

// valid is a small valid document that each error case breaks in one place.
func valid() *Document {
	return &Document{Schema: Schema, Devices: []Device{{
		Hostname: "sw1",
		Interfaces: []Interface{
			{Name: "Gi1", IPs: []string{"10.0.0.1/24"}},
			{Name: "Gi2"},
		},
		VLANs:     []VLAN{{ID: 10}},
		Neighbors: []Neighbor{{LocalInterface: "Gi1", RemoteHostname: "sw2"}},
		ARP:       []ARPEntry{{IP: "10.0.0.9", MAC: "aa:bb:cc:dd:ee:ff", Interface: "Gi1"}},
		MACTable:  []MACEntry{{MAC: "aa:bb:cc:dd:ee:ff", VLAN: 10, Interface: "Gi2"}},
		Routes:    []Route{{Prefix: "0.0.0.0/0", NextHop: "10.0.0.254"}},
		BGPPeers:  []BGPPeer{{PeerIP: "10.0.0.2", RemoteAS: 65002, State: "established"}},
		Firewall: &Firewall{
			Zones:          []Zone{{Name: "in", Interfaces: []string{"Gi1"}}, {Name: "out", Interfaces: []string{"Gi2"}}},
			AddressObjects: []AddressObject{{Name: "h", Type: "host", Value: "10.0.0.9"}, {Name: "g", Type: "group", Members: []string{"h"}}},
			ServiceObjects: []ServiceObject{{Name: "s", Protocol: "tcp", DestPorts: "22"}, {Name: "sg", Members: []string{"s"}}},
			Rules:          []Rule{{RuleID: "1", RuleOrder: 1, Action: "permit", SrcZones: []string{"in"}, DstAddresses: []string{"g"}, Services: []string{"sg"}}},
		},
	}, {Hostname: "sw2"}}}
}

func TestNormalizeValid(t *testing.T) {
	if err := Normalize(valid()); err != nil {
		t.Fatalf("Normalize(valid()) = %v, want nil", err)
	}
}

func TestNormalizeProblems(t *testing.T) {
	tests := []struct {
		name   string
		breaks func(d *Document)
		path   string
		msg    string
	}{
		{"schema missing", func(d *Document) { d.Schema = "" }, "schema", "required"},
		{"schema wrong", func(d *Document) { d.Schema = "meshq.facts/v2" }, "schema", "unsupported schema"},
		{"hostname missing", func(d *Document) { d.Devices[1].Hostname = "" }, "devices[1].hostname", "required"},
		{"hostname spaces", func(d *Document) { d.Devices[1].Hostname = " sw2" }, "devices[1].hostname", "white space"},
		{"hostname control", func(d *Document) { d.Devices[1].Hostname = "sw\x002" }, "devices[1].hostname", "control"},
		{"hostname long", func(d *Document) { d.Devices[1].Hostname = strings.Repeat("a", 256) }, "devices[1].hostname", "longer than"},
		{"hostname duplicate", func(d *Document) { d.Devices[1].Hostname = "sw1" }, "devices[1].hostname", "duplicate hostname \"sw1\" (first at devices[0])"},
		{"mgmt ip", func(d *Document) { d.Devices[0].MgmtIP = "10.0.0.300" }, "devices[0].mgmt_ip", "not an IP address"},
		{"mgmt ip zone", func(d *Document) { d.Devices[0].MgmtIP = "fe80::1%eth0" }, "devices[0].mgmt_ip", "zones are not allowed"},
		{"metadata key", func(d *Document) { d.Devices[0].Metadata = map[string]any{"": 1} }, "devices[0].metadata", "empty key"},
		{"interface name missing", func(d *Document) { d.Devices[0].Interfaces[1].Name = "" }, "devices[0].interfaces[1].name", "required"},
		{"interface duplicate", func(d *Document) { d.Devices[0].Interfaces[1].Name = "Gi1" }, "devices[0].interfaces[1].name", "duplicate interface \"Gi1\" (first at interfaces[0])"},
		{"interface ip bare", func(d *Document) { d.Devices[0].Interfaces[0].IPs = []string{"10.0.0.1/24", "10.0.0.2"} }, "devices[0].interfaces[0].ips[1]", "not an IP prefix"},
		{"interface ip mapped short", func(d *Document) { d.Devices[0].Interfaces[0].IPs = []string{"::ffff:10.0.0.1/64"} }, "devices[0].interfaces[0].ips[0]", "IPv4-mapped"},
		{"interface mac", func(d *Document) { d.Devices[0].Interfaces[0].MAC = "aa:bb:cc:dd:ee" }, "devices[0].interfaces[0].mac", "not a MAC address"},
		{"interface mode", func(d *Document) { d.Devices[0].Interfaces[0].Mode = "hybrid" }, "devices[0].interfaces[0].mode", "unknown mode"},
		{"interface mtu", func(d *Document) { d.Devices[0].Interfaces[0].MTU = 1<<20 + 1 }, "devices[0].interfaces[0].mtu", "not an MTU (want 0-1048576)"},
		{"interface ip default", func(d *Document) { d.Devices[0].Interfaces[0].IPs = []string{"0.0.0.0/0"} }, "devices[0].interfaces[0].ips[0]", "not an interface address"},
		{"interface ip zero length", func(d *Document) { d.Devices[0].Interfaces[0].IPs = []string{"10.0.0.1/0"} }, "devices[0].interfaces[0].ips[0]", "not an interface address"},
		{"interface ip unspecified v6", func(d *Document) { d.Devices[0].Interfaces[0].IPs = []string{"::/128"} }, "devices[0].interfaces[0].ips[0]", "not an interface address"},
		{"interface type", func(d *Document) { d.Devices[0].Interfaces[0].Type = "ethernetCsmacd" }, "devices[0].interfaces[0].type", "unknown interface type \"ethernetCsmacd\""},
		{"interface lag itself", func(d *Document) { d.Devices[0].Interfaces[0].LAG = "Gi1" }, "devices[0].interfaces[0].lag", "names the interface itself"},
		{"address role", func(d *Document) {
			d.Devices[0].Interfaces[0].Addresses = []Address{{IP: "10.0.0.254", Role: "floating"}}
		}, "devices[0].interfaces[0].addresses[0].role", "unknown address role \"floating\""},
		{"address ip", func(d *Document) { d.Devices[0].Interfaces[0].Addresses = []Address{{IP: "10.0.0.256"}} }, "devices[0].interfaces[0].addresses[0].ip", "not an IP address or prefix"},
		{"address ip missing", func(d *Document) { d.Devices[0].Interfaces[0].Addresses = []Address{{Role: "vrrp"}} }, "devices[0].interfaces[0].addresses[0].ip", "required"},
		{"address ip default", func(d *Document) { d.Devices[0].Interfaces[0].Addresses = []Address{{IP: "0.0.0.0/0"}} }, "devices[0].interfaces[0].addresses[0].ip", "not an interface address"},
		{"interface ifindex", func(d *Document) { d.Devices[0].Interfaces[0].IfIndex = -1 }, "devices[0].interfaces[0].ifindex", "negative"},
		{"interface speed", func(d *Document) { d.Devices[0].Interfaces[0].SpeedMbps = -1 }, "devices[0].interfaces[0].speed_mbps", "negative"},
		{"access vlan", func(d *Document) { d.Devices[0].Interfaces[0].AccessVLAN = 4095 }, "devices[0].interfaces[0].access_vlan", "not a VLAN id"},
		{"trunk vlan", func(d *Document) { d.Devices[0].Interfaces[0].TrunkVLANs = []int{10, 0} }, "devices[0].interfaces[0].trunk_vlans[1]", "not a VLAN id"},
		{"description long", func(d *Document) { d.Devices[0].Interfaces[0].Description = strings.Repeat("x", 5000) }, "devices[0].interfaces[0].description", "longer than"},
		{"interface zone unknown", func(d *Document) { d.Devices[0].Interfaces[0].Zone = "nope" }, "devices[0].interfaces[0].zone", "firewall.zones puts the interface in \"in\""},
		{"interface zone any", func(d *Document) {
			d.Devices[0].Interfaces = append(d.Devices[0].Interfaces, Interface{Name: "Gi3", Zone: "any"})
		}, "devices[0].interfaces[2].zone", "reserved"},
		{"vlan id", func(d *Document) { d.Devices[0].VLANs[0].ID = 0 }, "devices[0].vlans[0].id", "not a VLAN id"},
		{"vlan duplicate", func(d *Document) { d.Devices[0].VLANs = append(d.Devices[0].VLANs, VLAN{ID: 10}) }, "devices[0].vlans[1].id", "duplicate VLAN 10"},
		{"neighbor local interface", func(d *Document) { d.Devices[0].Neighbors[0].LocalInterface = "Gi9" }, "devices[0].neighbors[0].local_interface", "no interface \"Gi9\" on this device"},
		{"neighbor local interface missing", func(d *Document) { d.Devices[0].Neighbors[0].LocalInterface = "" }, "devices[0].neighbors[0].local_interface", "required"},
		{"neighbor remote", func(d *Document) { d.Devices[0].Neighbors[0].RemoteHostname = "" }, "devices[0].neighbors[0].remote_hostname", "required"},
		{"neighbor protocol", func(d *Document) { d.Devices[0].Neighbors[0].Protocol = "snmp" }, "devices[0].neighbors[0].protocol", "unknown protocol"},
		{"arp ip", func(d *Document) { d.Devices[0].ARP[0].IP = "10.0.0.0/24" }, "devices[0].arp[0].ip", "not an IP address"},
		{"arp ip missing", func(d *Document) { d.Devices[0].ARP[0].IP = "" }, "devices[0].arp[0].ip", "required"},
		{"arp mac", func(d *Document) { d.Devices[0].ARP[0].MAC = "zz:bb:cc:dd:ee:ff" }, "devices[0].arp[0].mac", "not a MAC address"},
		{"arp interface", func(d *Document) { d.Devices[0].ARP[0].Interface = "Vlan\x0199" }, "devices[0].arp[0].interface", "control characters"},
		{"mac table mac", func(d *Document) { d.Devices[0].MACTable[0].MAC = "" }, "devices[0].mac_table[0].mac", "required"},
		{"mac table vlan", func(d *Document) { d.Devices[0].MACTable[0].VLAN = 5000 }, "devices[0].mac_table[0].vlan", "not a VLAN id"},
		{"mac table interface", func(d *Document) { d.Devices[0].MACTable[0].Interface = "" }, "devices[0].mac_table[0].interface", "required"},
		{"route prefix", func(d *Document) { d.Devices[0].Routes[0].Prefix = "default" }, "devices[0].routes[0].prefix", "not an IP prefix"},
		{"route prefix missing", func(d *Document) { d.Devices[0].Routes[0].Prefix = "" }, "devices[0].routes[0].prefix", "required"},
		{"route next hop", func(d *Document) { d.Devices[0].Routes[0].NextHop = "gateway" }, "devices[0].routes[0].next_hop", "not an IP address"},
		{"route metric", func(d *Document) { d.Devices[0].Routes[0].Metric = -3 }, "devices[0].routes[0].metric", "negative"},
		{"bgp peer", func(d *Document) { d.Devices[0].BGPPeers[0].PeerIP = "x" }, "devices[0].bgp_peers[0].peer_ip", "not an IP address"},
		{"bgp peer missing", func(d *Document) { d.Devices[0].BGPPeers[0].PeerIP = "" }, "devices[0].bgp_peers[0].peer_ip", "required"},
		{"bgp as", func(d *Document) { d.Devices[0].BGPPeers[0].RemoteAS = 1 << 33 }, "devices[0].bgp_peers[0].remote_as", "not an AS number"},
		{"bgp local as", func(d *Document) { d.Devices[0].BGPPeers[0].LocalAS = -1 }, "devices[0].bgp_peers[0].local_as", "not an AS number"},
		{"bgp state", func(d *Document) { d.Devices[0].BGPPeers[0].State = "flapping" }, "devices[0].bgp_peers[0].state", "unknown BGP state"},
		{"default action", func(d *Document) { d.Devices[0].Firewall.DefaultAction = "maybe" }, "devices[0].firewall.default_action", "unknown action"},
		{"zone name", func(d *Document) { d.Devices[0].Firewall.Zones[0].Name = "" }, "devices[0].firewall.zones[0].name", "required"},
		{"zone any", func(d *Document) { d.Devices[0].Firewall.Zones[0].Name = "any" }, "devices[0].firewall.zones[0].name", "reserved"},
		{"zone duplicate", func(d *Document) { d.Devices[0].Firewall.Zones[1].Name = "in" }, "devices[0].firewall.zones[1].name", "duplicate zone"},
		{"zone interface", func(d *Document) { d.Devices[0].Firewall.Zones[0].Interfaces = []string{""} }, "devices[0].firewall.zones[0].interfaces[0]", "required"},
		{"zone interface twice", func(d *Document) { d.Devices[0].Firewall.Zones[1].Interfaces = []string{"Gi1"} }, "devices[0].firewall.zones[1].interfaces[0]", "already in zone \"in\""},
		{"address name", func(d *Document) { d.Devices[0].Firewall.AddressObjects[0].Name = "" }, "devices[0].firewall.address_objects[0].name", "required"},
		{"address duplicate", func(d *Document) { d.Devices[0].Firewall.AddressObjects[1].Name = "h" }, "devices[0].firewall.address_objects[1].name", "duplicate address object"},
		{"address type", func(d *Document) { d.Devices[0].Firewall.AddressObjects[0].Type = "subnet" }, "devices[0].firewall.address_objects[0].type", "unknown type"},
		{"address type missing", func(d *Document) { d.Devices[0].Firewall.AddressObjects[0].Type = "" }, "devices[0].firewall.address_objects[0].type", "required"},
		{"address host", func(d *Document) { d.Devices[0].Firewall.AddressObjects[0].Value = "10.0.0.0/24" }, "devices[0].firewall.address_objects[0].value", "not an IP address"},
		{"address value missing", func(d *Document) { d.Devices[0].Firewall.AddressObjects[0].Value = "" }, "devices[0].firewall.address_objects[0].value", "required"},
		{"address network", func(d *Document) {
			d.Devices[0].Firewall.AddressObjects[0] = AddressObject{Name: "h", Type: "network", Value: "10.0.0.1"}
		}, "devices[0].firewall.address_objects[0].value", "not an IP prefix"},
		{"address range", func(d *Document) {
			d.Devices[0].Firewall.AddressObjects[0] = AddressObject{Name: "h", Type: "range", Value: "10.0.0.9-10.0.0.1"}
		}, "devices[0].firewall.address_objects[0].value", "ends before it starts"},
		{"address range families", func(d *Document) {
			d.Devices[0].Firewall.AddressObjects[0] = AddressObject{Name: "h", Type: "range", Value: "10.0.0.1-::9"}
		}, "devices[0].firewall.address_objects[0].value", "mixes IPv4 and IPv6"},
		{"address fqdn", func(d *Document) {
			d.Devices[0].Firewall.AddressObjects[0] = AddressObject{Name: "h", Type: "fqdn", Value: "bad host"}
		}, "devices[0].firewall.address_objects[0].value", "not a DNS name"},
		{"address host members", func(d *Document) { d.Devices[0].Firewall.AddressObjects[0].Members = []string{"g"} }, "devices[0].firewall.address_objects[0].members", "only a group has members"},
		{"address group empty", func(d *Document) { d.Devices[0].Firewall.AddressObjects[1].Members = nil }, "devices[0].firewall.address_objects[1].members", "needs members"},
		{"address group value", func(d *Document) { d.Devices[0].Firewall.AddressObjects[1].Value = "10.0.0.1" }, "devices[0].firewall.address_objects[1].value", "not a value"},
		{"address group member", func(d *Document) { d.Devices[0].Firewall.AddressObjects[1].Members = []string{"h", "x"} }, "devices[0].firewall.address_objects[1].members[1]", "no address object \"x\""},
		{"address group cycle", func(d *Document) { d.Devices[0].Firewall.AddressObjects[1].Members = []string{"g"} }, "devices[0].firewall.address_objects[1].members", "cycle"},
		{"service name any", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[0].Name = "any" }, "devices[0].firewall.service_objects[0].name", "reserved"},
		{"service duplicate", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[1].Name = "s" }, "devices[0].firewall.service_objects[1].name", "duplicate service object"},
		{"service protocol", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[0].Protocol = "gre" }, "devices[0].firewall.service_objects[0].protocol", "unknown protocol"},
		{"service protocol missing", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[0].Protocol = "" }, "devices[0].firewall.service_objects[0].protocol", "required"},
		{"service ports", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[0].DestPorts = "80-" }, "devices[0].firewall.service_objects[0].dest_ports", "not a port list"},
		{"service port zero", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[0].DestPorts = "0" }, "devices[0].firewall.service_objects[0].dest_ports", "not a port list"},
		{"service port high", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[0].DestPorts = "65536" }, "devices[0].firewall.service_objects[0].dest_ports", "not a port list"},
		{"service port range", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[0].DestPorts = "90-80" }, "devices[0].firewall.service_objects[0].dest_ports", "ends before it starts"},
		{"service icmp ports", func(d *Document) {
			d.Devices[0].Firewall.ServiceObjects[0] = ServiceObject{Name: "s", Protocol: "icmp", DestPorts: "8"}
		}, "devices[0].firewall.service_objects[0].dest_ports", "need protocol tcp or udp"},
		{"service group protocol", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[1].Protocol = "tcp" }, "devices[0].firewall.service_objects[1].members", "not a protocol"},
		{"service group member", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[1].Members = []string{"nope"} }, "devices[0].firewall.service_objects[1].members[0]", "no service object \"nope\""},
		{"service group cycle", func(d *Document) { d.Devices[0].Firewall.ServiceObjects[1].Members = []string{"s", "sg"} }, "devices[0].firewall.service_objects[1].members", "cycle"},
		{"rule id", func(d *Document) { d.Devices[0].Firewall.Rules[0].RuleID = "" }, "devices[0].firewall.rules[0].rule_id", "required"},
		{"rule id duplicate", func(d *Document) {
			d.Devices[0].Firewall.Rules = append(d.Devices[0].Firewall.Rules, Rule{RuleID: "1", RuleOrder: 2, Action: "deny"})
		}, "devices[0].firewall.rules[1].rule_id", "duplicate rule_id"},
		{"rule order duplicate", func(d *Document) {
			d.Devices[0].Firewall.Rules = append(d.Devices[0].Firewall.Rules, Rule{RuleID: "2", RuleOrder: 1, Action: "deny"})
		}, "devices[0].firewall.rules[1].rule_order", "duplicate rule_order 1"},
		{"rule order negative", func(d *Document) { d.Devices[0].Firewall.Rules[0].RuleOrder = -1 }, "devices[0].firewall.rules[0].rule_order", "negative"},
		{"rule action", func(d *Document) { d.Devices[0].Firewall.Rules[0].Action = "log" }, "devices[0].firewall.rules[0].action", "unknown action"},
		{"rule action missing", func(d *Document) { d.Devices[0].Firewall.Rules[0].Action = "" }, "devices[0].firewall.rules[0].action", "required"},
		{"rule zone", func(d *Document) { d.Devices[0].Firewall.Rules[0].DstZones = []string{"any", " wan"} }, "devices[0].firewall.rules[0].dst_zones[1]", "white space"},
		{"rule address", func(d *Document) { d.Devices[0].Firewall.Rules[0].SrcAddresses = []string{"servers"} }, "devices[0].firewall.rules[0].src_addresses[0]", "no address object \"servers\""},
		{"rule service", func(d *Document) { d.Devices[0].Firewall.Rules[0].Services = []string{"sg", "tcp/99999"} }, "devices[0].firewall.rules[0].services[1]", "no service object"},
		{"rule service icmp port", func(d *Document) { d.Devices[0].Firewall.Rules[0].Services = []string{"icmp/8"} }, "devices[0].firewall.rules[0].services[0]", "no service object"},
		{"rule hit count", func(d *Document) { d.Devices[0].Firewall.Rules[0].HitCount = ptr(int64(-1)) }, "devices[0].firewall.rules[0].hit_count", "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := valid()
			tt.breaks(doc)
			err := Normalize(doc)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Normalize() = %v, want an *Error at %s", err, tt.path)
			}
			for _, p := range fe.Problems {
				if p.Path == tt.path && strings.Contains(p.Message, tt.msg) {
					return
				}
			}
			t.Errorf("Normalize() = %v, want a problem at %s containing %q", err, tt.path, tt.msg)
		})
	}
}

// TestNormalizeLenientReferences: facts that name interfaces or zones the
// document does not list are accepted (every list may be absent, and a
// collector may report only part of a device), except a neighbor's local
// interface, which a link cannot do without.
func TestNormalizeLenientReferences(t *testing.T) {
	doc := &Document{Schema: Schema, Devices: []Device{{
		Hostname:   "fw",
		Interfaces: []Interface{{Name: "eth1"}, {Name: "eth2", Zone: "dmz"}},
		ARP:        []ARPEntry{{IP: "10.0.0.1", MAC: "aa:bb:cc:dd:ee:ff", Interface: "Vlan10"}},
		MACTable:   []MACEntry{{MAC: "aa:bb:cc:dd:ee:ff", Interface: "Gi1/0/5"}},
		Firewall: &Firewall{
			Zones: []Zone{{Name: "trust", Interfaces: []string{"ethernet1/1"}}},
			Rules: []Rule{{RuleID: "1", RuleOrder: 1, Action: "permit", SrcZones: []string{"trust"}, DstZones: []string{"ANY", "untrust"}}},
		},
	}}}
	if err := Normalize(doc); err != nil {
		t.Fatalf("Normalize() = %v, want nil", err)
	}
	fw := doc.Devices[0].Firewall
	wantZones := []Zone{{Name: "trust", Interfaces: []string{"ethernet1/1"}}, {Name: "dmz", Interfaces: []string{"eth2"}}}
	if diff := cmp.Diff(wantZones, fw.Zones); diff != "" {
		t.Errorf("Normalize() zones differ (-want +got):\n%s", diff)
	}
	if got, want := fw.Rules[0].DstZones, []string{"any", "untrust"}; !cmp.Equal(got, want) {
		t.Errorf("Normalize() dst_zones = %v, want %v", got, want)
	}
	if err := Normalize(doc); err != nil {
		t.Fatalf("Normalize(normalized) = %v, want nil", err)
	}
	if diff := cmp.Diff(wantZones, fw.Zones); diff != "" {
		t.Errorf("second Normalize() changed the zones (-want +got):\n%s", diff)
	}
}

func TestNormalizeReportsManyProblemsBounded(t *testing.T) {
	doc := valid()
	for i := range 80 {
		doc.Devices[0].Interfaces = append(doc.Devices[0].Interfaces, Interface{Name: "x" + string(rune('A'+i%26)) + strings.Repeat("y", i/26), IPs: []string{"bad"}})
	}
	err := Normalize(doc)
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("Normalize() = %v, want an *Error", err)
	}
	if len(fe.Problems) != MaxProblems || fe.More != 80-MaxProblems {
		t.Errorf("Normalize() reported %d problems and %d more, want %d and %d", len(fe.Problems), fe.More, MaxProblems, 80-MaxProblems)
	}
	if got, want := fe.Problems[1].Path, "devices[0].interfaces[3].ips[0]"; got != want {
		t.Errorf("Normalize() second problem at %s, want %s", got, want)
	}
	if !strings.HasSuffix(err.Error(), "(and 30 more problems)") {
		t.Errorf("Error() = %q, want it to end with the count of problems left out", err.Error())
	}
}

func TestNormalizeNil(t *testing.T) {
	if err := Normalize(nil); err == nil {
		t.Error("Normalize(nil) = nil, want an error")
	}
}

func TestNormalizeDevice(t *testing.T) {
	d := Device{Hostname: "r1", Interfaces: []Interface{{Name: "e0", MAC: "AABB.CCDD.EEFF"}}}
	if err := NormalizeDevice(7, &d); err != nil {
		t.Fatalf("NormalizeDevice() = %v, want nil", err)
	}
	if got, want := d.Interfaces[0].MAC, "aa:bb:cc:dd:ee:ff"; got != want {
		t.Errorf("NormalizeDevice() mac = %q, want %q", got, want)
	}
	err := NormalizeDevice(7, &Device{})
	if err == nil || !strings.Contains(err.Error(), "devices[7].hostname: required") {
		t.Errorf("NormalizeDevice(7, {}) = %v, want devices[7].hostname: required", err)
	}
}
