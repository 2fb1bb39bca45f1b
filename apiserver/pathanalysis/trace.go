package pathanalysis

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// Limits of one analysis.
const (
	// MaxBranches caps the equal-cost paths reported; Result.Truncated says
	// when more existed.
	MaxBranches = 16
	// MaxHops ends a path that has not arrived after this many devices.
	MaxHops = 64
)

// Query is one flow to analyse.
type Query struct {
	Src, Dst netip.Addr
	// Services is the flow's protocol×port set (one port, every port of a
	// protocol, or every service).
	Services firewall.Ranges
}

// Hop is one device on one path.
type Hop struct {
	Device          *graph.Device
	VRF             string
	In, Out         string // interface names; "" where there is none
	InZone, OutZone string
	NextHop         netip.Addr // invalid where the hop delivers or falls back to links
	// Firewall is set at firewalls; Decision is its answer once the flow
	// has an exit there (zero, with an empty Verdict, where it had none).
	Firewall *Firewall
	Decision firewall.Decision
	// Note says how the hop forwarded: "route 10.9.0.0/16 via 10.0.0.2",
	// "connected", "topology (no routes)", "delivered", …
	Note string
}

// Path is one branch from the gateway to where it ends.
type Path struct {
	Hops    []Hop
	Verdict string
	Reason  string
}

// Result is the answer for a flow.
type Result struct {
	Verdict string
	Reason  string
	Paths   []Path
	// Truncated is set when more equal-cost paths existed than MaxBranches.
	Truncated bool
}

type tracer struct {
	ix        *Index
	q         Query
	paths     []Path
	truncated bool
}

type stateKey struct {
	dev int
	vrf string
}

// Analyze follows the flow from the source's gateway to the destination.
func (ix *Index) Analyze(q Query) Result {
	q.Src, q.Dst = q.Src.Unmap(), q.Dst.Unmap()
	t := &tracer{ix: ix, q: q}
	// Two hosts of one subnet talk on their segment: no router or firewall
	// sees the traffic. A device of the subnet that owns the destination
	// receives it there, not the subnet's router.
	if sub, ok := ix.G.SubnetFor(q.Src); ok && sub.Prefix.Contains(q.Dst) && len(ix.G.InterfacesByIP(q.Src)) == 0 {
		owners, shared, why := ix.segmentOwners(q.Dst, sub.VRF, nil)
		switch {
		case why != "":
			return Result{Verdict: firewall.VerdictUnknown, Reason: why}
		case len(owners) > 0:
			t.segmentStart(sub, owners, shared)
			return t.result()
		case len(ix.G.InterfacesByIP(q.Dst)) == 0:
			return Result{Verdict: firewall.VerdictPermit, Reason: fmt.Sprintf(
				"%s and %s are in the same subnet %s: switched within the segment, no router or firewall on the path", q.Src, q.Dst, sub.Prefix)}
		}
		// Held only off the segment (a /32 elsewhere): from the gateway.
	}
	starts, why, note := ix.gateways(q.Src)
	if len(starts) == 0 {
		return Result{Verdict: firewall.VerdictUnknown, Reason: why}
	}
	for _, s := range starts {
		t.walk(s.dev, s.in, s.vrf, nil, map[stateKey]bool{})
	}
	r := t.result()
	if note != "" {
		r.Reason += "; " + note
	}
	return r
}

type start struct {
	dev *graph.Device
	in  string
	vrf string
}

// gateways finds where the flow enters the network: the device that has
// the source address itself, else the gateway of the source's subnet: of
// the devices with an interface in it, those that are not hosts, then
// those holding a gateway address there, then routing devices (or
// firewalls), then those that hold the source in ARP. Several gateways (a
// redundant pair) become several paths; holders of one anycast or virtual
// gateway all stay, and note says so.
func (ix *Index) gateways(src netip.Addr) (starts []start, why, note string) {
	if owners := ix.G.InterfacesByIP(src); len(owners) > 0 {
		ifc := ownsAddr(owners[0].Device, src)
		// The same address on two devices (a duplicate, or the same
		// address in two VRFs) leaves the sender unknown: no guess.
		if slices.ContainsFunc(owners, func(o *graph.Interface) bool { return o.Device != ifc.Device }) {
			return nil, fmt.Sprintf("the source %s is configured on more than one device (%s): which one sends the flow is not known",
				src, ownerNames(owners)), ""
		}
		return []start{{ifc.Device, ifc.Name, vrfOf(ifc.VRF)}}, "", ""
	}
	sub, ok := ix.G.SubnetFor(src)
	if !ok {
		return nil, fmt.Sprintf("no subnet in the graph contains the source %s", src), ""
	}
	type cand struct {
		start
		host, gateway, routes, arp bool
		shared                     netip.Addr // a virtual or anycast address it holds in the subnet
		sharedRole                 string
	}
	var cands []cand
	for _, h := range sub.Devices {
		d := ix.G.Device(h)
		if d == nil {
			continue
		}
		ifc := ifaceFor(d, sub.VRF, src)
		if ifc == nil {
			continue
		}
		c := cand{start: start{d, ifc.Name, sub.VRF}, routes: ix.table(d).hasRoutes, host: hostRoles[strings.ToLower(d.Role)]}
		for _, p := range ifc.Prefixes {
			if p.IsSingleIP() || !p.Contains(src) {
				continue
			}
			if ifc.Shared(p.Addr()) {
				c.gateway, c.shared, c.sharedRole = true, p.Addr(), addrRole(ifc, p.Addr())
			}
			if ix.isNextHop(p.Addr()) {
				c.gateway = true
			}
		}
		for _, e := range d.ARP {
			if e.IP == src.String() {
				c.arp = true
				break
			}
		}
		cands = append(cands, c)
	}
	keep := func(f func(cand) bool) {
		if slices.ContainsFunc(cands, f) {
			cands = slices.DeleteFunc(cands, func(c cand) bool { return !f(c) })
		}
	}
	// A server or other host of the subnet is never its gateway, even
	// with a default route and the source in its ARP table; a gateway
	// address (virtual, anycast, or the next hop the subnet's hosts route
	// by) beats one that is only configured there.
	if len(cands) > 0 && !slices.ContainsFunc(cands, func(c cand) bool { return !c.host }) {
		var names []string
		for _, c := range cands {
			names = append(names, c.dev.Hostname)
		}
		return nil, fmt.Sprintf("the gateway of %s, the source's subnet, is not in the graph: only hosts (%s) have an interface in it",
			sub.Prefix, strings.Join(names, ", ")), ""
	}
	keep(func(c cand) bool { return !c.host })
	keep(func(c cand) bool { return c.gateway })
	keep(func(c cand) bool { return c.routes || ix.byDevice[c.dev.Index] != nil })
	// Every holder of a shared gateway address answers for it: ARP on one
	// of them does not make the others wrong first hops.
	if len(cands) > 1 && cands[0].shared.IsValid() && !slices.ContainsFunc(cands, func(c cand) bool { return c.shared != cands[0].shared }) {
		var names []string
		for _, c := range cands {
			names = append(names, c.dev.Hostname)
		}
		if cands[0].sharedRole == facts.RoleAnycast {
			note = fmt.Sprintf("first hop: the anycast gateway %s on %s, each a valid first hop (as equal-cost paths)", cands[0].shared, strings.Join(names, ", "))
		} else {
			note = fmt.Sprintf("first hop: the virtual gateway %s on %s, whichever holds it", cands[0].shared, strings.Join(names, ", "))
		}
	} else {
		keep(func(c cand) bool { return c.arp })
	}
	var out []start
	for _, c := range cands {
		out = append(out, c.start)
	}
	if len(out) == 0 {
		return nil, fmt.Sprintf("no device has an interface in %s, the source's subnet", sub.Prefix), ""
	}
	return out, "", note
}

// ownerNames names the devices holding an address once each, with their
// interfaces: "exit01 (lo0.0, xe-0/0/0.0), exit02 lo0.0".
func ownerNames(ifcs []*graph.Interface) string {
	byHost := map[string][]string{}
	var hosts []string
	for _, o := range ifcs {
		h := o.Device.Hostname
		if _, ok := byHost[h]; !ok {
			hosts = append(hosts, h)
		}
		byHost[h] = append(byHost[h], o.Name)
	}
	slices.Sort(hosts)
	names := make([]string, len(hosts))
	for i, h := range hosts {
		ports := byHost[h]
		slices.Sort(ports)
		if len(ports) == 1 {
			names[i] = h + " " + ports[0]
		} else {
			names[i] = h + " (" + strings.Join(ports, ", ") + ")"
		}
	}
	return strings.Join(names, ", ")
}

// hostRoles are device roles of end systems: in the facts (a server's own
// collector reports it), never a subnet's gateway.
var hostRoles = map[string]bool{"server": true, "host": true, "hypervisor": true, "workstation": true,
	"vm": true, "endpoint": true, "storage": true, "client": true}

// addrRole is the role the interface gives address a.
func addrRole(ifc *graph.Interface, a netip.Addr) string {
	for _, x := range ifc.Addresses {
		if p, err := netip.ParsePrefix(x.IP); err == nil && p.Addr() == a {
			return x.Role
		}
	}
	return ""
}

// isNextHop reports whether any device routes by a: the gateway address
// of a subnet is the next hop of its hosts' default routes.
func (ix *Index) isNextHop(a netip.Addr) bool {
	ix.nhOnce.Do(func() {
		ix.nextHops = map[netip.Addr]bool{}
		for _, d := range ix.G.Devices {
			for _, r := range d.Routes {
				for _, h := range r.Hops() {
					if nh, err := netip.ParseAddr(h.IP); err == nil {
						ix.nextHops[nh.Unmap()] = true
					}
				}
			}
		}
	})
	return ix.nextHops[a]
}

// walk forwards from device dev, entered by interface in, in vrf.
func (t *tracer) walk(dev *graph.Device, in, vrf string, path []Hop, seen map[stateKey]bool) {
	if len(t.paths) >= MaxBranches {
		t.truncated = true
		return
	}
	hop := Hop{Device: dev, VRF: vrf, In: in, Firewall: t.ix.byDevice[dev.Index]}
	if hop.Firewall != nil {
		hop.InZone = hop.Firewall.Policy().ZoneOf(in)
	}
	key := stateKey{dev.Index, vrf}
	if seen[key] {
		hop.Note = "loop"
		var names []string
		for _, h := range path {
			names = append(names, h.Device.Hostname)
		}
		names = append(names, dev.Hostname)
		t.finish(append(path, hop), firewall.VerdictDeny, "routing loop: "+strings.Join(names, " → "))
		return
	}
	if len(path) >= MaxHops {
		t.finish(append(path, hop), firewall.VerdictDeny, fmt.Sprintf("no arrival after %d hops", MaxHops))
		return
	}
	seen[key] = true
	defer delete(seen, key)
	dst := t.q.Dst

	if ifc := ownsAddr(dev, dst); ifc != nil {
		hop.Out, hop.Note = ifc.Name, "delivered (address of this device)"
		t.deliver(path, hop)
		return
	}
	table := t.ix.table(dev)
	routes, ok := table.lookup(vrf, dst)
	if !ok {
		if table.hasRoutes {
			hop.Note = "no route"
			t.finish(append(path, hop), firewall.VerdictDeny, fmt.Sprintf("no route to %s on %s%s", dst, dev.Hostname, vrfSuffix(vrf)))
			return
		}
		t.topology(dev, hop, path, seen)
		return
	}
	for _, r := range routes {
		h := hop
		switch r.action {
		case facts.RouteDrop, facts.RouteReject:
			h.Note = "route " + r.prefix.String() + ": " + r.action
			verb := "dropped"
			if r.action == facts.RouteReject {
				verb = "rejected"
			}
			t.finish(append(path, h), firewall.VerdictDeny, fmt.Sprintf("%s by route %s on %s%s", verb, r.prefix, dev.Hostname, vrfSuffix(vrf)))
			continue
		case facts.RouteLocal:
			h.Note = "delivered (local route " + r.prefix.String() + ")"
			t.deliver(path, h)
			continue
		}
		if r.vni > 0 && r.nextHop.IsValid() {
			t.overlay(dev, h, path, seen, r)
			continue
		}
		// A leaked route resolves its next hop in another VRF, and the
		// flow goes on in that VRF.
		nvrf := cmp.Or(r.nhVRF, vrf)
		if !r.nextHop.IsValid() {
			h.Out = r.iface
			if ifc := dev.Iface(r.iface); ifc != nil && slices.ContainsFunc(ifc.Prefixes, func(p netip.Prefix) bool { return p.Contains(dst) }) {
				// On the destination's segment: a device there that owns
				// it receives it; delivered here only when none does.
				owners, shared, why := t.ix.segmentOwners(dst, vrf, dev)
				switch {
				case why != "":
					h.Note = "connected " + r.prefix.String()
					t.finish(append(path, h), firewall.VerdictUnknown, why)
				case len(owners) > 0:
					h.Note = "connected " + r.prefix.String()
					t.toOwner(dev, h, path, seen, owners, shared)
				default:
					h.Note = "delivered (connected " + r.prefix.String() + ")"
					t.deliver(path, h)
				}
				continue
			}
			// An interface route to a subnet that is not configured here:
			// the next device is whatever the link on that port reaches.
			peer, peerIn := linkPeer(dev, r.iface)
			h.Note = "route " + r.prefix.String() + " out " + r.iface
			if peer == nil {
				h.Note += "; no known device beyond"
				t.exit(path, h, fmt.Sprintf("leaves the known network at %s out %s", dev.Hostname, r.iface))
				continue
			}
			if !t.firewallPasses(&h) {
				t.finishDenied(path, h)
				continue
			}
			t.walk(peer, peerIn, vrfOf(ifaceVRF(peer, peerIn, vrf)), append(path, h), seen)
			continue
		}
		h.NextHop = r.nextHop
		h.Note = "route " + r.prefix.String() + " via " + r.nextHop.String()
		if nvrf != vrf {
			h.Note += " (vrf " + nvrf + ")"
		}
		for _, x := range t.ix.resolveNextHop(dev, nvrf, r) {
			hh := h
			hh.Out = x.out
			if x.why != "" {
				hh.Note += "; unresolved"
				t.finish(append(path, hh), firewall.VerdictUnknown, x.why)
				continue
			}
			if x.via != r.nextHop {
				hh.Note += " (resolved via " + x.via.String() + " out " + x.out + ")"
			}
			if !t.firewallPasses(&hh) {
				t.finishDenied(path, hh)
				continue
			}
			if x.unknownPeer != "" {
				t.finish(append(path, hh), firewall.VerdictUnknown, x.unknownPeer)
				continue
			}
			if x.dev == nil {
				t.exit(path, hh, fmt.Sprintf("leaves the known network at %s towards %s", dev.Hostname, x.via))
				continue
			}
			t.walk(x.dev, x.in, vrfOf(ifaceVRF(x.dev, x.in, nvrf)), append(path, hh), seen)
		}
	}
}

// overlay forwards over a route whose next hop is a remote VTEP reached
// with a VNI (an EVPN type-5 route): encapsulated towards the VTEP, which
// decapsulates into the VRF its VXLAN map gives the VNI. The underlay in
// between carries the encapsulated packet, which no firewall there sees
// as this flow, so the path goes from VTEP to VTEP; the underlay must
// have a route to the remote VTEP.
func (t *tracer) overlay(dev *graph.Device, h Hop, path []Hop, seen map[stateKey]bool, r route) {
	under := cmp.Or(r.nhVRF, graph.DefaultVRF)
	vtep := r.nextHop
	h.NextHop = vtep
	h.Out = vxlanIface(dev)
	h.Note = fmt.Sprintf("route %s via VTEP %s, VXLAN VNI %d", r.prefix, vtep, r.vni)
	if _, ok := t.ix.table(dev).lookup(under, vtep); !ok {
		t.finish(append(path, h), firewall.VerdictUnknown, fmt.Sprintf("%s has no underlay route to the VTEP %s%s", dev.Hostname, vtep, vrfSuffix(under)))
		return
	}
	owners := t.ix.vtepOwners(vtep)
	if len(owners) == 0 {
		t.exit(path, h, fmt.Sprintf("leaves the known network at %s towards the VTEP %s", dev.Hostname, vtep))
		return
	}
	if !t.firewallPasses(&h) {
		t.finishDenied(path, h)
		return
	}
	for _, o := range owners {
		hh := h
		if len(owners) > 1 {
			hh.Note += " (" + o.Hostname + ")"
		}
		if o == dev {
			t.finish(append(path, hh), firewall.VerdictUnknown, fmt.Sprintf("the VTEP %s of route %s is %s itself", vtep, r.prefix, dev.Hostname))
			continue
		}
		vrf, ok := l3VNI(o, r.vni)
		if !ok {
			t.finish(append(path, hh), firewall.VerdictUnknown, fmt.Sprintf(
				"%s, the VTEP %s, maps no VRF to VNI %d: where the flow goes after decapsulation is not known", o.Hostname, vtep, r.vni))
			continue
		}
		t.walk(o, vxlanIface(o), vrf, append(path, hh), seen)
	}
}

func vrfSuffix(vrf string) string {
	if vrf == graph.DefaultVRF {
		return ""
	}
	return " (vrf " + vrf + ")"
}

func ifaceVRF(d *graph.Device, name, fallback string) string {
	if ifc := d.Iface(name); ifc != nil {
		return ifc.VRF
	}
	return fallback
}

// linkPeer returns the device at the far end of d's port and its port.
func linkPeer(d *graph.Device, port string) (*graph.Device, string) {
	ifc := d.Iface(port)
	if ifc == nil {
		return nil, ""
	}
	for _, l := range ifc.Links {
		if !l.Up {
			continue
		}
		switch {
		case l.A.Device == d && l.A.Interface == port && l.B.Device != nil && l.B.Device != d:
			return l.B.Device, l.B.Interface
		case l.B.Device == d && l.B.Interface == port && l.A.Device != nil && l.A.Device != d:
			return l.A.Device, l.A.Interface
		}
	}
	return nil, ""
}

// maxRecursion bounds recursive next-hop resolution (a next hop resolved
// through a route whose next hop is resolved through another, …).
const maxRecursion = 8

// resolved is where a route's next hop leads: the interface the packet
// leaves by, the connected next hop it is sent to, and the adjacent device
// (nil beyond the known network) with the interface it arrives on. why
// says why the next hop could not be resolved; unknownPeer why the device
// it is sent to cannot be told.
type resolved struct {
	out         string
	via         netip.Addr
	dev         *graph.Device
	in          string
	why         string
	unknownPeer string
}

// resolveNextHop resolves route r's next hop on dev as a router does: a
// next hop on a connected subnet (or a route that names its interface) is
// sent out of that interface to the adjacent device holding the address;
// any other is looked up in the same device's routing table, recursively,
// until a connected next hop is found. Equal-cost routes met on the way
// give several results. The flow only ever moves to an adjacent device, so
// no firewall in between is skipped.
func (ix *Index) resolveNextHop(dev *graph.Device, vrf string, r route) []resolved {
	unresolved := func(cause string) []resolved {
		return []resolved{{why: fmt.Sprintf("next hop %s of route %s on %s cannot be resolved: %s", r.nextHop, r.prefix, dev.Hostname, cause)}}
	}
	var out []resolved
	var cause string
	var chain []netip.Addr // next hops being resolved, to detect a cycle
	var resolve func(nh netip.Addr, iface string, depth int) bool
	resolve = func(nh netip.Addr, iface string, depth int) bool {
		if ownsAddr(dev, nh) != nil {
			// Sent to itself: no interface to leave by, and no in
			// interface to borrow as one.
			cause = fmt.Sprintf("%s is an address of %s itself", nextHopName(nh, r.nextHop), dev.Hostname)
			return false
		}
		if iface == "" {
			if ifc := connectedIface(dev, vrf, nh); ifc != nil {
				iface = ifc.Name
			}
		}
		if iface != "" {
			out = append(out, ix.adjacentOwner(dev, iface, nh))
			return true
		}
		if slices.Contains(chain, nh) {
			cause = "it resolves through itself"
			return false
		}
		if depth >= maxRecursion {
			cause = fmt.Sprintf("more than %d recursive lookups", maxRecursion)
			return false
		}
		routes, ok := ix.table(dev).lookup(vrf, nh)
		if !ok {
			cause = fmt.Sprintf("%s has no route to %s", dev.Hostname, nextHopName(nh, r.nextHop))
			return false
		}
		chain = append(chain, nh)
		defer func() { chain = chain[:len(chain)-1] }()
		for _, sub := range routes {
			if !sub.nextHop.IsValid() {
				// An interface route: sent out of that port to nh, which
				// whatever is linked there answers for.
				peer, peerIn := linkPeer(dev, sub.iface)
				out = append(out, resolved{out: sub.iface, via: nh, dev: peer, in: peerIn})
				continue
			}
			if !resolve(sub.nextHop, sub.iface, depth+1) {
				return false
			}
		}
		return true
	}
	if !resolve(r.nextHop, r.iface, 0) {
		return unresolved(cause)
	}
	return out
}

func nextHopName(nh, first netip.Addr) string {
	if nh == first {
		return "it"
	}
	return nh.String()
}

// connectedIface returns d's forwarding interface in vrf whose subnet
// contains a. A host prefix (a /32 borrowed by an unnumbered interface)
// is no subnet: it contains only the device's own address.
func connectedIface(d *graph.Device, vrf string, a netip.Addr) *graph.Interface {
	var best *graph.Interface
	bits := -1
	for _, ifc := range d.Ifaces {
		if vrfOf(ifc.VRF) != vrf {
			continue
		}
		for _, p := range ifc.Prefixes {
			if !p.IsSingleIP() && p.Contains(a) && p.Bits() > bits {
				best, bits = ifc, p.Bits()
			}
		}
	}
	if best == nil || !up(best) {
		return nil
	}
	return best
}

// adjacentOwner resolves a connected next hop nh, sent out of d's port
// out, to the device that holds it: one linked to d on that port first,
// then one linked to d elsewhere, then one with an interface in the same
// subnet (reached through switches); the lowest hostname among equals.
// No holder at all is beyond the known network; a holder that is none of
// these (the address is also configured far away) is not a guess to make.
func (ix *Index) adjacentOwner(d *graph.Device, out string, nh netip.Addr) resolved {
	res := resolved{out: out, via: nh}
	var best *graph.Interface
	bestScore := 0
	var far []string
	outIfc := d.Iface(out)
	for _, ifc := range ix.G.InterfacesByIP(nh) {
		if ifc.Device == d {
			continue
		}
		score := 0
		switch {
		case linkedOn(d, out, ifc.Device):
			score = 3
		case slices.ContainsFunc(d.Adj, func(a graph.Adj) bool { return a.Peer == ifc.Device.Index }):
			score = 2
		case outIfc != nil && sharesSubnet(outIfc, ifc, nh):
			score = 1
		default:
			// One device holding the address on several interfaces (an
			// unnumbered /32) is named once.
			if !slices.Contains(far, ifc.Device.Hostname) {
				far = append(far, ifc.Device.Hostname)
			}
			continue
		}
		if score > bestScore || (score == bestScore && ifc.Device.Hostname < best.Device.Hostname) {
			best, bestScore = ifc, score
		}
	}
	switch {
	case best != nil:
		res.dev, res.in = best.Device, best.Name
	case nh.IsLinkLocalUnicast() && len(far) == 0:
		// A link-local next hop (BGP unnumbered, RFC 5549) is whatever is
		// linked on the port: no interface lists its fe80:: address.
		res.dev, res.in = linkPeer(d, out)
	case len(far) > 0:
		slices.Sort(far)
		res.unknownPeer = fmt.Sprintf("next hop %s out %s on %s is held by %s, which is not adjacent to %s",
			nh, out, d.Hostname, strings.Join(far, ", "), d.Hostname)
	}
	return res
}

// linkedOn reports whether d's port has a link to peer.
func linkedOn(d *graph.Device, port string, peer *graph.Device) bool {
	ifc := d.Iface(port)
	if ifc == nil {
		return false
	}
	for _, l := range ifc.Links {
		if l.Up && ((l.A.Device == d && l.A.Interface == port && l.B.Device == peer) || (l.B.Device == d && l.B.Interface == port && l.A.Device == peer)) {
			return true
		}
	}
	return false
}

// sharesSubnet reports whether a and b both have a subnet containing nh.
func sharesSubnet(a, b *graph.Interface, nh netip.Addr) bool {
	in := func(i *graph.Interface) bool {
		return slices.ContainsFunc(i.Prefixes, func(p netip.Prefix) bool { return !p.IsSingleIP() && p.Contains(nh) })
	}
	return in(a) && in(b)
}

// topology forwards from a device without routes along the fewest links
// towards the devices that hold the destination's subnet.
func (t *tracer) topology(dev *graph.Device, hop Hop, path []Hop, seen map[stateKey]bool) {
	hop.Note = "topology (no routes on this device)"
	step := t.ix.firstStep(dev, t.ix.destinationDevices(t.q.Dst))
	if step == nil {
		hop.Note = "no route"
		t.finish(append(path, hop), firewall.VerdictDeny, fmt.Sprintf("no route to %s on %s (no routing table, and no links towards the destination)", t.q.Dst, dev.Hostname))
		return
	}
	peer := t.ix.G.Devices[step.Peer]
	out, in := step.Link.A.Interface, step.Link.B.Interface
	if step.Link.A.Device != dev {
		out, in = in, out
	}
	hop.Out = out
	if !t.firewallPasses(&hop) {
		t.finishDenied(path, hop)
		return
	}
	t.walk(peer, in, vrfOf(ifaceVRF(peer, in, hop.VRF)), append(path, hop), seen)
}

// destinationDevices are the devices that own the destination address or
// have an interface in its subnet.
func (ix *Index) destinationDevices(dst netip.Addr) []*graph.Device {
	var out []*graph.Device
	for _, ifc := range ix.G.InterfacesByIP(dst) {
		out = append(out, ifc.Device)
	}
	if sub, ok := ix.G.SubnetFor(dst); ok {
		for _, h := range sub.Devices {
			if d := ix.G.Device(h); d != nil {
				out = append(out, d)
			}
		}
	}
	return out
}

// firstStep returns the first link of a fewest-links path from dev to any
// of targets (nil when none is reachable, or dev is one). It searches from
// both ends at once, a level at a time from the smaller frontier, so that
// in a large network it visits the neighbourhoods of the two ends rather
// than the whole graph. Among equally short paths it takes the one whose
// meeting device, then first step, has the lowest index, so that answers
// are stable.
func (ix *Index) firstStep(dev *graph.Device, targets []*graph.Device) *graph.Adj {
	if len(targets) == 0 || slices.Contains(targets, dev) {
		return nil
	}
	const unseen = -1
	fwd := map[int]int{dev.Index: 0} // device → distance from dev
	bwd := map[int]int{}             // device → distance to a target
	for _, d := range targets {
		bwd[d.Index] = 0
	}
	fFront := []int{dev.Index}
	bFront := slices.Sorted(maps.Keys(bwd))
	for len(fFront) > 0 && len(bFront) > 0 {
		forward := len(fFront) <= len(bFront)
		front, mine, other := fFront, fwd, bwd
		if !forward {
			front, mine, other = bFront, bwd, fwd
		}
		var next []int
		meet, best := unseen, 0
		for _, n := range front {
			for _, a := range ix.G.Devices[n].Adj {
				if _, ok := mine[a.Peer]; ok {
					continue
				}
				mine[a.Peer] = mine[n] + 1
				next = append(next, a.Peer)
				if o, ok := other[a.Peer]; ok {
					if total := mine[a.Peer] + o; meet == unseen || total < best || (total == best && a.Peer < meet) {
						meet, best = a.Peer, total
					}
				}
			}
		}
		if meet != unseen {
			return ix.stepTowards(dev, meet, fwd)
		}
		if forward {
			fFront = next
		} else {
			bFront = next
		}
	}
	return nil
}

// stepTowards walks back from the meeting device m to dev along fwd's
// distances and returns dev's link on that path.
func (ix *Index) stepTowards(dev *graph.Device, m int, fwd map[int]int) *graph.Adj {
	for cur := m; ; {
		var prev *graph.Adj
		for i, a := range ix.G.Devices[cur].Adj {
			if d, ok := fwd[a.Peer]; ok && d == fwd[cur]-1 && (prev == nil || a.Peer < prev.Peer) {
				prev = &ix.G.Devices[cur].Adj[i]
			}
		}
		if prev == nil {
			return nil
		}
		if prev.Peer == dev.Index {
			for i, a := range dev.Adj {
				if a.Link == prev.Link {
					return &dev.Adj[i]
				}
			}
			return nil
		}
		cur = prev.Peer
	}
}

// firewallPasses evaluates the hop's firewall (if any) and reports whether
// the flow may go on: it stops only on a definite deny.
func (t *tracer) firewallPasses(h *Hop) bool {
	if h.Firewall == nil {
		return true
	}
	p := h.Firewall.Policy()
	h.InZone, h.OutZone = p.ZoneOf(h.In), p.ZoneOf(h.Out)
	flow := firewall.Flow{Src: t.q.Src, Dst: t.q.Dst, Services: t.q.Services, InZone: h.InZone, OutZone: h.OutZone}
	h.Decision = p.Evaluate(flow)
	if why := zoneless(p, h, flow); why != "" && h.Decision.Verdict != firewall.VerdictUnknown {
		h.Decision.Verdict, h.Decision.Reason = firewall.VerdictUnknown, why
	}
	return h.Decision.Verdict != firewall.VerdictDeny
}

// zoneless says why a firewall's decision is not definite when the flow
// enters or leaves by an interface in no zone (or by none known) on a
// firewall that has zones: the zone the data lacks could have made a zone
// rule decide. The decision stands only when any-zone rules decide every
// part of it and no zone the policy knows would change the verdict.
func zoneless(p *firewall.Policy, h *Hop, flow firewall.Flow) string {
	if flow.InZone != "" && flow.OutZone != "" {
		return "" // the usual case: no copy of the zone list
	}
	zones := p.Zones()
	if len(zones) == 0 {
		return ""
	}
	var why string
	switch {
	case flow.InZone == "" && h.In == "":
		why = "the interface the flow enters " + h.Device.Hostname + " by is unknown"
	case flow.InZone == "":
		why = "interface " + h.In + " of " + h.Device.Hostname + " is in no zone"
	case h.Out == "":
		why = "the interface the flow leaves " + h.Device.Hostname + " by is unknown"
	default:
		why = "interface " + h.Out + " of " + h.Device.Hostname + " is in no zone"
	}
	for _, pt := range h.Decision.Parts {
		if pt.Rule == nil {
			return why + " (the default action would decide)"
		}
		src, dst := p.AnyZone(pt.Rule)
		if (flow.InZone == "" && !src) || (flow.OutZone == "" && !dst) {
			return why
		}
	}
	ins, outs := []string{flow.InZone}, []string{flow.OutZone}
	if flow.InZone == "" {
		ins = append(ins, zones...)
	}
	if flow.OutZone == "" {
		outs = append(outs, zones...)
	}
	for _, in := range ins {
		for _, out := range outs {
			f := flow
			f.InZone, f.OutZone = in, out
			if p.Evaluate(f).Verdict != h.Decision.Verdict {
				return why + fmt.Sprintf(" (in zone %s→%s the verdict would differ)", cmp.Or(in, "-"), cmp.Or(out, "-"))
			}
		}
	}
	return ""
}

func (t *tracer) finishDenied(path []Hop, h Hop) {
	t.finish(append(path, h), firewall.VerdictDeny, "denied by "+ruleText(h))
}

func ruleText(h Hop) string {
	d := h.Decision
	if d.Rule == nil {
		return "the default action (" + d.Action + ") on " + h.Device.Hostname
	}
	return "rule " + d.Rule.RuleID + " on " + h.Device.Hostname
}

// deliver ends a path at the destination.
func (t *tracer) deliver(path []Hop, h Hop) {
	if !t.firewallPasses(&h) {
		t.finishDenied(path, h)
		return
	}
	path = append(path, h)
	v, reason := t.firewallsVerdict(path)
	if v == firewall.VerdictPermit && reason == "" {
		reason = fmt.Sprintf("delivered to %s at %s; no firewall on the path", t.q.Dst, h.Device.Hostname)
	}
	t.finish(path, v, reason)
}

// exit ends a path that leaves the known network: the verdict is what the
// firewalls on the way decided, and the reason says where it left and
// that nothing beyond the known network was checked. When
// the destination is in a subnet the graph knows, leaving is a routing
// failure (the packet goes away from where the destination is), so the
// flow is not delivered.
func (t *tracer) exit(path []Hop, h Hop, where string) {
	path = append(path, h)
	if sub, ok := t.ix.G.SubnetFor(t.q.Dst); ok {
		t.finish(path, firewall.VerdictDeny, fmt.Sprintf("no route to %s: it is in %s (%s), but the path %s",
			t.q.Dst, sub.Prefix, strings.Join(sub.Devices, ", "), where))
		return
	}
	v, reason := t.firewallsVerdict(path)
	if reason == "" {
		reason = where
	} else {
		reason += "; " + where
	}
	// A permit holds for the firewalls the graph knows; it says so rather
	// than vouch for what lies past the edge.
	reason += "; the verdict covers only the known part of the path, not what lies beyond the known network"
	t.finish(path, v, reason)
}

// firewallsVerdict combines the decisions of the firewalls a path that got
// through crossed: unknown if any was unknown, else permit.
func (t *tracer) firewallsVerdict(path []Hop) (string, string) {
	var permits []string
	for _, h := range path {
		if h.Firewall == nil {
			continue
		}
		if h.Decision.Verdict == firewall.VerdictUnknown {
			return firewall.VerdictUnknown, h.Decision.Reason
		}
		permits = append(permits, ruleText(h))
	}
	if len(permits) == 0 {
		return firewall.VerdictPermit, ""
	}
	return firewall.VerdictPermit, "permitted by " + strings.Join(permits, ", then ")
}

func (t *tracer) finish(path []Hop, verdict, reason string) {
	if len(t.paths) >= MaxBranches {
		t.truncated = true
		return
	}
	t.paths = append(t.paths, Path{Hops: slices.Clone(path), Verdict: verdict, Reason: reason})
}

// result combines the paths: one verdict when they agree, unknown when
// equal-cost paths disagree (which one a flow takes is the routers' hash).
func (t *tracer) result() Result {
	r := Result{Paths: t.paths, Truncated: t.truncated}
	if len(t.paths) == 0 {
		r.Verdict, r.Reason = firewall.VerdictUnknown, "no path"
		return r
	}
	r.Verdict, r.Reason = t.paths[0].Verdict, t.paths[0].Reason
	for _, p := range t.paths[1:] {
		if p.Verdict != r.Verdict {
			var parts []string
			for i, q := range t.paths {
				parts = append(parts, fmt.Sprintf("path %d %s (%s)", i+1, q.Verdict, q.Reason))
			}
			r.Verdict = firewall.VerdictUnknown
			r.Reason = "equal-cost paths disagree: " + strings.Join(parts, "; ")
			break
		}
	}
	switch {
	case r.Verdict != firewall.VerdictUnknown && t.truncated:
		// The paths not followed could disagree: the answer holds for
		// those followed, and says so.
		r.Verdict = firewall.VerdictUnknown
		r.Reason = fmt.Sprintf("the first %d equal-cost paths agree (%s), but more were not followed", len(t.paths), r.Reason)
	case r.Verdict != firewall.VerdictUnknown && len(t.paths) > 1:
		r.Reason += fmt.Sprintf(" (all %d equal-cost paths agree)", len(t.paths))
	}
	return r
}
