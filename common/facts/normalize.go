package facts

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// MaxProblems bounds how many problems one validation reports; the rest
// are counted, not listed, so a hopeless document cannot flood a response.
const MaxProblems = 50

// Problem is one thing wrong with a document, at a JSON path such as
// devices[3].interfaces[0].ips[1].
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error lists the problems found in a document: at most MaxProblems of
// them, and how many more there were.
type Error struct {
	Problems []Problem
	More     int
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, " (and %d more problems)", e.More)
	}
	return b.String()
}

// problems collects Problems up to MaxProblems.
type problems struct {
	list []Problem
	more int
}

func (ps *problems) add(path, msg string) {
	if len(ps.list) >= MaxProblems {
		ps.more++
		return
	}
	ps.list = append(ps.list, Problem{Path: path, Message: msg})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: ps.list, More: ps.more}
}

// at builds a path from field names and indexes: at("devices", 3,
// "interfaces", 0) is "devices[3].interfaces[0]". It is only called when a
// problem is reported, so the happy path builds no strings.
func at(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(v))
			b.WriteByte(']')
		case string:
			if v == "" {
				continue
			}
			if b.Len() > 0 && v[0] != '[' {
				b.WriteByte('.')
			}
			b.WriteString(v)
		}
	}
	return b.String()
}

// Limits on free-text fields, generous for real devices and small enough
// that a hostile document cannot make every row enormous.
const (
	maxNameLen = 255
	maxTextLen = 4096
	maxVLAN    = 4094
	maxMTU     = 1 << 20 // Junos loopbacks report 65536; leave room above
	maxASN     = 1<<32 - 1
)

// Normalize validates doc and rewrites it into canonical form, in place:
// MACs lower-case colon-separated, IP addresses and prefixes canonical
// (IPv4-mapped IPv6 unmapped; interface IPs keep their host bits, network
// prefixes lose them), enums lower-case with common aliases folded
// (allow/accept → permit), trunk VLAN lists sorted without duplicates,
// firewall rules sorted by rule_order and zone bindings filled in on both
// the zone and the interface. It reports every problem it finds (up to
// MaxProblems) as an *Error whose paths name the JSON location; on error
// the document may be partly rewritten and must not be used.
//
// References are checked where a fact means nothing without its target: a
// neighbor's local interface must be one of the device's interfaces, and
// object groups and rules must name objects that exist (or literals). ARP
// and MAC-table entries, zone bindings and rule zones may name interfaces
// and zones the document does not list, because every list may be absent
// and collectors often report part of a device; a zone named only on an
// interface is added to firewall.zones.
//
// Normalize is idempotent: a normalized document normalizes to itself.
func Normalize(doc *Document) error {
	var ps problems
	if doc == nil {
		ps.add("", "no document")
		return ps.err()
	}
	switch doc.Schema {
	case Schema:
	case "":
		ps.add("schema", "required (want "+Schema+")")
	default:
		ps.add("schema", fmt.Sprintf("unsupported schema %q (want %s)", clip(doc.Schema), Schema))
	}
	seen := make(map[string]int, len(doc.Devices))
	for i := range doc.Devices {
		d := &doc.Devices[i]
		normDevice(&ps, i, d)
		if d.Hostname == "" {
			continue
		}
		if first, dup := seen[d.Hostname]; dup {
			ps.add(at("devices", i, "hostname"), fmt.Sprintf("duplicate hostname %q (first at devices[%d])", clip(d.Hostname), first))
			continue
		}
		seen[d.Hostname] = i
	}
	return ps.err()
}

// NormalizeDevice validates and canonicalises one device, as Normalize does
// for each device of a document; paths start at "devices[i]" with the
// index given.
func NormalizeDevice(i int, d *Device) error {
	var ps problems
	normDevice(&ps, i, d)
	return ps.err()
}

// clip shortens user text quoted back in a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// checkName checks a name-like field; the path is given as at's parts and
// only built when there is a problem.
func checkName(ps *problems, s string, required bool, path ...any) {
	var msg string
	switch {
	case s == "":
		if !required {
			return
		}
		msg = "required"
	case len(s) > maxNameLen:
		msg = fmt.Sprintf("longer than %d bytes", maxNameLen)
	case strings.TrimSpace(s) != s:
		msg = "leading or trailing white space"
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		msg = "contains control characters"
	default:
		return
	}
	ps.add(at(path...), msg)
}

func checkText(ps *problems, s string, path ...any) {
	if len(s) > maxTextLen {
		ps.add(at(path...), fmt.Sprintf("longer than %d bytes", maxTextLen))
	}
}

func normDevice(ps *problems, i int, d *Device) {
	dp := "devices[" + strconv.Itoa(i) + "]"
	checkName(ps, d.Hostname, true, dp+".hostname")
	if d.MgmtIP != "" {
		if a, err := ParseAddr(d.MgmtIP); err != nil {
			ps.add(dp+".mgmt_ip", err.Error())
		} else {
			d.MgmtIP = canonAddr(d.MgmtIP, a)
		}
	}
	checkName(ps, d.Vendor, false, dp+".vendor")
	checkName(ps, d.OS, false, dp+".os")
	checkName(ps, d.Model, false, dp+".model")
	checkName(ps, d.Serial, false, dp+".serial")
	checkName(ps, d.Version, false, dp+".version")
	checkName(ps, d.Role, false, dp+".role")
	checkName(ps, d.Site, false, dp+".site")
	for k := range d.Metadata {
		if k == "" {
			ps.add(dp+".metadata", "empty key")
		} else if len(k) > maxNameLen {
			ps.add(at(dp, "metadata", clip(k)), fmt.Sprintf("key longer than %d bytes", maxNameLen))
		}
	}

	ifaces := make(map[string]int, len(d.Interfaces))
	for j := range d.Interfaces {
		ifc := &d.Interfaces[j]
		normInterface(ps, dp, j, ifc)
		if ifc.Name == "" {
			continue
		}
		if first, dup := ifaces[ifc.Name]; dup {
			ps.add(at(dp, "interfaces", j, "name"), fmt.Sprintf("duplicate interface %q (first at interfaces[%d])", clip(ifc.Name), first))
			continue
		}
		ifaces[ifc.Name] = j
	}
	mustExist := func(name string, required bool, path ...any) {
		if name == "" {
			if required {
				ps.add(at(path...), "required")
			}
			return
		}
		if _, ok := ifaces[name]; !ok {
			ps.add(at(path...), fmt.Sprintf("no interface %q on this device", clip(name)))
		}
	}

	vlans := make(map[int]int, len(d.VLANs))
	for j := range d.VLANs {
		v := &d.VLANs[j]
		if v.ID < 1 || v.ID > maxVLAN {
			ps.add(at(dp, "vlans", j, "id"), "not a VLAN id (want 1-4094)")
		} else if first, dup := vlans[v.ID]; dup {
			ps.add(at(dp, "vlans", j, "id"), fmt.Sprintf("duplicate VLAN %d (first at vlans[%d])", v.ID, first))
		} else {
			vlans[v.ID] = j
		}
		checkName(ps, v.Name, false, dp, "vlans", j, "name")
	}

	for j := range d.Neighbors {
		n := &d.Neighbors[j]
		mustExist(n.LocalInterface, true, dp, "neighbors", j, "local_interface")
		checkName(ps, n.RemoteHostname, true, dp, "neighbors", j, "remote_hostname")
		checkName(ps, n.RemoteInterface, false, dp, "neighbors", j, "remote_interface")
		if n.Protocol != "" {
			p := strings.ToLower(n.Protocol)
			switch p {
			case "lldp", "cdp", "fdp", "edp", "ndp", "static":
				n.Protocol = p
			default:
				ps.add(at(dp, "neighbors", j, "protocol"), fmt.Sprintf("unknown protocol %q (want lldp, cdp, fdp, edp, ndp or static)", clip(n.Protocol)))
			}
		}
	}

	for j := range d.ARP {
		normARP(ps, dp, j, &d.ARP[j])
	}

	for j := range d.MACTable {
		e := &d.MACTable[j]
		normMAC(ps, &e.MAC, dp, "mac_table", j)
		if e.VLAN < 0 || e.VLAN > maxVLAN {
			ps.add(at(dp, "mac_table", j, "vlan"), "not a VLAN id (want 1-4094)")
		}
		checkName(ps, e.Interface, true, dp, "mac_table", j, "interface")
		normMACFlags(ps, dp, j, e)
		if e.RemoteVTEP != "" {
			if a, err := ParseAddr(e.RemoteVTEP); err != nil {
				ps.add(at(dp, "mac_table", j, "remote_vtep"), err.Error())
			} else {
				e.RemoteVTEP = canonAddr(e.RemoteVTEP, a)
			}
		}
	}

	for j := range d.Routes {
		normRoute(ps, dp, j, &d.Routes[j])
	}

	for j := range d.BGPPeers {
		b := &d.BGPPeers[j]
		checkName(ps, b.PeerInterface, false, dp, "bgp_peers", j, "peer_interface")
		if b.PeerIP == "" {
			if b.PeerInterface == "" {
				ps.add(at(dp, "bgp_peers", j, "peer_ip"), "required (or peer_interface, for an unnumbered session)")
			}
		} else if a, err := ParseAddr(b.PeerIP); err != nil {
			ps.add(at(dp, "bgp_peers", j, "peer_ip"), err.Error())
		} else {
			b.PeerIP = canonAddr(b.PeerIP, a)
		}
		if b.RemoteAS < 0 || b.RemoteAS > maxASN {
			ps.add(at(dp, "bgp_peers", j, "remote_as"), "not an AS number (want 0-4294967295)")
		}
		if b.LocalAS < 0 || b.LocalAS > maxASN {
			ps.add(at(dp, "bgp_peers", j, "local_as"), "not an AS number (want 0-4294967295)")
		}
		normBGPState(ps, &b.State, dp, "bgp_peers", j, "state")
		checkName(ps, b.VRF, false, dp, "bgp_peers", j, "vrf")
		families := make(map[string]int, len(b.AFISafi))
		for k := range b.AFISafi {
			f := &b.AFISafi[k]
			if f.Name == "" {
				ps.add(at(dp, "bgp_peers", j, "afi_safi", k, "name"), "required")
			} else if n, ok := canonFamily(f.Name); !ok {
				ps.add(at(dp, "bgp_peers", j, "afi_safi", k, "name"), fmt.Sprintf("not an address family %q (want ipv4-unicast, ipv6-unicast, l2vpn-evpn, vpnv4-unicast, … : afi-safi in letters, digits and hyphens)", clip(f.Name)))
			} else if first, dup := families[n]; dup {
				ps.add(at(dp, "bgp_peers", j, "afi_safi", k, "name"), fmt.Sprintf("duplicate address family %q (first at afi_safi[%d])", n, first))
			} else {
				f.Name = n
				families[n] = k
			}
			normBGPState(ps, &f.State, dp, "bgp_peers", j, "afi_safi", k, "state")
			for _, c := range []struct {
				name string
				v    *int64
			}{{"prefixes_received", f.PrefixesReceived}, {"prefixes_accepted", f.PrefixesAccepted}, {"prefixes_sent", f.PrefixesSent}} {
				if c.v != nil && *c.v < 0 {
					ps.add(at(dp, "bgp_peers", j, "afi_safi", k, c.name), "negative")
				}
			}
		}
	}

	if d.VXLAN != nil {
		normVXLAN(ps, dp, d)
	}

	if d.Firewall != nil {
		normFirewall(ps, dp, d)
	}
}

// neighborStates maps accepted ARP/ND states, with the words Linux
// ("ip neigh"), Junos and IOS print, to the canonical state.
var neighborStates = map[string]string{
	NeighborReachable: NeighborReachable, "dynamic": NeighborReachable,
	NeighborStale: NeighborStale, NeighborDelay: NeighborDelay, NeighborProbe: NeighborProbe,
	NeighborIncomplete: NeighborIncomplete, "incmp": NeighborIncomplete,
	NeighborFailed: NeighborFailed, "unreachable": NeighborFailed,
	NeighborPermanent: NeighborPermanent, "static": NeighborPermanent, "noarp": NeighborPermanent,
}

func normARP(ps *problems, dp string, j int, e *ARPEntry) {
	if e.State != "" {
		if st, ok := neighborStates[strings.ToLower(e.State)]; ok {
			e.State = st
		} else {
			ps.add(at(dp, "arp", j, "state"), fmt.Sprintf("unknown neighbour state %q (want reachable, stale, delay, probe, incomplete, failed or permanent)", clip(e.State)))
		}
	}
	if e.IP == "" {
		ps.add(at(dp, "arp", j, "ip"), "required")
	} else {
		ip := e.IP
		// An IPv6 neighbour's link-local address comes with its zone
		// (fe80::1%Ethernet1): the zone is the interface.
		if addr, zone, ok := strings.Cut(ip, "%"); ok && zone != "" && strings.Contains(addr, ":") {
			ip = addr
			if e.Interface == "" {
				e.Interface = zone
			}
		}
		if a, err := ParseAddr(ip); err != nil {
			ps.add(at(dp, "arp", j, "ip"), err.Error())
		} else {
			e.IP = canonAddr(ip, a)
		}
	}
	// An incomplete or failed resolution has no MAC to give.
	if e.MAC != "" || (e.State != NeighborIncomplete && e.State != NeighborFailed) {
		normMAC(ps, &e.MAC, dp, "arp", j)
	}
	checkName(ps, e.Interface, false, dp, "arp", j, "interface")
	checkName(ps, e.VRF, false, dp, "arp", j, "vrf")
}

// macFlags maps accepted MAC-table flags, with the vendors' words, to the
// canonical flag. "dynamic" is what every learned entry is: no flag.
var macFlags = map[string]string{
	MACStatic: MACStatic, "configured": MACStatic, "sticky": MACStatic,
	MACRemote: MACRemote, "evpn": MACRemote, "vtep": MACRemote,
	MACRouter: MACRouter, "gateway": MACRouter, "self": MACRouter, "local": MACRouter,
	"dynamic": "", "learned": "",
}

func normMACFlags(ps *problems, dp string, j int, e *MACEntry) {
	if len(e.Flags) == 0 {
		return
	}
	out := e.Flags[:0]
	for k, f := range e.Flags {
		c, ok := macFlags[strings.ToLower(f)]
		if !ok {
			ps.add(at(dp, "mac_table", j, "flags", k), fmt.Sprintf("unknown MAC flag %q (want static, remote or router)", clip(f)))
			continue
		}
		if c != "" {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	e.Flags = slices.Compact(out)
	if len(e.Flags) == 0 {
		e.Flags = nil
	}
}

// routeActions maps accepted route actions, with the vendors' words, to
// the canonical action.
var routeActions = map[string]string{
	RouteForward: RouteForward, "unicast": RouteForward,
	RouteDrop: RouteDrop, "discard": RouteDrop, "blackhole": RouteDrop, "null": RouteDrop, "null0": RouteDrop,
	RouteReject: RouteReject, "unreachable": RouteReject, "prohibit": RouteReject,
	RouteLocal: RouteLocal, "receive": RouteLocal,
}

func normRoute(ps *problems, dp string, j int, r *Route) {
	if r.Prefix == "" {
		ps.add(at(dp, "routes", j, "prefix"), "required")
	} else if p, err := ParseNetwork(r.Prefix); err != nil {
		ps.add(at(dp, "routes", j, "prefix"), err.Error())
	} else {
		r.Prefix = canonPrefix(r.Prefix, p)
	}
	if r.NextHop != "" {
		if a, err := ParseAddr(r.NextHop); err != nil {
			ps.add(at(dp, "routes", j, "next_hop"), err.Error())
		} else {
			r.NextHop = canonAddr(r.NextHop, a)
		}
	}
	if len(r.NextHops) > 0 {
		for _, f := range []struct{ name, v string }{{"next_hop", r.NextHop}, {"interface", r.Interface}, {"next_hop_vrf", r.NextHopVRF}} {
			if f.v != "" {
				ps.add(at(dp, "routes", j, f.name), "given with next_hops: give the next hops either as next_hops or as next_hop, interface and next_hop_vrf")
			}
		}
	}
	for k := range r.NextHops {
		h := &r.NextHops[k]
		if h.IP == "" && h.Interface == "" {
			ps.add(at(dp, "routes", j, "next_hops", k), "neither ip nor interface")
		}
		if h.IP != "" {
			if a, err := ParseAddr(h.IP); err != nil {
				ps.add(at(dp, "routes", j, "next_hops", k, "ip"), err.Error())
			} else {
				h.IP = canonAddr(h.IP, a)
			}
		}
		checkName(ps, h.Interface, false, dp, "routes", j, "next_hops", k, "interface")
		checkName(ps, h.VRF, false, dp, "routes", j, "next_hops", k, "vrf")
		if h.VNI < 0 || h.VNI > MaxVNI {
			ps.add(at(dp, "routes", j, "next_hops", k, "vni"), "not a VNI (want 1-16777215)")
		}
		if h.Weight < 0 {
			ps.add(at(dp, "routes", j, "next_hops", k, "weight"), "negative")
		}
	}
	// Route interfaces are not checked against the interface list:
	// discard routes name Null0 and the like, which collectors do not
	// list as interfaces.
	checkName(ps, r.Interface, false, dp, "routes", j, "interface")
	checkName(ps, r.VRF, false, dp, "routes", j, "vrf")
	checkName(ps, r.NextHopVRF, false, dp, "routes", j, "next_hop_vrf")
	r.Protocol = strings.ToLower(r.Protocol)
	checkName(ps, r.Protocol, false, dp, "routes", j, "protocol")
	if r.Metric < 0 {
		ps.add(at(dp, "routes", j, "metric"), "negative")
	}
	if r.AdminDistance != nil && (*r.AdminDistance < 0 || *r.AdminDistance > 255) {
		ps.add(at(dp, "routes", j, "admin_distance"), "not an administrative distance (want 0-255)")
	}
	if r.Action != "" {
		if a, ok := routeActions[strings.ToLower(r.Action)]; ok {
			r.Action = a
		} else {
			ps.add(at(dp, "routes", j, "action"), fmt.Sprintf("unknown route action %q (want forward, drop, reject or local)", clip(r.Action)))
		}
	}
}

// bgpStates are the session states, with the abbreviations EOS and
// NX-OS print ("Estab", "OpenSent").
var bgpStates = map[string]string{
	"idle": "idle", "connect": "connect", "active": "active", "opensent": "opensent", "openconfirm": "openconfirm",
	"established": "established", "estab": "established", "down": "down",
}

// normBGPState canonicalises a session's or a family's state.
func normBGPState(ps *problems, state *string, path ...any) {
	if *state == "" {
		return
	}
	s := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == ' ' {
			return -1
		}
		return unicode.ToLower(r)
	}, *state)
	if c, ok := bgpStates[s]; ok {
		*state = c
		return
	}
	ps.add(at(path...), fmt.Sprintf("unknown BGP state %q (want idle, connect, active, opensent, openconfirm, established or down)", clip(*state)))
}

// familyAliases are the vendors' names of the common address families
// (Junos "inet-unicast", "evpn"; IOS "ipv4 unicast"; "l2vpn evpn").
var familyAliases = map[string]string{
	"ipv4": FamilyIPv4Unicast, "inet": FamilyIPv4Unicast, "inet-unicast": FamilyIPv4Unicast,
	"ipv6": FamilyIPv6Unicast, "inet6": FamilyIPv6Unicast, "inet6-unicast": FamilyIPv6Unicast,
	"evpn": FamilyL2VPNEVPN, "l2vpn-evpn": FamilyL2VPNEVPN,
	"vpnv4": FamilyVPNv4, "inet-vpn": FamilyVPNv4, "inet-vpn-unicast": FamilyVPNv4, "vpnv4-unicast": FamilyVPNv4,
	"vpnv6": FamilyVPNv6, "inet6-vpn": FamilyVPNv6, "inet6-vpn-unicast": FamilyVPNv6, "vpnv6-unicast": FamilyVPNv6,
}

// canonFamily writes an address family in lower case with hyphens
// ("IPv4 Unicast" → ipv4-unicast), aliases folded.
func canonFamily(s string) (string, bool) {
	n := strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '_' || r == '/':
			return '-'
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, strings.TrimSpace(s))
	if a, ok := familyAliases[n]; ok {
		return a, true
	}
	if n == "" || len(n) > 64 || strings.ContainsFunc(n, func(r rune) bool { return !(r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
		return "", false
	}
	return n, true
}

func normVXLAN(ps *problems, dp string, d *Device) {
	x := d.VXLAN
	checkName(ps, x.SourceInterface, false, dp, "vxlan", "source_interface")
	if x.SourceIP != "" {
		if a, err := ParseAddr(x.SourceIP); err != nil {
			ps.add(at(dp, "vxlan", "source_ip"), err.Error())
		} else {
			x.SourceIP = canonAddr(x.SourceIP, a)
		}
	}
	vnis := make(map[int]int, len(x.VNIs))
	byVLAN := make(map[int]int, len(x.VNIs))
	for k := range x.VNIs {
		v := &x.VNIs[k]
		if v.VNI < 1 || v.VNI > MaxVNI {
			ps.add(at(dp, "vxlan", "vnis", k, "vni"), "not a VNI (want 1-16777215)")
		} else if first, dup := vnis[v.VNI]; dup {
			ps.add(at(dp, "vxlan", "vnis", k, "vni"), fmt.Sprintf("duplicate VNI %d (first at vnis[%d])", v.VNI, first))
		} else {
			vnis[v.VNI] = k
		}
		if v.VLAN < 0 || v.VLAN > maxVLAN {
			ps.add(at(dp, "vxlan", "vnis", k, "vlan"), "not a VLAN id (want 1-4094)")
		} else if v.VLAN > 0 {
			if first, dup := byVLAN[v.VLAN]; dup {
				ps.add(at(dp, "vxlan", "vnis", k, "vlan"), fmt.Sprintf("VLAN %d is mapped to another VNI already (vnis[%d])", v.VLAN, first))
			} else {
				byVLAN[v.VLAN] = k
			}
		}
		checkName(ps, v.VRF, false, dp, "vxlan", "vnis", k, "vrf")
		if v.VLAN == 0 && v.VRF == "" {
			ps.add(at(dp, "vxlan", "vnis", k), "maps the VNI to neither a vlan nor a vrf")
		}
	}
}

// normMAC is shared by ARP and MAC-table entries.
func normMAC(ps *problems, mac *string, dp, list string, j int) {
	if *mac == "" {
		ps.add(at(dp, list, j, "mac"), "required")
		return
	}
	m, ok := CanonicalMAC(*mac)
	if !ok {
		ps.add(at(dp, list, j, "mac"), "not a MAC address")
		return
	}
	*mac = m
}

// addressRoles maps accepted roles, with the protocols that make them, to
// the canonical role.
var addressRoles = map[string]string{
	RolePrimary: RolePrimary, RoleSecondary: RoleSecondary,
	RoleVirtual: RoleVirtual, "vrrp": RoleVirtual, "hsrp": RoleVirtual, "carp": RoleVirtual, "glbp": RoleVirtual, "varp": RoleVirtual,
	RoleAnycast: RoleAnycast, "anycast-gateway": RoleAnycast,
}

// normAddresses canonicalises an interface's addresses with roles and adds
// each to ips where it is not there yet, so that every reader of ips sees
// every address.
func normAddresses(ps *problems, dp string, j int, ifc *Interface) {
	for k := range ifc.Addresses {
		a := &ifc.Addresses[k]
		path := func(f string) string { return at(dp, "interfaces", j, "addresses", k, f) }
		if a.Role != "" {
			if r, ok := addressRoles[strings.ToLower(a.Role)]; ok {
				a.Role = r
			} else {
				ps.add(path("role"), fmt.Sprintf("unknown address role %q (want primary, secondary, virtual or anycast)", clip(a.Role)))
			}
		}
		if a.IP == "" {
			ps.add(path("ip"), "required")
			continue
		}
		p, err := ParseInterfaceIP(a.IP)
		if err != nil {
			bare, aerr := ParseAddr(a.IP)
			if aerr != nil {
				ps.add(path("ip"), "not an IP address or prefix (want addr/len or addr)")
				continue
			}
			p = netip.PrefixFrom(bare, bare.BitLen())
			for _, s := range ifc.IPs {
				if q, err := netip.ParsePrefix(s); err == nil && !q.IsSingleIP() && q.Contains(bare) {
					p = netip.PrefixFrom(bare, q.Bits())
					break
				}
			}
		}
		if p.Addr().IsUnspecified() || p.Bits() == 0 {
			ps.add(path("ip"), "not an interface address (unspecified address or zero-length prefix; leave it out)")
			continue
		}
		a.IP = canonPrefix(a.IP, p)
		if !slices.ContainsFunc(ifc.IPs, func(s string) bool {
			q, err := netip.ParsePrefix(s)
			return err == nil && q.Addr() == p.Addr()
		}) {
			ifc.IPs = append(ifc.IPs, a.IP)
		}
	}
}

// interfaceTypes maps accepted type names, with the vendors' own words
// for them, to the canonical type.
var interfaceTypes = map[string]string{
	TypePhysical: TypePhysical, "ethernet": TypePhysical,
	TypeLAG: TypeLAG, "port-channel": TypeLAG, "aggregate": TypeLAG, "bond": TypeLAG,
	TypeLoopback: TypeLoopback,
	TypeVLAN:     TypeVLAN, "svi": TypeVLAN, "irb": TypeVLAN,
	TypeTunnel: TypeTunnel,
	TypeVXLAN:  TypeVXLAN, "nve": TypeVXLAN,
	TypeSubinterface: TypeSubinterface, "sub-interface": TypeSubinterface,
	TypeMgmt: TypeMgmt, "management": TypeMgmt,
	TypeVirtual: TypeVirtual,
}

func normInterface(ps *problems, dp string, j int, ifc *Interface) {
	checkName(ps, ifc.Name, true, dp, "interfaces", j, "name")
	checkText(ps, ifc.Description, dp, "interfaces", j, "description")
	if ifc.Type != "" {
		if t, ok := interfaceTypes[strings.ToLower(ifc.Type)]; ok {
			ifc.Type = t
		} else {
			ps.add(at(dp, "interfaces", j, "type"), fmt.Sprintf("unknown interface type %q (want physical, lag, loopback, vlan, tunnel, vxlan, subinterface, mgmt or virtual)", clip(ifc.Type)))
		}
	}
	checkName(ps, ifc.LAG, false, dp, "interfaces", j, "lag")
	if ifc.LAG != "" && ifc.LAG == ifc.Name {
		ps.add(at(dp, "interfaces", j, "lag"), "names the interface itself")
	}
	if ifc.MAC != "" {
		if m, ok := CanonicalMAC(ifc.MAC); ok {
			ifc.MAC = m
		} else {
			ps.add(at(dp, "interfaces", j, "mac"), "not a MAC address")
		}
	}
	if ifc.IfIndex < 0 {
		ps.add(at(dp, "interfaces", j, "ifindex"), "negative")
	}
	if ifc.SpeedMbps < 0 {
		ps.add(at(dp, "interfaces", j, "speed_mbps"), "negative")
	}
	if ifc.MTU < 0 || ifc.MTU > maxMTU {
		ps.add(at(dp, "interfaces", j, "mtu"), "not an MTU (want 0-1048576)")
	}
	if ifc.Mode != "" {
		m := strings.ToLower(ifc.Mode)
		switch m {
		case ModeAccess, ModeTrunk, ModeRouted:
			ifc.Mode = m
		default:
			ps.add(at(dp, "interfaces", j, "mode"), fmt.Sprintf("unknown mode %q (want access, trunk or routed)", clip(ifc.Mode)))
		}
	}
	if ifc.AccessVLAN < 0 || ifc.AccessVLAN > maxVLAN {
		ps.add(at(dp, "interfaces", j, "access_vlan"), "not a VLAN id (want 1-4094, or 0 for none)")
	}
	for k, v := range ifc.TrunkVLANs {
		if v < 1 || v > maxVLAN {
			ps.add(at(dp, "interfaces", j, "trunk_vlans", k), "not a VLAN id (want 1-4094)")
		}
	}
	if !slices.IsSorted(ifc.TrunkVLANs) {
		slices.Sort(ifc.TrunkVLANs)
	}
	ifc.TrunkVLANs = slices.Compact(ifc.TrunkVLANs)
	checkName(ps, ifc.VRF, false, dp, "interfaces", j, "vrf")
	checkName(ps, ifc.Zone, false, dp, "interfaces", j, "zone")
	for k, s := range ifc.IPs {
		p, err := ParseInterfaceIP(s)
		if err != nil {
			ps.add(at(dp, "interfaces", j, "ips", k), err.Error())
			continue
		}
		if p.Addr().IsUnspecified() || p.Bits() == 0 {
			// 0.0.0.0/0 or ::/0 is what collectors print for "no address";
			// taken as an address it makes a subnet of everything.
			ps.add(at(dp, "interfaces", j, "ips", k), "not an interface address (unspecified address or zero-length prefix; leave it out)")
			continue
		}
		ifc.IPs[k] = canonPrefix(s, p)
	}
	normAddresses(ps, dp, j, ifc)
	// The same address listed twice on one interface is one address.
	if len(ifc.IPs) > 1 {
		seen := make(map[string]bool, len(ifc.IPs))
		ifc.IPs = slices.DeleteFunc(ifc.IPs, func(s string) bool {
			dup := seen[s]
			seen[s] = true
			return dup
		})
	}
}
