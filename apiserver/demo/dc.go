package demo

import (
	"fmt"
	"net/netip"

	"github.com/meshoptixiq/mesh/common/facts"
)

// dataCentre builds the DC: a firewall between the core and two spines,
// and leaves each dual-homed to both spines (eBGP on every link) with
// servers in two VLANs.
func (g *gen) dataCentre(cores []*facts.Device) {
	fw := g.device("fw-dc-01", "firewall", "dc1", "paloaltonetworks", "pan-os", "PA-5220")
	spines := []*facts.Device{
		g.device("spine-01", "spine", "dc1", "arista", "eos", "7280CR3-32P4"),
		g.device("spine-02", "spine", "dc1", "arista", "eos", "7280CR3-32P4"),
	}

	// Campus side: a link to each core switch.
	for i, c := range cores {
		fwIf := fmt.Sprintf("ethernet1/%d", i+1)
		cIP, fIP := g.p2pLink(c, "Hu1/0/51", fw, fwIf, 40000, campusMTU)
		c.Routes = append(c.Routes,
			route(dcAggregate.String(), fIP, "Hu1/0/51", "static", 10),
			route(jumpSubnet.String(), fIP, "Hu1/0/51", "static", 10))
		fw.Routes = append(fw.Routes, route("0.0.0.0/0", cIP, fwIf, "static", 10+i))
	}
	// DC side: a link and an eBGP session to each spine.
	spineUp := make([]string, len(spines))
	for i, s := range spines {
		fwIf := fmt.Sprintf("ethernet1/%d", i+3)
		fIP, sIP := g.p2pLink(fw, fwIf, s, "Ethernet49/1", 40000, campusMTU)
		spineUp[i] = fIP
		fw.BGPPeers = append(fw.BGPPeers, facts.BGPPeer{PeerIP: sIP, RemoteAS: asSpine, LocalAS: asDCFirewall, State: "established", VRF: "default"})
		s.BGPPeers = append(s.BGPPeers, facts.BGPPeer{PeerIP: fIP, RemoteAS: asDCFirewall, LocalAS: asSpine, State: "established", VRF: "default"})
		fw.Routes = append(fw.Routes, route(dcAggregate.String(), sIP, fwIf, "bgp", 20))
		s.Routes = append(s.Routes, route("0.0.0.0/0", fIP, "Ethernet49/1", "bgp", 20))
	}
	// Jump hosts in the firewall's management zone (known by ARP only).
	jump := facts.Interface{
		Name: "ethernet1/6", Description: "jump hosts", AdminUp: yes(), OperUp: yes(), SpeedMbps: 1000, MTU: edgeMTU,
		Mode: facts.ModeRouted, VRF: "default", MAC: g.mac(fw.Vendor), IPs: []string{withLen(host(jumpSubnet, 1), 24)},
	}
	fw.Interfaces = append(fw.Interfaces, jump)
	fw.Routes = append(fw.Routes, connected(jump.IPs[0], jump.Name))
	for i := range 3 {
		fw.ARP = append(fw.ARP, facts.ARPEntry{IP: host(jumpSubnet, 10+i).String(), MAC: g.endpointMAC("52:54:00"), Interface: jump.Name, VRF: "default"})
	}

	rng := g.rng("dc")
	for l := range g.plan.leaves {
		g.leaf(l, spines, rng.IntN(13)+18)
	}

	g.policy(fw, []FirewallZone{
		{Name: "campus", Interfaces: []string{"ethernet1/1", "ethernet1/2"}, Subnets: campusAggregates(g.plan.pairs)},
		{Name: "dc", Interfaces: []string{"ethernet1/3", "ethernet1/4"}, Subnets: []netip.Prefix{dcAggregate}},
		{Name: "mgmt", Interfaces: []string{"ethernet1/6"}, Subnets: []netip.Prefix{jumpSubnet}},
	})
	g.quarantine(fw) // the route-less segment (demo/firewall.go)
}

// leaf builds leaf l with servers attached.
func (g *gen) leaf(l int, spines []*facts.Device, servers int) {
	lf := g.device(fmt.Sprintf("leaf-%04d", l+1), "leaf", "dc1", "arista", "eos", "7050SX3-48YC8")
	as := int64(asLeafBase + l)
	for i, s := range spines {
		up := fmt.Sprintf("Ethernet%d/1", 49+i)
		sIP, lIP := g.p2pLink(s, fmt.Sprintf("Ethernet%d", l+1), lf, up, 100000, campusMTU)
		s.BGPPeers = append(s.BGPPeers, facts.BGPPeer{PeerIP: lIP, RemoteAS: as, LocalAS: asSpine, State: "established", VRF: "default"})
		lf.BGPPeers = append(lf.BGPPeers, facts.BGPPeer{PeerIP: sIP, RemoteAS: asSpine, LocalAS: as, State: "established", VRF: "default"})
		s.Routes = append(s.Routes, route(serverSummary(l).String(), lIP, fmt.Sprintf("Ethernet%d", l+1), "bgp", 20))
		lf.Routes = append(lf.Routes, route("0.0.0.0/0", sIP, up, "bgp", 20))
	}
	for j, v := range serverVLANs {
		subnet := serverSubnet(l, j)
		svi := facts.Interface{
			Name: fmt.Sprintf("Vlan%d", v.id), Description: v.name + " gateway", AdminUp: yes(), OperUp: yes(),
			MTU: campusMTU, Mode: facts.ModeRouted, VRF: "default", MAC: g.mac(lf.Vendor),
			IPs: []string{withLen(host(subnet, 1), 24)},
		}
		if j == 0 {
			svi.IPs = append(svi.IPs, v6("2001:db8:100:%x::1/64", l))
		}
		lf.Interfaces = append(lf.Interfaces, svi)
		lf.VLANs = append(lf.VLANs, facts.VLAN{ID: v.id, Name: v.name})
		for _, ip := range svi.IPs {
			lf.Routes = append(lf.Routes, connected(ip, svi.Name))
		}
	}
	rng := g.rng(lf.Hostname)
	next := []int{10, 10} // next host number per server VLAN
	for port := 1; port <= leafServerPorts; port++ {
		name := fmt.Sprintf("Ethernet%d", port)
		if port > servers {
			lf.Interfaces = append(lf.Interfaces, facts.Interface{Name: name, AdminUp: no(), OperUp: no(), SpeedMbps: 25000, MTU: campusMTU, Mode: facts.ModeAccess, AccessVLAN: serverVLANs[0].id})
			continue
		}
		j := 0
		if rng.IntN(4) == 0 {
			j = 1
		}
		v := serverVLANs[j]
		mac := g.endpointMAC([]string{"00:50:56", "b8:ca:3a"}[rng.IntN(2)])
		ip := host(serverSubnet(l, j), next[j])
		next[j]++
		lf.Interfaces = append(lf.Interfaces, facts.Interface{
			Name: name, Description: fmt.Sprintf("srv-%s-%02d", lf.Hostname[5:], port), AdminUp: yes(), OperUp: yes(),
			SpeedMbps: 25000, MTU: campusMTU, Mode: facts.ModeAccess, AccessVLAN: v.id,
		})
		lf.MACTable = append(lf.MACTable, facts.MACEntry{MAC: mac, VLAN: v.id, Interface: name})
		lf.ARP = append(lf.ARP, facts.ARPEntry{IP: ip.String(), MAC: mac, Interface: fmt.Sprintf("Vlan%d", v.id), VRF: "default"})
	}
}
