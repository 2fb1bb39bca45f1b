// Package pathanalysis answers "is this flow permitted, and by which rule?"
// over one graph version: it follows the routing tables hop by hop from the
// source's gateway (longest-prefix match per VRF, next hops resolved to the
// device that owns them, the topology where a device has no routes),
// branches over equal-cost routes, detects loops, and at every firewall on
// the way asks the compiled policy which rule decides the flow.
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
)

// Index is what path analysis and the firewall queries need beyond the
// graph: compiled firewall policies and per-VRF routing tables. It is built
// once per graph version and is safe for concurrent use.
type Index struct {
	G *graph.Graph
	// Firewalls are the compiled policies of every device with one, sorted
	// by hostname.
	Firewalls []*Firewall
	byDevice  []*Firewall   // by device index; nil where none
	tables    []*routeTable // by device index
}

// Firewall is one device's compiled policy, with its shadow analysis done
// on first use.
type Firewall struct {
	Device *graph.Device
	Policy *firewall.Policy

	once     sync.Once
	shadowed []firewall.Shadow
	stats    firewall.ShadowStats
}

// Shadowed returns the firewall's shadowed rules, computing them once.
func (f *Firewall) Shadowed() ([]firewall.Shadow, firewall.ShadowStats) {
	f.once.Do(func() { f.shadowed, f.stats = f.Policy.Shadowed() })
	return f.shadowed, f.stats
}

// route is one forwarding entry: a collected route or a connected subnet.
type route struct {
	prefix    netip.Prefix
	nextHop   netip.Addr // invalid: directly connected / interface route
	iface     string
	protocol  string
	metric    int
	connected bool
}

// routeTable is a device's forwarding state: one longest-prefix-match table
// per VRF. hasRoutes says whether any route was collected at all; a device
// without one falls back to the topology.
type routeTable struct {
	vrfs      map[string]*graph.PrefixTable[[]route]
	hasRoutes bool
}

// NewIndex compiles every firewall policy and routing table of g.
func NewIndex(g *graph.Graph) *Index {
	ix := &Index{G: g, byDevice: make([]*Firewall, len(g.Devices)), tables: make([]*routeTable, len(g.Devices))}
	for _, d := range g.Devices {
		if d.Firewall != nil {
			f := &Firewall{Device: d, Policy: firewall.Compile(d.Hostname, d.Firewall, d.Device.Interfaces)}
			ix.byDevice[d.Index] = f
			ix.Firewalls = append(ix.Firewalls, f)
		}
		ix.tables[d.Index] = buildTable(d)
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
		rt := route{prefix: p.Masked(), iface: r.Interface, protocol: r.Protocol, metric: r.Metric}
		if r.NextHop != "" {
			if nh, err := netip.ParseAddr(r.NextHop); err == nil {
				rt.nextHop = nh.Unmap()
			}
		}
		if !rt.nextHop.IsValid() && rt.iface == "" {
			continue // neither next hop nor interface: nothing to forward to
		}
		t.hasRoutes = true
		pt := table(vrfOf(r.VRF))
		cur, _ := pt.Exact(rt.prefix)
		pt.Insert(rt.prefix, append(cur, rt))
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
			pt.Insert(m, []route{{prefix: m, iface: ifc.Name, protocol: "connected", connected: true}})
		}
	}
	return t
}

// up treats an interface as forwarding unless it is known to be down.
func up(ifc *graph.Interface) bool {
	return (ifc.AdminUp == nil || *ifc.AdminUp) && (ifc.OperUp == nil || *ifc.OperUp)
}

// lookup returns the best routes to dst in vrf: the longest matching
// prefix, and among its routes the lowest metric; several left are
// equal-cost, sorted so that branches come out stably.
func (t *routeTable) lookup(vrf string, dst netip.Addr) ([]route, bool) {
	pt := t.vrfs[vrf]
	if pt == nil {
		return nil, false
	}
	_, rs, ok := pt.Lookup(dst)
	if !ok || len(rs) == 0 {
		return nil, false
	}
	best := slices.MinFunc(rs, func(a, b route) int { return cmp.Compare(a.metric, b.metric) }).metric
	var out []route
	for _, r := range rs {
		if r.metric == best {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b route) int {
		return cmp.Or(a.nextHop.Compare(b.nextHop), strings.Compare(a.iface, b.iface))
	})
	return slices.CompactFunc(out, func(a, b route) bool { return a.nextHop == b.nextHop && a.iface == b.iface }), true
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

// ownsAddr returns d's interface configured with exactly a.
func ownsAddr(d *graph.Device, a netip.Addr) *graph.Interface {
	for _, ifc := range d.Ifaces {
		for _, p := range ifc.Prefixes {
			if p.Addr() == a {
				return ifc
			}
		}
	}
	return nil
}

// ScanShadowed runs the shadow analysis of the given firewalls (those not
// done yet), one per CPU at a time, so that a query over every firewall
// uses the machine. It stops early when ctx is cancelled.
func ScanShadowed(ctx context.Context, fws []*Firewall) error {
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
			fw.Shadowed()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
