package pathanalysis

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/graph"
)

// segmentOwners returns the interfaces of devices other than except that
// own dst in vrf on its segment (a /32 elsewhere is not on it), one per
// device: where a flow that reached dst's segment is delivered. Several
// devices owning it are a duplicate (why says so) unless every one holds
// it as virtual or anycast.
func (ix *Index) segmentOwners(dst netip.Addr, vrf string, except *graph.Device) (owners []*graph.Interface, shared bool, why string) {
	shared = true
	for _, ifc := range ix.G.InterfacesByIP(dst) {
		if ifc.Device == except || vrfOf(ifc.VRF) != vrf {
			continue
		}
		if !slices.ContainsFunc(ifc.Prefixes, func(p netip.Prefix) bool { return p.Addr() == dst && !p.IsSingleIP() }) {
			continue
		}
		if !ifc.Shared(dst) {
			shared = false
		}
		if !slices.ContainsFunc(owners, func(o *graph.Interface) bool { return o.Device == ifc.Device }) {
			owners = append(owners, ifc)
		}
	}
	if len(owners) > 1 && !shared {
		var names []string
		for _, o := range owners {
			names = append(names, o.Device.Hostname+" "+o.Name)
		}
		slices.Sort(names)
		return nil, false, fmt.Sprintf("the destination %s is configured on more than one device (%s): which one receives the flow is not known",
			dst, strings.Join(names, ", "))
	}
	return owners, shared && len(owners) > 0, ""
}

// l2Path returns the hops after from on the fewest-links path to `to` over
// links that switch dst's segment (neither end a routed port, nor one
// addressed in another subnet; no host in between bridges), and the port
// from leaves by; ok is false when the graph knows no such path. Where the
// segment's VLAN is mapped to an L2 VNI, the VTEPs that map that VNI are
// one bridge hop apart over the overlay.
func (ix *Index) l2Path(from, to *graph.Device, dst netip.Addr) (hops []Hop, out string, ok bool) {
	if from == to {
		return nil, "", true
	}
	switches := func(e graph.LinkEnd) bool {
		ifc := e.Iface
		if ifc == nil {
			return true
		}
		if ifc.Mode == "routed" {
			return false
		}
		return !slices.ContainsFunc(ifc.Prefixes, func(p netip.Prefix) bool { return !p.IsSingleIP() && !p.Contains(dst) })
	}
	type step struct {
		peer int
		link *graph.Link // nil: over the overlay
	}
	vni := ix.segmentVNI(dst, from, to)
	var vteps []*graph.Device
	if vni > 0 {
		vteps = ix.vteps().byL2[vni]
	}
	prev := map[int]step{from.Index: {peer: from.Index}}
	queue := []*graph.Device{from}
	for len(queue) > 0 && !ok {
		cur := queue[0]
		queue = queue[1:]
		if cur != from && hostRoles[strings.ToLower(cur.Role)] {
			continue
		}
		visit := func(peer int, l *graph.Link) bool {
			prev[peer] = step{peer: cur.Index, link: l}
			if peer == to.Index {
				ok = true
				return true
			}
			queue = append(queue, ix.G.Devices[peer])
			return false
		}
		for _, a := range cur.Adj {
			if _, seen := prev[a.Peer]; seen || !switches(a.Link.A) || !switches(a.Link.B) {
				continue
			}
			if visit(a.Peer, a.Link) {
				break
			}
		}
		if !ok && slices.Contains(vteps, cur) {
			for _, v := range vteps {
				if _, seen := prev[v.Index]; seen {
					continue
				}
				if visit(v.Index, nil) {
					break
				}
			}
		}
	}
	if !ok {
		return nil, "", false
	}
	// Walk back from `to`: nodes and the steps between them, then forward.
	var nodes []*graph.Device
	var links []*graph.Link
	for n := to.Index; n != from.Index; n = prev[n].peer {
		nodes = append(nodes, ix.G.Devices[n])
		links = append(links, prev[n].link)
	}
	slices.Reverse(nodes)
	slices.Reverse(links)
	port := func(l *graph.Link, d *graph.Device) string {
		if l == nil {
			return vxlanIface(d)
		}
		return portOn(l, d)
	}
	for i, d := range nodes {
		h := Hop{Device: d, In: port(links[i], d), Note: "switched (layer 2)"}
		if links[i] == nil {
			h.Note = fmt.Sprintf("bridged over VXLAN VNI %d (layer 2)", vni)
		}
		if i+1 < len(nodes) {
			h.Out = port(links[i+1], d)
		}
		hops = append(hops, h)
	}
	return hops, port(links[0], from), true
}

// toOwner continues a flow that reached dst's segment at dev, leaving by
// hop h, to the device that owns dst there: along the layer-2 path when
// the graph knows it, else straight to the owner (saying so). Holders of
// a shared (anycast, virtual) destination are reached at the nearest.
func (t *tracer) toOwner(dev *graph.Device, h Hop, path []Hop, seen map[stateKey]bool, owners []*graph.Interface, shared bool) {
	type leg struct {
		owner *graph.Interface
		hops  []Hop
		out   string
		known bool
	}
	var legs []leg
	for _, o := range owners {
		hops, out, known := t.ix.l2Path(dev, o.Device, t.q.Dst)
		legs = append(legs, leg{o, hops, out, known})
	}
	if shared && slices.ContainsFunc(legs, func(l leg) bool { return l.known }) {
		legs = slices.DeleteFunc(legs, func(l leg) bool { return !l.known })
		near := slices.MinFunc(legs, func(a, b leg) int { return len(a.hops) - len(b.hops) })
		legs = slices.DeleteFunc(legs, func(l leg) bool { return len(l.hops) != len(near.hops) })
	}
	for _, l := range legs {
		hh := h
		if hh.Out == "" {
			hh.Out = l.out
		}
		if !l.known {
			// A segment stretched over VXLAN is reached over the overlay
			// or not at all: going straight to the owner would guess.
			if vni := t.ix.segmentVNI(t.q.Dst, dev, l.owner.Device); vni > 0 {
				hh.Note += "; layer-2 path not known"
				t.finish(append(path, hh), firewall.VerdictUnknown, fmt.Sprintf(
					"the segment of %s is stretched over VXLAN VNI %d, but no VTEP that maps the VNI leads from %s to %s, which owns it",
					t.q.Dst, vni, dev.Hostname, l.owner.Device.Hostname))
				continue
			}
			hh.Note += fmt.Sprintf("; on to %s, which owns %s (the layer-2 path between is not known)", l.owner.Device.Hostname, t.q.Dst)
		}
		if !t.firewallPasses(&hh) {
			t.finishDenied(path, hh)
			continue
		}
		p := append(slices.Clone(path), hh)
		if len(l.hops) > 0 {
			for _, x := range l.hops[:len(l.hops)-1] {
				x.VRF = hh.VRF
				p = append(p, x)
			}
		}
		// The owner receives the flow on its interface in the segment
		// (an SVI rather than the member port), where its zones are.
		t.walk(l.owner.Device, l.owner.Name, vrfOf(l.owner.VRF), p, seen)
	}
}

// segmentStart begins a flow from a host that no device owns to an
// address a device owns on the same subnet: at the switch where the
// source host is plugged in (when the graph locates it) and along the
// layer-2 path from there, else at the owner itself. The subnet's router
// is not on the way.
func (t *tracer) segmentStart(sub *graph.Subnet, owners []*graph.Interface, shared bool) {
	var at []*graph.Endpoint
	for _, e := range t.ix.G.EndpointsByIP(t.q.Src) {
		if e.VRF == sub.VRF && !slices.ContainsFunc(at, func(x *graph.Endpoint) bool { return x.Device == e.Endpoint.Device }) {
			at = append(at, e.Endpoint)
		}
	}
	if len(at) == 0 {
		for _, o := range owners {
			t.walk(o.Device, o.Name, vrfOf(o.VRF), nil, map[stateKey]bool{})
		}
		return
	}
	for _, e := range at {
		sw := e.Device
		if i := slices.IndexFunc(owners, func(o *graph.Interface) bool { return o.Device == sw }); i >= 0 {
			t.walk(sw, owners[i].Name, vrfOf(owners[i].VRF), nil, map[stateKey]bool{})
			continue
		}
		h := Hop{Device: sw, VRF: sub.VRF, In: e.Interface, Note: "switched (layer 2)", Firewall: t.ix.byDevice[sw.Index]}
		t.toOwner(sw, h, nil, map[stateKey]bool{}, owners, shared)
	}
}

// portOn returns link l's port on d.
func portOn(l *graph.Link, d *graph.Device) string {
	if l.A.Device == d {
		return l.A.Interface
	}
	return l.B.Interface
}
