// Package pathtest holds a small hand-built network whose path-analysis
// and firewall answers are worked out by hand, for the tests of
// pathanalysis and of the firewall queries.
package pathtest

import "github.com/meshoptixiq/mesh/common/facts"

func iface(name, vrf string, ips ...string) facts.Interface {
	return facts.Interface{Name: name, Mode: facts.ModeRouted, VRF: vrf, IPs: ips}
}

func rt(vrf, prefix, nh string) facts.Route {
	return facts.Route{VRF: vrf, Prefix: prefix, NextHop: nh, Protocol: "static"}
}

func nb(local, remote, remoteIf string) facts.Neighbor {
	return facts.Neighbor{LocalInterface: local, RemoteHostname: remote, RemoteInterface: remoteIf, Protocol: "lldp"}
}

// Document returns the network, worked out by hand:
//
//	lan 10.1.1.0/24, 2001:db8:a::/64 ── gw-a ─p1── fw-1 ─c3── c-1 (lan 10.8.0.0/24)
//	                                     │ └─p2── rtr-b ─p4──┘
//	                                     └─p5── l3sw (no routes) ── sw-x (no routes) ── srv-r (lan 10.5.0.0/24)
//
// gw-a routes: 10.9/16 and 2001:db8:9::/48 via fw-1; 10.8/16 via fw-1 and
// via rtr-b (equal cost); 10.7/16 and 10.6/16 via rtr-b; 10.5/16 via l3sw;
// default via 203.0.113.1 out wan (nobody we know). rtr-b sends 10.7/16 back to
// gw-a (a loop) and has no route for 10.6/16. gw-a also has a vrf red
// lan 172.16.0.0/24 with no routes in red.
//
// fw-1 zones: untrust (outside, v6 outside), trust (inside 10.9.0.0/24,
// v6 inside), dmz (dmz1 10.9.1.0/24, dmz2 10.9.2.0/24), core (c3).
//
//	10 permit untrust→trust any → dc-servers (group of group) https
//	20 deny   any→trust     any → any ssh
//	30 permit untrust→dmz   any → cdn-hosts (fqdn) https
//	40 permit dmz→dmz       any → any any          (intra-zone)
//	50 permit untrust→trust 2001:db8:a::/64 → v6-dc https
//	60 permit untrust→core  any → 10.8.0.0/16 https
//	default deny
func Document() *facts.Document {
	fw := &facts.Firewall{
		DefaultAction: "deny",
		Zones: []facts.Zone{
			{Name: "untrust", Interfaces: []string{"outside", "outside6"}},
			{Name: "trust", Interfaces: []string{"inside", "inside6"}},
			{Name: "dmz", Interfaces: []string{"dmz1", "dmz2"}},
			{Name: "core", Interfaces: []string{"c3"}},
		},
		AddressObjects: []facts.AddressObject{
			{Name: "dc-net", Type: "network", Value: "10.9.0.0/24"},
			{Name: "dc-inner", Type: "group", Members: []string{"dc-net"}},
			{Name: "dc-servers", Type: "group", Members: []string{"dc-inner"}},
			{Name: "cdn-hosts", Type: "fqdn", Value: "cdn.example.com"},
			{Name: "v6-dc", Type: "network", Value: "2001:db8:9::/48"},
		},
		ServiceObjects: []facts.ServiceObject{
			{Name: "https", Protocol: "tcp", DestPorts: "443"},
			{Name: "ssh", Protocol: "tcp", DestPorts: "22"},
		},
		Rules: []facts.Rule{
			{RuleID: "10", RuleName: "web-in", RuleOrder: 10, Action: "permit", SrcZones: []string{"untrust"}, DstZones: []string{"trust"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"dc-servers"}, Services: []string{"https"}},
			{RuleID: "20", RuleName: "no-ssh", RuleOrder: 20, Action: "deny", SrcZones: []string{"any"}, DstZones: []string{"trust"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"any"}, Services: []string{"ssh"}},
			{RuleID: "30", RuleName: "cdn", RuleOrder: 30, Action: "permit", SrcZones: []string{"untrust"}, DstZones: []string{"dmz"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"cdn-hosts"}, Services: []string{"https"}},
			{RuleID: "40", RuleName: "dmz-intra", RuleOrder: 40, Action: "permit", SrcZones: []string{"dmz"}, DstZones: []string{"dmz"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"any"}, Services: []string{"any"}},
			{RuleID: "50", RuleName: "web-in-v6", RuleOrder: 50, Action: "permit", SrcZones: []string{"untrust"}, DstZones: []string{"trust"}, SrcAddresses: []string{"2001:db8:a::/64"}, DstAddresses: []string{"v6-dc"}, Services: []string{"https"}},
			{RuleID: "60", RuleName: "to-core", RuleOrder: 60, Action: "permit", SrcZones: []string{"untrust"}, DstZones: []string{"core"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"10.8.0.0/16"}, Services: []string{"https"}},
		},
	}
	doc := &facts.Document{Schema: facts.Schema, Devices: []facts.Device{
		{
			Hostname: "gw-a", Role: "router",
			Interfaces: []facts.Interface{
				iface("lan", "", "10.1.1.1/24", "2001:db8:a::1/64"),
				iface("p1", "", "10.0.1.1/30", "2001:db8:1::1/64"),
				iface("p2", "", "10.0.2.1/30"),
				iface("p5", "", "10.0.5.1/30"),
				iface("red-lan", "red", "172.16.0.1/24"),
				iface("wan", "", "203.0.113.2/30"),
			},
			Neighbors: []facts.Neighbor{nb("p1", "fw-1", "outside"), nb("p2", "rtr-b", "p2"), nb("p5", "l3sw", "up")},
			ARP:       []facts.ARPEntry{{IP: "10.1.1.10", MAC: "aa:bb:cc:00:00:10", Interface: "lan"}},
			Routes: []facts.Route{
				rt("", "10.9.0.0/16", "10.0.1.2"),
				rt("", "2001:db8:9::/48", "2001:db8:1::2"),
				rt("", "10.8.0.0/16", "10.0.1.2"),
				rt("", "10.8.0.0/16", "10.0.2.2"),
				rt("", "10.7.0.0/16", "10.0.2.2"),
				rt("", "10.6.0.0/16", "10.0.2.2"),
				rt("", "10.5.0.0/16", "10.0.5.2"),
				rt("", "0.0.0.0/0", "203.0.113.1"),
			},
		},
		{
			Hostname: "fw-1", Role: "firewall",
			Interfaces: []facts.Interface{
				iface("outside", "", "10.0.1.2/30"),
				iface("outside6", "", "2001:db8:1::2/64"),
				iface("inside", "", "10.9.0.1/24"),
				iface("inside6", "", "2001:db8:9::1/64"),
				iface("dmz1", "", "10.9.1.1/24"),
				iface("dmz2", "", "10.9.2.1/24"),
				iface("c3", "", "10.0.3.1/30"),
			},
			Neighbors: []facts.Neighbor{nb("c3", "c-1", "p3")},
			Routes: []facts.Route{
				rt("", "10.1.0.0/16", "10.0.1.1"),
				rt("", "2001:db8:a::/64", "2001:db8:1::1"),
				rt("", "10.8.0.0/16", "10.0.3.2"),
			},
			Firewall: fw,
		},
		{
			Hostname:   "rtr-b",
			Interfaces: []facts.Interface{iface("p2", "", "10.0.2.2/30"), iface("p4", "", "10.0.4.1/30")},
			Neighbors:  []facts.Neighbor{nb("p4", "c-1", "p4")},
			Routes: []facts.Route{
				rt("", "10.8.0.0/16", "10.0.4.2"),
				rt("", "10.7.0.0/16", "10.0.2.1"),
				rt("", "10.1.0.0/16", "10.0.2.1"),
			},
		},
		{
			Hostname:   "c-1",
			Interfaces: []facts.Interface{iface("p3", "", "10.0.3.2/30"), iface("p4", "", "10.0.4.2/30"), iface("lan", "", "10.8.0.1/24"), iface("iso", "", "10.66.0.1/24")},
			Routes:     []facts.Route{rt("", "10.1.0.0/16", "10.0.4.1")},
		},
		{
			Hostname:   "l3sw",
			Interfaces: []facts.Interface{iface("up", "", "10.0.5.2/30"), {Name: "down"}},
			// Only its connected subnet: no routing table to follow.
			Routes:    []facts.Route{{Prefix: "10.0.5.0/30", Interface: "up", Protocol: "connected"}},
			Neighbors: []facts.Neighbor{nb("down", "sw-x", "up")},
		},
		{
			Hostname:   "sw-x",
			Interfaces: []facts.Interface{{Name: "up"}, {Name: "down"}},
			Neighbors:  []facts.Neighbor{nb("down", "srv-r", "eth0")},
		},
		{
			Hostname:   "srv-r",
			Interfaces: []facts.Interface{iface("eth0", "", "10.5.0.1/24")},
		},
	}}
	return doc
}
