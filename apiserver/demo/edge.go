package demo

import (
	"fmt"
	"net/netip"

	"github.com/meshoptixiq/mesh/common/facts"
)

// policy builds a firewall's policy through the firewall generator, with a
// random source of its own.
func (g *gen) policy(fw *facts.Device, zones []FirewallZone) {
	rng := g.rng("firewall " + fw.Hostname)
	if g.rules > 0 {
		fw.Firewall = FirewallPolicy(rng, fw.Hostname, zones, g.rules)
	} else {
		fw.Firewall = firewallPolicy(rng, fw.Hostname, zones)
	}
	// Bind each interface to its zone on the interface too, as collectors
	// report it.
	for _, z := range fw.Firewall.Zones {
		for _, name := range z.Interfaces {
			for i := range fw.Interfaces {
				if fw.Interfaces[i].Name == name {
					fw.Interfaces[i].Zone = z.Name
				}
			}
		}
	}
}

// edge builds the internet edge: the edge firewall between the core and
// two border routers, each with a transit link to its own ISP (ISP-B's
// session is down), and a DMZ switch with a few servers.
func (g *gen) edge(cores []*facts.Device) {
	fw := g.device("fw-edge-01", "firewall", "hq", "paloaltonetworks", "pan-os", "PA-3220")
	b1 := g.device("border-rtr-01", "border", "hq", "juniper", "junos", "MX204")
	b2 := g.device("border-rtr-02", "border", "hq", "juniper", "junos", "MX204")
	dmz := g.device("dmz-sw-01", "access", "hq", "arista", "eos", "7010TX-48")

	// Inside: one link to each core switch.
	var inside []string
	for i, c := range cores {
		cIP, fIP := g.p2pLink(c, "Hu1/0/50", fw, fmt.Sprintf("ethernet1/%d", i+1), 10000, campusMTU)
		inside = append(inside, fIP)
		fw.Routes = append(fw.Routes, route("10.0.0.0/8", cIP, fmt.Sprintf("ethernet1/%d", i+1), "static", 10))
	}
	for i, c := range cores {
		c.Routes = append(c.Routes,
			route("0.0.0.0/0", inside[i], "Hu1/0/50", "static", 10),
			route(dmzSubnet.String(), inside[i], "Hu1/0/50", "static", 10))
	}

	// Outside: a public /31 to each border router.
	_, b1Out := g.linkIPs(fw, "ethernet1/3", []string{"203.0.113.0/31"}, b1, "xe-0/0/1", []string{"203.0.113.1/31"}, 10000, edgeMTU)
	_, b2Out := g.linkIPs(fw, "ethernet1/4", []string{"203.0.113.2/31"}, b2, "xe-0/0/1", []string{"203.0.113.3/31"}, 10000, edgeMTU)
	fw.Routes = append(fw.Routes,
		route("0.0.0.0/0", b1Out, "ethernet1/3", "static", 10),
		route("0.0.0.0/0", b2Out, "ethernet1/4", "static", 20))
	for _, b := range []*facts.Device{b1, b2} {
		fwOut := "203.0.113.0"
		if b == b2 {
			fwOut = "203.0.113.2"
		}
		b.Routes = append(b.Routes,
			route("10.0.0.0/8", fwOut, "xe-0/0/1", "static", 5),
			route(dmzSubnet.String(), fwOut, "xe-0/0/1", "static", 5))
	}

	// The border routers: iBGP between them, eBGP to their ISPs.
	ib1, ib2 := g.p2pLink(b1, "xe-0/0/2", b2, "xe-0/0/2", 10000, edgeMTU)
	for i, b := range []*facts.Device{b1, b2} {
		lo := fmt.Sprintf("10.253.0.%d/32", i+1)
		b.Interfaces = append(b.Interfaces, facts.Interface{Name: "lo0.0", Description: "router-id", AdminUp: yes(), OperUp: yes(), Mode: facts.ModeRouted, VRF: "default", IPs: []string{lo}})
		b.Routes = append(b.Routes, connected(lo, "lo0.0"))
	}
	isp := func(b *facts.Device, name, v4, v6 string) facts.Interface {
		ips := []string{v4}
		if v6 != "" {
			ips = append(ips, v6)
		}
		ifc := g.routed(b, "xe-0/0/0", 10000, edgeMTU, ips...)
		ifc.Description = "transit " + name
		for _, ip := range ips {
			b.Routes = append(b.Routes, connected(ip, "xe-0/0/0"))
		}
		return ifc
	}
	b1.Interfaces = append(b1.Interfaces, isp(b1, "ISP-A circuit 4471-22", "198.51.100.1/30", "2001:db8:ffff::1/126"))
	b2.Interfaces = append(b2.Interfaces, isp(b2, "ISP-B circuit 88-1903", "198.51.100.5/30", ""))
	b1.BGPPeers = []facts.BGPPeer{
		{PeerIP: "198.51.100.2", RemoteAS: 64500, LocalAS: asCampus, State: "established", VRF: "default"},
		{PeerIP: "2001:db8:ffff::2", RemoteAS: 64500, LocalAS: asCampus, State: "established", VRF: "default"},
		{PeerIP: ib2, RemoteAS: asCampus, LocalAS: asCampus, State: "established", VRF: "default"},
	}
	b2.BGPPeers = []facts.BGPPeer{
		// ISP-B's session is down: the deliberate BGP problem.
		{PeerIP: "198.51.100.6", RemoteAS: 64510, LocalAS: asCampus, State: "active", VRF: "default"},
		{PeerIP: ib1, RemoteAS: asCampus, LocalAS: asCampus, State: "established", VRF: "default"},
	}
	b1.Routes = append(b1.Routes,
		route("0.0.0.0/0", "198.51.100.2", "xe-0/0/0", "bgp", 0),
		route("::/0", "2001:db8:ffff::2", "xe-0/0/0", "bgp", 0))
	// With its ISP down, border-rtr-02 reaches the internet through 01.
	b2.Routes = append(b2.Routes, route("0.0.0.0/0", ib1, "xe-0/0/2", "bgp", 0))

	// DMZ: a switch behind the firewall with web servers in it.
	gw := facts.Interface{
		Name: "ethernet1/5", AdminUp: yes(), OperUp: yes(), SpeedMbps: 10000, MTU: edgeMTU, Mode: facts.ModeRouted,
		VRF: "default", MAC: g.mac(fw.Vendor), IPs: []string{withLen(host(dmzSubnet, 1), 24)},
	}
	up := facts.Interface{Name: "Ethernet48", AdminUp: yes(), OperUp: yes(), SpeedMbps: 10000, MTU: edgeMTU, Mode: facts.ModeAccess, AccessVLAN: 10}
	link(end{dev: fw, ifc: gw}, end{dev: dmz, ifc: up})
	fw.Routes = append(fw.Routes, connected(gw.IPs[0], gw.Name))
	dmz.VLANs = []facts.VLAN{{ID: 10, Name: "dmz"}}
	rng := g.rng("dmz")
	for i, n := range []int{10, 11, 12, 13, 14, 100} {
		port := fmt.Sprintf("Ethernet%d", i+1)
		mac := g.endpointMAC("00:50:56")
		ip := host(dmzSubnet, n).String()
		dmz.Interfaces = append(dmz.Interfaces, facts.Interface{
			Name: port, Description: fmt.Sprintf("web-%02d", i+1), AdminUp: yes(), OperUp: yes(),
			SpeedMbps: 1000 * int64(1+rng.IntN(2)*9), MTU: edgeMTU, Mode: facts.ModeAccess, AccessVLAN: 10,
		})
		dmz.MACTable = append(dmz.MACTable, facts.MACEntry{MAC: mac, VLAN: 10, Interface: port})
		fw.ARP = append(fw.ARP, facts.ARPEntry{IP: ip, MAC: mac, Interface: gw.Name, VRF: "default"})
	}
	dmz.MACTable = append(dmz.MACTable, facts.MACEntry{MAC: gw.MAC, VLAN: 10, Interface: up.Name})

	g.policy(fw, []FirewallZone{
		{Name: "inside", Interfaces: []string{"ethernet1/1", "ethernet1/2"}, Subnets: append(campusAggregates(g.plan.pairs), dcAggregate)},
		{Name: "dmz", Interfaces: []string{"ethernet1/5"}, Subnets: []netip.Prefix{dmzSubnet}},
		{Name: "outside", Interfaces: []string{"ethernet1/3", "ethernet1/4"}},
	})
}
