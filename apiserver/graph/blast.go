package graph

import (
	"cmp"
	"net/netip"
	"slices"
)

// failure is what a blast-radius question takes out of the graph: any
// set of devices and links at once (a chaos scenario is several).
type failure struct {
	devices []bool // indexed by Device.Index; nil when no device fails
	links   []bool // indexed by Link.Index; nil when no link fails
}

func (f failure) linkDown(l *Link) bool { return f.links != nil && f.links[l.Index] }

func (f failure) deviceDown(i int) bool { return f.devices != nil && f.devices[i] }

// markFailed marks the failed devices in seen so that no search enters them.
func (f failure) markFailed(seen []bool) {
	for i, down := range f.devices {
		if down {
			seen[i] = true
		}
	}
}

// unmarkFailed clears the failed devices again: they reach nothing.
func (f failure) unmarkFailed(seen []bool) {
	for i, down := range f.devices {
		if down {
			seen[i] = false
		}
	}
}

func (g *Graph) deviceFailure(d *Device) failure {
	devices := make([]bool, len(g.Devices))
	devices[d.Index] = true
	return failure{devices: devices}
}

// reachable marks the devices that still reach a root once f is applied.
// Roots are devices whose role is a root role; with none, the largest
// connected component that remains (ties go to the component holding the
// first hostname) stands in for the network's core.
func (g *Graph) reachable(f failure) []bool {
	seen := make([]bool, len(g.Devices))
	queue := make([]int, 0, 64)
	f.markFailed(seen) // never entered
	bfs := func(start []int) []int {
		queue = queue[:0]
		for _, s := range start {
			if !seen[s] {
				seen[s] = true
				queue = append(queue, s)
			}
		}
		for i := 0; i < len(queue); i++ {
			for _, a := range g.Devices[queue[i]].Adj {
				if seen[a.Peer] || f.linkDown(a.Link) {
					continue
				}
				seen[a.Peer] = true
				queue = append(queue, a.Peer)
			}
		}
		return queue
	}
	if g.hasRoot {
		bfs(g.roots) // the failed devices are already marked seen
		f.unmarkFailed(seen)
		return seen
	}
	// No roots: find the largest component, then mark only it.
	best, bestStart := -1, -1
	for _, d := range g.Devices {
		if seen[d.Index] {
			continue
		}
		if n := len(bfs([]int{d.Index})); n > best {
			best, bestStart = n, d.Index
		}
	}
	clear(seen)
	f.markFailed(seen)
	if bestStart >= 0 {
		bfs([]int{bestStart})
	}
	f.unmarkFailed(seen)
	return seen
}

// BlastRadius is what a failure takes down.
type BlastRadius struct {
	// Devices lost every path to the roots (the failed devices excluded),
	// sorted by hostname.
	Devices []*Device
	// Endpoints on affected devices, on the failed device or port, or in
	// the failed VLAN or subnet; sorted by hostname, port, MAC.
	Endpoints []*Endpoint
	// ByVLAN counts affected endpoints per VLAN, sorted by VLAN.
	ByVLAN []VLANCount
}

// VLANCount is the number of affected endpoints in one VLAN.
type VLANCount struct {
	VLAN      int
	Endpoints int
}

// BlastDevice fails device d.
func (g *Graph) BlastDevice(d *Device) BlastRadius {
	return g.blast(g.deviceFailure(d), d.Endpoints)
}

// BlastInterface fails one port: every link on it goes down, and what was
// plugged into it loses service.
func (g *Graph) BlastInterface(d *Device, ifname string) BlastRadius {
	links := make([]bool, len(g.Links))
	return g.blast(failure{links: links}, g.failInterface(links, d, ifname, nil))
}

// failInterface marks the links on d's port ifname down and appends what
// is plugged into it to eps.
func (g *Graph) failInterface(links []bool, d *Device, ifname string, eps []*Endpoint) []*Endpoint {
	for _, l := range g.Links {
		if (l.A.Device == d && l.A.Interface == ifname) || (l.B.Device == d && l.B.Interface == ifname) {
			links[l.Index] = true
		}
	}
	for _, ep := range d.Endpoints {
		if ep.Interface == ifname {
			eps = append(eps, ep)
		}
	}
	return eps
}

// BlastVLAN fails VLAN v: links that exist only to carry v go down (both
// ends carry v and nothing else), and every endpoint in v loses service.
func (g *Graph) BlastVLAN(v int) BlastRadius {
	links := make([]bool, len(g.Links))
	return g.blast(failure{links: links}, g.failVLAN(links, v, nil))
}

// failVLAN marks the links that carry only v down and appends v's
// endpoints to eps.
func (g *Graph) failVLAN(links []bool, v int, eps []*Endpoint) []*Endpoint {
	only := func(i *Interface) bool {
		return i != nil && !i.allVLANs && len(i.carries) == 1 && i.carries[0] == v
	}
	for _, l := range g.Links {
		if only(l.A.Iface) && only(l.B.Iface) {
			links[l.Index] = true
		}
	}
	for _, d := range g.Devices {
		for _, ep := range d.Endpoints {
			if ep.VLAN == v {
				eps = append(eps, ep)
			}
		}
	}
	return eps
}

// BlastSubnet fails subnet p: links whose two ends are both addressed in p
// go down (a routed point-to-point link), and every endpoint with an
// address in p loses service.
func (g *Graph) BlastSubnet(p netip.Prefix) BlastRadius {
	links := make([]bool, len(g.Links))
	return g.blast(failure{links: links}, g.failSubnet(links, p, nil))
}

// failSubnet marks the links addressed at both ends in p down and appends
// the endpoints addressed in p to eps.
func (g *Graph) failSubnet(links []bool, p netip.Prefix, eps []*Endpoint) []*Endpoint {
	p = p.Masked()
	in := func(i *Interface) bool {
		if i == nil {
			return false
		}
		for _, q := range i.Prefixes {
			if p.Contains(q.Addr()) {
				return true
			}
		}
		return false
	}
	for _, l := range g.Links {
		if in(l.A.Iface) && in(l.B.Iface) {
			links[l.Index] = true
		}
	}
	for _, d := range g.Devices {
		for _, ep := range d.Endpoints {
			if slices.ContainsFunc(ep.IPs, func(a ARPAddr) bool { return p.Contains(a.IP) }) {
				eps = append(eps, ep)
			}
		}
	}
	return eps
}

// blast applies f and collects what it takes down: devices that reached
// a root before and do not now, their endpoints, and extra endpoints
// (given in device-index order) that the failure hits directly.
func (g *Graph) blast(f failure, extra []*Endpoint) BlastRadius {
	return g.blastAfter(f, g.reachable(f), extra)
}

// blastAfter is blast with the reachability after f already computed.
func (g *Graph) blastAfter(f failure, after []bool, extra []*Endpoint) BlastRadius {
	var br BlastRadius
	affected := make([]bool, len(g.Devices))
	for i, d := range g.Devices {
		if g.rooted[i] && !after[i] && !f.deviceDown(i) {
			affected[i] = true
			br.Devices = append(br.Devices, d)
		}
	}
	counts := map[int]int{}
	add := func(ep *Endpoint) {
		br.Endpoints = append(br.Endpoints, ep)
		counts[ep.VLAN]++
	}
	// Merge the affected devices' endpoints with the extras, both in
	// device order, so the answer is sorted by device, port, MAC.
	k := 0
	for _, d := range br.Devices {
		for k < len(extra) && extra[k].Device.Index < d.Index {
			add(extra[k])
			k++
		}
		for k < len(extra) && extra[k].Device == d {
			k++ // covered by the device's own endpoints
		}
		for _, ep := range d.Endpoints {
			add(ep)
		}
	}
	for ; k < len(extra); k++ {
		add(extra[k])
	}
	for v, n := range counts {
		br.ByVLAN = append(br.ByVLAN, VLANCount{VLAN: v, Endpoints: n})
	}
	slices.SortFunc(br.ByVLAN, func(a, b VLANCount) int { return cmp.Compare(a.VLAN, b.VLAN) })
	return br
}

// Hop is one device on a path with the ports the path enters and leaves by.
type Hop struct {
	Device *Device
	In     string
	Out    string
}

// ShortestPath returns the fewest-links path from src to dst over known
// devices (nil when none). Among equal paths the one through the smaller
// device indexes (hostname order) wins, so answers are stable.
func (g *Graph) ShortestPath(src, dst *Device) []Hop {
	prev := make([]int32, len(g.Devices))
	via := make([]*Link, len(g.Devices))
	for i := range prev {
		prev[i] = -1
	}
	prev[src.Index] = int32(src.Index)
	queue := []int{src.Index}
	for i := 0; i < len(queue) && prev[dst.Index] < 0; i++ {
		cur := g.Devices[queue[i]]
		adj := slices.Clone(cur.Adj)
		slices.SortFunc(adj, func(a, b Adj) int {
			return cmp.Or(cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.Link.Index, b.Link.Index))
		})
		for _, a := range adj {
			if prev[a.Peer] >= 0 {
				continue
			}
			prev[a.Peer] = int32(cur.Index)
			via[a.Peer] = a.Link
			queue = append(queue, a.Peer)
		}
	}
	if prev[dst.Index] < 0 {
		return nil
	}
	var rev []int
	for n := dst.Index; ; n = int(prev[n]) {
		rev = append(rev, n)
		if n == src.Index {
			break
		}
	}
	slices.Reverse(rev)
	hops := make([]Hop, len(rev))
	for i, n := range rev {
		hops[i].Device = g.Devices[n]
		if i > 0 {
			l := via[n]
			hops[i].In = l.portOn(g.Devices[n])
			hops[i-1].Out = l.portOn(g.Devices[rev[i-1]])
		}
	}
	return hops
}

// portOn returns the link's interface on d.
func (l *Link) portOn(d *Device) string {
	if l.A.Device == d {
		return l.A.Interface
	}
	return l.B.Interface
}
