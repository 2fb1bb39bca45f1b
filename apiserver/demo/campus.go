package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Problem is one of the deliberate hygiene problems of the generated
// network: what the hygiene queries must find.
type Problem struct {
	Kind      string // the hygiene query that finds it
	Hostname  string
	Interface string
	Detail    string
}

// Problems lists the deliberate problems. They sit on the first
// distribution pair's access switches, which every network has, so the
// list is the same for every seed and size.
func Problems() []Problem {
	return []Problem{
		{"hygiene_mtu_mismatch", "access-sw-0001", "Te1/1/1", "MTU 1500 against 9198 on dist-sw-001 Te1/0/1"},
		{"hygiene_speed_mismatch", "access-sw-0002", "Te1/1/2", "1000 Mb/s against 10000 on dist-sw-002 Te1/0/2"},
		{"hygiene_vlan_mismatch", "access-sw-0003", "Te1/1/1", "trunk lacks VLAN 40 that dist-sw-001 Te1/0/3 carries"},
		{"hygiene_interfaces_no_description", "access-sw-0004", "Gi1/0/1", "up, no description"},
		{"hygiene_interfaces_no_description", "access-sw-0004", "Gi1/0/2", "up, no description"},
		{"interfaces_down", "access-sw-0005", "Gi1/0/38", "admin up, oper down"},
		{"interfaces_down", "dist-sw-002", "Te1/0/24", "admin up, oper down (spare downlink)"},
		{"hygiene_duplicate_ips", "lab-sw-01", "Vlan1", "10.32.0.2 is also dist-sw-001 Vlan10"},
		{"hygiene_orphan_devices", "lab-sw-01", "", "no neighbors"},
		{"bgp_sessions_down", "border-rtr-02", "", "ISP-B 198.51.100.6 active"},
	}
}

// Vendor naming of access switch ports.
type accessModel struct {
	vendor, os, model string
	port              func(n int) string
	uplink1, uplink2  string
	endpointSpeedMbps int64
}

var accessModels = []accessModel{
	{"cisco", "ios-xe", "C9300-48P", func(n int) string { return fmt.Sprintf("Gi1/0/%d", n) }, "Te1/1/1", "Te1/1/2", 1000},
	{"aruba", "aos-cx", "6300M-48G", func(n int) string { return fmt.Sprintf("1/1/%d", n) }, "1/1/49", "1/1/50", 1000},
}

// campus builds the distribution pairs and their access switches.
func (g *gen) campus(cores []*facts.Device) {
	access := 0
	for p := range g.plan.pairs {
		site := "hq"
		if p >= 4 {
			site = fmt.Sprintf("campus-%02d", p/4+1)
		}
		pair := []*facts.Device{
			g.device(fmt.Sprintf("dist-sw-%03d", 2*p+1), "distribution", site, "cisco", "ios-xe", "C9500-24Y4C"),
			g.device(fmt.Sprintf("dist-sw-%03d", 2*p+2), "distribution", site, "cisco", "ios-xe", "C9500-24Y4C"),
		}
		g.distribution(p, pair, cores)
		rng := g.rng(fmt.Sprintf("pair %d", p))
		next := make([]int, len(campusVLANs)) // next host number per VLAN
		for i := range next {
			next[i] = 10
		}
		for a := range g.plan.access[p] {
			access++
			g.accessSwitch(rng, p, a, access, site, pair, next)
		}
	}
}

// distribution builds a pair: routed uplinks to both cores (with IPv6), a
// peer link, a gateway SVI per VLAN on each.
func (g *gen) distribution(p int, pair, cores []*facts.Device) {
	for _, d := range pair {
		for i, c := range cores {
			k := len(c.Interfaces) - 1
			cIf := fmt.Sprintf("Te%d/0/%d", 2+k/48, k%48+1)
			dIf := fmt.Sprintf("Hu1/0/%d", 25+i)
			v4a, v4b := g.p2p()
			n := g.nextP2P
			v6a, v6b := v6("2001:db8:fe:%x::/127", n), v6("2001:db8:fe:%x::1/127", n)
			cIP, dIP := g.linkIPs(c, cIf, []string{v4a, v6a}, d, dIf, []string{v4b, v6b}, 100000, campusMTU)
			d.Routes = append(d.Routes, route("0.0.0.0/0", cIP, dIf, "ospf", 1))
			c.Routes = append(c.Routes, route(campusSummary(p).String(), dIP, cIf, "ospf", 20))
		}
		for vi, v := range campusVLANs {
			subnet := campusSubnet(p, vi)
			svi := facts.Interface{
				Name: fmt.Sprintf("Vlan%d", v.id), Description: v.name + " gateway", AdminUp: yes(), OperUp: yes(),
				MTU: edgeMTU, Mode: facts.ModeRouted, VRF: "default", MAC: g.mac(d.Vendor),
				IPs: []string{withLen(host(subnet, 2+slices.Index(pair, d)), 24)},
			}
			if v.id == 10 {
				svi.IPs = append(svi.IPs, v6("2001:db8:%x:10::%d/64", p, 2+slices.Index(pair, d)))
			}
			d.Interfaces = append(d.Interfaces, svi)
			d.VLANs = append(d.VLANs, facts.VLAN{ID: v.id, Name: v.name})
			for _, ip := range svi.IPs {
				d.Routes = append(d.Routes, connected(ip, svi.Name))
			}
		}
	}
	link(end{dev: pair[0], ifc: trunk("Hu1/0/27", 100000, campusMTU)}, end{dev: pair[1], ifc: trunk("Hu1/0/27", 100000, campusMTU)})
	if p == 0 {
		spare := trunk("Te1/0/24", 10000, campusMTU)
		spare.OperUp, spare.Description = no(), "spare"
		pair[1].Interfaces = append(pair[1].Interfaces, spare)
	}
}

func vlanIDs() []int {
	ids := make([]int, len(campusVLANs))
	for i, v := range campusVLANs {
		ids[i] = v.id
	}
	return ids
}

func trunk(name string, speed int64, mtu int) facts.Interface {
	return facts.Interface{Name: name, AdminUp: yes(), OperUp: yes(), SpeedMbps: speed, MTU: mtu, Mode: facts.ModeTrunk, TrunkVLANs: vlanIDs()}
}

// gatewayIndex is the member of the pair that is the active gateway for
// VLAN vi, and so holds its ARP entries.
func gatewayIndex(vi int) int { return vi % 2 }

// accessSwitch builds access switch a of pair p (number n overall),
// dual-homed to the pair, with endpoints on about half its ports.
func (g *gen) accessSwitch(rng *rand.Rand, p, a, n int, site string, pair []*facts.Device, next []int) {
	m := accessModels[0]
	if p%3 == 2 {
		m = accessModels[1]
	}
	sw := g.device(fmt.Sprintf("access-sw-%04d", n), "access", site, m.vendor, m.os, m.model)
	for _, v := range campusVLANs {
		sw.VLANs = append(sw.VLANs, facts.VLAN{ID: v.id, Name: v.name})
	}

	// Uplinks, one to each member of the pair, with this switch's
	// deliberate problems (Problems) on the first pair.
	for i, d := range pair {
		up := trunk([]string{m.uplink1, m.uplink2}[i], 10000, campusMTU)
		down := trunk(fmt.Sprintf("Te1/0/%d", a+1), 10000, campusMTU)
		if p == 0 {
			switch {
			case a == 0 && i == 0:
				up.MTU = edgeMTU
			case a == 1 && i == 1:
				up.SpeedMbps = 1000
			case a == 2 && i == 0:
				up.TrunkVLANs = up.TrunkVLANs[:3]
			}
		}
		link(end{dev: sw, ifc: up}, end{dev: d, ifc: down})
		// The gateways' MACs are learned on the uplinks (ports with
		// neighbors: not endpoints).
		for vi, v := range campusVLANs {
			for _, ifc := range d.Interfaces {
				if ifc.Name == fmt.Sprintf("Vlan%d", v.id) && gatewayIndex(vi) == i {
					sw.MACTable = append(sw.MACTable, facts.MACEntry{MAC: ifc.MAC, VLAN: v.id, Interface: up.Name})
				}
			}
		}
	}

	total := 0
	for _, v := range campusVLANs {
		total += v.weight
	}
	for port := 1; port <= accessPorts; port++ {
		name := m.port(port)
		ifc := facts.Interface{Name: name, SpeedMbps: m.endpointSpeedMbps, MTU: edgeMTU, Mode: facts.ModeAccess, AccessVLAN: campusVLANs[0].id}
		// About 20 endpoints per switch.
		if rng.IntN(accessPorts) >= 20 {
			ifc.AdminUp, ifc.OperUp = no(), no()
			sw.Interfaces = append(sw.Interfaces, ifc)
			continue
		}
		// Pick a VLAN by weight; a full subnet sends the endpoint to the
		// next VLAN, and with every subnet full the port stays unused.
		w := rng.IntN(total)
		vi := 0
		for w >= campusVLANs[vi].weight {
			w -= campusVLANs[vi].weight
			vi++
		}
		for tries := 0; tries < len(campusVLANs) && next[vi] > 254; tries++ {
			vi = (vi + 1) % len(campusVLANs)
		}
		if next[vi] > 254 {
			ifc.AdminUp, ifc.OperUp = no(), no()
			sw.Interfaces = append(sw.Interfaces, ifc)
			continue
		}
		v := campusVLANs[vi]
		mac := g.endpointMAC(v.oui)
		ip := host(campusSubnet(p, vi), next[vi])
		next[vi]++
		ifc.AdminUp, ifc.OperUp = yes(), yes()
		ifc.AccessVLAN = v.id
		ifc.Description = fmt.Sprintf("%s-%06d", v.kind, g.nextEP)
		sw.Interfaces = append(sw.Interfaces, ifc)
		sw.MACTable = append(sw.MACTable, facts.MACEntry{MAC: mac, VLAN: v.id, Interface: name})
		gw := pair[gatewayIndex(vi)]
		gw.ARP = append(gw.ARP, facts.ARPEntry{IP: ip.String(), MAC: mac, Interface: fmt.Sprintf("Vlan%d", v.id), VRF: "default"})
	}

	if p == 0 {
		g.accessProblems(a, sw)
	}
}

// accessProblems puts the per-port deliberate problems on the first
// pair's access switches (Problems). They go on fixed ports whatever the
// random draw gave them.
func (g *gen) accessProblems(a int, sw *facts.Device) {
	ifc := func(name string) *facts.Interface {
		for i := range sw.Interfaces {
			if sw.Interfaces[i].Name == name {
				return &sw.Interfaces[i]
			}
		}
		panic("demo: no interface " + name + " on " + sw.Hostname)
	}
	switch a {
	case 3:
		// Two up ports that nobody described. They are up with nothing
		// learned on them (a device that stays silent).
		for _, name := range []string{"Gi1/0/1", "Gi1/0/2"} {
			i := ifc(name)
			i.AdminUp, i.OperUp, i.Description = yes(), yes(), ""
			sw.MACTable = slices.DeleteFunc(sw.MACTable, func(e facts.MACEntry) bool { return e.Interface == name })
		}
	case 4:
		i := ifc("Gi1/0/38")
		i.AdminUp, i.OperUp, i.Description = yes(), no(), "spare"
		sw.MACTable = slices.DeleteFunc(sw.MACTable, func(e facts.MACEntry) bool { return e.Interface == "Gi1/0/38" })
	}
}

// orphan adds a lab switch nobody cabled to the network, which reuses an
// address of dist-sw-001: the orphan and the duplicate-IP problems.
func (g *gen) orphan() {
	d := g.device("lab-sw-01", "access", "hq", "cisco", "ios-xe", "C9200L-24T")
	for port := 1; port <= 8; port++ {
		d.Interfaces = append(d.Interfaces, facts.Interface{
			Name: fmt.Sprintf("Gi1/0/%d", port), Description: "lab bench", AdminUp: yes(), OperUp: yes(),
			SpeedMbps: 1000, MTU: edgeMTU, Mode: facts.ModeAccess, AccessVLAN: 1,
		})
	}
	d.VLANs = []facts.VLAN{{ID: 1, Name: "default"}}
	dup := withLen(host(campusSubnet(0, 0), 2), 24)
	d.Interfaces = append(d.Interfaces, facts.Interface{
		Name: "Vlan1", Description: "lab", AdminUp: yes(), OperUp: yes(), MTU: edgeMTU, Mode: facts.ModeRouted,
		VRF: "default", MAC: g.mac(d.Vendor), IPs: []string{dup},
	})
	d.Routes = append(d.Routes, connected(dup, "Vlan1"))
}
