package graph

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Warning is something accepted but doubtful in one device's facts, at a
// path inside that device ("neighbors[2].remote_interface").
type Warning struct {
	Hostname string `json:"hostname"`
	Path     string `json:"path"`
	Message  string `json:"message"`
}

// Warnings returns what the build found doubtful, in device order.
func (g *Graph) Warnings() []Warning { return g.warnings }

// WarningsFor lists the warnings about the given devices (those of one
// ingest, not those a merge kept) at their paths in that list, never nil.
func (g *Graph) WarningsFor(devices []facts.Device) []facts.Problem {
	index := make(map[string]int, len(devices))
	for i, d := range devices {
		index[d.Hostname] = i
	}
	out := []facts.Problem{}
	for _, w := range g.warnings {
		if i, ok := index[w.Hostname]; ok {
			out = append(out, facts.Problem{Path: "devices[" + strconv.Itoa(i) + "]." + w.Path, Message: w.Message})
		}
	}
	return out
}

// matchPort finds the interface of d a neighbour's port ID names. LLDP
// sends the port's name (in the remote's spelling, often abbreviated:
// Et1 for Ethernet1, xe-0/0/0 for xe-0/0/0.0), its description, its MAC
// or its ifindex, depending on the vendor; each is tried in that order and
// must name one interface only. "" when none does.
func matchPort(d *Device, id string) string {
	if id == "" {
		return ""
	}
	if ifc := d.ifByName[id]; ifc != nil {
		return ifc.Name
	}
	unique := func(ok func(*Interface) bool) string {
		found := ""
		for _, ifc := range d.Ifaces {
			if ok(ifc) {
				if found != "" {
					return ""
				}
				found = ifc.Name
			}
		}
		return found
	}
	if p := unique(func(i *Interface) bool { return sameIfName(i.Name, id) }); p != "" {
		return p
	}
	if p := unique(func(i *Interface) bool { return i.Description != "" && i.Description == id }); p != "" {
		return p
	}
	if mac, ok := facts.CanonicalMAC(id); ok {
		if p := unique(func(i *Interface) bool { return i.MAC == mac }); p != "" {
			return p
		}
	}
	if n, err := strconv.Atoi(id); err == nil && n > 0 {
		if p := unique(func(i *Interface) bool { return i.IfIndex == n }); p != "" {
			return p
		}
	}
	return ""
}

// portByName finds the interface of d a name denotes, exactly or
// abbreviated as sameIfName allows (one interface only); "" when none.
func (d *Device) portByName(name string) string {
	if ifc := d.ifByName[name]; ifc != nil {
		return ifc.Name
	}
	found := ""
	for _, ifc := range d.Ifaces {
		if sameIfName(ifc.Name, name) {
			if found != "" {
				return ""
			}
			found = ifc.Name
		}
	}
	return found
}

// SameIfName reports whether two interface names are one port spelt two
// ways, as sameIfName does: for exporters that resolve abbreviated names.
func SameIfName(name, id string) bool { return sameIfName(name, id) }

// sameIfName reports whether two interface names are one port spelt two
// ways: case aside, an abbreviated type (Et1 and Ethernet1, Gi0/1 and
// GigabitEthernet0/1, Po10 and Port-Channel10), or a Junos unit 0 left
// out (xe-0/0/0 for xe-0/0/0.0).
func sameIfName(name, id string) bool {
	a, b := strings.ToLower(name), strings.ToLower(id)
	if a == b || a == b+".0" {
		return true
	}
	ta, ra := splitIfName(a)
	tb, rb := splitIfName(b)
	if ra == "" || ra != rb || len(ta) < 2 || len(tb) < 2 {
		return false
	}
	return strings.HasPrefix(ta, tb) || strings.HasPrefix(tb, ta)
}

// splitIfName splits a lower-case name into its type letters (hyphens
// dropped) and the rest: "port-channel10" is "portchannel", "10".
func splitIfName(s string) (typ, rest string) {
	i := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r == '-') })
	if i < 0 {
		return strings.ReplaceAll(s, "-", ""), ""
	}
	return strings.ReplaceAll(s[:i], "-", ""), s[i:]
}

// remotePort resolves the remote port of d's neighbour record n to an
// interface of the remote device rd: by the port ID it reports, else by
// rd's own record pointing back at n's local port, else (one record each
// way between the two) by rd's only record towards d. ok is false when
// none resolves it: the link keeps the remote port unknown rather than
// invent an interface rd does not have.
func (g *Graph) remotePort(d *Device, n facts.Neighbor, rd *Device, host func(string) string) (port string, ok bool) {
	if p := matchPort(rd, n.RemoteInterface); p != "" {
		return p, true
	}
	var back []facts.Neighbor
	for _, m := range rd.Neighbors {
		if host(m.RemoteHostname) == d.Hostname {
			back = append(back, m)
		}
	}
	found := ""
	for _, m := range back {
		if matchPort(d, m.RemoteInterface) == n.LocalInterface {
			if found != "" && found != m.LocalInterface {
				return "", false
			}
			found = m.LocalInterface
		}
	}
	if found != "" {
		return found, true
	}
	if len(back) == 1 {
		toRD := 0
		for _, m := range d.Neighbors {
			if host(m.RemoteHostname) == rd.Hostname {
				toRD++
			}
		}
		if p := matchPort(d, back[0].RemoteInterface); toRD == 1 && (p == "" || p == n.LocalInterface) {
			return back[0].LocalInterface, true
		}
	}
	return "", false
}

func (g *Graph) warnUnresolved(d *Device, j int, n facts.Neighbor, rd *Device) {
	msg := fmt.Sprintf("no remote port given, and %s has no neighbor record back to %s %s", rd.Hostname, d.Hostname, n.LocalInterface)
	if n.RemoteInterface != "" {
		msg = fmt.Sprintf("%s has no interface %q (by name, description, MAC or ifindex), and no neighbor record back to %s %s",
			rd.Hostname, n.RemoteInterface, d.Hostname, n.LocalInterface)
	}
	g.warnings = append(g.warnings, Warning{
		Hostname: d.Hostname,
		Path:     "neighbors[" + strconv.Itoa(j) + "].remote_interface",
		Message:  msg + ": the link is kept with the remote port unknown",
	})
}

// warnReferences warns about names the new fields give that the device's
// interfaces lack, where the answer depends on them: the peer of an
// unnumbered BGP session is whatever is linked on its interface, and a
// VTEP without source_ip takes its address from its source interface.
func (g *Graph) warnReferences() {
	for _, d := range g.Devices {
		if len(d.Ifaces) == 0 {
			continue // interfaces not collected: nothing to check against
		}
		for j, p := range d.BGPPeers {
			if p.PeerInterface != "" && d.ifByName[p.PeerInterface] == nil {
				g.warnings = append(g.warnings, Warning{Hostname: d.Hostname, Path: "bgp_peers[" + strconv.Itoa(j) + "].peer_interface",
					Message: fmt.Sprintf("no interface %q on this device: the unnumbered peer cannot be named", p.PeerInterface)})
			}
		}
		if x := d.VXLAN; x != nil && x.SourceIP == "" {
			ifc := d.ifByName[x.SourceInterface]
			switch {
			case x.SourceInterface == "":
				g.warnings = append(g.warnings, Warning{Hostname: d.Hostname, Path: "vxlan",
					Message: "neither source_ip nor source_interface: the VTEP address is not known, so no overlay route reaches this device"})
			case ifc == nil || len(ifc.Prefixes) == 0:
				g.warnings = append(g.warnings, Warning{Hostname: d.Hostname, Path: "vxlan.source_interface",
					Message: fmt.Sprintf("%q has no address on this device, and source_ip is not given: the VTEP address is not known", x.SourceInterface)})
			}
		}
	}
}
