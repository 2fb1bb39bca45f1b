package query

import (
	"cmp"
	"context"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// NewBuiltin returns a registry holding every built-in query that this
// package implements. Other packages (the firewall queries) add theirs with
// Register.
func NewBuiltin() *Registry {
	r := NewRegistry()
	r.MustRegister(Builtin()...)
	return r
}

// Column sets shared by several queries.
var (
	deviceColumns    = []string{"hostname", "mgmt_ip", "vendor", "os", "model", "serial", "version", "role", "site"}
	detailColumns    = append(slices.Clip(deviceColumns), "metadata", "interfaces", "ip_addresses", "vlans", "neighbors", "endpoints", "routes", "bgp_peers", "firewall_rules")
	interfaceColumns = []string{"hostname", "interface", "description", "admin_up", "oper_up", "speed_mbps", "mtu", "mode", "vlan", "trunk_vlans", "vrf", "zone", "mac", "ips"}
	linkColumns      = []string{"a_hostname", "a_interface", "b_hostname", "b_interface", "protocol", "state"}
	endpointColumns  = []string{"ip", "mac", "hostname", "interface", "vlan", "vrf"}
	blastColumns     = []string{"kind", "hostname", "role", "site", "interface", "mac", "ip", "ips", "vlan"}
	bgpColumns       = []string{"hostname", "peer_ip", "peer_hostname", "remote_as", "local_as", "state", "vrf", "peer_interface", "afi_safi"}
	routeColumns     = []string{"hostname", "vrf", "prefix", "next_hop", "interface", "protocol", "metric", "admin_distance", "action", "next_hop_vrf", "next_hops"}
)

var hostnameParam = Param{Name: "hostname", Type: TypeString, Required: true, Description: "device hostname", Example: "dist1"}

// Builtin returns the built-in query definitions.
func Builtin() []Definition {
	return []Definition{
		{
			Name: "summary_stats", Memo: true, Description: "Counts of everything in the graph, in one row.",
			Columns: []string{"devices", "interfaces", "endpoints", "ip_addresses", "subnets", "vlans", "links", "firewall_rules"},
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
				s := env.Graph.Stats()
				return rows([]any{s.Devices, s.Interfaces, s.Endpoints, s.IPAddresses, s.Subnets, s.VLANs, s.Links, s.FirewallRules}), nil
			},
		},
		summaryBy("vendor", func(d *graph.Device) string { return d.Vendor }),
		summaryBy("site", func(d *graph.Device) string { return d.Site }),
		summaryBy("role", func(d *graph.Device) string { return d.Role }),
		{
			Name: "all_devices", Description: "Every device, optionally filtered by vendor, site and role (exact, case-insensitive).",
			Params: []Param{
				{Name: "vendor", Type: TypeString, Description: "only this vendor"},
				{Name: "site", Type: TypeString, Description: "only this site"},
				{Name: "role", Type: TypeString, Description: "only this role"},
			},
			// The metadata column carries what update_device_metadata and
			// the NetBox sync (nb_site, nb_tenant, nb_rack, nb_role) wrote.
			Columns: append(slices.Clip(deviceColumns), "metadata"), Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				return lazy(env.Graph.Devices, func(d *graph.Device) bool {
					return matchFold(a.String("vendor"), d.Vendor) && matchFold(a.String("site"), d.Site) && matchFold(a.String("role"), d.Role)
				}, func(d *graph.Device) []any {
					meta := env.Graph.Metadata(d.Hostname)
					if meta == nil {
						meta = map[string]any{}
					}
					return []any{d.Hostname, nullStr(d.MgmtIP), nullStr(d.Vendor), nullStr(d.OS), nullStr(d.Model),
						nullStr(d.Serial), nullStr(d.Version), nullStr(d.Role), nullStr(d.Site), meta}
				}), nil
			},
		},
		devicesBy("site", "hq", func(d *graph.Device) string { return d.Site }),
		devicesBy("vendor", "cisco", func(d *graph.Device) string { return d.Vendor }),
		devicesBy("role", "core", func(d *graph.Device) string { return d.Role }),
		{
			Name: "devices_search", Description: "Devices whose hostname, model, serial or management IP contains q (case-insensitive).",
			Params:  []Param{{Name: "q", Type: TypeString, Required: true, Description: "substring to look for", Example: "core"}},
			Columns: deviceColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				q := strings.ToLower(a.String("q"))
				return deviceRows(env.Graph, func(d *graph.Device) bool {
					return containsFold(d.Hostname, q) || containsFold(d.Model, q) || containsFold(d.Serial, q) || containsFold(d.MgmtIP, q)
				}), nil
			},
		},
		{
			Name: "devices_detail", Description: "One device with its metadata and counts of what it holds.",
			Params: []Param{hostnameParam}, Columns: detailColumns,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				return rows(detailRow(env.Graph, d)), nil
			},
		},
		{
			Name: "update_device_metadata", Description: "Merge metadata into a device (keys set to null are removed); persisted in the store.",
			Params:  []Param{hostnameParam, {Name: "metadata", Type: TypeObject, Required: true, Description: "keys to merge into the device's metadata", Example: map[string]any{"owner": "netops"}}},
			Columns: detailColumns, Write: true,
			Run: func(ctx context.Context, env *Env, a Args) (*Result, error) {
				if _, err := deviceArg(env.Graph, a, "hostname"); err != nil {
					return nil, err
				}
				g, err := env.Writer.UpdateMetadata(ctx, a.String("hostname"), a.Object("metadata"))
				if err != nil {
					return nil, err
				}
				d := g.Device(a.String("hostname"))
				if d == nil {
					return nil, NotFound("no device named %q", a.String("hostname"))
				}
				res := rows(detailRow(g, d))
				res.Graph = g
				return res, nil
			},
		},
		{
			Name: "interfaces_by_device", Description: "A device's interfaces in collected order.",
			Params: []Param{hostnameParam}, Columns: interfaceColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				return lazy(d.Ifaces, nil, interfaceRow), nil
			},
		},
		{
			Name: "interfaces_down", Memo: true, Description: "Interfaces administratively up but operationally down.",
			Columns: interfaceColumns, Paged: true,
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
				return interfaceRows(env.Graph, func(i *graph.Interface) bool { return isTrue(i.AdminUp) && isFalse(i.OperUp) }), nil
			},
		},
		{
			Name: "interfaces_by_vlan", Description: "Interfaces carrying the VLAN, as access port or on a trunk (a trunk with no allowed list carries every VLAN).",
			Params:  []Param{vlanParam()},
			Columns: interfaceColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				return lazy(env.Graph.InterfacesInVLAN(a.Int("vlan")), nil, interfaceRow), nil
			},
		},
		{
			Name: "device_neighbors", Description: "A device's neighbor links, whichever end reported them.",
			Params: []Param{hostnameParam}, Columns: []string{"local_interface", "remote_hostname", "remote_interface", "protocol"},
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				res := &Result{}
				for _, l := range env.Graph.Links {
					switch {
					case l.A.Hostname == d.Hostname:
						res.Rows = append(res.Rows, []any{nullStr(l.A.Interface), l.B.Hostname, nullStr(l.B.Interface), l.Protocol})
					case l.B.Hostname == d.Hostname:
						res.Rows = append(res.Rows, []any{nullStr(l.B.Interface), l.A.Hostname, nullStr(l.A.Interface), l.Protocol})
					}
				}
				// A local port is unknown (null) only where this device's
				// own port was never resolved; those sort first.
				slices.SortStableFunc(res.Rows, func(x, y []any) int {
					xs, _ := x[0].(string)
					ys, _ := y[0].(string)
					return strings.Compare(xs, ys)
				})
				return res, nil
			},
		},
		{
			Name: "topology_full", Memo: true, Description: "Every link in the network.",
			Columns: linkColumns, Paged: true,
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
				return linkRows(env.Graph, func(*graph.Link) bool { return true }), nil
			},
		},
		{
			Name: "topology_site", Description: "Links with at least one end at the site.",
			Params:  []Param{{Name: "site", Type: TypeString, Required: true, Description: "site name", Example: "hq"}},
			Columns: linkColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				site := a.String("site")
				at := func(e graph.LinkEnd) bool { return e.Device != nil && strings.EqualFold(e.Device.Site, site) }
				return linkRows(env.Graph, func(l *graph.Link) bool { return at(l.A) || at(l.B) }), nil
			},
		},
		{
			Name: "topology_vlan", Description: "Links whose two ends both carry the VLAN.",
			Params:  []Param{vlanParam()},
			Columns: linkColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				v := a.Int("vlan")
				carries := func(e graph.LinkEnd) bool { return e.Iface != nil && e.Iface.Carries(v) }
				return linkRows(env.Graph, func(l *graph.Link) bool { return carries(l.A) && carries(l.B) }), nil
			},
		},
		{
			Name: "topology_shortest_path", Description: "The fewest-links path between two devices, hop by hop.",
			Params: []Param{
				{Name: "src_hostname", Type: TypeString, Required: true, Description: "first device", Example: "acc1"},
				{Name: "dst_hostname", Type: TypeString, Required: true, Description: "last device", Example: "core2"},
			},
			Columns: []string{"hop", "hostname", "in_interface", "out_interface"},
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				src, err := deviceArg(env.Graph, a, "src_hostname")
				if err != nil {
					return nil, err
				}
				dst, err := deviceArg(env.Graph, a, "dst_hostname")
				if err != nil {
					return nil, err
				}
				res := &Result{}
				for i, h := range env.Graph.ShortestPath(src, dst) {
					res.Rows = append(res.Rows, []any{i, h.Device.Hostname, nullStr(h.In), nullStr(h.Out)})
				}
				return res, nil
			},
		},
		{
			Name: "locate_endpoint_by_ip", Description: "Where the endpoint holding the IP is plugged in (switch and port), from MAC and ARP tables.",
			Params:  []Param{{Name: "ip", Type: TypeIP, Required: true, Description: "endpoint IP address"}},
			Columns: endpointColumns,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				res := &Result{}
				for _, e := range env.Graph.EndpointsByIP(a.IP("ip")) {
					res.Rows = append(res.Rows, endpointRow(e.IP.String(), e.VRF, e.Endpoint))
				}
				return res, nil
			},
		},
		{
			Name: "locate_endpoint_by_mac", Description: "Where the endpoint with the MAC is plugged in, with its IPs.",
			Params:  []Param{{Name: "mac", Type: TypeMAC, Required: true, Description: "endpoint MAC, any common notation"}},
			Columns: endpointColumns,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				return endpointRows(env.Graph.EndpointsByMAC(a.String("mac"))), nil
			},
		},
		{
			Name: "endpoints_by_device", Description: "Endpoints plugged into the device, by port.",
			Params: []Param{hostnameParam}, Columns: endpointColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				return endpointRows(d.Endpoints), nil
			},
		},
		{
			Name: "ips_in_subnet", Description: "Every interface and endpoint address inside the subnet, sorted by IP.",
			Params:  []Param{{Name: "subnet", Type: TypePrefix, Required: true, Description: "IP prefix"}},
			Columns: []string{"ip", "hostname", "interface", "kind", "mac", "vrf"}, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				return lazy(env.Graph.AddrsIn(a.Prefix("subnet"), ""), nil, func(e graph.AddrEntry) []any {
					return []any{e.IP.String(), e.Hostname, e.Interface, e.Kind.String(), nullStr(e.MAC), e.VRF}
				}), nil
			},
		},
		{
			Name: "subnets_all", Memo: true, Description: "Every subnet configured on an interface, with how many addresses it holds and which devices sit in it.",
			Columns: []string{"subnet", "vrf", "ip_count", "devices"}, Paged: true,
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
				return lazy(env.Graph.Subnets, nil, func(s *graph.Subnet) []any {
					return []any{s.Prefix.String(), s.VRF, s.IPCount, s.Devices}
				}), nil
			},
		},
		blastQuery("blast_radius_from_device", "What loses every path to the network's roots if the device fails, and the endpoints behind it.",
			[]Param{hostnameParam},
			func(g *graph.Graph, a Args) (graph.BlastRadius, string, error) {
				d, err := deviceArg(g, a, "hostname")
				if err != nil {
					return graph.BlastRadius{}, "", err
				}
				return g.BlastDevice(d), "device " + d.Hostname, nil
			}),
		blastQuery("blast_radius_interface", "What loses every path to the roots if the interface fails, and the endpoints on it.",
			[]Param{hostnameParam, {Name: "interface", Type: TypeString, Required: true, Description: "interface name", Example: "Gi0/1"}},
			func(g *graph.Graph, a Args) (graph.BlastRadius, string, error) {
				d, err := deviceArg(g, a, "hostname")
				if err != nil {
					return graph.BlastRadius{}, "", err
				}
				name := a.String("interface")
				if d.Iface(name) == nil && !slices.ContainsFunc(g.Links, func(l *graph.Link) bool {
					return (l.A.Device == d && l.A.Interface == name) || (l.B.Device == d && l.B.Interface == name)
				}) {
					return graph.BlastRadius{}, "", NotFound("device %q has no interface %q", d.Hostname, name)
				}
				return g.BlastInterface(d, name), "interface " + d.Hostname + " " + name, nil
			}),
		blastQuery("blast_radius_vlan", "What the VLAN failing takes down: its endpoints, and devices whose only uplinks carry just that VLAN.",
			[]Param{vlanParam()},
			func(g *graph.Graph, a Args) (graph.BlastRadius, string, error) {
				return g.BlastVLAN(a.Int("vlan")), "vlan " + strconv.Itoa(a.Int("vlan")), nil
			}),
		blastQuery("blast_radius_subnet", "What the subnet failing takes down: its endpoints, and devices whose only uplinks are addressed in it.",
			[]Param{{Name: "subnet", Type: TypePrefix, Required: true, Description: "IP prefix"}},
			func(g *graph.Graph, a Args) (graph.BlastRadius, string, error) {
				return g.BlastSubnet(a.Prefix("subnet")), "subnet " + a.Prefix("subnet").String(), nil
			}),
		{
			Name: "routes_by_device", Description: "A device's routing table; next_hops lists every next hop (equal-cost ones of one route, or the single next_hop).",
			Params: []Param{hostnameParam}, Columns: routeColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				return lazy(d.Routes, nil, func(r facts.Route) []any { return routeRow(d, r) }), nil
			},
		},
		{
			Name: "bgp_peers_by_device", Description: "A device's BGP sessions, with the peer's hostname where the graph knows the peer IP (or, for an unnumbered session, the device linked on peer_interface), and each address family's state and prefix counts.",
			Params: []Param{hostnameParam}, Columns: bgpColumns,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				res := &Result{}
				for _, p := range d.BGPPeers {
					res.Rows = append(res.Rows, bgpRow(env.Graph, d, p, p.AFISafi))
				}
				return res, nil
			},
		},
		{
			Name: "bgp_sessions_down", Memo: true,
			Description: "BGP sessions whose state is not established (with all their address families), and established sessions with an address family that is not (afi_safi lists only those); summary counts the sessions and, per address family, the sessions it is down on.",
			Columns:     bgpColumns, Paged: true,
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
				res := &Result{}
				byFamily := map[string]int{}
				sessions := 0
				for _, d := range env.Graph.Devices {
					for _, p := range d.BGPPeers {
						down := p.AFISafi
						if p.State == "established" {
							down = nil
							for _, f := range p.AFISafi {
								if f.State != "" && f.State != "established" {
									down = append(down, f)
								}
							}
							if len(down) == 0 {
								continue
							}
						} else {
							sessions++
						}
						for _, f := range down {
							byFamily[f.Name]++
						}
						res.Rows = append(res.Rows, bgpRow(env.Graph, d, p, down))
					}
				}
				fams := make([]map[string]any, 0, len(byFamily))
				for _, name := range slices.Sorted(maps.Keys(byFamily)) {
					fams = append(fams, map[string]any{"afi_safi": name, "down": byFamily[name]})
				}
				res.Extra = map[string]any{"summary": map[string]any{"sessions_down": sessions, "families_down": fams}}
				return res, nil
			},
		},
		{
			Name: "arp_entries_by_device", Description: "A device's ARP and IPv6 neighbour (ND) entries in collected order, with their state and whether they were learned from another VTEP.",
			Params: []Param{hostnameParam}, Paged: true,
			Columns: []string{"hostname", "ip", "family", "mac", "interface", "vrf", "state", "remote"},
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				return lazy(d.ARP, nil, func(e facts.ARPEntry) []any {
					family := "ipv4"
					if strings.Contains(e.IP, ":") {
						family = "ipv6"
					}
					return []any{d.Hostname, e.IP, family, nullStr(e.MAC), nullStr(e.Interface), arpVRF(d, e), nullStr(e.State), e.Remote}
				}), nil
			},
		},
		{
			Name: "mac_entries_by_device", Description: "A device's MAC-address table in collected order, optionally one VLAN; located says whether the graph places the endpoint at that entry (not a remote, router, peer-link or inter-switch entry).",
			Params: []Param{hostnameParam, {Name: "vlan", Type: TypeInt, Min: 1, Max: 4094, Description: "only this VLAN (1..4094)"}},
			Paged:  true, Columns: []string{"hostname", "mac", "vlan", "interface", "flags", "remote_vtep", "located"},
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				d, err := deviceArg(env.Graph, a, "hostname")
				if err != nil {
					return nil, err
				}
				var keep func(facts.MACEntry) bool
				if v := a.Int("vlan"); v > 0 {
					keep = func(m facts.MACEntry) bool { return m.VLAN == v }
				}
				return lazy(d.MACTable, keep, func(m facts.MACEntry) []any {
					located := slices.ContainsFunc(d.Endpoints, func(e *graph.Endpoint) bool { return e.MAC == m.MAC && e.Interface == m.Interface })
					flags := m.Flags
					if flags == nil {
						flags = []string{}
					}
					return []any{d.Hostname, m.MAC, nullInt(m.VLAN), m.Interface, flags, nullStr(m.RemoteVTEP), located}
				}), nil
			},
		},
		{
			Name: "mac_owners", Description: "Who owns the MAC: the interfaces whose own MAC it is (kind interface), and where the endpoint with it is plugged in (kind endpoint). The MAC in any common notation.",
			Params:  []Param{{Name: "mac", Type: TypeMAC, Required: true, Description: "MAC address, any common notation (aa:bb:cc:00:00:01, AABB.CC00.0001, aa-bb-cc-00-00-01, aabbcc000001)"}},
			Columns: []string{"kind", "hostname", "interface", "vlan", "ips"},
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				mac := a.String("mac")
				res := &Result{}
				for _, ifc := range env.Graph.InterfacesByMAC(mac) {
					ips := make([]string, len(ifc.Prefixes))
					for k, p := range ifc.Prefixes {
						ips[k] = p.String()
					}
					res.Rows = append(res.Rows, []any{"interface", ifc.Device.Hostname, ifc.Name, nullInt(ifc.SVIVLAN()), ips})
				}
				for _, e := range env.Graph.EndpointsByMAC(mac) {
					ips := make([]string, len(e.IPs))
					for k, x := range e.IPs {
						ips[k] = x.IP.String()
					}
					res.Rows = append(res.Rows, []any{"endpoint", e.Device.Hostname, e.Interface, nullInt(e.VLAN), ips})
				}
				return res, nil
			},
		},
		{
			Name: "interfaces_search", Description: "Interfaces whose name, description, MAC or address contains q (case-insensitive; a whole or partial MAC in any notation; an IP address matches the interfaces holding it).",
			Params:  []Param{{Name: "q", Type: TypeString, Required: true, Description: "substring, MAC or IP address to look for"}},
			Columns: interfaceColumns, Paged: true,
			Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
				raw := strings.TrimSpace(a.String("q"))
				if raw == "" {
					return nil, BadParam("q", "is empty: give a substring, MAC or IP address")
				}
				q := strings.ToLower(raw)
				mac, isMAC := canonMAC(raw)
				ip, ipErr := netip.ParseAddr(raw)
				// Part of a MAC in any notation ("a1b2.c3", "a1-b2"): its
				// hex digits, matched against the MAC's.
				hexq := strings.Map(func(r rune) rune {
					if r == ':' || r == '.' || r == '-' {
						return -1
					}
					return r
				}, q)
				if len(hexq) < 4 || strings.ContainsFunc(hexq, func(r rune) bool { return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') }) {
					hexq = ""
				}
				return interfaceRows(env.Graph, func(i *graph.Interface) bool {
					switch {
					case containsFold(i.Name, q), containsFold(i.Description, q):
						return true
					case isMAC:
						return i.MAC == mac
					case ipErr == nil:
						return slices.ContainsFunc(i.Prefixes, func(p netip.Prefix) bool { return p.Addr() == ip.Unmap() })
					case strings.Contains(i.MAC, q), hexq != "" && i.MAC != "" && strings.Contains(strings.ReplaceAll(i.MAC, ":", ""), hexq):
						return true
					}
					return slices.ContainsFunc(i.Prefixes, func(p netip.Prefix) bool { return strings.Contains(p.String(), q) })
				}), nil
			},
		},
		{
			Name: "hygiene_duplicate_ips", Memo: true, Description: "Addresses owned by more than one interface or endpoint in the same VRF.",
			Columns: []string{"ip", "vrf", "owners"}, Paged: true,
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) { return duplicateIPs(env.Graph), nil },
		},
		{
			Name: "hygiene_orphan_devices", Memo: true, Description: "Devices with no neighbor link in either direction.",
			Columns: []string{"hostname", "mgmt_ip", "vendor", "role", "site"}, Paged: true,
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
				res := &Result{}
				for _, d := range env.Graph.Devices {
					if !d.HasNeighbr {
						res.Rows = append(res.Rows, []any{d.Hostname, nullStr(d.MgmtIP), nullStr(d.Vendor), nullStr(d.Role), nullStr(d.Site)})
					}
				}
				return res, nil
			},
		},
		mismatchQuery("hygiene_mtu_mismatch", "Links whose two ends have different MTUs.", "mtu",
			func(i *graph.Interface) (any, bool) { return i.MTU, i.MTU > 0 }),
		mismatchQuery("hygiene_speed_mismatch", "Links whose two ends have different speeds.", "speed_mbps",
			func(i *graph.Interface) (any, bool) { return i.SpeedMbps, i.SpeedMbps > 0 }),
		mismatchQuery("hygiene_vlan_mismatch", "Layer-2 links whose ends disagree on mode, access VLAN or allowed trunk VLANs.", "vlans",
			func(i *graph.Interface) (any, bool) {
				switch {
				case i.Mode == "trunk":
					vl, all := i.VLANList()
					if all {
						return "trunk all", true
					}
					return "trunk " + joinInts(vl), true
				case i.Mode == "access" || (i.Mode == "" && i.AccessVLAN > 0):
					return "access " + strconv.Itoa(i.AccessVLAN), true
				}
				return nil, false
			}),
		{
			Name: "hygiene_interfaces_no_description", Memo: true, Description: "Operationally up interfaces without a description.",
			Columns: interfaceColumns, Paged: true,
			Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
				return interfaceRows(env.Graph, func(i *graph.Interface) bool { return isTrue(i.OperUp) && strings.TrimSpace(i.Description) == "" }), nil
			},
		},
	}
}

func vlanParam() Param {
	return Param{Name: "vlan", Type: TypeInt, Required: true, Min: 1, Max: 4094, Description: "VLAN ID (1..4094)", Example: 10}
}

func rows(r ...[]any) *Result { return &Result{Rows: r} }

func summaryBy(field string, key func(*graph.Device) string) Definition {
	return Definition{
		Name: "summary_by_" + field, Memo: true, Description: "Device count per " + field + ".",
		Columns: []string{field, "devices"},
		Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
			counts := map[string]int{}
			for _, d := range env.Graph.Devices {
				counts[key(d)]++
			}
			res := &Result{}
			for k, n := range counts {
				res.Rows = append(res.Rows, []any{k, n})
			}
			slices.SortFunc(res.Rows, func(x, y []any) int { return strings.Compare(x[0].(string), y[0].(string)) })
			return res, nil
		},
	}
}

func devicesBy(field, example string, key func(*graph.Device) string) Definition {
	return Definition{
		Name: "devices_by_" + field, Description: "Devices whose " + field + " is the one given (case-insensitive).",
		Params:  []Param{{Name: field, Type: TypeString, Required: true, Description: field, Example: example}},
		Columns: deviceColumns, Paged: true,
		Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
			want := a.String(field)
			return deviceRows(env.Graph, func(d *graph.Device) bool { return strings.EqualFold(key(d), want) }), nil
		},
	}
}

func matchFold(want, have string) bool { return want == "" || strings.EqualFold(want, have) }

// containsFold reports whether s contains lower-cased q, ignoring case.
func containsFold(s, q string) bool {
	if q == "" {
		return true
	}
	return strings.Contains(strings.ToLower(s), q)
}

// lazy answers with the items kept, building a row only for the page.
func lazy[T any](items []T, keep func(T) bool, row func(T) []any) *Result {
	var kept []T
	if keep == nil {
		kept = items
	} else {
		for _, it := range items {
			if keep(it) {
				kept = append(kept, it)
			}
		}
	}
	return &Result{Len: len(kept), Row: func(i int) []any { return row(kept[i]) }}
}

func deviceRows(g *graph.Graph, keep func(*graph.Device) bool) *Result {
	return lazy(g.Devices, keep, func(d *graph.Device) []any {
		return []any{d.Hostname, nullStr(d.MgmtIP), nullStr(d.Vendor), nullStr(d.OS), nullStr(d.Model),
			nullStr(d.Serial), nullStr(d.Version), nullStr(d.Role), nullStr(d.Site)}
	})
}

func detailRow(g *graph.Graph, d *graph.Device) []any {
	meta := g.Metadata(d.Hostname)
	if meta == nil {
		meta = map[string]any{}
	}
	rules := 0
	if d.Firewall != nil {
		rules = len(d.Firewall.Rules)
	}
	return []any{d.Hostname, nullStr(d.MgmtIP), nullStr(d.Vendor), nullStr(d.OS), nullStr(d.Model), nullStr(d.Serial),
		nullStr(d.Version), nullStr(d.Role), nullStr(d.Site), meta,
		len(d.Ifaces), d.IPCount, len(d.Device.VLANs), d.LinkCount, len(d.Endpoints), len(d.Routes), len(d.BGPPeers), rules}
}

func interfaceRow(i *graph.Interface) []any {
	var vlan any
	if i.Mode != "trunk" && i.Mode != "routed" && i.AccessVLAN > 0 {
		vlan = i.AccessVLAN
	}
	var trunk any
	if i.Mode == "trunk" {
		if vl, all := i.VLANList(); all {
			trunk = "all"
		} else {
			trunk = vl
		}
	}
	ips := make([]string, len(i.Prefixes))
	for k, p := range i.Prefixes {
		ips[k] = p.String()
	}
	return []any{i.Device.Hostname, i.Name, nullStr(i.Description), boolPtr(i.AdminUp), boolPtr(i.OperUp), nullInt(int(i.SpeedMbps)),
		nullInt(i.MTU), nullStr(i.Mode), vlan, trunk, nullStr(i.VRF), nullStr(i.Zone), nullStr(i.MAC), ips}
}

func interfaceRows(g *graph.Graph, keep func(*graph.Interface) bool) *Result {
	var kept []*graph.Interface
	for _, d := range g.Devices {
		for _, i := range d.Ifaces {
			if keep(i) {
				kept = append(kept, i)
			}
		}
	}
	return lazy(kept, nil, interfaceRow)
}

func linkRows(g *graph.Graph, keep func(*graph.Link) bool) *Result {
	return lazy(g.Links, keep, func(l *graph.Link) []any {
		state := "up"
		if !l.Up {
			state = "down"
		}
		return []any{l.A.Hostname, nullStr(l.A.Interface), l.B.Hostname, nullStr(l.B.Interface), nullStr(l.Protocol), state}
	})
}

func endpointRow(ip, vrf string, e *graph.Endpoint) []any {
	var v any
	if vrf != "" {
		v = vrf
	}
	var ipv any
	if ip != "" {
		ipv = ip
	}
	return []any{ipv, e.MAC, e.Device.Hostname, e.Interface, nullInt(e.VLAN), v}
}

// endpointRows gives one row per endpoint address, or one row without an
// address for an endpoint no ARP table names.
func endpointRows(eps []*graph.Endpoint) *Result {
	res := &Result{}
	for _, e := range eps {
		if len(e.IPs) == 0 {
			res.Rows = append(res.Rows, endpointRow("", "", e))
		}
		for _, a := range e.IPs {
			res.Rows = append(res.Rows, endpointRow(a.IP.String(), a.VRF, e))
		}
	}
	return res
}

func blastQuery(name, desc string, params []Param, fail func(*graph.Graph, Args) (graph.BlastRadius, string, error)) Definition {
	return Definition{
		Name: name, Description: desc + " Rows are the affected devices (kind device) then endpoints (kind endpoint); summary counts them per VLAN.",
		Params: params, Columns: blastColumns, Paged: true,
		Run: func(_ context.Context, env *Env, a Args) (*Result, error) {
			br, what, err := fail(env.Graph, a)
			if err != nil {
				return nil, err
			}
			nd := len(br.Devices)
			res := &Result{Len: nd + len(br.Endpoints), Row: func(i int) []any {
				if i < nd {
					d := br.Devices[i]
					return []any{"device", d.Hostname, nullStr(d.Role), nullStr(d.Site), nil, nil, nil, nil, nil}
				}
				e := br.Endpoints[i-nd]
				var ip any
				ips := make([]string, len(e.IPs))
				for k, x := range e.IPs {
					ips[k] = x.IP.String()
				}
				if len(ips) > 0 {
					ip = ips[0]
				}
				return []any{"endpoint", e.Device.Hostname, nullStr(e.Device.Role), nullStr(e.Device.Site), e.Interface, e.MAC, ip, ips, nullInt(e.VLAN)}
			}}
			byVLAN := make([]map[string]any, len(br.ByVLAN))
			for k, c := range br.ByVLAN {
				byVLAN[k] = map[string]any{"vlan": c.VLAN, "endpoints": c.Endpoints}
			}
			res.Extra = map[string]any{"summary": map[string]any{
				"failed": what, "devices": len(br.Devices), "endpoints": len(br.Endpoints), "by_vlan": byVLAN,
			}}
			return res, nil
		},
	}
}

func bgpRow(g *graph.Graph, d *graph.Device, p facts.BGPPeer, families []facts.AFISafi) []any {
	var peerHost any
	if a, err := netip.ParseAddr(p.PeerIP); err == nil {
		if ifs := g.InterfacesByIP(a); len(ifs) > 0 {
			peerHost = ifs[0].Device.Hostname
		}
	}
	if peerHost == nil && p.PeerInterface != "" {
		// Unnumbered: the peer is the device linked on the interface.
		if ifc := d.Iface(p.PeerInterface); ifc != nil {
			for _, l := range ifc.Links {
				if far := l.Far(d, p.PeerInterface); far.Device != nil {
					peerHost = far.Hostname
					break
				}
			}
		}
	}
	fams := make([]map[string]any, len(families))
	for i, f := range families {
		fams[i] = map[string]any{"name": f.Name, "state": nullStr(f.State),
			"prefixes_received": int64Ptr(f.PrefixesReceived), "prefixes_accepted": int64Ptr(f.PrefixesAccepted), "prefixes_sent": int64Ptr(f.PrefixesSent)}
	}
	return []any{d.Hostname, nullStr(p.PeerIP), peerHost, nullInt64(p.RemoteAS), nullInt64(p.LocalAS), nullStr(p.State), orDefault(p.VRF), nullStr(p.PeerInterface), fams}
}

func int64Ptr(v *int64) any {
	if v == nil {
		return nil
	}
	return *v
}

// routeRow is one routes_by_device row.
func routeRow(d *graph.Device, r facts.Route) []any {
	var ad any
	if r.AdminDistance != nil {
		ad = *r.AdminDistance
	}
	hops := r.Hops()
	nhs := make([]map[string]any, len(hops))
	for i, h := range hops {
		m := map[string]any{"ip": nullStr(h.IP), "interface": nullStr(h.Interface), "vrf": nullStr(h.VRF)}
		if h.VNI > 0 {
			m["vni"] = h.VNI
		}
		if h.Weight > 0 {
			m["weight"] = h.Weight
		}
		nhs[i] = m
	}
	return []any{d.Hostname, orDefault(r.VRF), r.Prefix, nullStr(r.NextHop), nullStr(r.Interface), nullStr(r.Protocol), r.Metric,
		ad, nullStr(r.Action), nullStr(r.NextHopVRF), nhs}
}

// arpVRF is an ARP entry's VRF: its own, else its interface's.
func arpVRF(d *graph.Device, e facts.ARPEntry) string {
	if e.VRF != "" {
		return e.VRF
	}
	if ifc := d.Iface(e.Interface); ifc != nil {
		return orDefault(ifc.VRF)
	}
	return graph.DefaultVRF
}

// duplicateIPs lists the addresses with more than one owner in a VRF. An
// owner is a device (one device's unnumbered /32 on several interfaces is
// one owner), or an endpoint's MAC wherever it is located (a host
// dual-homed to an MLAG pair is one owner on two switches). A device
// holding the address as virtual or anycast (VRRP, HSRP, VARP, anycast
// gateway) shares it on purpose and is no second owner.
func duplicateIPs(g *graph.Graph) *Result {
	res := &Result{}
	type key struct {
		ip  netip.Addr
		vrf string
	}
	type owner struct {
		key    string // hostname, or the MAC
		mac    string
		at     []string // interfaces, or an endpoint's locations
		shared bool     // every interface of it marks the address shared
	}
	owners := map[key][]owner{}
	var order []key
	for _, e := range g.Addrs() {
		k := key{e.IP, e.VRF}
		if _, ok := owners[k]; !ok {
			order = append(order, k)
		}
		os := owners[k]
		id, where := e.Hostname, e.Interface
		if e.Kind == graph.KindEndpoint {
			id, where = e.MAC, e.Hostname+" "+e.Interface
		}
		i := slices.IndexFunc(os, func(x owner) bool { return x.key == id })
		if i < 0 {
			o := owner{key: id, shared: e.Kind == graph.KindInterface && e.Shared}
			if e.Kind == graph.KindEndpoint {
				o.mac = e.MAC
			}
			owners[k] = append(os, o)
			i = len(os)
			os = owners[k]
		}
		if !slices.Contains(os[i].at, where) {
			os[i].at = append(os[i].at, where)
		}
		os[i].shared = os[i].shared && e.Shared
	}
	for _, k := range order {
		os := owners[k]
		n := 0
		for _, o := range os {
			if !o.shared {
				n++
			}
		}
		if n < 2 {
			continue
		}
		texts := make([]string, len(os))
		for i, o := range os {
			if o.mac != "" {
				texts[i] = o.mac + " (" + strings.Join(o.at, ", ") + ")"
			} else {
				texts[i] = o.key + " " + strings.Join(o.at, ", ")
			}
		}
		res.Rows = append(res.Rows, []any{k.ip.String(), k.vrf, texts})
	}
	return res
}

func mismatchQuery(name, desc, col string, value func(*graph.Interface) (any, bool)) Definition {
	return Definition{
		Name: name, Description: desc, Memo: true,
		Columns: []string{"a_hostname", "a_interface", "a_" + col, "b_hostname", "b_interface", "b_" + col}, Paged: true,
		Run: func(_ context.Context, env *Env, _ Args) (*Result, error) {
			res := &Result{}
			for _, l := range env.Graph.Links {
				if l.A.Iface == nil || l.B.Iface == nil {
					continue
				}
				av, aok := value(l.A.Iface)
				bv, bok := value(l.B.Iface)
				if aok && bok && av != bv {
					res.Rows = append(res.Rows, []any{l.A.Hostname, l.A.Interface, av, l.B.Hostname, l.B.Interface, bv})
				}
			}
			return res, nil
		},
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func nullInt64(n int64) any {
	if n == 0 {
		return nil
	}
	return n
}

func boolPtr(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

func orDefault(vrf string) string { return cmp.Or(vrf, graph.DefaultVRF) }
