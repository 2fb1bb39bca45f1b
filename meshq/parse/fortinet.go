package parse

import (
	"regexp"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// FortiOS: the get commands' screen text through ntc-templates' fortinet
// templates. (The firewall policy is configuration text, recognised by
// its content, see firewall.go.)
var fortinetParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    textParser(fortiVersion),
	platform.KindInterfaces: textParser(fortiInterfaces),
	platform.KindARP:        textParser(fortiARP),
	platform.KindRoutes:     fortiRoutes,
	// Firewall configuration is recognised by content first (fortios.go);
	// these give the platform's own message when it is not recognised.
	platform.KindFWObjects: fortiosFirewall, platform.KindFWAddrGroups: fortiosFirewall, platform.KindFWServices: fortiosFirewall,
	platform.KindFWSvcGroups: fortiosFirewall, platform.KindFirewall: fortiosFirewall,
}

// "FortiGate-60E-POE v7.4.1,build2463,230830 (GA.F)"
var fortiVersionLine = regexp.MustCompile(`^(\S+) v(\S+?),(build\d+)`)

func fortiVersion(b *builder, rows []record) error {
	if len(rows) == 0 || rows[0].str("VERSION") == "" {
		return errWrongCommand(b.command, "Version")
	}
	r := rows[0]
	if m := fortiVersionLine.FindStringSubmatch(r.str("VERSION")); m != nil {
		b.dev.Model, b.dev.Version = m[1], m[2]+" "+m[3]
	} else {
		b.dev.Version = r.str("VERSION")
	}
	b.dev.Serial = r.str("SERIAL_NUMBER")
	return nil
}

var fortiTypes = map[string]string{
	"physical": facts.TypePhysical, "aggregate": facts.TypeLAG, "redundant": facts.TypeLAG,
	"vlan": facts.TypeSubinterface, "loopback": facts.TypeLoopback, "tunnel": facts.TypeTunnel,
	"vdom-link": facts.TypeVirtual, "hard-switch": facts.TypeVirtual, "switch": facts.TypeVirtual,
}

func fortiInterfaces(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(r.str("NAME"))
		switch r.str("STATUS") {
		case "up":
			ifc.AdminUp = boolp(true)
		case "down":
			ifc.AdminUp = boolp(false)
		}
		ifc.Type = fortiTypes[r.str("TYPE")]
		// 0.0.0.0 0.0.0.0 is "no address".
		if ip := r.str("IP_ADDRESS"); ip != "" && ip != "0.0.0.0" {
			p, ok := ifaceAddr(ip, r.str("NETMASK"))
			if !ok {
				b.skip("interface %s: address %s %s is not an interface address", ifc.Name, ip, r.str("NETMASK"))
				continue
			}
			addIP(ifc, p)
		}
	}
	return nil
}

func fortiARP(b *builder, rows []record) error {
	for _, r := range rows {
		if e, ok := arpRow(b, r, nil); ok {
			b.dev.ARP = append(b.dev.ARP, e)
		}
	}
	return nil
}

// fortiVRF heads each VRF's table (FortiOS 7); VRF 0 is the default.
var fortiVRF = regexp.MustCompile(`^Routing table for VRF=(\d+)`)

var fortiProtocols = map[byte]string{'K': "kernel", 'C': "connected", 'S': "static", 'R': "rip", 'B': "bgp", 'O': "ospf", 'i': "isis"}

func fortiRoutes(b *builder, data []byte) error {
	for _, s := range sections(data, fortiVRF) {
		rows, err := b.table(s.text)
		if err != nil {
			return err
		}
		vrf := s.name
		if vrf == "0" {
			vrf = ""
		}
		var hops []routeHop
		for _, r := range rows {
			dest := r.str("DESTINATION")
			a, l, _ := strings.Cut(dest, "/")
			p, ok := network(a, l)
			if !ok {
				b.skip("route %q: not a prefix", dest)
				continue
			}
			t := r.str("TYPE")
			proto := ""
			if t != "" {
				proto = fortiProtocols[t[0]]
			}
			if proto == "" {
				b.skip("route %s: unknown route code %q", p, t)
				continue
			}
			h := routeHop{vrf: vrf, prefix: p.String(), protocol: proto, distance: r.str("DISTANCE"), metric: r.str("METRIC")}
			if gw := r.str("GATEWAY"); gw != "is directly connected" {
				if h.hop.IP, ok = addr(gw); !ok {
					b.skip("route %s: gateway %q is not an IP address", p, gw)
					continue
				}
			}
			h.hop.Interface = r.str("INTERFACE")
			hops = append(hops, h)
		}
		addRoutes(b, hops)
	}
	return nil
}
