package parse

import (
	"regexp"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// PAN-OS: the operational commands' screen text through ntc-templates'
// paloalto_panos templates. (The security policy comes as XML and is
// recognised by its content, see firewall.go.)
var panosParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    textParser(panosVersion),
	platform.KindInterfaces: textParser(panosInterfaces),
	platform.KindARP:        textParser(panosARP),
	platform.KindRoutes:     panosRoutes,
	// Firewall configuration is recognised by content first (panosfw.go);
	// this gives the platform's own message when it is not recognised.
	platform.KindFirewall: panosConfig,
}

func panosVersion(b *builder, rows []record) error {
	if len(rows) == 0 || rows[0].str("OS") == "" {
		return errWrongCommand(b.command, "sw-version")
	}
	r := rows[0]
	b.dev.Version = r.str("OS")
	b.dev.Model = r.str("MODEL")
	// A VM without a licence says "unknown".
	if s := r.str("SERIAL"); s != "unknown" {
		b.dev.Serial = s
	}
	return nil
}

var panosTypes = []typePrefix{
	{"ethernet", facts.TypePhysical}, {"ae", facts.TypeLAG}, {"loopback", facts.TypeLoopback},
	{"tunnel", facts.TypeTunnel}, {"vlan", facts.TypeVLAN}, {"ha", facts.TypePhysical}, {"hsci", facts.TypePhysical},
}

// panosInterfaces reads both tables of "show interface all": the
// hardware one (state, speed, MAC) and the logical one (zone, virtual
// router, addresses), one row per table and interface.
func panosInterfaces(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(r.str("INTERFACE"))
		if t := typeByName(ifc.Name, panosTypes); t != "" && ifc.Type == "" {
			ifc.Type = t
		}
		if st := r.str("STATE"); st != "" && st != "[n/a]" {
			ifc.OperUp = boolp(st == "up")
		}
		if v, ok := atoi(r.str("SPEED")); ok && v > 0 {
			ifc.SpeedMbps = int64(v)
		}
		if s := r.str("MAC_ADDRESS"); s != "" {
			if m, ok := mac(s); ok {
				ifc.MAC = m
			}
		}
		if z := r.str("ZONE"); z != "" {
			ifc.Zone = z
		}
		if vr, ok := strings.CutPrefix(r.str("FORWARDING"), "vr:"); ok {
			ifc.VRF = vr
		}
		for _, ip := range r.list("IP_ADDRESS") {
			if ip == "N/A" {
				continue
			}
			a, l, _ := strings.Cut(ip, "/")
			p, ok := ifaceAddr(a, l)
			if !ok {
				b.skip("interface %s: address %q is not an interface address", ifc.Name, ip)
				continue
			}
			addIP(ifc, p)
		}
	}
	return nil
}

var panosARPStates = map[string]string{"c": "", "s": facts.NeighborPermanent, "e": facts.NeighborStale, "i": facts.NeighborIncomplete}

func panosARP(b *builder, rows []record) error {
	for _, r := range rows {
		e, ok := arpRow(b, r, nil)
		if !ok {
			continue
		}
		if e.State == "" {
			e.State = panosARPStates[r.str("STATUS")]
		}
		b.dev.ARP = append(b.dev.ARP, e)
	}
	return nil
}

// panosVR heads each virtual router's table; the template has no value
// for it, so each table is parsed on its own.
var panosVR = regexp.MustCompile(`^VIRTUAL ROUTER: (\S+)`)

var panosRouteFlags = []struct{ flag, protocol string }{
	{"H", "local"}, {"C", "connected"}, {"S", "static"}, {"B", "bgp"}, {"O", "ospf"}, {"R", "rip"}, {"~", "internal"},
}

func panosRoutes(b *builder, data []byte) error {
	for _, s := range sections(data, panosVR) {
		rows, err := b.table(s.text)
		if err != nil {
			return err
		}
		var hops []routeHop
		for _, r := range rows {
			p, ok := network(r.str("NETWORK"), r.str("PREFIX_LENGTH"))
			if !ok {
				b.skip("route %s/%s: not a prefix", r.str("NETWORK"), r.str("PREFIX_LENGTH"))
				continue
			}
			flags := r.str("FLAGS")
			// Routes without A(ctive) are not in the forwarding table.
			if !strings.Contains(flags, "A") {
				continue
			}
			h := routeHop{vrf: s.name, prefix: p.String(), metric: r.str("METRIC")}
			for _, f := range panosRouteFlags {
				if strings.Contains(flags, f.flag) {
					h.protocol = f.protocol
					break
				}
			}
			nh := r.str("NEXTHOP_IP")
			switch {
			case nh == "discard":
				h.hop.Interface = "discard"
			case h.protocol == "local":
				h.hop.Interface = "local"
			default:
				a, ok := addr(nh)
				if !ok {
					b.skip("vr %s route %s: next hop %q is not an IP address", s.name, p, nh)
					continue
				}
				// A connected route's "next hop" is the interface's own
				// address.
				if h.protocol != "connected" {
					h.hop.IP = a
				}
			}
			if ifn := r.str("NEXTHOP_IF"); ifn != "" {
				h.hop.Interface = ifn
			}
			if h.hop.IP == "" && h.hop.Interface == "" {
				b.skip("vr %s route %s: no next hop", s.name, p)
				continue
			}
			hops = append(hops, h)
		}
		for i := range hops {
			switch hops[i].hop.Interface {
			case "discard", "local":
				hops[i].hop.Interface = ""
			}
		}
		before := len(b.dev.Routes)
		addRoutes(b, hops)
		for i := before; i < len(b.dev.Routes); i++ {
			r := &b.dev.Routes[i]
			switch {
			case r.Protocol == "local":
				r.Action = facts.RouteLocal
			case r.NextHop == "" && r.Interface == "" && len(r.NextHops) == 0:
				r.Action = facts.RouteDrop
			}
		}
	}
	return nil
}
