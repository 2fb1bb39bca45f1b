package parse

import (
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Check Point Gaia: clish screen text through ntc-templates'
// checkpoint_gaia templates.
var gaiaParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    textParser(gaiaVersion),
	platform.KindInterfaces: textParser(gaiaInterfaces),
	platform.KindRoutes:     textParser(gaiaRoutes),
	platform.KindARP:        textParser(gaiaARP),
}

func gaiaVersion(b *builder, rows []record) error {
	if len(rows) == 0 || rows[0].str("VERSION") == "" {
		return errWrongCommand(b.command, "VERSION")
	}
	b.dev.Version = rows[0].str("VERSION")
	return nil
}

var gaiaTypes = map[string]string{
	"ethernet": facts.TypePhysical, "vlan": facts.TypeSubinterface, "bond": facts.TypeLAG,
	"loopback": facts.TypeLoopback, "bridge": facts.TypeVirtual, "alias": facts.TypeVirtual,
}

func gaiaInterfaces(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(r.str("INTERFACE"))
		switch r.str("STATE") {
		case "on":
			ifc.AdminUp = boolp(true)
		case "off":
			ifc.AdminUp = boolp(false)
		}
		switch r.str("LINK_STATE") {
		case "link up":
			ifc.OperUp = boolp(true)
		case "link down":
			ifc.OperUp = boolp(false)
		}
		ifc.Type = gaiaTypes[r.str("TYPE")]
		if ifc.Name == "Mgmt" {
			ifc.Type = facts.TypeMgmt
		}
		if m, ok := mac(r.str("MAC_ADDRESS")); ok {
			ifc.MAC = m
		}
		if n, ok := atoi(r.str("MTU")); ok && n > 0 {
			ifc.MTU = n
		}
		// "1000M (eth1-01)": a VLAN interface shows its port's speed.
		speed, _, _ := strings.Cut(r.str("SPEED"), " ")
		if v, ok := speedMbps(speed); ok && (ifc.Type == facts.TypePhysical || ifc.Type == facts.TypeMgmt) {
			ifc.SpeedMbps = v
		}
		ifc.Description = r.str("COMMENT")
		if v4 := r.str("IPV4_ADDRESS"); strings.Contains(v4, "/") {
			a, l, _ := strings.Cut(v4, "/")
			if p, ok := ifaceAddr(a, l); ok {
				addIP(ifc, p)
			} else {
				b.skip("interface %s: ipv4-address %q is not an interface address", ifc.Name, v4)
			}
		}
		if v6 := r.str("IPV6_ADDRESS"); strings.Contains(v6, ":") {
			b.skip("interface %s: ipv6-address %s comes without its length", ifc.Name, v6)
		}
	}
	return nil
}

var gaiaProtocols = map[string]string{
	"C": "connected", "S": "static", "R": "rip", "B": "bgp", "O": "ospf", "A": "aggregate", "K": "kernel",
}

func gaiaRoutes(b *builder, rows []record) error {
	var hops []routeHop
	for _, r := range rows {
		p, ok := network(r.str("NETWORK"), r.str("MASK"))
		if !ok {
			b.skip("route %s/%s: not a prefix", r.str("NETWORK"), r.str("MASK"))
			continue
		}
		proto, ok := gaiaProtocols[r.str("PROTOCOL")]
		if !ok {
			// Hidden, suppressed, unreachable and inactive routes do not
			// forward.
			b.skip("route %s: route code %q is not a forwarding route", p, r.str("PROTOCOL"))
			continue
		}
		h := routeHop{prefix: p.String(), protocol: proto}
		if ip := r.str("NEXTHOPIP"); ip != "" {
			if h.hop.IP, ok = addr(ip); !ok {
				b.skip("route %s: next hop %q is not an IP address", p, ip)
				continue
			}
		}
		h.hop.Interface = r.str("INTERFACE")
		hops = append(hops, h)
	}
	addRoutes(b, hops)
	return nil
}

func gaiaARP(b *builder, rows []record) error {
	for _, r := range rows {
		if e, ok := arpRow(b, r, nil); ok {
			b.dev.ARP = append(b.dev.ARP, e)
		}
	}
	return nil
}
