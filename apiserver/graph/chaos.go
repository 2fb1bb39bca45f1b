package graph

import (
	"cmp"
	"net/netip"
	"slices"
)

// Scenario is a set of simultaneous failures: the blast-radius questions
// asked all at once.
type Scenario struct {
	Devices    []*Device
	Interfaces []Port
	Links      []*Link
	VLANs      []int
	Subnets    []netip.Prefix
}

// Port names one interface of one device.
type Port struct {
	Device    *Device
	Interface string
}

// Impact is what a scenario takes down, and what redundancy kept up.
type Impact struct {
	BlastRadius
	// Survivors are devices that lost a link or neighbour to the scenario
	// but still reach a root through another: the redundancy that held.
	Survivors []Survivor

	g          *Graph
	f          failure
	after      []bool
	component  []int32 // connected component after the failures; -1 for a failed device
	before     []int32 // connected component in the intact graph
	portDown   map[portKey]bool
	epAffected map[*Endpoint]bool
}

// Survivor is a device that kept its path to a root.
type Survivor struct {
	Device *Device
	// Lost are its ports whose link went down or whose peer failed.
	Lost []string
	// Remaining is how many of its links still carry traffic.
	Remaining int
}

// Simulate applies every failure of s at once.
func (g *Graph) Simulate(s Scenario) *Impact {
	f := failure{devices: make([]bool, len(g.Devices)), links: make([]bool, len(g.Links))}
	var extra []*Endpoint
	for _, d := range s.Devices {
		f.devices[d.Index] = true
		extra = append(extra, d.Endpoints...)
	}
	for _, p := range s.Interfaces {
		extra = g.failInterface(f.links, p.Device, p.Interface, extra)
	}
	for _, l := range s.Links {
		f.links[l.Index] = true
	}
	for _, v := range s.VLANs {
		extra = g.failVLAN(f.links, v, extra)
	}
	for _, p := range s.Subnets {
		extra = g.failSubnet(f.links, p, extra)
	}
	// Several failures can name one endpoint; blast wants each once, in
	// device, port, MAC order.
	slices.SortFunc(extra, func(a, b *Endpoint) int {
		return cmp.Or(cmp.Compare(a.Device.Index, b.Device.Index), cmp.Compare(a.Interface, b.Interface), cmp.Compare(a.MAC, b.MAC))
	})
	extra = slices.Compact(extra)

	im := &Impact{g: g, f: f, after: g.reachable(f), portDown: map[portKey]bool{}}
	im.BlastRadius = g.blastAfter(f, im.after, extra)
	im.epAffected = make(map[*Endpoint]bool, len(im.Endpoints))
	for _, ep := range im.Endpoints {
		im.epAffected[ep] = true
	}
	for _, l := range g.Links {
		if f.links[l.Index] {
			im.markPort(l.A)
			im.markPort(l.B)
		}
	}
	for _, p := range s.Interfaces {
		im.portDown[portKey{p.Device.Hostname, p.Interface}] = true
	}
	im.component = g.components(f)
	im.before = g.components(failure{})
	im.Survivors = g.survivors(f, im.after)
	return im
}

func (im *Impact) markPort(e LinkEnd) {
	if e.Device != nil {
		im.portDown[portKey{e.Device.Hostname, e.Interface}] = true
	}
}

// Failed says whether d itself fails in the scenario.
func (im *Impact) Failed(d *Device) bool { return im.f.deviceDown(d.Index) }

// CutOff says whether d fails or loses every path to the roots it had.
func (im *Impact) CutOff(d *Device) bool {
	return im.f.deviceDown(d.Index) || (im.g.rooted[d.Index] && !im.after[d.Index])
}

// EndpointDown says whether ep loses service.
func (im *Impact) EndpointDown(ep *Endpoint) bool { return im.epAffected[ep] }

// PortDown says whether d's port fails, or the link on it does.
func (im *Impact) PortDown(d *Device, port string) bool {
	return port != "" && im.portDown[portKey{d.Hostname, port}]
}

// Connected says whether a and b can still reach each other.
func (im *Impact) Connected(a, b *Device) bool {
	ca, cb := im.component[a.Index], im.component[b.Index]
	return ca >= 0 && ca == cb
}

// WasConnected says whether a and b reached each other before the failures.
func (im *Impact) WasConnected(a, b *Device) bool { return im.before[a.Index] == im.before[b.Index] }

// Crosses says whether a path (as ShortestPath gives it) goes through a
// failed device, port or link.
func (im *Impact) Crosses(hops []Hop) bool {
	for _, h := range hops {
		if im.Failed(h.Device) || im.PortDown(h.Device, h.In) || im.PortDown(h.Device, h.Out) {
			return true
		}
	}
	return false
}

// components labels each device with its connected component once f is
// applied; failed devices get -1.
func (g *Graph) components(f failure) []int32 {
	comp := make([]int32, len(g.Devices))
	for i := range comp {
		comp[i] = -2
		if f.deviceDown(i) {
			comp[i] = -1
		}
	}
	var queue []int
	var label int32
	for s := range g.Devices {
		if comp[s] != -2 {
			continue
		}
		comp[s] = label
		queue = append(queue[:0], s)
		for i := 0; i < len(queue); i++ {
			for _, a := range g.Devices[queue[i]].Adj {
				if comp[a.Peer] != -2 || f.linkDown(a.Link) {
					continue
				}
				comp[a.Peer] = label
				queue = append(queue, a.Peer)
			}
		}
		label++
	}
	return comp
}

// survivors are the devices that reached a root before and still do,
// though f took one of their links or neighbours.
func (g *Graph) survivors(f failure, after []bool) []Survivor {
	var out []Survivor
	for i, d := range g.Devices {
		if f.deviceDown(i) || !g.rooted[i] || !after[i] {
			continue
		}
		var lost []string
		remaining := 0
		for _, a := range d.Adj {
			if f.linkDown(a.Link) || f.deviceDown(a.Peer) {
				lost = append(lost, a.Link.portOn(d))
			} else {
				remaining++
			}
		}
		if len(lost) > 0 {
			slices.Sort(lost)
			out = append(out, Survivor{Device: d, Lost: slices.Compact(lost), Remaining: remaining})
		}
	}
	return out
}

// LinksBetween returns the links joining a and b; with port set, only
// those on a's port.
func (g *Graph) LinksBetween(a, b *Device, port string) []*Link {
	var out []*Link
	for _, adj := range a.Adj {
		if g.Devices[adj.Peer] == b && (port == "" || adj.Link.portOn(a) == port) && !slices.Contains(out, adj.Link) {
			out = append(out, adj.Link)
		}
	}
	return out
}
