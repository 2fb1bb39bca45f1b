// Package pathanalysis answers "is this flow permitted, and by which rule?"
// over one graph version: it follows the routing tables hop by hop from the
// source's gateway (longest-prefix match per VRF, next hops resolved
// recursively to the adjacent device that owns them, the topology where a
// device has no routes), branches over equal-cost routes, detects loops,
// and at every firewall on the way asks the compiled policy which rule
// decides the flow.
//
// Semantics, in the order they apply:
//
//   - Hosts of one subnet are switched on their segment: permit, no hops.
//     A destination on the segment (the source's, or a connected subnet a
//     router reaches) that a device owns is delivered at that device, not
//     at the source or the gateway: along the layer-2 path the links give
//     (from the switch where the source host is located, when it is), else
//     straight to the owner, saying so. Owned by several devices, it is
//     unknown, unless they all hold it as virtual or anycast (then the
//     nearest holder receives it).
//   - The path starts at the device that has the source address (unknown
//     when several devices have it), else at the gateway of the source's
//     subnet: of the devices with an interface in it, those whose role is
//     not a host's (server, host, hypervisor, …), then those holding a
//     gateway address there (marked virtual or anycast, or the next hop
//     other devices route by), then routing devices (or firewalls), then
//     those that hold the source in ARP. Several such gateways (a
//     redundant pair) start several paths; holders of one anycast or
//     virtual gateway address are all first hops, and the reason says so.
//     Where only hosts have an interface in the subnet, its gateway is not
//     in the graph: unknown.
//   - At each device, in the VRF of the interface the flow came in by: an
//     address of the device itself delivers; else the longest matching
//     prefix among collected routes and connected subnets, lowest
//     administrative distance (unknown loses to known), then lowest
//     metric; the next hops left (several routes, or one route's
//     next_hops) are equal-cost branches (at most MaxBranches, then
//     Truncated). A drop or reject route ends the path denied; a local
//     route delivers. A next hop in another VRF (next_hop_vrf, a next
//     hop's vrf) is resolved there, and the flow goes on in that VRF.
//   - A next hop with a VNI is a remote VTEP (an EVPN type-5 route): the
//     device needs an underlay route to it; the flow goes to the devices
//     whose VTEP it is (an MLAG pair's shared one: two paths) in the VRF
//     their VNI map gives; a VTEP that maps no VRF to the VNI is unknown.
//     The underlay between carries the encapsulated packet, which no
//     firewall there sees as this flow. A segment whose VLAN has an L2 VNI
//     is one layer-2 segment across the VTEPs that map the VNI (unknown
//     where no VTEP that maps it leads to the destination's owner). An IPv6
//     link-local next hop (BGP unnumbered) is the device linked on its
//     interface. A next hop on a connected subnet (or of a route that
//     names its interface) goes to the adjacent device that holds that
//     address: linked on that port, else linked, else in the same subnet
//     (behind switches); any other next hop is resolved recursively through
//     the same device's routes until a connected one is found, as routers
//     do, so that the flow only ever moves to an adjacent device. A next
//     hop that does not resolve (no route to it, or only through itself)
//     or is held only by a device that is not adjacent is unknown, with the
//     reason. A next hop that is an address of the device itself is
//     unknown too, and a /32 borrowed by an unnumbered interface is no
//     connected subnet. A device with no routes at all forwards along the
//     fewest links towards the destination's subnet.
//   - An address of the device delivers at the interface that owns it:
//     the one of its subnet, else the loopback an unnumbered interface
//     borrows it from. Reasons name a device once, however many of its
//     interfaces hold an address.
//   - At each firewall the zones of the in and out interfaces and the
//     policy decide (firewall.Policy.Evaluate); a deny ends the path. Where
//     the flow enters or leaves a firewall that has zones by an interface
//     in no zone, the decision is unknown ("interface e2 of fw1 is in no
//     zone") unless any-zone rules decide it and no known zone would change
//     the verdict.
//   - A path ends denied with "no route to …" where a device with routes has
//     none for the destination, or where it leaves the known network
//     although the graph knows the destination's subnet; with "routing
//     loop" when it comes back to a device and VRF it has crossed.
//   - A path that leaves the network towards an unknown destination takes
//     the verdict of the firewalls it crossed, and its reason says that the
//     verdict does not cover what lies beyond the known network.
//   - The verdict is permit or deny when every path agrees, and unknown
//     (with the reason) when a firewall's answer depends on an fqdn or an
//     undefined object, on the service within the asked set (protocol any,
//     no port), when equal-cost paths disagree, or when more equal-cost
//     paths existed than were followed (Truncated).
package pathanalysis

import (
	"cmp"
	"context"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// Index is what path analysis and the firewall queries need beyond the
// graph: compiled firewall policies and per-VRF routing tables. It is built
// once per graph version and is safe for concurrent use.
type Index struct {
	G *graph.Graph
	// Firewalls are the compiled policies of every device with one, sorted
	// by hostname.
	Firewalls []*Firewall
	byDevice  []*Firewall // by device index; nil where none
	tables    []lazyTable // by device index
	nhOnce    sync.Once
	nextHops  map[netip.Addr]bool // every route's next hop, on first use
	vtepOnce  sync.Once
	vtepIdx   *vtepIndex // VTEP addresses and L2 VNIs, on first use
}

// Firewall is one device's policy, compiled on first use (a path crosses
// a few firewalls; only queries over all of them need every policy), with
// its shadow analysis also done on first use.
type Firewall struct {
	Device *graph.Device

	compile  sync.Once
	policy   *firewall.Policy
	once     sync.Once
	shadowed []firewall.Shadow
	stats    firewall.ShadowStats
}

// Policy returns the compiled policy, compiling it once.
func (f *Firewall) Policy() *firewall.Policy {
	f.compile.Do(func() { f.policy = firewall.Compile(f.Device.Hostname, f.Device.Firewall, f.Device.Device.Interfaces) })
	return f.policy
}

// Shadowed returns the firewall's shadowed rules, computing them once.
func (f *Firewall) Shadowed() ([]firewall.Shadow, firewall.ShadowStats) {
	f.once.Do(func() { f.shadowed, f.stats = f.Policy().Shadowed() })
	return f.shadowed, f.stats
}

// route is one forwarding entry: one next hop of a collected route, or a
// connected subnet.
type route struct {
	prefix   netip.Prefix
	nextHop  netip.Addr // invalid: directly connected / interface route
	iface    string
	protocol string
	metric   int
	// distance is the administrative distance; hasDistance says whether
	// the facts gave one.
	distance    int
	hasDistance bool
	// action is forward, drop, reject or local (facts.Route*).
	action string
	// nhVRF is the VRF the next hop is resolved in ("" for the route's).
	nhVRF string
	// vni is the VXLAN network identifier the next hop (a remote VTEP) is
	// reached with: an overlay route.
	vni       int
	connected bool
}

// RouteMatch is one next hop of the route a device would use for an
// address, as path analysis chooses it.
type RouteMatch struct {
	Prefix        netip.Prefix
	NextHop       netip.Addr // invalid where there is none
	Interface     string
	NextHopVRF    string
	VNI           int
	Protocol      string
	Metric        int
	AdminDistance *int
	Action        string
	// Connected marks a subnet configured on an interface rather than a
	// collected route.
	Connected bool
}

// routeTable is a device's forwarding state: one longest-prefix-match table
// per VRF. hasRoutes says whether any route beyond its connected subnets
// was collected; a device without one falls back to the topology.
type routeTable struct {
	vrfs      map[string]*graph.PrefixTable[[]route]
	hasRoutes bool
}

// lazyTable is a device's forwarding table, built the first time a path
// reaches the device.
type lazyTable struct {
	once sync.Once
	t    *routeTable
}

// table returns d's forwarding table, building it once.
func (ix *Index) table(d *graph.Device) *routeTable {
	lt := &ix.tables[d.Index]
	lt.once.Do(func() { lt.t = buildTable(d) })
	return lt.t
}

// NewIndex prepares the index of g; firewall policies and routing tables
// are compiled on first use, so that the first query after an ingest does
// not pay for the whole network.
func NewIndex(g *graph.Graph) *Index {
	ix := &Index{G: g, byDevice: make([]*Firewall, len(g.Devices)), tables: make([]lazyTable, len(g.Devices))}
	for _, d := range g.Devices {
		if d.Firewall != nil {
			f := &Firewall{Device: d}
			ix.byDevice[d.Index] = f
			ix.Firewalls = append(ix.Firewalls, f)
		}
	}
	return ix
}

// FirewallOf returns the device's compiled policy, or nil.
func (ix *Index) FirewallOf(d *graph.Device) *Firewall { return ix.byDevice[d.Index] }

func vrfOf(name string) string {
	if name == "" {
		return graph.DefaultVRF
	}
	return name
}

func buildTable(d *graph.Device) *routeTable {
	t := &routeTable{vrfs: map[string]*graph.PrefixTable[[]route]{}}
	table := func(vrf string) *graph.PrefixTable[[]route] {
		pt := t.vrfs[vrf]
		if pt == nil {
			pt = graph.NewPrefixTable[[]route]()
			t.vrfs[vrf] = pt
		}
		return pt
	}
	for _, r := range d.Routes {
		p, err := netip.ParsePrefix(r.Prefix)
		if err != nil {
			continue
		}
		base := route{prefix: p.Masked(), protocol: r.Protocol, metric: r.Metric, action: r.Action}
		if r.AdminDistance != nil {
			base.distance, base.hasDistance = *r.AdminDistance, true
		}
		var entries []route
		for _, h := range r.Hops() {
			rt := base
			rt.iface, rt.nhVRF, rt.vni = h.Interface, h.VRF, h.VNI
			if nh, err := netip.ParseAddr(h.IP); err == nil {
				rt.nextHop = nh.Unmap()
			}
			entries = append(entries, rt)
		}
		switch {
		case r.Action == facts.RouteDrop || r.Action == facts.RouteReject || r.Action == facts.RouteLocal:
			// What the route does needs no next hop: one entry (with the
			// interface it names, Null0 and the like).
			base.iface = r.Interface
			entries = []route{base}
		case len(entries) == 0:
			continue // neither next hop nor interface: nothing to forward to
		}
		// Connected and local entries restate the interfaces; only a route
		// that leads beyond them makes a routing table.
		if p := strings.ToLower(r.Protocol); entries[0].nextHop.IsValid() || base.action == facts.RouteDrop || base.action == facts.RouteReject ||
			(p != "connected" && p != "local" && p != "direct" && base.action != facts.RouteLocal) {
			t.hasRoutes = true
		}
		pt := table(vrfOf(r.VRF))
		cur, _ := pt.Exact(base.prefix)
		pt.Insert(base.prefix, append(cur, entries...))
	}
	// Connected subnets forward too, unless a collected route already
	// covers exactly that prefix.
	for _, ifc := range d.Ifaces {
		if !up(ifc) {
			continue
		}
		pt := table(vrfOf(ifc.VRF))
		for _, p := range ifc.Prefixes {
			if p.IsSingleIP() {
				continue
			}
			m := p.Masked()
			if _, ok := pt.Exact(m); ok {
				continue
			}
			pt.Insert(m, []route{{prefix: m, iface: ifc.Name, protocol: "connected", connected: true, hasDistance: true}})
		}
	}
	return t
}

// up treats an interface as forwarding unless it is known to be down.
func up(ifc *graph.Interface) bool { return ifc.Up() }

// lookup returns the best routes to dst in vrf: the longest matching
// prefix; among its routes the lowest administrative distance (a route
// whose distance is unknown loses to one whose distance is known), then
// the lowest metric; several left are equal-cost, sorted so that branches
// come out stably.
func (t *routeTable) lookup(vrf string, dst netip.Addr) ([]route, bool) {
	pt := t.vrfs[vrf]
	if pt == nil {
		return nil, false
	}
	_, rs, ok := pt.Lookup(dst)
	if !ok || len(rs) == 0 {
		return nil, false
	}
	if len(rs) > 1 && slices.ContainsFunc(rs, func(r route) bool { return r.hasDistance }) {
		best := -1
		for _, r := range rs {
			if r.hasDistance && (best < 0 || r.distance < best) {
				best = r.distance
			}
		}
		rs = slices.DeleteFunc(slices.Clone(rs), func(r route) bool { return !r.hasDistance || r.distance != best })
	}
	best := slices.MinFunc(rs, func(a, b route) int { return cmp.Compare(a.metric, b.metric) }).metric
	var out []route
	for _, r := range rs {
		if r.metric == best {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b route) int {
		return cmp.Or(a.nextHop.Compare(b.nextHop), strings.Compare(a.iface, b.iface), strings.Compare(a.nhVRF, b.nhVRF), cmp.Compare(a.vni, b.vni))
	})
	return slices.CompactFunc(out, func(a, b route) bool {
		return a.nextHop == b.nextHop && a.iface == b.iface && a.nhVRF == b.nhVRF && a.vni == b.vni && a.action == b.action
	}), true
}

// RouteLookup returns the route d uses for dst in vrf, one entry per next
// hop, exactly as path analysis chooses it (connected subnets included);
// ok is false when d has none.
func (ix *Index) RouteLookup(d *graph.Device, vrf string, dst netip.Addr) (matches []RouteMatch, ok bool) {
	rs, ok := ix.table(d).lookup(vrfOf(vrf), dst.Unmap())
	for _, r := range rs {
		m := RouteMatch{Prefix: r.prefix, NextHop: r.nextHop, Interface: r.iface, NextHopVRF: r.nhVRF, VNI: r.vni,
			Protocol: r.protocol, Metric: r.metric, Action: cmp.Or(r.action, facts.RouteForward), Connected: r.connected}
		if r.hasDistance {
			m.AdminDistance = &r.distance
		}
		matches = append(matches, m)
	}
	return matches, ok
}

// ifaceFor returns d's interface in vrf whose subnet contains a.
func ifaceFor(d *graph.Device, vrf string, a netip.Addr) *graph.Interface {
	var best *graph.Interface
	bits := -1
	for _, ifc := range d.Ifaces {
		if vrfOf(ifc.VRF) != vrf {
			continue
		}
		for _, p := range ifc.Prefixes {
			if p.Contains(a) && p.Bits() > bits {
				best, bits = ifc, p.Bits()
			}
		}
	}
	return best
}

// ownsAddr returns d's interface configured with exactly a; where several
// are (an unnumbered /32 borrowed from the loopback), the one that owns
// it: the interface of its subnet, else the loopback, else the first.
func ownsAddr(d *graph.Device, a netip.Addr) *graph.Interface {
	var best *graph.Interface
	bestRank := -1
	for _, ifc := range d.Ifaces {
		for _, p := range ifc.Prefixes {
			if p.Addr() != a {
				continue
			}
			rank := 0
			switch {
			case !p.IsSingleIP():
				rank = 2
			case isLoopback(ifc):
				rank = 1
			}
			if rank > bestRank {
				best, bestRank = ifc, rank
			}
		}
	}
	return best
}

// isLoopback reports whether ifc is a loopback, by type or by name
// (lo0.0, Loopback0, lo).
func isLoopback(ifc *graph.Interface) bool {
	if ifc.Type != "" {
		return ifc.Type == "loopback"
	}
	n := strings.ToLower(ifc.Name)
	return strings.HasPrefix(n, "loopback") || n == "lo" || strings.HasPrefix(n, "lo0") || (strings.HasPrefix(n, "lo") && len(n) > 2 && n[2] >= '0' && n[2] <= '9')
}

// ScanShadowed runs the shadow analysis of the given firewalls (those not
// done yet), one per CPU at a time, so that a query over every firewall
// uses the machine. It stops early when ctx is cancelled.
func ScanShadowed(ctx context.Context, fws []*Firewall) error {
	return parallel(ctx, fws, func(fw *Firewall) { fw.Shadowed() })
}

// CompileAll compiles the policies of the given firewalls not compiled yet,
// one per CPU at a time.
func CompileAll(ctx context.Context, fws []*Firewall) error {
	return parallel(ctx, fws, func(fw *Firewall) { fw.Policy() })
}

func parallel(ctx context.Context, fws []*Firewall, f func(*Firewall)) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for _, fw := range fws {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			f(fw)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
