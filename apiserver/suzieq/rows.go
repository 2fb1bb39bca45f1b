package suzieq

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// network is what a device's rows need to know of the others: who owns an
// address (a BGP peer's hostname) and each device's management address
// (an LLDP neighbour's mgmtIP).
type network struct {
	owner map[netip.Addr]string
	mgmt  map[string]string
	ports map[string]*ports
}

// ports resolves a device's port names as other tables spell them (Po11,
// Gi1/0/5, Et1) to its interfaces' full names, as SuzieQ's poller does.
type ports struct {
	names []string
	exact map[string]bool
}

func (p *ports) resolve(name string) string {
	if p == nil || name == "" || p.exact[name] {
		return name
	}
	found := ""
	for _, n := range p.names {
		if graph.SameIfName(n, name) {
			if found != "" {
				return name // ambiguous: keep what the device said
			}
			found = n
		}
	}
	return cmp.Or(found, name)
}

func newNetwork(devices []facts.Device) *network {
	n := &network{owner: map[netip.Addr]string{}, mgmt: make(map[string]string, len(devices)),
		ports: make(map[string]*ports, len(devices))}
	for i := range devices {
		d := &devices[i]
		n.mgmt[d.Hostname] = addrOnly(d.MgmtIP)
		ps := &ports{exact: make(map[string]bool, len(d.Interfaces))}
		n.ports[d.Hostname] = ps
		for _, ifc := range d.Interfaces {
			ps.names = append(ps.names, ifc.Name)
			ps.exact[ifc.Name] = true
			for _, s := range ifc.IPs {
				if p, err := netip.ParsePrefix(s); err == nil {
					if _, taken := n.owner[p.Addr()]; !taken {
						n.owner[p.Addr()] = d.Hostname
					}
				}
			}
		}
	}
	return n
}

// addrOnly strips a prefix length: mgmt_ip may be given as addr/len.
func addrOnly(s string) string {
	if a, _, ok := strings.Cut(s, "/"); ok {
		return a
	}
	return s
}

// zeroMAC is what SuzieQ stores for an interface without a MAC address.
const zeroMAC = "00:00:00:00:00:00"

// add appends device d's rows, stamped ts (ms).
func (r *rows) add(d *facts.Device, n *network, ts int64) {
	h := d.Hostname
	port := n.ports[h].resolve
	r.device = append(r.device, deviceRow{
		Status: "alive", Address: addrOnly(d.MgmtIP), Model: d.Model, Vendor: d.Vendor, Version: d.Version,
		OS: suzieqOS(d.OS), SerialNumber: d.Serial, DeviceSession: ts, Hostname: h, Timestamp: ts, Active: true,
	})
	r.addInterfaces(d, ts)
	for _, a := range d.ARP {
		r.arpnd = append(r.arpnd, arpndRow{
			State: arpState(a.State), IPAddress: a.IP, OIF: port(a.Interface), Remote: a.Remote, MACAddr: a.MAC,
			DeviceSession: ts, Hostname: h, Timestamp: ts, Active: true,
		})
	}
	for _, m := range d.MACTable {
		row := macRow{
			OIF: port(m.Interface), MACAddr: m.MAC, VLAN: int64(m.VLAN), RemoteVtepIP: m.RemoteVTEP, Flags: macFlags(m),
			DeviceSession: ts, Hostname: h, Timestamp: ts, Active: true,
		}
		row.MACKey = macKey(row)
		r.macs = append(r.macs, row)
	}
	for _, nb := range d.Neighbors {
		r.lldp = append(r.lldp, lldpRow{
			IfName: port(nb.LocalInterface), PeerHostname: nb.RemoteHostname, PeerIfName: n.ports[nb.RemoteHostname].resolve(nb.RemoteInterface),
			MgmtIP: n.mgmt[nb.RemoteHostname], Subtype: "interface name",
			DeviceSession: ts, Hostname: h, Timestamp: ts, Active: true,
		})
	}
	r.addRoutes(d, port, ts)
	r.addBGP(d, n, ts)
	r.addVLANs(d, ts)
}

func (r *rows) addInterfaces(d *facts.Device, ts int64) {
	vlanNames := make(map[int]string, len(d.VLANs))
	for _, v := range d.VLANs {
		vlanNames[v.ID] = v.Name
	}
	for _, ifc := range d.Interfaces {
		row := interfaceRow{
			IfIndex: int64(ifc.IfIndex), MACAddr: cmp.Or(ifc.MAC, zeroMAC), Type: ifType(&ifc),
			Description: ifc.Description, Speed: ifc.SpeedMbps, State: upDown(ifc.OperUp, ifc.AdminUp),
			AdminState: upDown(ifc.AdminUp, nil), Master: master(&ifc), IfName: ifc.Name, MTU: int64(ifc.MTU),
			IPAddressList: []string{}, IP6AddressList: []string{},
			DeviceSession: ts, Hostname: d.Hostname, Timestamp: ts, Active: true,
		}
		row.InterfaceMAC = row.MACAddr
		for _, s := range ifc.IPs {
			if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
				row.IPAddressList = append(row.IPAddressList, s)
			} else if err == nil {
				row.IP6AddressList = append(row.IP6AddressList, s)
			}
		}
		switch {
		case ifc.Mode == facts.ModeAccess:
			row.VLAN = int32(ifc.AccessVLAN)
		case row.Type == "vlan":
			row.VLAN = int32(svIVLAN(ifc.Name))
		}
		if row.VLAN != 0 {
			row.VLANName = vlanNames[int(row.VLAN)]
		}
		if row.Type == "vxlan" && d.VXLAN != nil {
			row.SrcVtepIP = d.VXLAN.SourceIP
		}
		r.interfaces = append(r.interfaces, row)
	}
}

// ifType is the interface's type in SuzieQ's words.
func ifType(ifc *facts.Interface) string {
	if ifc.LAG != "" {
		return "bond_slave"
	}
	t := ifc.Type
	if t == "" {
		t = typeFromName(ifc.Name)
	}
	switch t {
	case facts.TypeLAG:
		return "bond"
	case facts.TypeLoopback, facts.TypeVLAN, facts.TypeVXLAN, facts.TypeSubinterface, facts.TypeTunnel:
		return t
	case facts.TypeVirtual:
		return "internal"
	}
	return "ethernet" // physical and management ports
}

// typeFromName guesses a type from the names vendors give, where the
// collector did not say.
func typeFromName(name string) string {
	n := strings.ToLower(name)
	digitAfter := func(prefix string) bool {
		return len(n) > len(prefix) && strings.HasPrefix(n, prefix) && n[len(prefix)] >= '0' && n[len(prefix)] <= '9'
	}
	switch {
	case strings.HasPrefix(n, "vlan") || strings.HasPrefix(n, "irb") || strings.HasPrefix(n, "bvi"):
		return facts.TypeVLAN
	case strings.HasPrefix(n, "loopback") || digitAfter("lo"):
		return facts.TypeLoopback
	case strings.HasPrefix(n, "port-channel") || digitAfter("po") || digitAfter("ae") ||
		strings.HasPrefix(n, "bundle-ether") || digitAfter("bond"):
		return facts.TypeLAG
	case strings.HasPrefix(n, "vxlan") || strings.HasPrefix(n, "nve"):
		return facts.TypeVXLAN
	case strings.HasPrefix(n, "tunnel") || digitAfter("tun"):
		return facts.TypeTunnel
	case strings.Contains(n, "."):
		return facts.TypeSubinterface
	}
	return facts.TypePhysical
}

// svIVLAN is the VLAN of an SVI named Vlan10, vlan10 or irb.10 (0 if none).
func svIVLAN(name string) int {
	n := strings.ToLower(name)
	for _, p := range []string{"vlan", "irb.", "bvi"} {
		if v, ok := strings.CutPrefix(n, p); ok {
			if id, err := strconv.Atoi(v); err == nil {
				return id
			}
		}
	}
	return 0
}

// master is SuzieQ's interfaces.master: the LAG of a member, "bridge" for
// a switch port, the VRF of a routed port ("" for the default VRF).
func master(ifc *facts.Interface) string {
	switch {
	case ifc.LAG != "":
		return ifc.LAG
	case ifc.Mode == facts.ModeAccess || ifc.Mode == facts.ModeTrunk:
		return "bridge"
	case ifc.VRF == "default":
		return ""
	}
	return ifc.VRF
}

// upDown is "up" or "down"; a state the collector did not report is
// taken from fallback, and is "up" when that is unknown too (SuzieQ
// traces paths over "up" interfaces only).
func upDown(b, fallback *bool) string {
	if b == nil {
		b = fallback
	}
	if b != nil && !*b {
		return "down"
	}
	return "up"
}

// suzieqOS is the NOS name as SuzieQ spells it: ios-xe is iosxe, pan-os
// panos.
func suzieqOS(os string) string {
	return strings.ReplaceAll(strings.ToLower(os), "-", "")
}

// arpState maps neighbour states as SuzieQ's poller does: the transient
// states are reachable, incomplete is failed.
func arpState(s string) string {
	switch s {
	case facts.NeighborPermanent:
		return "permanent"
	case facts.NeighborIncomplete, facts.NeighborFailed:
		return "failed"
	}
	return "reachable"
}

// macFlags is the entry's kind in SuzieQ's words: remote (learned from a
// VTEP), static, router, or dynamic.
func macFlags(m facts.MACEntry) string {
	switch {
	case m.RemoteVTEP != "" || slices.Contains(m.Flags, facts.MACRemote):
		return "remote"
	case slices.Contains(m.Flags, facts.MACStatic):
		return "static"
	case slices.Contains(m.Flags, facts.MACRouter):
		return "router"
	}
	return "dynamic"
}

// macKey is SuzieQ's key that tells apart entries with the same MAC: the
// VLAN for a learned entry, with the port for static and router ones, the
// port and VTEP for an all-zero remote entry.
func macKey(m macRow) string {
	vlan := strconv.FormatInt(m.VLAN, 10)
	switch {
	case m.RemoteVtepIP != "" && m.MACAddr == zeroMAC:
		return m.OIF + "-" + m.RemoteVtepIP
	case m.RemoteVtepIP != "" && m.VLAN != 0:
		return vlan
	case m.RemoteVtepIP != "":
		return m.OIF
	case m.Flags == "static" || m.Flags == "router":
		if m.VLAN != 0 {
			return vlan + "-" + m.OIF
		}
		return m.OIF
	case m.VLAN != 0:
		return vlan
	}
	return "0"
}

// addRoutes writes one row per VRF and prefix, as the device's forwarding
// table has it: of the routes the facts give for a prefix, those of the
// lowest administrative distance, then metric, are the installed ones, and
// their next hops are the row's equal-cost next hops.
func (r *rows) addRoutes(d *facts.Device, port func(string) string, ts int64) {
	type key struct{ vrf, prefix string }
	best := map[key]int{}
	var order []key
	var rs []routeRow
	for _, rt := range d.Routes {
		p, err := netip.ParsePrefix(rt.Prefix)
		if err != nil {
			continue // Normalize has refused it already
		}
		k := key{cmp.Or(rt.VRF, "default"), p.Masked().String()}
		row := routeRow{
			Prefix: k.prefix, VRF: k.vrf, Protocol: strings.ToLower(rt.Protocol), Action: routeAction(rt.Action),
			Metric: int64(rt.Metric), IPVers: 4, Weights: []int64{}, OIFs: []string{}, NexthopIPs: []string{},
			ASPathList: []string{}, DeviceSession: ts, Hostname: d.Hostname, Timestamp: ts, Active: true,
		}
		if p.Addr().Is6() {
			row.IPVers = 6
		}
		if rt.AdminDistance != nil {
			row.Preference = int64(*rt.AdminDistance)
		}
		hops := rt.Hops()
		withIP := slices.ContainsFunc(hops, func(h facts.NextHop) bool { return h.IP != "" })
		for _, h := range hops {
			if withIP {
				row.NexthopIPs = append(row.NexthopIPs, h.IP)
			}
			row.OIFs = append(row.OIFs, port(h.Interface))
			row.Weights = append(row.Weights, int64(h.Weight))
		}
		i, seen := best[k]
		switch {
		case !seen:
			best[k] = len(rs)
			order = append(order, k)
			rs = append(rs, row)
		case better(row, rs[i]) < 0:
			rs[i] = row
		case better(row, rs[i]) == 0:
			merged := &rs[i]
			if len(row.NexthopIPs) > 0 && len(merged.NexthopIPs) == 0 {
				merged.NexthopIPs = make([]string, len(merged.OIFs))
			}
			if len(merged.NexthopIPs) > 0 && len(row.NexthopIPs) == 0 {
				row.NexthopIPs = make([]string, len(row.OIFs))
			}
			merged.NexthopIPs = append(merged.NexthopIPs, row.NexthopIPs...)
			merged.OIFs = append(merged.OIFs, row.OIFs...)
			merged.Weights = append(merged.Weights, row.Weights...)
		}
	}
	for _, k := range order {
		r.routes = append(r.routes, rs[best[k]])
	}
}

// better compares two routes for one prefix: negative when a wins
// (lower administrative distance, then lower metric), 0 for a tie.
func better(a, b routeRow) int {
	return cmp.Or(cmp.Compare(a.Preference, b.Preference), cmp.Compare(a.Metric, b.Metric))
}

// routeAction is SuzieQ's routes.action: forward, drop or local (SuzieQ
// has no word for reject, a drop that answers with an ICMP error).
func routeAction(a string) string {
	switch a {
	case facts.RouteDrop, facts.RouteReject:
		return "drop"
	case facts.RouteLocal:
		return "local"
	}
	return "forward"
}

func (r *rows) addBGP(d *facts.Device, n *network, ts int64) {
	for _, p := range d.BGPPeers {
		base := bgpRow{
			Peer: cmp.Or(p.PeerIP, p.PeerInterface), PeerIP: p.PeerIP, IfName: p.PeerInterface,
			VRF: cmp.Or(p.VRF, "default"), ASN: p.LocalAS, PeerASN: p.RemoteAS, PeerRouterID: "0.0.0.0",
			State: bgpState(p.State), AFIsAdvOnly: []string{}, AFIsRcvOnly: []string{}, CommunityTypes: []string{},
			DeviceSession: ts, Hostname: d.Hostname, Timestamp: ts, Active: true,
		}
		base.OrigPeer = base.Peer
		if a, err := netip.ParseAddr(p.PeerIP); err == nil {
			base.PeerHostname = n.owner[a]
		}
		if base.State != "Established" {
			// SuzieQ keeps a session that is down as one row without
			// address family.
			r.bgp = append(r.bgp, base)
			continue
		}
		fams := p.AFISafi
		if len(fams) == 0 {
			// A session with no family configured carries the unicast
			// family of its transport (BGP's default).
			name := facts.FamilyIPv4Unicast
			if a, err := netip.ParseAddr(p.PeerIP); err == nil && a.Is6() && !a.Is4In6() {
				name = facts.FamilyIPv6Unicast
			}
			fams = []facts.AFISafi{{Name: name}}
		}
		for _, f := range fams {
			row := base
			row.AFI, row.SAFI = splitFamily(f.Name)
			if f.State != "" {
				row.State = bgpState(f.State)
			}
			if f.PrefixesReceived != nil {
				row.PfxRx = *f.PrefixesReceived
			}
			if f.PrefixesSent != nil {
				row.PfxTx = *f.PrefixesSent
			}
			if f.PrefixesAccepted != nil {
				row.PfxBestRx = *f.PrefixesAccepted
			}
			r.bgp = append(r.bgp, row)
		}
	}
}

// bgpState is SuzieQ's session state: Established or NotEstd.
func bgpState(s string) string {
	if strings.EqualFold(s, "established") {
		return "Established"
	}
	return "NotEstd"
}

// splitFamily turns ipv4-unicast into (ipv4, unicast) and l2vpn-evpn
// into (l2vpn, evpn), SuzieQ's afi and safi.
func splitFamily(name string) (afi, safi string) {
	afi, safi, _ = strings.Cut(name, "-")
	return afi, safi
}

func (r *rows) addVLANs(d *facts.Device, ts int64) {
	for _, v := range d.VLANs {
		row := vlanRow{
			VLAN: int64(v.ID), VLANName: cmp.Or(v.Name, fmt.Sprintf("VLAN%04d", v.ID)), State: "active",
			Interfaces: []string{}, DeviceSession: ts, Hostname: d.Hostname, Timestamp: ts, Active: true,
		}
		for _, ifc := range d.Interfaces {
			switch {
			case ifc.LAG != "":
				// members are counted through their LAG
			case ifc.Mode == facts.ModeAccess && ifc.AccessVLAN == v.ID,
				ifc.Mode == facts.ModeTrunk && (len(ifc.TrunkVLANs) == 0 || slices.Contains(ifc.TrunkVLANs, v.ID)):
				row.Interfaces = append(row.Interfaces, ifc.Name)
			}
		}
		r.vlan = append(r.vlan, row)
	}
}
