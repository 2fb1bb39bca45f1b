package parse

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Cisco IOS and IOS XE: screen text through ntc-templates' cisco_ios
// templates (IOS XE prints its show commands as IOS does). Field names
// are the templates' Values.
var iosParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    textParser(iosVersion),
	platform.KindInterfaces: textParser(iosInterfaces),
	platform.KindIPv4:       textParser(iosIPInterface),
	platform.KindIPv6:       textParser(noFacts), // no template: the lookup says so
	platform.KindSwitchport: textParser(iosSwitchport),
	platform.KindLAG:        textParser(iosEtherchannel),
	platform.KindGateway:    textParser(iosStandby),
	platform.KindARP:        textParser(iosARP),
	platform.KindND:         textParser(iosND),
	platform.KindMAC:        textParser(iosMAC),
	platform.KindVLANs:      textParser(iosVLANs),
	platform.KindLLDP:       textParser(iosLLDP),
	platform.KindCDP:        textParser(iosCDP),
	platform.KindRoutes:     textParser(iosRoutes),
	platform.KindBGP:        textParser(iosBGP),
}

// noFacts is the mapping of a command whose template ntc-templates does
// not have: the template lookup fails first, with its reason.
func noFacts(b *builder, rows []record) error {
	return fmt.Errorf("internal error: no mapping for the %d rows of %q", len(rows), b.command)
}

// iosAbbrevs are the short interface names IOS prints in tables (ARP,
// MAC, LLDP, etherchannel) for the names its interface list spells out.
var iosAbbrevs = []abbrev{
	{"Gi", "GigabitEthernet"}, {"Gig", "GigabitEthernet"},
	{"Fa", "FastEthernet"},
	{"Te", "TenGigabitEthernet"}, {"Ten", "TenGigabitEthernet"},
	{"Tw", "TwoGigabitEthernet"}, {"Twe", "TwentyFiveGigE"},
	{"Fi", "FiveGigabitEthernet"},
	{"Fo", "FortyGigabitEthernet"},
	{"Hu", "HundredGigE"},
	{"Ap", "AppGigabitEthernet"},
	{"Et", "Ethernet"}, {"Eth", "Ethernet"},
	{"Po", "Port-channel"},
	{"Vl", "Vlan"},
	{"Lo", "Loopback"},
	{"Tu", "Tunnel"},
	{"Se", "Serial"},
	{"Di", "Dialer"},
	{"Mu", "Multilink"},
	{"Vi", "Virtual-Access"},
	{"BD", "BDI"},
}

var iosTypes = []typePrefix{
	{"port-channel", facts.TypeLAG},
	{"loopback", facts.TypeLoopback},
	{"vlan", facts.TypeVLAN}, {"bdi", facts.TypeVLAN},
	{"tunnel", facts.TypeTunnel},
	{"virtual-access", facts.TypeVirtual}, {"virtual-template", facts.TypeVirtual}, {"dialer", facts.TypeVirtual}, {"nve", facts.TypeVXLAN},
	{"gigabitethernet", facts.TypePhysical}, {"fastethernet", facts.TypePhysical}, {"tengigabitethernet", facts.TypePhysical},
	{"twogigabitethernet", facts.TypePhysical}, {"twentyfivegige", facts.TypePhysical}, {"fivegigabitethernet", facts.TypePhysical},
	{"fortygigabitethernet", facts.TypePhysical}, {"hundredgige", facts.TypePhysical}, {"ethernet", facts.TypePhysical},
	{"serial", facts.TypePhysical},
}

func iosVersion(b *builder, rows []record) error {
	if len(rows) == 0 {
		return errWrongCommand(b.command, "VERSION")
	}
	r := rows[0]
	if r.str("VERSION") == "" {
		return errWrongCommand(b.command, "VERSION")
	}
	b.dev.Version = r.str("VERSION")
	// A stack lists each member; the first is the active one.
	if hw := r.list("HARDWARE"); len(hw) > 0 {
		b.dev.Model = hw[0]
	}
	if sn := r.list("SERIAL"); len(sn) > 0 {
		b.dev.Serial = sn[0]
	}
	return nil
}

// iosLinkState sets the states of "X is <link>, line protocol is
// <protocol>": the link is "administratively down" only when shut.
func iosLinkState(ifc *facts.Interface, link, protocol string) {
	switch {
	case link == "administratively down":
		ifc.AdminUp = boolp(false)
	case link == "up" || link == "down":
		ifc.AdminUp = boolp(true)
	}
	if protocol != "" {
		ifc.OperUp = boolp(strings.HasPrefix(protocol, "up"))
	}
}

func iosInterfaces(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(r.str("INTERFACE"))
		iosLinkState(ifc, r.str("LINK_STATUS"), r.str("PROTOCOL_STATUS"))
		ifc.Type = typeByName(ifc.Name, iosTypes)
		ifc.Description = r.str("DESCRIPTION")
		if s := r.str("MAC_ADDRESS"); s != "" {
			if m, ok := mac(s); ok {
				ifc.MAC = m
			} else {
				b.skip("interface %s: MAC %q is not a MAC address", ifc.Name, s)
			}
		}
		if n, ok := atoi(r.str("MTU")); ok && n > 0 {
			ifc.MTU = n
		}
		// The negotiated speed where the port prints one; else the
		// bandwidth, which is the line rate only on ports and bundles
		// (on an SVI or a tunnel it is a routing metric).
		if v, ok := speedMbps(r.str("SPEED")); ok {
			ifc.SpeedMbps = v
		} else if ifc.Type == facts.TypePhysical || ifc.Type == facts.TypeLAG {
			if v, ok := speedMbps(r.str("BANDWIDTH")); ok {
				ifc.SpeedMbps = v
			}
		}
		if ip := r.str("IP_ADDRESS"); ip != "" {
			if p, ok := ifaceAddr(ip, r.str("PREFIX_LENGTH")); ok {
				addIP(ifc, p)
			} else {
				b.skip("interface %s: address %s/%s is not an interface address", ifc.Name, ip, r.str("PREFIX_LENGTH"))
			}
		}
	}
	return nil
}

func iosIPInterface(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(r.str("INTERFACE"))
		// show interfaces, read first, has the states already.
		if ifc.AdminUp == nil && ifc.OperUp == nil {
			iosLinkState(ifc, r.str("LINK_STATUS"), r.str("PROTOCOL_STATUS"))
		}
		if ifc.Type == "" {
			ifc.Type = typeByName(ifc.Name, iosTypes)
		}
		if v := r.str("VRF"); v != "" {
			ifc.VRF = v
		}
		if n, ok := atoi(r.str("MTU")); ok && n > 0 && ifc.MTU == 0 {
			ifc.MTU = n
		}
		ips, lens := r.list("IP_ADDRESS"), r.list("PREFIX_LENGTH")
		for i, ip := range ips {
			l := ""
			if i < len(lens) {
				l = lens[i]
			}
			p, ok := ifaceAddr(ip, l)
			if !ok {
				b.skip("interface %s: address %s/%s is not an interface address", ifc.Name, ip, l)
				continue
			}
			addIP(ifc, p)
			// "Internet address is" comes first; the rest are
			// "Secondary address" lines.
			if i > 0 {
				addAddress(ifc, facts.Address{IP: p.String(), Role: facts.RoleSecondary})
			}
		}
	}
	return nil
}

func iosSwitchport(b *builder, rows []record) error {
	for _, r := range rows {
		name := r.str("INTERFACE")
		if !strings.EqualFold(r.str("SWITCHPORT"), "enabled") {
			b.iface(name).Mode = facts.ModeRouted
			continue
		}
		mode := iosPortMode(r.str("MODE"))
		if mode == "" {
			// An operational mode of "down": the configured one, when it
			// is not negotiated.
			mode = iosPortMode(r.str("ADMIN_MODE"))
		}
		ifc := b.iface(name)
		switch mode {
		case facts.ModeAccess:
			ifc.Mode = mode
			if v, ok := atoi(r.str("ACCESS_VLAN")); ok {
				ifc.AccessVLAN = v
			}
		case facts.ModeTrunk:
			vlans, all, err := vlanList(r.list("TRUNKING_VLANS"))
			if err != nil {
				b.skip("interface %s: trunk VLANs: %v", ifc.Name, err)
				continue
			}
			ifc.Mode = mode
			if !all {
				ifc.TrunkVLANs = vlans
			}
		default:
			b.skip("interface %s: switchport mode %q (%s configured) is not access or trunk", ifc.Name, r.str("MODE"), r.str("ADMIN_MODE"))
		}
	}
	return nil
}

func iosPortMode(s string) string {
	switch strings.ToLower(s) {
	case "access", "static access":
		return facts.ModeAccess
	case "trunk":
		return facts.ModeTrunk
	}
	return ""
}

// vlanList reads a trunk's allowed VLANs as the template splits them
// ("1", "31-36", "ALL"). ALL is every VLAN, which the facts give as an
// empty list; NONE cannot be said at all.
func vlanList(parts []string) (vlans []int, all bool, err error) {
	for _, p := range parts {
		switch strings.ToUpper(p) {
		case "ALL":
			return nil, true, nil
		case "NONE":
			return nil, false, fmt.Errorf("the trunk allows no VLAN, which the facts format cannot say (an empty list is every VLAN)")
		}
		lo, hi, isRange := strings.Cut(p, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if isRange {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || z > 4094 || z < a {
			return nil, false, fmt.Errorf("%q is not a VLAN or VLAN range", p)
		}
		for v := a; v <= z; v++ {
			vlans = append(vlans, v)
		}
	}
	if len(vlans) == 0 {
		return nil, false, fmt.Errorf("no VLAN list")
	}
	return vlans, false, nil
}

func iosEtherchannel(b *builder, rows []record) error {
	for _, r := range rows {
		name := r.str("BUNDLE_NAME")
		if name == "" {
			b.skip("channel group %s: no port-channel", r.str("GROUP"))
			continue
		}
		lag := b.iface(name)
		lag.Type = facts.TypeLAG
		// Every configured member, bundled or not (down, suspended,
		// stand-alone): membership is configuration.
		for _, m := range r.list("MEMBER_INTERFACE") {
			b.iface(m).LAG = lag.Name
		}
	}
	return nil
}

func iosStandby(b *builder, rows []record) error {
	for _, r := range rows {
		vip := r.str("VIRTUAL_IP_ADDRESS")
		a, ok := addr(vip)
		if !ok {
			b.skip("HSRP group %s on %s: virtual address %q is not an IP address", r.str("GROUP"), r.str("INTERFACE"), vip)
			continue
		}
		// A bare address takes the length of the interface's subnet.
		addAddress(b.iface(r.str("INTERFACE")), facts.Address{IP: a, Role: "hsrp"})
	}
	return nil
}

func iosARP(b *builder, rows []record) error {
	for _, r := range rows {
		e, ok := arpRow(b, r, b.canon)
		if !ok {
			continue
		}
		// Age "-" is the device's own address.
		if r.str("AGE") == "-" {
			e.State = facts.NeighborPermanent
		}
		b.dev.ARP = append(b.dev.ARP, e)
	}
	return nil
}

// iosNDStates are IOS's IPv6 neighbour states.
var iosNDStates = map[string]string{
	"REACH": facts.NeighborReachable, "STALE": facts.NeighborStale, "DELAY": facts.NeighborDelay,
	"PROBE": facts.NeighborProbe, "INCMP": facts.NeighborIncomplete,
}

func iosND(b *builder, rows []record) error {
	for _, r := range rows {
		ip, ok := addr(r.str("ADDRESS"))
		if !ok {
			b.skip("neighbor %q: not an IPv6 address", r.str("ADDRESS"))
			continue
		}
		e := facts.ARPEntry{IP: ip, Interface: b.canon(r.str("INTERFACE")), State: iosNDStates[strings.ToUpper(r.str("TYPE"))]}
		hw := r.str("MAC_ADDRESS")
		if hw == "-" || hw == "" {
			// The neighbour on a point-to-point link (a dialer, a tunnel)
			// has no link-layer address.
			b.skip("neighbor %s on %s: no link-layer address", ip, e.Interface)
			continue
		}
		m, ok := mac(hw)
		if !ok {
			b.skip("neighbor %s: link-layer address %q is not a MAC address", ip, hw)
			continue
		}
		e.MAC = m
		b.dev.ARP = append(b.dev.ARP, e)
	}
	return nil
}

func iosMAC(b *builder, rows []record) error {
	for _, r := range rows {
		m, ok := mac(r.str("DESTINATION_ADDRESS"))
		if !ok {
			b.skip("MAC %q is not a MAC address", r.str("DESTINATION_ADDRESS"))
			continue
		}
		vlan := 0
		if v := r.str("VLAN_ID"); !strings.EqualFold(v, "all") {
			n, ok := atoi(v)
			if !ok {
				b.skip("MAC %s: VLAN %q is not a VLAN id", m, v)
				continue
			}
			vlan = n
		}
		var flags []string
		switch strings.ToLower(r.str("TYPE")) {
		case "static", "secure", "secure_static", "stat":
			flags = append(flags, facts.MACStatic)
		case "self", "system":
			flags = append(flags, facts.MACRouter)
		}
		for _, port := range r.list("DESTINATION_PORT") {
			name, flags := port, append([]string(nil), flags...)
			switch strings.ToUpper(port) {
			case "CPU", "ROUTER", "SWITCH":
				// The device's own MACs (protocol addresses, the router's
				// MAC), not learned on a port.
				name, flags = "CPU", append(flags, facts.MACRouter)
			case "DROP":
				b.skip("MAC %s vlan %d: a drop entry, on no port", m, vlan)
				continue
			default:
				name = b.canon(port)
			}
			b.dev.MACTable = append(b.dev.MACTable, facts.MACEntry{MAC: m, VLAN: vlan, Interface: name, Flags: flags})
		}
	}
	return nil
}

func iosVLANs(b *builder, rows []record) error {
	for _, r := range rows {
		id, ok := atoi(r.str("VLAN_ID"))
		if !ok || id < 1 || id > 4094 {
			b.skip("VLAN %q is not a VLAN id", r.str("VLAN_ID"))
			continue
		}
		b.dev.VLANs = append(b.dev.VLANs, facts.VLAN{ID: id, Name: r.str("VLAN_NAME")})
	}
	return nil
}

// remotePort gives the remote interface of an LLDP neighbour from its
// port ID, when that names one: a MAC address or a bare number (a
// local ifIndex) does not.
func remotePort(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	if _, ok := mac(id); ok {
		return ""
	}
	if _, err := strconv.Atoi(id); err == nil {
		return ""
	}
	return id
}

func iosLLDP(b *builder, rows []record) error {
	for _, r := range rows {
		local := r.str("LOCAL_INTERFACE")
		name := r.str("NEIGHBOR_NAME")
		if name == "" {
			b.skip("LLDP neighbor on %s (chassis %s): it sends no system name", local, r.str("CHASSIS_ID"))
			continue
		}
		ifc := b.iface(local)
		b.dev.Neighbors = append(b.dev.Neighbors, facts.Neighbor{LocalInterface: ifc.Name, RemoteHostname: name,
			RemoteInterface: remotePort(r.str("NEIGHBOR_PORT_ID")), Protocol: "lldp"})
	}
	return nil
}

func iosCDP(b *builder, rows []record) error {
	for _, r := range rows {
		local := r.str("LOCAL_INTERFACE")
		if local == "" {
			b.skip("CDP neighbor %s: no local interface", r.str("NEIGHBOR_NAME"))
			continue
		}
		ifc := b.iface(local)
		b.dev.Neighbors = append(b.dev.Neighbors, facts.Neighbor{LocalInterface: ifc.Name, RemoteHostname: r.str("NEIGHBOR_NAME"),
			RemoteInterface: r.str("NEIGHBOR_INTERFACE"), Protocol: "cdp"})
	}
	return nil
}

// iosRouteProtocols names IOS's route codes (with the type codes of
// OSPF and IS-IS routes folded into the protocol).
var iosRouteProtocols = map[string]string{
	"L": "local", "C": "connected", "S": "static", "R": "rip", "M": "mobile", "B": "bgp",
	"D": "eigrp", "O": "ospf", "i": "isis", "o": "odr", "U": "static", "P": "static",
	"H": "nhrp", "l": "lisp", "a": "application", "V": "vpn", "I": "igrp",
}

// routeHop is one line of a routing table: a prefix with one next hop.
type routeHop struct {
	vrf, prefix, protocol string
	distance, metric      string
	hop                   facts.NextHop
}

// addRoutes joins consecutive lines of one prefix (equal-cost next hops
// print as continuation lines) into routes.
func addRoutes(b *builder, hops []routeHop) {
	for i := 0; i < len(hops); {
		h := hops[i]
		r := facts.Route{VRF: h.vrf, Prefix: h.prefix, Protocol: h.protocol}
		if d, ok := atoi(h.distance); ok {
			r.AdminDistance = intp(d)
		}
		if m, ok := atoi(h.metric); ok {
			r.Metric = m
		}
		j := i
		var list []facts.NextHop
		for ; j < len(hops) && hops[j].vrf == h.vrf && hops[j].prefix == h.prefix && hops[j].protocol == h.protocol; j++ {
			list = append(list, hops[j].hop)
		}
		i = j
		if h.protocol == "local" {
			r.Action = facts.RouteLocal
		}
		if len(list) == 1 {
			hop := list[0]
			if strings.EqualFold(hop.Interface, "Null0") {
				r.Action = facts.RouteDrop
			}
			r.NextHop, r.Interface, r.NextHopVRF = hop.IP, hop.Interface, hop.VRF
		} else {
			r.NextHops = list
		}
		b.dev.Routes = append(b.dev.Routes, r)
	}
}

func iosRoutes(b *builder, rows []record) error {
	var hops []routeHop
	for _, r := range rows {
		p, ok := network(r.str("NETWORK"), r.str("PREFIX_LENGTH"))
		if !ok {
			b.skip("route %s/%s: not a prefix", r.str("NETWORK"), r.str("PREFIX_LENGTH"))
			continue
		}
		code := r.str("PROTOCOL")
		proto, ok := iosRouteProtocols[code]
		if !ok {
			b.skip("route %s: unknown route code %q", p, code)
			continue
		}
		h := routeHop{vrf: r.str("VRF"), prefix: p.String(), protocol: proto, distance: r.str("DISTANCE"), metric: r.str("METRIC")}
		if ip := r.str("NEXTHOP_IP"); ip != "" {
			a, ok := addr(ip)
			if !ok {
				b.skip("route %s: next hop %q is not an IP address", p, ip)
				continue
			}
			h.hop.IP = a
		}
		if ifn := r.str("NEXTHOP_IF"); ifn != "" {
			h.hop.Interface = b.canon(ifn)
		}
		h.hop.VRF = r.str("NEXTHOP_VRF")
		if h.hop.IP == "" && h.hop.Interface == "" {
			b.skip("route %s: no next hop", p)
			continue
		}
		hops = append(hops, h)
	}
	addRoutes(b, hops)
	return nil
}

func iosBGP(b *builder, rows []record) error {
	for _, r := range rows {
		ip, ok := addr(r.str("BGP_NEIGHBOR"))
		if !ok {
			b.skip("BGP neighbor %q is not an IP address", r.str("BGP_NEIGHBOR"))
			continue
		}
		p := facts.BGPPeer{PeerIP: ip}
		if v, ok := asn(r.str("NEIGHBOR_AS")); ok {
			p.RemoteAS = v
		}
		if v, ok := asn(r.str("LOCAL_AS")); ok {
			p.LocalAS = v
		}
		family := facts.FamilyIPv4Unicast
		if f := r.str("ADDRESS_FAMILY"); f != "" {
			family = f
		}
		applyBGPState(b, &p, family, r.str("STATE_OR_PREFIXES_RECEIVED"))
		b.dev.BGPPeers = append(b.dev.BGPPeers, p)
	}
	return nil
}

// applyBGPState reads a summary's State/PfxRcd column: a count means the
// session is established with that many prefixes received; otherwise it
// is the state ("Idle (Admin)" is idle, shut down by configuration).
func applyBGPState(b *builder, p *facts.BGPPeer, family, s string) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		p.State = "established"
		p.AFISafi = []facts.AFISafi{{Name: family, PrefixesReceived: int64p(n)}}
		return
	}
	state, _, _ := strings.Cut(s, " ")
	switch strings.ToLower(state) {
	case "idle", "active", "connect", "opensent", "openconfirm":
		p.State = strings.ToLower(state)
	default:
		b.skip("BGP neighbor %s: unknown state %q", p.PeerIP, s)
	}
	p.AFISafi = []facts.AFISafi{{Name: family}}
}
