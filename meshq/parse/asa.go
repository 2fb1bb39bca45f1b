package parse

import (
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Cisco ASA and FTD (whose CLI runs the ASA's LINA commands): screen text
// through ntc-templates' cisco_asa templates (cisco_ftd's first, where it
// has one), and the running configuration's access lists, objects and
// access groups (asafw.go).
var asaParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    textParser(asaVersion),
	platform.KindInterfaces: textParser(asaInterfaces),
	platform.KindIPv4:       textParser(asaIPBrief),
	platform.KindARP:        textParser(asaARP),
	platform.KindRoutes:     textParser(asaRoutes),
	platform.KindFirewall:   asaConfig,
	platform.KindFWObjects:  asaConfig,
	platform.KindFWServices: asaConfig,
	platform.KindFWBindings: asaConfig,
}

func asaVersion(b *builder, rows []record) error {
	if len(rows) == 0 || rows[0].str("VERSION") == "" {
		return errWrongCommand(b.command, "Software Version")
	}
	r := rows[0]
	b.dev.Version = r.str("VERSION")
	// "Model Id: ASAv10", else the hardware line's first field
	// ("Hardware: ASA5525, 8192 MB RAM, ...").
	if m := r.str("MODEL"); m != "" {
		b.dev.Model = m
	} else if hw, _, _ := strings.Cut(r.str("HARDWARE"), ","); hw != "" {
		b.dev.Model = strings.TrimSpace(hw)
	}
	if sn := r.list("SERIAL"); len(sn) > 0 {
		b.dev.Serial = sn[0]
	}
	return nil
}

var asaTypes = []typePrefix{
	{"port-channel", facts.TypeLAG}, {"management", facts.TypeMgmt}, {"vlan", facts.TypeVLAN},
	{"tunnel", facts.TypeTunnel}, {"bvi", facts.TypeVirtual}, {"virtual", facts.TypeVirtual},
	{"gigabitethernet", facts.TypePhysical}, {"tengigabitethernet", facts.TypePhysical}, {"ethernet", facts.TypePhysical},
	{"internal-", facts.TypeVirtual},
}

// asaInterfaces reads show interface. The interface's nameif ("outside")
// is what the ASA's policy, ARP table and routes name it by: it becomes
// the interface's zone.
func asaInterfaces(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(r.str("INTERFACE"))
		iosLinkState(ifc, r.str("LINK_STATUS"), r.str("PROTOCOL_STATUS"))
		ifc.Type = typeByName(ifc.Name, asaTypes)
		if z := r.str("INTERFACE_ZONE"); z != "" {
			ifc.Zone = z
		}
		ifc.Description = r.str("DESCRIPTION")
		if s := r.str("MAC_ADDRESS"); s != "" {
			if m, ok := mac(s); ok {
				ifc.MAC = m
			}
		}
		if n, ok := atoi(r.str("MTU")); ok && n > 0 {
			ifc.MTU = n
		}
		speed := r.str("SPEED")
		if v, ok := speedMbps(strings.ReplaceAll(speed, " ", "")); ok {
			ifc.SpeedMbps = v
		} else if v, ok := speedMbps(strings.ReplaceAll(r.str("BANDWIDTH"), " ", "")); ok && (ifc.Type == facts.TypePhysical || ifc.Type == facts.TypeLAG) {
			ifc.SpeedMbps = v
		}
		if lag := r.str("BONDED_PORT"); lag != "" {
			ifc.LAG = lag
		}
		if ip := r.str("IP_ADDRESS"); ip != "" {
			p, ok := ifaceAddr(ip, r.str("NETMASK"))
			if !ok {
				b.skip("interface %s: address %s mask %s is not an interface address", ifc.Name, ip, r.str("NETMASK"))
				continue
			}
			addIP(ifc, p)
		}
	}
	return nil
}

// asaIPBrief reads show interface ip brief for the states. Its
// addresses come without masks, so they become facts only through show
// interface, which gives them in full.
func asaIPBrief(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(r.str("INTERFACE"))
		if ifc.AdminUp == nil {
			iosLinkState(ifc, r.str("STATUS"), r.str("PROTO"))
		}
		if ifc.Type == "" {
			ifc.Type = typeByName(ifc.Name, asaTypes)
		}
	}
	return nil
}

// asaPort returns the interface a nameif names, when show interface gave
// it; else the nameif as it is.
func asaPort(b *builder, nameif string) string {
	for _, ifc := range b.dev.Interfaces {
		if ifc.Zone == nameif {
			return ifc.Name
		}
	}
	return nameif
}

func asaARP(b *builder, rows []record) error {
	for _, r := range rows {
		e, ok := arpRow(b, r, func(n string) string { return asaPort(b, n) })
		if !ok {
			continue
		}
		// Age "-" is an alias or static entry.
		if r.str("AGE") == "-" {
			e.State = facts.NeighborPermanent
		}
		b.dev.ARP = append(b.dev.ARP, e)
	}
	return nil
}

func asaRoutes(b *builder, rows []record) error {
	var hops []routeHop
	for _, r := range rows {
		net := r.str("NETWORK")
		p, ok := network(net, r.str("NETMASK"))
		if !ok {
			// With "names" configured the ASA prints a name for the
			// network; the name's address is not in the output.
			b.skip("route %s %s: not a network address and mask", net, r.str("NETMASK"))
			continue
		}
		proto, ok := iosRouteProtocols[r.str("PROTOCOL")]
		if !ok {
			b.skip("route %s: unknown route code %q", p, r.str("PROTOCOL"))
			continue
		}
		h := routeHop{prefix: p.String(), protocol: proto, distance: r.str("DISTANCE"), metric: r.str("METRIC")}
		if ip := r.str("NEXTHOPIP"); ip != "" {
			if h.hop.IP, ok = addr(ip); !ok {
				b.skip("route %s: next hop %q is not an IP address", p, ip)
				continue
			}
		}
		if ifn := r.str("NEXTHOPIF"); ifn != "" {
			h.hop.Interface = asaPort(b, ifn)
		}
		if h.hop.IP == "" && h.hop.Interface == "" {
			b.skip("route %s: no next hop", p)
			continue
		}
		hops = append(hops, h)
	}
	addRoutes(b, hops)
	return nil
}
