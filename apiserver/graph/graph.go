// Package graph holds the network graph in memory: devices,
// interfaces, IP addresses, subnets, VLANs, endpoints, links, routes, BGP
// peers and firewall policy, with the indexes the named queries need
// (hostname, IP, MAC, sorted address index for subnet ranges and longest
// prefix match, adjacency, VLAN membership). A Graph is immutable once
// built: a new ingest builds a new Graph and the server swaps a pointer, so
// every query reads one consistent version.
package graph

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// DefaultVRF names the VRF of interfaces and ARP entries that name none.
const DefaultVRF = "default"

// Graph is one immutable version of the network.
type Graph struct {
	Version uint64

	// Devices sorted by hostname; Device.Index is the position here.
	Devices []*Device
	// Links are the deduplicated, undirected neighbor adjacencies, sorted.
	Links []*Link
	// Endpoints in device (hostname) order, then MAC-table order.
	Endpoints []*Endpoint
	// Subnets sorted by VRF, then prefix.
	Subnets []*Subnet
	// VLANs sorted by ID: every VLAN defined on a device or carried by a port.
	VLANs []int

	byName   map[string]*Device
	epByMAC  map[string][]*Endpoint
	epByIP   map[netip.Addr][]EndpointIP
	ifByAddr map[netip.Addr][]*Interface
	ifByMAC  map[string][]*Interface
	// addrs is every interface and endpoint address sorted by IP, for range
	// scans of a prefix.
	addrs    []AddrEntry
	subnetLP *PrefixTable[*Subnet]
	vlanIfs  map[int][]*Interface

	rootRoles map[string]bool
	// meta is each device's user metadata, kept apart from the devices so
	// that a metadata write makes a new version sharing every index
	// (WithMetadata) instead of rebuilding the graph.
	meta map[string]map[string]any
	// hasRoot says whether any device has a root role; when one does,
	// losing every root cuts everything off rather than falling back to
	// the largest component.
	hasRoot bool
	roots   []int // indexes of root devices
	// rooted[i] says whether device i reaches a root in the intact graph.
	rooted   []bool
	stats    Stats
	warnings []Warning
}

// Device is a device with its parsed interfaces and adjacency.
type Device struct {
	facts.Device
	Index      int
	Ifaces     []*Interface // in facts order
	ifByName   map[string]*Interface
	linked     map[string]struct{} // ports with a neighbor link
	Adj        []Adj
	Endpoints  []*Endpoint // located on this device, sorted by port then MAC
	IPCount    int
	LinkCount  int
	HasNeighbr bool
}

// Interface is a device port with its parsed addresses and VLANs.
type Interface struct {
	facts.Interface
	Device   *Device
	Prefixes []netip.Prefix // address with prefix length, in facts order
	Links    []*Link
	// shared are the addresses marked virtual or anycast.
	shared []netip.Addr
	// carries says which VLANs the port carries; allVLANs marks a trunk
	// with no allowed list, which carries every VLAN as switches default to.
	carries  []int
	allVLANs bool
}

// Adj is one adjacency of a device to a known peer over a link that is up.
type Adj struct {
	Peer int // device index
	Link *Link
}

// LinkEnd is one end of a link. Device is nil when the far end is a
// hostname the graph does not know; Iface is nil when the interface is not
// among the device's collected interfaces; Interface is "" when the
// neighbor record's remote port resolved to none of the remote device's.
type LinkEnd struct {
	Hostname  string
	Interface string
	Device    *Device
	Iface     *Interface
}

// Link is an undirected adjacency seen by LLDP/CDP from either end.
type Link struct {
	Index    int
	A, B     LinkEnd
	Protocol string
	// Up is false when either end's interface is admin- or oper-down (an
	// absent state counts as up). A down link is still a link of the
	// topology, but carries nothing: it is not in any device's Adj, so
	// blast radius, shortest paths and path analysis ignore it.
	Up bool
}

// Endpoint is a host's MAC (no device's own) where it is plugged in: the
// best port it is learned on that does not face another device (see
// buildEndpoints), with the IPs any device's ARP table gives for it.
type Endpoint struct {
	MAC       string
	VLAN      int
	Device    *Device
	Interface string
	IPs       []ARPAddr
}

// ARPAddr is an address learned by ARP, with its VRF.
type ARPAddr struct {
	IP  netip.Addr
	VRF string
}

// EndpointIP is one address of one endpoint.
type EndpointIP struct {
	IP       netip.Addr
	VRF      string
	Endpoint *Endpoint
}

// AddrKind says what owns an address.
type AddrKind uint8

// Address owners.
const (
	KindInterface AddrKind = iota
	KindEndpoint
)

func (k AddrKind) String() string {
	if k == KindEndpoint {
		return "endpoint"
	}
	return "interface"
}

// AddrEntry is one owned address in the sorted address index.
type AddrEntry struct {
	IP        netip.Addr
	Kind      AddrKind
	VRF       string
	Hostname  string
	Interface string
	MAC       string // endpoints only
	// Shared marks an interface address that is virtual or anycast.
	Shared bool
}

// Subnet is a prefix configured on at least one interface.
type Subnet struct {
	Prefix  netip.Prefix
	VRF     string
	Devices []string // sorted hostnames with an interface in it
	IPCount int      // interface and endpoint addresses inside it
}

// Stats are the graph-wide counts of summary_stats.
type Stats struct {
	Devices       int
	Interfaces    int
	Endpoints     int
	IPAddresses   int
	Subnets       int
	VLANs         int
	Links         int
	FirewallRules int
}

// Options tune how a graph is built.
type Options struct {
	// RootRoles are the device roles blast radius treats as the network's
	// roots.
	RootRoles []string
}

// DefaultRootRoles returns BLAST_RADIUS_ROOT_ROLES' default, a new slice
// each call so that no caller can change another's.
func DefaultRootRoles() []string { return []string{"core", "border", "wan", "firewall"} }

// Build indexes devices (already validated and canonicalised by
// facts.Normalize) into a Graph at version. It never modifies devices;
// the Graph shares their slices, so callers must not modify them later.
func Build(version uint64, devices []facts.Device, opt Options) *Graph {
	g := &Graph{
		Version:   version,
		byName:    make(map[string]*Device, len(devices)),
		epByMAC:   map[string][]*Endpoint{},
		epByIP:    map[netip.Addr][]EndpointIP{},
		ifByAddr:  map[netip.Addr][]*Interface{},
		ifByMAC:   map[string][]*Interface{},
		vlanIfs:   map[int][]*Interface{},
		rootRoles: map[string]bool{},
	}
	for _, r := range opt.RootRoles {
		g.rootRoles[strings.ToLower(r)] = true
	}
	g.Devices = make([]*Device, 0, len(devices))
	for i := range devices {
		d := &Device{Device: devices[i]}
		if prev, dup := g.byName[d.Hostname]; dup {
			// Normalize rejects duplicates; keep the last, as merge would.
			prev.Device = devices[i]
			continue
		}
		g.byName[d.Hostname] = d
		g.Devices = append(g.Devices, d)
	}
	g.meta = make(map[string]map[string]any)
	for _, d := range g.Devices {
		if len(d.Device.Metadata) > 0 {
			g.meta[d.Hostname] = d.Device.Metadata
		}
		// Metadata is read through Graph.Metadata only, so a version made
		// by WithMetadata cannot be read stale through the shared device.
		d.Device.Metadata = nil
	}
	slices.SortFunc(g.Devices, func(a, b *Device) int { return strings.Compare(a.Hostname, b.Hostname) })
	vlanSet := map[int]bool{}
	for i, d := range g.Devices {
		d.Index = i
		d.ifByName = make(map[string]*Interface, len(d.Device.Interfaces))
		d.Ifaces = make([]*Interface, 0, len(d.Device.Interfaces))
		slab := make([]Interface, len(d.Device.Interfaces)) // one allocation per device
		for j := range d.Device.Interfaces {
			ifc := &slab[j]
			ifc.Interface, ifc.Device = d.Device.Interfaces[j], d
			if len(ifc.IPs) > 0 {
				ifc.Prefixes = make([]netip.Prefix, 0, len(ifc.IPs))
			}
			for _, s := range ifc.IPs {
				p, err := netip.ParsePrefix(s)
				if err != nil {
					a, aerr := netip.ParseAddr(s)
					if aerr != nil {
						continue
					}
					p = netip.PrefixFrom(a, a.BitLen())
				}
				ifc.Prefixes = append(ifc.Prefixes, p)
			}
			for _, a := range ifc.Addresses {
				if p, err := netip.ParsePrefix(a.IP); err == nil && a.Shared() {
					ifc.shared = append(ifc.shared, p.Addr())
				}
			}
			ifc.carries, ifc.allVLANs = carriedVLANs(ifc.Interface)
			for _, v := range ifc.carries {
				vlanSet[v] = true
			}
			d.Ifaces = append(d.Ifaces, ifc)
			if _, dup := d.ifByName[ifc.Name]; !dup {
				d.ifByName[ifc.Name] = ifc
			}
		}
		for _, v := range d.Device.VLANs {
			vlanSet[v.ID] = true
		}
		if d.Firewall != nil {
			g.stats.FirewallRules += len(d.Firewall.Rules)
		}
		g.stats.Interfaces += len(d.Ifaces)
	}
	// VLAN membership in device, then interface order; trunks without an
	// allowed list carry every VLAN known anywhere.
	var allVLANs []int
	for v := range vlanSet {
		allVLANs = append(allVLANs, v)
	}
	for _, d := range g.Devices {
		for _, ifc := range d.Ifaces {
			vs := ifc.carries
			if ifc.allVLANs {
				vs = allVLANs
			}
			for _, v := range vs {
				g.vlanIfs[v] = append(g.vlanIfs[v], ifc)
			}
		}
	}
	g.VLANs = make([]int, 0, len(vlanSet))
	for v := range vlanSet {
		g.VLANs = append(g.VLANs, v)
	}
	slices.Sort(g.VLANs)

	g.buildLinks()
	g.warnReferences()
	slices.SortStableFunc(g.warnings, func(a, b Warning) int { return strings.Compare(a.Hostname, b.Hostname) })
	g.indexInterfaceAddrs()
	g.buildEndpoints()
	g.buildAddrs()
	for _, d := range g.Devices {
		if g.rootRoles[strings.ToLower(d.Role)] {
			g.roots = append(g.roots, d.Index)
		}
	}
	g.hasRoot = len(g.roots) > 0
	g.rooted = g.reachable(failure{})
	g.stats.Devices = len(g.Devices)
	// A host dual-homed to an MLAG pair is located on both switches, but
	// it is one endpoint.
	g.stats.Endpoints = len(g.epByMAC)
	g.stats.Subnets = len(g.Subnets)
	g.stats.VLANs = len(g.VLANs)
	g.stats.Links = len(g.Links)
	return g
}

// carriedVLANs lists the VLANs a port carries: its access VLAN, or its
// trunk's allowed list. A trunk with no list carries all (reported as
// all=true).
func carriedVLANs(fi facts.Interface) (vlans []int, all bool) {
	switch fi.Mode {
	case facts.ModeTrunk:
		if len(fi.TrunkVLANs) == 0 {
			return nil, true
		}
		vlans = slices.Clone(fi.TrunkVLANs)
		slices.Sort(vlans)
		return slices.Compact(vlans), false
	case facts.ModeRouted:
		return nil, false
	}
	if fi.AccessVLAN > 0 {
		return []int{fi.AccessVLAN}, false
	}
	return nil, false
}

// Up reports whether the interface forwards: not known to be admin- or
// oper-down. A nil interface (not among the collected ones) counts as up.
func (i *Interface) Up() bool {
	return i == nil || ((i.AdminUp == nil || *i.AdminUp) && (i.OperUp == nil || *i.OperUp))
}

// Shared reports whether the interface's address a is marked virtual or
// anycast: held by several devices on purpose.
func (i *Interface) Shared(a netip.Addr) bool { return slices.Contains(i.shared, a) }

// Carries reports whether the interface carries VLAN v.
func (i *Interface) Carries(v int) bool {
	if i.allVLANs {
		return true
	}
	_, ok := slices.BinarySearch(i.carries, v)
	return ok
}

// VLANList returns the VLANs the port carries, or nil with all=true for a
// trunk allowing every VLAN.
func (i *Interface) VLANList() (vlans []int, all bool) { return i.carries, i.allVLANs }

type portKey struct {
	host, port string
}

func (g *Graph) buildLinks() {
	type linkKey struct{ a, b portKey }
	seen := map[linkKey]*Link{}
	warned := map[linkKey]bool{}  // an LLDP and a CDP record of one link warn once
	var folded map[string]*Device // lower-case hostname → device; nil where ambiguous
	host := func(name string) string {
		if name == "" || g.byName[name] != nil {
			return name
		}
		if folded == nil {
			folded = g.foldedNames()
		}
		return resolveHostname(name, folded)
	}
	for _, d := range g.Devices {
		for j, n := range d.Neighbors {
			if n.RemoteHostname == "" {
				continue
			}
			remote := host(n.RemoteHostname)
			port := n.RemoteInterface
			// A remote device whose interfaces are known gets no port it
			// does not have: a port ID that is a description, a MAC, an
			// ifindex or "-" is resolved, or left unknown.
			if rd := g.byName[remote]; rd != nil && len(rd.Ifaces) > 0 {
				p, ok := g.remotePort(d, n, rd, host)
				if k := (linkKey{portKey{d.Hostname, n.LocalInterface}, portKey{remote, ""}}); !ok && !warned[k] {
					warned[k] = true
					g.warnUnresolved(d, j, n, rd)
				}
				port = p
			}
			a := portKey{d.Hostname, n.LocalInterface}
			b := portKey{remote, port}
			if b.host < a.host || (b.host == a.host && b.port < a.port) {
				a, b = b, a
			}
			k := linkKey{a, b}
			if l, ok := seen[k]; ok {
				if l.Protocol == "" {
					l.Protocol = n.Protocol
				}
				continue
			}
			l := &Link{A: g.linkEnd(a), B: g.linkEnd(b), Protocol: n.Protocol}
			seen[k] = l
			g.Links = append(g.Links, l)
		}
	}
	slices.SortFunc(g.Links, func(x, y *Link) int {
		return compareStrings(x.A.Hostname, y.A.Hostname, x.A.Interface, y.A.Interface,
			x.B.Hostname, y.B.Hostname, x.B.Interface, y.B.Interface)
	})
	for i, l := range g.Links {
		l.Index = i
		for i, e := range []LinkEnd{l.A, l.B} {
			if e.Device != nil {
				e.Device.HasNeighbr = true
				e.Device.LinkCount++
				// Only a link to a known device makes a port a link
				// rather than an edge port: the MACs learned behind an
				// IP phone or an access point are still endpoints.
				if far := []LinkEnd{l.B, l.A}[i]; far.Device != nil && e.Interface != "" {
					if e.Device.linked == nil {
						e.Device.linked = map[string]struct{}{}
					}
					e.Device.linked[e.Interface] = struct{}{}
				}
			}
			if e.Iface != nil {
				e.Iface.Links = append(e.Iface.Links, l)
			}
		}
		l.Up = l.A.Iface.Up() && l.B.Iface.Up()
		if l.Up && l.A.Device != nil && l.B.Device != nil && l.A.Device != l.B.Device {
			l.A.Device.Adj = append(l.A.Device.Adj, Adj{Peer: l.B.Device.Index, Link: l})
			l.B.Device.Adj = append(l.B.Device.Adj, Adj{Peer: l.A.Device.Index, Link: l})
		}
	}
}

// foldedNames indexes the devices by lower-case hostname; two devices
// whose names differ only in case map to nil (ambiguous).
func (g *Graph) foldedNames() map[string]*Device {
	m := make(map[string]*Device, len(g.Devices))
	for _, d := range g.Devices {
		k := strings.ToLower(d.Hostname)
		if _, dup := m[k]; dup {
			m[k] = nil
			continue
		}
		m[k] = d
	}
	return m
}

// resolveHostname matches a neighbour's name to a device as LLDP and CDP
// report it: in another case, or with a domain suffix the device's own
// hostname lacks ("DIST1.corp.example" is dist1). Otherwise the name is
// kept as reported (a device the graph does not know).
func resolveHostname(name string, folded map[string]*Device) string {
	k := strings.ToLower(name)
	if d := folded[k]; d != nil {
		return d.Hostname
	}
	if short, _, ok := strings.Cut(k, "."); ok && short != "" {
		if d := folded[short]; d != nil {
			return d.Hostname
		}
	}
	return name
}

func (g *Graph) linkEnd(p portKey) LinkEnd {
	e := LinkEnd{Hostname: p.host, Interface: p.port}
	if d := g.byName[p.host]; d != nil {
		e.Device = d
		e.Iface = d.ifByName[p.port]
	}
	return e
}

// indexInterfaceAddrs fills ifByAddr: endpoints need it to tell a
// device's own addresses from hosts'.
func (g *Graph) indexInterfaceAddrs() {
	for _, d := range g.Devices {
		for _, ifc := range d.Ifaces {
			if ifc.MAC != "" {
				g.ifByMAC[ifc.MAC] = append(g.ifByMAC[ifc.MAC], ifc)
			}
			for _, p := range ifc.Prefixes {
				g.ifByAddr[p.Addr()] = append(g.ifByAddr[p.Addr()], ifc)
			}
		}
	}
}

// infrastructureMACs returns the MACs that belong to devices rather than
// hosts: every interface MAC, first-hop redundancy MACs, and the MAC that
// ARP gives for a device's own address where the device did not report
// that interface's MAC (a switch's SVI is learned by its neighbours like
// any host, and many collectors leave interface MACs out).
func (g *Graph) infrastructureMACs() map[string]bool {
	infra := map[string]bool{}
	for _, d := range g.Devices {
		for _, ifc := range d.Ifaces {
			if ifc.MAC != "" {
				infra[ifc.MAC] = true
			}
		}
		// A MAC table's "router" entries are the device's own MACs.
		for _, m := range d.MACTable {
			if m.Has(facts.MACRouter) {
				infra[m.MAC] = true
			}
		}
	}
	for _, d := range g.Devices {
		for _, e := range d.ARP {
			if !e.Resolved() || infra[e.MAC] {
				continue
			}
			if isVirtualRouterMAC(e.MAC) {
				infra[e.MAC] = true
				continue
			}
			a, err := netip.ParseAddr(e.IP)
			if err != nil {
				continue
			}
			vrf := arpVRF(d, e)
			for _, owner := range g.ifByAddr[a] {
				// An owner whose MAC is known and differs is another
				// machine: a host using a device's address is a conflict
				// to report, not the device. A virtual or anycast
				// address answers with a MAC of its own.
				if vrfOf(owner.VRF) == vrf && (owner.MAC == "" || owner.Shared(a)) {
					infra[e.MAC] = true
					break
				}
			}
		}
	}
	return infra
}

// arpVRF is the VRF of an ARP entry: its own, else that of the interface
// it was learned on.
func arpVRF(d *Device, e facts.ARPEntry) string {
	if e.VRF != "" {
		return e.VRF
	}
	if ifc := d.ifByName[e.Interface]; ifc != nil {
		return vrfOf(ifc.VRF)
	}
	return DefaultVRF
}

func vrfOf(name string) string { return cmp.Or(name, DefaultVRF) }

// buildEndpoints locates the hosts. A MAC owned by a device (an interface
// MAC, a MAC-table "router" entry) is never an endpoint; a MAC behind
// another VTEP (flag remote, or a remote_vtep) is located by that VTEP's
// table, not here; a MAC learned on a port towards another device (a link, a LAG
// whose members are linked, the MLAG peer link, a VXLAN or other tunnel)
// is not located there; of the ports left, the endpoint is at the best
// (access port, then other edge ports, then LAGs not known to face a
// switch), on every device where that best is found (a host dual-homed to
// an MLAG pair is on both).
func (g *Graph) buildEndpoints() {
	nARP, nMAC := 0, 0
	for _, d := range g.Devices {
		nARP += len(d.ARP)
		nMAC += len(d.MACTable)
	}
	infra := g.infrastructureMACs()
	arp := make(map[string][]ARPAddr, nARP/2)
	for _, d := range g.Devices {
		for _, e := range d.ARP {
			a, err := netip.ParseAddr(e.IP)
			// A link-local address is one per link, not the host's
			// address in a VRF: fe80::1 is on every segment.
			if err != nil || !e.Resolved() || infra[e.MAC] || a.IsLinkLocalUnicast() {
				continue
			}
			vrf := e.VRF
			if vrf == "" {
				vrf = DefaultVRF
			}
			aa := ARPAddr{IP: a, VRF: vrf}
			if !slices.Contains(arp[e.MAC], aa) {
				arp[e.MAC] = append(arp[e.MAC], aa)
			}
		}
	}
	for _, ips := range arp {
		if len(ips) > 1 {
			slices.SortFunc(ips, func(x, y ARPAddr) int {
				if c := x.IP.Compare(y.IP); c != 0 {
					return c
				}
				return strings.Compare(x.VRF, y.VRF)
			})
		}
	}
	// Two passes: the best rank of every MAC first, then the endpoints at
	// it; the ranks are kept per entry (-1: not a location) in between.
	ranks := make([][]int8, len(g.Devices))
	best := make(map[string]int8, nMAC/2)
	for _, d := range g.Devices {
		if len(d.MACTable) == 0 {
			continue
		}
		lagTransit := d.lagTransit()
		var ports map[string]string // abbreviated names resolved, on first use
		rs := make([]int8, len(d.MACTable))
		for i, m := range d.MACTable {
			rs[i] = -1
			// A MAC behind another VTEP is located at that VTEP, by
			// its own MAC table.
			if m.MAC == "" || m.Interface == "" || infra[m.MAC] || m.IsRemote() {
				continue
			}
			// MAC tables abbreviate port names (Po11, Gi1/0/5, Et5,
			// Vx1): the interface they name is the one LLDP would match.
			port := m.Interface
			if d.ifByName[port] == nil {
				p, ok := ports[port]
				if !ok {
					if ports == nil {
						ports = map[string]string{}
					}
					p = cmp.Or(d.portByName(port), port)
					ports[port] = p
				}
				port = p
			}
			kind := d.portKind(port, lagTransit)
			if kind == portTransit {
				continue
			}
			r := int8(d.rank(port, kind))
			rs[i] = r
			if b, ok := best[m.MAC]; !ok || r > b {
				best[m.MAC] = r
			}
		}
		ranks[d.Index] = rs
	}
	g.Endpoints = make([]*Endpoint, 0, nMAC/4)
	for _, d := range g.Devices {
		n := 0
		for i, r := range ranks[d.Index] {
			if r >= 0 && r == best[d.MACTable[i].MAC] {
				n++
			}
		}
		if n == 0 {
			continue
		}
		slab := make([]Endpoint, 0, n)
		for i, r := range ranks[d.Index] {
			if m := d.MACTable[i]; r >= 0 && r == best[m.MAC] {
				// The ARP slice is shared by every endpoint with this
				// MAC; nothing modifies it after Build.
				slab = append(slab, Endpoint{MAC: m.MAC, VLAN: m.VLAN, Device: d, Interface: m.Interface, IPs: arp[m.MAC]})
			}
		}
		slices.SortStableFunc(slab, func(x, y Endpoint) int { return compareStrings(x.Interface, y.Interface, x.MAC, y.MAC) })
		slab = slices.CompactFunc(slab, func(x, y Endpoint) bool { return x.Interface == y.Interface && x.MAC == y.MAC })
		d.Endpoints = make([]*Endpoint, len(slab))
		for i := range slab {
			d.Endpoints[i] = &slab[i]
		}
		g.Endpoints = append(g.Endpoints, d.Endpoints...)
	}
	g.epByMAC = make(map[string][]*Endpoint, len(g.Endpoints))
	g.epByIP = make(map[netip.Addr][]EndpointIP, len(g.Endpoints))
	for _, ep := range g.Endpoints {
		g.epByMAC[ep.MAC] = append(g.epByMAC[ep.MAC], ep)
		for _, a := range ep.IPs {
			g.epByIP[a.IP] = append(g.epByIP[a.IP], EndpointIP{IP: a.IP, VRF: a.VRF, Endpoint: ep})
		}
	}
}

func (g *Graph) buildAddrs() {
	type subnetKey struct {
		vrf string
		p   netip.Prefix
	}
	subnets := map[subnetKey]*Subnet{}
	n := 0
	for _, ep := range g.Endpoints {
		n += len(ep.IPs)
	}
	for _, d := range g.Devices {
		for _, ifc := range d.Ifaces {
			n += len(ifc.Prefixes)
		}
	}
	g.addrs = make([]AddrEntry, 0, n)
	for _, d := range g.Devices {
		for _, ifc := range d.Ifaces {
			vrf := ifc.VRF
			if vrf == "" {
				vrf = DefaultVRF
			}
			for _, p := range ifc.Prefixes {
				a := p.Addr()
				g.addrs = append(g.addrs, AddrEntry{IP: a, Kind: KindInterface, VRF: vrf, Hostname: d.Hostname, Interface: ifc.Name, Shared: ifc.Shared(a)})
				d.IPCount++
				k := subnetKey{vrf, p.Masked()}
				s := subnets[k]
				if s == nil {
					s = &Subnet{Prefix: k.p, VRF: vrf}
					subnets[k] = s
				}
				// Devices come in hostname order: only the last can repeat.
				if n := len(s.Devices); n == 0 || s.Devices[n-1] != d.Hostname {
					s.Devices = append(s.Devices, d.Hostname)
				}
			}
		}
	}
	for _, ep := range g.Endpoints {
		for _, a := range ep.IPs {
			g.addrs = append(g.addrs, AddrEntry{IP: a.IP, Kind: KindEndpoint, VRF: a.VRF, Hostname: ep.Device.Hostname, Interface: ep.Interface, MAC: ep.MAC})
		}
	}
	slices.SortFunc(g.addrs, func(x, y AddrEntry) int {
		if c := x.IP.Compare(y.IP); c != 0 {
			return c
		}
		if x.Kind != y.Kind {
			return cmp.Compare(x.Kind, y.Kind)
		}
		return compareStrings(x.Hostname, y.Hostname, x.Interface, y.Interface, x.MAC, y.MAC)
	})
	for i, e := range g.addrs {
		if i == 0 || e.IP != g.addrs[i-1].IP {
			g.stats.IPAddresses++
		}
	}

	g.Subnets = make([]*Subnet, 0, len(subnets))
	g.subnetLP = NewPrefixTable[*Subnet]()
	for _, s := range subnets {
		g.Subnets = append(g.Subnets, s)
	}
	slices.SortFunc(g.Subnets, func(x, y *Subnet) int {
		return cmp.Or(strings.Compare(x.VRF, y.VRF), comparePrefix(x.Prefix, y.Prefix))
	})
	for _, s := range g.Subnets {
		// The default VRF answers longest-prefix lookups; other VRFs only
		// when the prefix is not also in the default VRF.
		if _, ok := g.subnetLP.Exact(s.Prefix); !ok || s.VRF == DefaultVRF {
			g.subnetLP.Insert(s.Prefix, s)
		}
		s.IPCount = g.countAddrsIn(s.Prefix, s.VRF)
	}
}

// countAddrsIn counts the distinct addresses inside p in vrf: an address
// held by several owners (an unnumbered /32 on several interfaces, an
// anycast gateway, a duplicate) is one.
func (g *Graph) countAddrsIn(p netip.Prefix, vrf string) int {
	lo, _ := slices.BinarySearchFunc(g.addrs, p.Addr(), func(e AddrEntry, a netip.Addr) int { return e.IP.Compare(a) })
	n := 0
	var last netip.Addr
	for _, e := range g.addrs[lo:] {
		if !p.Contains(e.IP) {
			break
		}
		if e.VRF == vrf && (n == 0 || e.IP != last) {
			n++
			last = e.IP
		}
	}
	return n
}

// compareStrings compares pairs (a1, b1, a2, b2, ...) in order, stopping
// at the first difference (cmp.Or would evaluate every comparison).
func compareStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// Metadata returns the device's user metadata (nil when none). Callers
// must not modify it.
func (g *Graph) Metadata(hostname string) map[string]any { return g.meta[hostname] }

// WithMetadata returns version of g in which hostname's metadata is md.
// Everything else is shared with g, which stays valid and unchanged.
func (g *Graph) WithMetadata(version uint64, hostname string, md map[string]any) *Graph {
	ng := *g
	ng.Version = version
	ng.meta = make(map[string]map[string]any, len(g.meta)+1)
	for k, v := range g.meta {
		ng.meta[k] = v
	}
	if len(md) > 0 {
		ng.meta[hostname] = md
	} else {
		delete(ng.meta, hostname)
	}
	return &ng
}

// Facts returns the devices as facts, with their metadata, in hostname
// order: the input of the next Build.
func (g *Graph) Facts() []facts.Device {
	out := make([]facts.Device, len(g.Devices))
	for i, d := range g.Devices {
		out[i] = d.Device
		out[i].Metadata = g.meta[d.Hostname]
	}
	return out
}

// Stats returns the graph-wide counts.
func (g *Graph) Stats() Stats { return g.stats }

// Device returns the device named hostname, or nil.
func (g *Graph) Device(hostname string) *Device { return g.byName[hostname] }

// Iface returns the device's interface named name, or nil.
func (d *Device) Iface(name string) *Interface { return d.ifByName[name] }

// EndpointsByIP returns the endpoints holding ip.
func (g *Graph) EndpointsByIP(ip netip.Addr) []EndpointIP { return g.epByIP[ip] }

// EndpointsByMAC returns the endpoints with mac (canonical form).
func (g *Graph) EndpointsByMAC(mac string) []*Endpoint { return g.epByMAC[mac] }

// InterfacesByIP returns the interfaces configured with ip.
func (g *Graph) InterfacesByIP(ip netip.Addr) []*Interface { return g.ifByAddr[ip] }

// InterfacesByMAC returns the interfaces whose own MAC is mac (canonical
// form), in device and interface order.
func (g *Graph) InterfacesByMAC(mac string) []*Interface { return g.ifByMAC[mac] }

// InterfacesInVLAN returns the interfaces carrying VLAN v, sorted by device
// and name.
func (g *Graph) InterfacesInVLAN(v int) []*Interface { return g.vlanIfs[v] }

// Addrs returns every owned address, sorted by IP.
func (g *Graph) Addrs() []AddrEntry { return g.addrs }

// AddrsIn returns the owned addresses inside p, sorted by IP; vrf filters
// when non-empty. The result aliases the index when vrf is empty.
func (g *Graph) AddrsIn(p netip.Prefix, vrf string) []AddrEntry {
	p = p.Masked()
	lo, _ := slices.BinarySearchFunc(g.addrs, p.Addr(), func(e AddrEntry, a netip.Addr) int { return e.IP.Compare(a) })
	hi := lo
	for hi < len(g.addrs) && p.Contains(g.addrs[hi].IP) {
		hi++
	}
	if vrf == "" {
		return g.addrs[lo:hi:hi]
	}
	var out []AddrEntry
	for _, e := range g.addrs[lo:hi] {
		if e.VRF == vrf {
			out = append(out, e)
		}
	}
	return out
}

// SubnetFor returns the most specific configured subnet containing ip.
func (g *Graph) SubnetFor(ip netip.Addr) (*Subnet, bool) {
	_, s, ok := g.subnetLP.Lookup(ip)
	return s, ok
}

// IsRootRole reports whether role is one of the blast-radius root roles.
func (g *Graph) IsRootRole(role string) bool { return g.rootRoles[strings.ToLower(role)] }

// Far returns the end of l opposite d's port (the B end when d holds A
// on that port, else A).
func (l *Link) Far(d *Device, port string) LinkEnd {
	if l.A.Device == d && l.A.Interface == port {
		return l.B
	}
	return l.A
}

// SVIVLAN returns the VLAN a VLAN interface routes (Vlan10, irb.10,
// vlan.10, BVI10 → 10), 0 for any other interface.
func (i *Interface) SVIVLAN() int {
	n := strings.ToLower(i.Name)
	if i.Type != facts.TypeVLAN && !strings.HasPrefix(n, "vlan") && !strings.HasPrefix(n, "irb") && !strings.HasPrefix(n, "bvi") {
		return 0
	}
	k := len(n)
	for k > 0 && n[k-1] >= '0' && n[k-1] <= '9' {
		k--
	}
	v, err := strconv.Atoi(n[k:])
	if err != nil || v < 1 || v > 4094 {
		return 0
	}
	return v
}
