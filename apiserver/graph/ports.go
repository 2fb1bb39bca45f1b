package graph

import (
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// What a port is, for telling where a MAC learned on it lives. MAC tables
// name ports the interface list may lack (collectors report part of a
// device), so a port's kind comes from its interface where there is one,
// else from its name as the vendors write it.
type portKind uint8

const (
	portEdge    portKind = iota // may face an endpoint
	portLAG                     // a port-channel whose members are not known to be inter-switch
	portTransit                 // faces another device, the MLAG peer, a tunnel, or the device itself
)

// Ranks of an endpoint location, best last: when one MAC is learned on
// several ports, the endpoint is at the best of them. A host behind a
// switch is also learned on every port towards it; the access port is
// where it is plugged in.
const (
	rankLAG = iota
	rankEdge
	rankAccess
)

// portKind classifies device d's port name. lagTransit holds the LAGs
// (by name) one of whose members is inter-switch.
func (d *Device) portKind(name string, lagTransit map[string]bool) portKind {
	if _, ok := d.linked[name]; ok {
		return portTransit
	}
	if lagTransit[name] {
		return portTransit
	}
	typ := ""
	if ifc := d.ifByName[name]; ifc != nil {
		if ifc.MLAGPeerLink || (ifc.LAG != "" && lagTransit[ifc.LAG]) {
			return portTransit
		}
		typ = ifc.Type
	}
	if typ == "" {
		typ = typeFromName(name)
	}
	switch typ {
	case facts.TypeTunnel, facts.TypeVXLAN, typeSelf:
		return portTransit
	case facts.TypeLAG:
		return portLAG
	}
	return portEdge
}

// typeSelf is what a MAC table says for the device's own MACs ("Router"
// on EOS, "sup-eth1(R)" on NX-OS, "CPU" on many others).
const typeSelf = "self"

// typeFromName guesses an interface's type from the names vendors give:
// Port-Channel10, Po10, ae0, Bundle-Ether1, bond0 are LAGs; Vxlan1, nve1
// and Tunnel0 tunnels; "vPC Peer-Link" the MLAG peer link (a LAG that is
// never an endpoint's port, so it is a tunnel here).
func typeFromName(name string) string {
	n := strings.ToLower(name)
	digitAfter := func(prefix string) bool {
		return len(n) > len(prefix) && strings.HasPrefix(n, prefix) && n[len(prefix)] >= '0' && n[len(prefix)] <= '9'
	}
	switch {
	case n == "cpu" || n == "router" || n == "switch" || n == "self" || strings.HasPrefix(n, "sup-eth"):
		return typeSelf
	case strings.Contains(n, "peer-link"):
		return facts.TypeTunnel
	case strings.HasPrefix(n, "vxlan") || strings.HasPrefix(n, "nve") || strings.HasPrefix(n, "vtep"):
		return facts.TypeVXLAN
	case strings.HasPrefix(n, "tunnel") || digitAfter("tun") || digitAfter("gr-") || digitAfter("ip-"):
		return facts.TypeTunnel
	case strings.HasPrefix(n, "port-channel") || digitAfter("po") || digitAfter("ae") ||
		strings.HasPrefix(n, "bundle-ether") || digitAfter("be") || digitAfter("bond") || digitAfter("lag") || digitAfter("reth"):
		return facts.TypeLAG
	}
	return ""
}

// lagTransit returns d's LAGs of which a member is linked to another
// device or is the MLAG peer link, and the peer-link LAGs themselves:
// LLDP runs on the members, while MACs are learned on the LAG.
func (d *Device) lagTransit() map[string]bool {
	var out map[string]bool
	for _, ifc := range d.Ifaces {
		if ifc.LAG == "" {
			continue
		}
		if _, linked := d.linked[ifc.Name]; linked || ifc.MLAGPeerLink {
			if out == nil {
				out = map[string]bool{}
			}
			out[ifc.LAG] = true
		}
	}
	for _, ifc := range d.Ifaces {
		if ifc.MLAGPeerLink {
			if out == nil {
				out = map[string]bool{}
			}
			out[ifc.Name] = true
		}
	}
	return out
}

// rank is how good a location of an endpoint the port is.
func (d *Device) rank(name string, kind portKind) int {
	if kind == portLAG {
		return rankLAG
	}
	if ifc := d.ifByName[name]; ifc != nil && ifc.Mode == facts.ModeAccess {
		return rankAccess
	}
	return rankEdge
}

// isVirtualRouterMAC reports whether mac is a first-hop redundancy MAC
// (VRRP 00:00:5e:00:01:xx and 00:00:5e:00:02:xx, HSRP 00:00:0c:07:ac:xx,
// HSRPv2 00:00:0c:9f:fx:xx), which belongs to routers, never to a host.
func isVirtualRouterMAC(mac string) bool {
	return strings.HasPrefix(mac, "00:00:5e:00:01:") || strings.HasPrefix(mac, "00:00:5e:00:02:") ||
		strings.HasPrefix(mac, "00:00:0c:07:ac:") || strings.HasPrefix(mac, "00:00:0c:9f:f")
}
