package pathanalysis

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/graph"
)

// vtepIndex maps VTEP addresses to the devices that hold them, and L2
// VNIs to the VTEPs that bridge them.
type vtepIndex struct {
	byAddr map[netip.Addr][]*graph.Device
	byL2   map[int][]*graph.Device
}

// vtepAddr is d's VTEP address: vxlan.source_ip, else the first address
// of vxlan.source_interface.
func vtepAddr(d *graph.Device) (netip.Addr, bool) {
	x := d.VXLAN
	if x == nil {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(x.SourceIP); err == nil {
		return a.Unmap(), true
	}
	if ifc := d.Iface(x.SourceInterface); ifc != nil && len(ifc.Prefixes) > 0 {
		return ifc.Prefixes[0].Addr(), true
	}
	return netip.Addr{}, false
}

func (ix *Index) vteps() *vtepIndex {
	ix.vtepOnce.Do(func() {
		v := &vtepIndex{byAddr: map[netip.Addr][]*graph.Device{}, byL2: map[int][]*graph.Device{}}
		for _, d := range ix.G.Devices {
			if a, ok := vtepAddr(d); ok {
				v.byAddr[a] = append(v.byAddr[a], d)
			}
			if d.VXLAN != nil {
				for _, n := range d.VXLAN.VNIs {
					if n.VLAN > 0 && n.VRF == "" {
						v.byL2[n.VNI] = append(v.byL2[n.VNI], d)
					}
				}
			}
		}
		ix.vtepIdx = v
	})
	return ix.vtepIdx
}

// vtepOwners returns the devices whose VTEP is a (an MLAG pair shares
// one), else the devices with an interface holding a (a VTEP whose VXLAN
// facts were not collected), in hostname order.
func (ix *Index) vtepOwners(a netip.Addr) []*graph.Device {
	if ds := ix.vteps().byAddr[a]; len(ds) > 0 {
		return ds
	}
	var out []*graph.Device
	for _, ifc := range ix.G.InterfacesByIP(a) {
		if !slices.Contains(out, ifc.Device) {
			out = append(out, ifc.Device)
		}
	}
	return out
}

// l3VNI returns the VRF d decapsulates VNI vni into.
func l3VNI(d *graph.Device, vni int) (string, bool) {
	if d.VXLAN == nil {
		return "", false
	}
	for _, n := range d.VXLAN.VNIs {
		if n.VNI == vni && n.VRF != "" {
			return n.VRF, true
		}
	}
	return "", false
}

// l2VNI returns the VNI d maps VLAN v to (0 where none).
func l2VNI(d *graph.Device, v int) int {
	if d.VXLAN == nil || v <= 0 {
		return 0
	}
	for _, n := range d.VXLAN.VNIs {
		if n.VLAN == v {
			return n.VNI
		}
	}
	return 0
}

// vxlanIface returns d's VXLAN tunnel interface (Vxlan1, nve1), or "".
func vxlanIface(d *graph.Device) string {
	for _, ifc := range d.Ifaces {
		n := strings.ToLower(ifc.Name)
		if ifc.Type == "vxlan" || (ifc.Type == "" && (strings.HasPrefix(n, "vxlan") || strings.HasPrefix(n, "nve"))) {
			return ifc.Name
		}
	}
	return ""
}

// segmentVNI returns the L2 VNI that stretches dst's segment over the
// overlay: the VNI a device of the segment maps the VLAN of its SVI there
// to (the devices given first, then the subnet's), 0 where none does.
func (ix *Index) segmentVNI(dst netip.Addr, first ...*graph.Device) int {
	try := func(d *graph.Device) int {
		if d == nil || d.VXLAN == nil {
			return 0
		}
		for _, ifc := range d.Ifaces {
			if slices.ContainsFunc(ifc.Prefixes, func(p netip.Prefix) bool { return !p.IsSingleIP() && p.Contains(dst) }) {
				if vni := l2VNI(d, ifc.SVIVLAN()); vni > 0 {
					return vni
				}
			}
		}
		return 0
	}
	for _, d := range first {
		if vni := try(d); vni > 0 {
			return vni
		}
	}
	if sub, ok := ix.G.SubnetFor(dst); ok {
		for _, h := range sub.Devices {
			if vni := try(ix.G.Device(h)); vni > 0 {
				return vni
			}
		}
	}
	return 0
}
