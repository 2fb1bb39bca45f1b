package parse

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Juniper Junos: `show … | display json`, read through jnode, which also
// reads the same output as XML (`| display xml`, NETCONF replies).
var junosParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    junosVersion,
	platform.KindInterfaces: junosInterfaces,
	platform.KindARP:        junosARP,
	platform.KindND:         junosND,
	platform.KindVLANs:      junosVLANs,
	platform.KindMAC:        junosMAC,
	platform.KindLLDP:       junosLLDP,
	platform.KindRoutes:     junosRoutes,
	platform.KindBGP:        junosBGP,
	platform.KindFWServices: srxConfig,
	platform.KindFirewall:   srxConfig,
}

func junosVersion(b *builder, data []byte) error {
	root, err := readJunos(data, "show version", "")
	if err != nil {
		return err
	}
	sw := root.one("software-information")
	if sw == nil {
		// A chassis with two routing engines answers per engine; the
		// first is the one the session is on.
		sw = root.at("multi-routing-engine-results", "multi-routing-engine-item", "software-information")
	}
	if sw == nil {
		return errWrongCommand("show version", "software-information")
	}
	b.dev.Model = sw.str("product-model")
	b.dev.Version = sw.str("junos-version")
	if b.dev.Version == "" {
		// Releases before 15.1 name the version only in the package list:
		// "JUNOS Base OS boot [12.3R6.6]".
		for _, p := range sw.all("package-information") {
			c := p.str("comment")
			if i, j := strings.IndexByte(c, '['), strings.LastIndexByte(c, ']'); strings.HasPrefix(c, "JUNOS") && i >= 0 && j > i {
				b.dev.Version = c[i+1 : j]
				break
			}
		}
	}
	return nil
}

// junosType gives the facts type of a Junos interface by its name: the
// name, not the hardware, says what a Junos port is.
func junosType(name string) string {
	base, _, _ := strings.Cut(name, ".")
	switch {
	case strings.HasPrefix(base, "ae") || strings.HasPrefix(base, "reth"):
		return facts.TypeLAG
	case base == "lo0":
		return facts.TypeLoopback
	case base == "irb" || base == "vlan":
		return facts.TypeVLAN
	case base == "fxp0" || base == "em0" || base == "me0" || base == "vme":
		return facts.TypeMgmt
	case base == "vtep":
		return facts.TypeVXLAN
	case strings.HasPrefix(base, "gr-") || strings.HasPrefix(base, "ip-") || strings.HasPrefix(base, "st0") || base == "gre" || base == "ipip":
		return facts.TypeTunnel
	case strings.HasPrefix(base, "ge-") || strings.HasPrefix(base, "xe-") || strings.HasPrefix(base, "et-") || strings.HasPrefix(base, "fe-") ||
		strings.HasPrefix(base, "mge-"):
		return facts.TypePhysical
	}
	return ""
}

// junosSpeed reads "1000mbps", "10Gbps"; "Unlimited" and "Auto" are no
// speed.
func junosSpeed(s string) (int64, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "gbps"):
		s, mult = strings.TrimSuffix(s, "gbps"), 1000
	case strings.HasSuffix(s, "mbps"):
		s = strings.TrimSuffix(s, "mbps")
	default:
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v * mult, true
}

// junosMTU reads an MTU; "Unlimited" and "Not-Applicable" are none.
func junosMTU(s string) (int, bool) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	return v, err == nil && v > 0
}

func junosInterfaces(b *builder, data []byte) error {
	root, err := readJunos(data, "show interfaces", "interface-information")
	if err != nil {
		return err
	}
	for _, info := range root.all("interface-information") {
		for _, p := range info.all("physical-interface") {
			name := p.str("name")
			if name == "" {
				b.skip("a physical interface without a name")
				continue
			}
			ifc := b.iface(name)
			ifc.Type = junosType(name)
			ifc.Description = p.str("description")
			if s := p.str("admin-status"); s != "" {
				ifc.AdminUp = boolp(s == "up")
			}
			if s := p.str("oper-status"); s != "" {
				ifc.OperUp = boolp(s == "up")
			}
			if v, ok := junosMTU(p.str("mtu")); ok {
				ifc.MTU = v
			}
			if v, ok := junosSpeed(p.str("speed")); ok {
				ifc.SpeedMbps = v
			}
			if v, err := strconv.Atoi(p.str("snmp-index")); err == nil && v > 0 {
				ifc.IfIndex = v
			}
			if m := p.str("current-physical-address"); m != "" {
				if mac, ok := facts.CanonicalMAC(m); ok {
					ifc.MAC = mac
				} else {
					b.skip("interface %s: current-physical-address %q is not a MAC address", name, m)
				}
			}
			for _, l := range p.all("logical-interface") {
				junosUnit(b, name, l)
			}
		}
	}
	return nil
}

// junosUnit reads one logical interface (unit): its addresses, state, a
// LAG member's bundle and an SRX's zone.
func junosUnit(b *builder, parent string, l *jnode) {
	name := l.str("name")
	if name == "" {
		b.skip("interface %s: a logical interface without a name", parent)
		return
	}
	// A LAG member's unit carries the aenet family naming the bundle's
	// unit ("ae0.0"; an SRX writes "reth1.0   Link Index: 0"): the member
	// is the physical port, the bundle its physical name.
	for _, af := range l.all("address-family") {
		if af.str("address-family-name") != "aenet" {
			continue
		}
		bundle, _, _ := strings.Cut(strings.Fields(af.str("ae-bundle-name") + " ")[0], ".")
		if bundle != "" {
			b.iface(parent).LAG = bundle
		}
	}
	ifc := b.iface(name)
	ifc.Type = junosType(name)
	if ifc.Type == "" || ifc.Type == facts.TypePhysical || ifc.Type == facts.TypeLAG {
		ifc.Type = facts.TypeSubinterface
	}
	ifc.Description = l.str("description")
	if flags := l.one("if-config-flags"); flags != nil {
		switch {
		case flags.has("iff-up"):
			ifc.OperUp = boolp(true)
		case flags.has("iff-down") || flags.has("iff-device-down"):
			ifc.OperUp = boolp(false)
		}
	}
	if z := l.str("logical-interface-zone-name"); z != "" && z != "Null" {
		ifc.Zone = z
	}
	for _, af := range l.all("address-family") {
		fam := af.str("address-family-name")
		if fam != "inet" && fam != "inet6" {
			continue
		}
		if v, ok := junosMTU(af.str("mtu")); ok && ifc.MTU == 0 {
			ifc.MTU = v
		}
		for _, a := range af.all("interface-address") {
			local := a.str("ifa-local")
			if local == "" {
				continue
			}
			p, ok := junosIfAddr(local, a.str("ifa-destination"), fam == "inet6")
			if !ok {
				b.skip("interface %s: address %s (destination %q) is not an interface address", name, local, a.str("ifa-destination"))
				continue
			}
			addIP(ifc, p)
		}
	}
}

// junosIfAddr joins ifa-local and the length of ifa-destination, which
// Junos writes shortened ("10.100.1/24", "10/8"); a unit without a
// destination (a loopback) has a host address.
func junosIfAddr(local, dest string, v6 bool) (netip.Prefix, bool) {
	bits := 32
	if v6 {
		bits = 128
	}
	if dest != "" {
		_, l, ok := strings.Cut(dest, "/")
		if !ok {
			return netip.Prefix{}, false
		}
		n, err := strconv.Atoi(l)
		if err != nil {
			return netip.Prefix{}, false
		}
		bits = n
	}
	a, err := facts.ParseAddr(local)
	if err != nil || a.Is6() != v6 {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(a, bits)
	return p, p.IsValid()
}

// junosIfName is a table's interface, without the layer-2 port an IRB
// entry adds ("irb.100 [ge-0/0/1.0]").
func junosIfName(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), " ")
	return s
}

func junosARP(b *builder, data []byte) error {
	root, err := readJunos(data, "show arp", "arp-table-information")
	if err != nil {
		return err
	}
	for _, t := range root.all("arp-table-information") {
		for k, e := range t.all("arp-table-entry") {
			ip := e.str("ip-address")
			a, err := facts.ParseAddr(ip)
			if err != nil {
				b.skip("entry %d: ip-address %q is not an IP address", k, ip)
				continue
			}
			mac, ok := facts.CanonicalMAC(e.str("mac-address"))
			if !ok {
				b.skip("entry %s: mac-address %q is not a MAC address", ip, e.str("mac-address"))
				continue
			}
			ent := facts.ARPEntry{IP: a.String(), MAC: mac, Interface: junosIfName(e.str("interface-name"))}
			if f := e.one("arp-table-entry-flags"); f != nil && f.has("permanent") {
				ent.State = facts.NeighborPermanent
			}
			b.dev.ARP = append(b.dev.ARP, ent)
		}
	}
	return nil
}

// junosNDStates maps Junos ND states to the facts' states; "unreachable"
// is a resolution that failed.
var junosNDStates = map[string]string{
	"reachable": facts.NeighborReachable, "stale": facts.NeighborStale, "delay": facts.NeighborDelay,
	"probe": facts.NeighborProbe, "incomplete": facts.NeighborIncomplete, "unreachable": facts.NeighborFailed,
	"permanent": facts.NeighborPermanent,
}

func junosND(b *builder, data []byte) error {
	root, err := readJunos(data, "show ipv6 neighbors", "ipv6-nd-information")
	if err != nil {
		return err
	}
	for _, t := range root.all("ipv6-nd-information") {
		for k, e := range t.all("ipv6-nd-entry") {
			ip := e.str("ipv6-nd-neighbor-address")
			a, err := facts.ParseAddr(ip)
			if err != nil {
				b.skip("entry %d: ipv6-nd-neighbor-address %q is not an IP address", k, ip)
				continue
			}
			state, ok := junosNDStates[strings.ToLower(e.str("ipv6-nd-state"))]
			if !ok {
				b.skip("entry %s: unknown ipv6-nd-state %q", ip, e.str("ipv6-nd-state"))
				continue
			}
			ent := facts.ARPEntry{IP: a.String(), Interface: junosIfName(e.str("ipv6-nd-interface-name")), State: state}
			if l2 := e.str("ipv6-nd-neighbor-l2-address"); l2 != "" && l2 != "none" {
				mac, ok := facts.CanonicalMAC(l2)
				if !ok {
					b.skip("entry %s: ipv6-nd-neighbor-l2-address %q is not a MAC address", ip, l2)
					continue
				}
				ent.MAC = mac
			}
			if ent.MAC == "" && state != facts.NeighborIncomplete && state != facts.NeighborFailed {
				b.skip("entry %s: state %s without a MAC address", ip, state)
				continue
			}
			b.dev.ARP = append(b.dev.ARP, ent)
		}
	}
	return nil
}

func junosVLANs(b *builder, data []byte) error {
	root, err := readJunos(data, "show vlans", "vlan-information")
	if err != nil {
		return err
	}
	seen := map[int]bool{}
	for _, t := range root.all("vlan-information") {
		// ELS switches (l2ng) and the older EX/SRX form.
		type vl struct{ name, tag string }
		var list []vl
		for _, g := range t.all("l2ng-l2ald-vlan-instance-group") {
			list = append(list, vl{g.str("l2ng-l2rtb-vlan-name"), g.str("l2ng-l2rtb-vlan-tag")})
		}
		for _, g := range t.all("vlan") {
			list = append(list, vl{g.str("vlan-name"), g.str("vlan-tag")})
		}
		for _, v := range list {
			id, err := strconv.Atoi(v.tag)
			if err != nil || id < 1 || id > 4094 {
				b.skip("vlan %q: tag %q is not a VLAN id", v.name, v.tag)
				continue
			}
			if seen[id] {
				// One VLAN id in several routing instances (virtual
				// switches): the facts hold one VLAN list per device.
				b.skip("vlan %q: id %d is listed already (another routing instance)", v.name, id)
				continue
			}
			seen[id] = true
			b.dev.VLANs = append(b.dev.VLANs, facts.VLAN{ID: id, Name: v.name})
		}
	}
	sort.Slice(b.dev.VLANs, func(i, j int) bool { return b.dev.VLANs[i].ID < b.dev.VLANs[j].ID })
	return nil
}

func junosMAC(b *builder, data []byte) error {
	root, err := readJunos(data, "show ethernet-switching table", "l2ng-l2ald-rtb-macdb")
	if err != nil {
		return err
	}
	byName := map[string]int{}
	for _, v := range b.dev.VLANs {
		byName[v.Name] = v.ID
	}
	for _, db := range root.all("l2ng-l2ald-rtb-macdb") {
		for _, group := range db.all("l2ng-l2ald-mac-entry-vlan") {
			// The brief form lists l2ng-mac-entry rows per VLAN; the
			// extensive form is one entry per group.
			entries := group.all("l2ng-mac-entry")
			if len(entries) == 0 {
				entries = []*jnode{group}
			}
			for _, e := range entries {
				raw := e.str("l2ng-l2-mac-address")
				mac, ok := facts.CanonicalMAC(raw)
				if !ok {
					b.skip("entry %q: l2ng-l2-mac-address is not a MAC address", raw)
					continue
				}
				ifname := junosIfName(e.str("l2ng-l2-mac-logical-interface"))
				if ifname == "" {
					b.skip("entry %s: no interface", mac)
					continue
				}
				ent := facts.MACEntry{MAC: mac, Interface: ifname}
				vname := e.str("l2ng-l2-mac-vlan-name")
				if id, err := strconv.Atoi(e.str("l2ng-l2-vlan-id")); err == nil {
					ent.VLAN = id
				} else if id, ok := byName[vname]; ok {
					ent.VLAN = id
				}
				// Brief flags are letters (D dynamic, S static, R remote);
				// the extensive form spells them out.
				flags := e.str("l2ng-l2-mac-flags")
				ext := e.str("l2ng-l2-mac-entry-flags")
				if strings.Contains(flags, "S") || strings.Contains(ext, "static") {
					ent.Flags = append(ent.Flags, facts.MACStatic)
				}
				if strings.Contains(flags, "R") || strings.Contains(ext, "rcvd_from_remote") {
					ent.Flags = append(ent.Flags, facts.MACRemote)
				}
				if ent.VLAN < 0 || ent.VLAN > 4094 {
					b.skip("entry %s: vlan %d is not a VLAN", mac, ent.VLAN)
					continue
				}
				b.dev.MACTable = append(b.dev.MACTable, ent)
			}
		}
	}
	return nil
}

func junosLLDP(b *builder, data []byte) error {
	root, err := readJunos(data, "show lldp neighbors", "lldp-neighbors-information")
	if err != nil {
		return err
	}
	for _, t := range root.all("lldp-neighbors-information") {
		for _, n := range t.all("lldp-neighbor-information") {
			local := n.str("lldp-local-port-id")
			if local == "" {
				local = n.str("lldp-local-interface")
			}
			name := n.str("lldp-remote-system-name")
			switch {
			case local == "":
				b.skip("a neighbor without a local port")
				continue
			case name == "":
				b.skip("neighbor on %s: it sends no system name", local)
				continue
			}
			remote := ""
			// Only a port ID of subtype interface name names the remote
			// port; a MAC or a locally assigned number does not.
			if strings.EqualFold(n.str("lldp-remote-port-id-subtype"), "Interface name") {
				remote = n.str("lldp-remote-port-id")
			}
			b.iface(local)
			b.dev.Neighbors = append(b.dev.Neighbors, facts.Neighbor{LocalInterface: local, RemoteHostname: name, RemoteInterface: remote, Protocol: "lldp"})
		}
	}
	return nil
}

// junosTable splits a routing table name into its routing instance and
// whether it holds IP unicast routes: "inet.0" and "inet6.0" are the
// main instance's, "CUSTOMERS.inet.0" the instance CUSTOMERS'. Other
// tables (inet.3, mpls.0, bgp.l3vpn.0, iso.0) are not forwarding tables
// for IP.
func junosTable(table string) (vrf string, ok bool) {
	for _, suffix := range []string{"inet.0", "inet6.0"} {
		if table == suffix {
			return "default", true
		}
		if inst, found := strings.CutSuffix(table, "."+suffix); found && inst != "" {
			return inst, true
		}
	}
	return "", false
}

// junosProtocol names Junos route protocols as the other platforms do.
func junosProtocol(p string) string {
	switch l := strings.ToLower(p); l {
	case "direct":
		return "connected"
	case "ospf3":
		return "ospf"
	case "is-is":
		return "isis"
	default:
		return l
	}
}

func junosRoutes(b *builder, data []byte) error {
	root, err := readJunos(data, "show route", "route-information")
	if err != nil {
		return err
	}
	for _, info := range root.all("route-information") {
		for _, t := range info.all("route-table") {
			table := t.str("table-name")
			vrf, ok := junosTable(table)
			if !ok {
				continue
			}
			for _, rt := range t.all("rt") {
				junosRoute(b, table, vrf, rt)
			}
		}
	}
	return nil
}

func junosRoute(b *builder, table, vrf string, rt *jnode) {
	dest := rt.str("rt-destination")
	if !strings.Contains(dest, "/") && rt.str("rt-prefix-length") != "" {
		dest += "/" + rt.str("rt-prefix-length")
	}
	p, err := netip.ParsePrefix(dest)
	if err != nil {
		b.skip("table %s route %q: not a prefix", table, dest)
		return
	}
	for _, e := range rt.all("rt-entry") {
		// Only the active route forwards; the others are alternatives.
		if !strings.Contains(e.str("active-tag"), "*") && !e.has("current-active") {
			continue
		}
		fr := facts.Route{VRF: vrf, Prefix: p.Masked().String(), Protocol: junosProtocol(e.str("protocol-name"))}
		if v, err := strconv.Atoi(e.str("preference")); err == nil {
			fr.AdminDistance = intp(v)
		}
		if v, err := strconv.Atoi(e.str("metric")); err == nil {
			fr.Metric = v
		}
		switch nt := e.str("nh-type"); nt {
		case "", "Router", "Indirect", "Unicast":
		case "Discard":
			fr.Action = facts.RouteDrop
		case "Reject":
			fr.Action = facts.RouteReject
		case "Local", "Receive", "MultiRecv":
			fr.Action = facts.RouteLocal
		default:
			b.skip("table %s route %s: next-hop type %q is not one the facts can hold", table, p, nt)
			continue
		}
		var hops, selected []facts.NextHop
		bad := false
		for _, nh := range e.all("nh") {
			h := facts.NextHop{Interface: nh.str("via")}
			if h.Interface == "" {
				h.Interface = nh.str("nh-local-interface")
			}
			if to := nh.str("to"); to != "" {
				a, err := facts.ParseAddr(to)
				if err != nil {
					b.skip("table %s route %s: next hop %q is not an IP address", table, p, to)
					bad = true
					break
				}
				h.IP = a.String()
			}
			if h.IP == "" && h.Interface == "" {
				continue
			}
			hops = append(hops, h)
			if nh.has("selected-next-hop") {
				selected = append(selected, h)
			}
		}
		if bad {
			continue
		}
		// Without a load-balancing policy Junos forwards on the selected
		// next hop only; where it marks none, all of them are used.
		if len(selected) > 0 {
			hops = selected
		}
		if fr.Action == "" && len(hops) == 0 {
			b.skip("table %s route %s: no next hop and no action", table, p)
			continue
		}
		switch {
		case len(hops) == 1:
			fr.NextHop, fr.Interface = hops[0].IP, hops[0].Interface
		case len(hops) > 1:
			fr.NextHops = hops
		}
		// A connected or local route names the unit the instance owns.
		if (fr.Protocol == "connected" || fr.Protocol == "local") && fr.Interface != "" {
			if ifc := b.iface(fr.Interface); ifc.VRF == "" {
				ifc.VRF = vrf
			}
		}
		b.dev.Routes = append(b.dev.Routes, fr)
	}
}

// junosBGPFamily names the address family of the BGP tables whose prefix
// counts `show bgp neighbor` gives per peer.
func junosBGPFamily(rib, vrf string) (string, bool) {
	switch rib {
	case "bgp.l3vpn.0":
		return facts.FamilyVPNv4, true
	case "bgp.l3vpn-inet6.0":
		return facts.FamilyVPNv6, true
	case "bgp.evpn.0":
		return facts.FamilyL2VPNEVPN, true
	}
	if v, ok := junosTable(rib); ok && v == vrf {
		if strings.HasSuffix(rib, "inet6.0") {
			return facts.FamilyIPv6Unicast, true
		}
		return facts.FamilyIPv4Unicast, true
	}
	return "", false
}

func junosBGP(b *builder, data []byte) error {
	root, err := readJunos(data, "show bgp neighbor", "bgp-information")
	if err != nil {
		return err
	}
	for _, info := range root.all("bgp-information") {
		for _, p := range info.all("bgp-peer") {
			// "10.255.0.2+57412": the address and the TCP port.
			raw := p.str("peer-address")
			addr, _, _ := strings.Cut(raw, "+")
			a, err := facts.ParseAddr(addr)
			if err != nil {
				b.skip("peer %q: not an IP address", raw)
				continue
			}
			vrf := p.str("peer-cfg-rti")
			if vrf == "" || vrf == "master" {
				vrf = "default"
			}
			fp := facts.BGPPeer{PeerIP: a.String(), VRF: vrf, State: p.str("peer-state")}
			for _, f := range []struct {
				field string
				to    *int64
			}{{"peer-as", &fp.RemoteAS}, {"local-as", &fp.LocalAS}} {
				if s := p.str(f.field); s != "" {
					var n num
					if err := n.UnmarshalJSON([]byte(s)); err != nil {
						b.skip("peer %s: %s %q is not an AS number", a, f.field, s)
						continue
					}
					*f.to = n.v
				}
			}
			counts := map[string]*facts.AFISafi{}
			for _, rib := range p.all("bgp-rib") {
				fam, ok := junosBGPFamily(rib.str("name"), vrf)
				if !ok {
					continue
				}
				af := &facts.AFISafi{Name: fam}
				for _, c := range []struct {
					field string
					to    **int64
				}{{"received-prefix-count", &af.PrefixesReceived}, {"accepted-prefix-count", &af.PrefixesAccepted}, {"advertised-prefix-count", &af.PrefixesSent}} {
					if v, err := strconv.ParseInt(rib.str(c.field), 10, 64); err == nil {
						*c.to = int64p(v)
					}
				}
				counts[fam] = af
			}
			// The families the session negotiated, in the device's order.
			for _, fam := range strings.Fields(p.str("nlri-type-session")) {
				name, ok := junosFamilies[fam]
				if !ok {
					name = fam
				}
				af := facts.AFISafi{Name: name}
				if c, ok := counts[name]; ok {
					af = *c
				}
				fp.AFISafi = append(fp.AFISafi, af)
			}
			b.dev.BGPPeers = append(b.dev.BGPPeers, fp)
		}
	}
	return nil
}

// junosFamilies are Junos NLRI names of the common families.
var junosFamilies = map[string]string{
	"inet-unicast": facts.FamilyIPv4Unicast, "inet6-unicast": facts.FamilyIPv6Unicast,
	"inet-vpn-unicast": facts.FamilyVPNv4, "inet6-vpn-unicast": facts.FamilyVPNv6, "evpn": facts.FamilyL2VPNEVPN,
}
