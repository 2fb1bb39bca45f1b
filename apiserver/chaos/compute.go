package chaos

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
)

// MaxListed caps the affected devices and endpoints a result lists (the
// counts stay exact); a whole-site scenario on a large network would
// otherwise make a result of many megabytes.
const MaxListed = 10000

// Result is what a scenario does to the network.
type Result struct {
	Summary          Summary         `json:"summary"`
	AffectedDevices  []DeviceOut     `json:"affected_devices"`
	DevicesTruncated bool            `json:"affected_devices_truncated"`
	Endpoints        []EndpointOut   `json:"endpoints"`
	EndpointsTrunc   bool            `json:"endpoints_truncated"`
	EndpointsByVLAN  []VLANCountOut  `json:"endpoints_by_vlan"`
	Paths            []PathOut       `json:"paths"`
	GPUNodes         []GPUNodeOut    `json:"gpu_nodes"`
	Jobs             []JobOut        `json:"jobs"`
	Redundancy       []RedundancyOut `json:"redundancy"`
	Failed           FailedOut       `json:"failed"`
}

// Summary counts what the lists hold.
type Summary struct {
	AffectedDevices   int `json:"affected_devices"`
	AffectedEndpoints int `json:"affected_endpoints"`
	BrokenPaths       int `json:"broken_paths"`
	ReroutedPaths     int `json:"rerouted_paths"`
	GPUNodesCutOff    int `json:"gpu_nodes_cut_off"`
	JobsAffected      int `json:"jobs_affected"`
	SavedByRedundancy int `json:"saved_by_redundancy"`
}

// FailedOut is the scenario as resolved on the graph.
type FailedOut struct {
	Devices    []string `json:"devices"`
	Interfaces []string `json:"interfaces"`
	Links      []string `json:"links"`
	VLANs      []int    `json:"vlans"`
	Subnets    []string `json:"subnets"`
}

// DeviceOut is an affected device.
type DeviceOut struct {
	Hostname string `json:"hostname"`
	Role     string `json:"role"`
	Site     string `json:"site"`
}

// EndpointOut is an endpoint that loses service.
type EndpointOut struct {
	MAC       string   `json:"mac"`
	VLAN      int      `json:"vlan"`
	Hostname  string   `json:"hostname"`
	Interface string   `json:"interface"`
	IPs       []string `json:"ips"`
}

// VLANCountOut is the affected endpoints of one VLAN.
type VLANCountOut struct {
	VLAN      int `json:"vlan"`
	Endpoints int `json:"endpoints"`
}

// Path statuses.
const (
	PathIntact   = "intact"   // no traced path crosses a failure
	PathRerouted = "rerouted" // a failure is crossed, and redundancy still joins the ends
	PathBroken   = "broken"
	PathUnknown  = "unknown" // path analysis found no path to begin with
)

// PathOut is one pair's verdict.
type PathOut struct {
	Src      string   `json:"src"`
	Dst      string   `json:"dst"`
	Status   string   `json:"status"`
	Reason   string   `json:"reason"`
	Hops     []string `json:"hops"`      // the first traced path, before the failures
	FailedAt []string `json:"failed_at"` // where the traced paths cross the failures
}

// GPU node statuses.
const (
	NodeOK     = "ok"
	NodeCutOff = "cut_off"
)

// GPUNodeOut is one GPU node's verdict.
type GPUNodeOut struct {
	Node       string `json:"node"`
	AttachedTo string `json:"attached_to"`
	Interface  string `json:"interface"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
}

// Job statuses.
const (
	JobUnaffected  = "unaffected"
	JobRerouted    = "rerouted"    // its members' shortest path is cut, another path joins them
	JobMemberLost  = "member_lost" // a member is cut off
	JobPartitioned = "partitioned" // every member is up, but they no longer reach each other
)

// JobOut is one job's verdict.
type JobOut struct {
	Name        string   `json:"name"`
	Source      string   `json:"source"` // request, or node_agent for a job the agents reported
	Status      string   `json:"status"`
	Reason      string   `json:"reason"`
	LostMembers []string `json:"lost_members"`
}

// RedundancyOut is a device that lost links or neighbours but kept a path
// to the core.
type RedundancyOut struct {
	Hostname       string   `json:"hostname"`
	LostPorts      []string `json:"lost_ports"`
	RemainingLinks int      `json:"remaining_links"`
}

// errGraphChanged stops a run whose graph was replaced under it.
var errGraphChanged = errors.New("the graph changed during the run")

// compute runs the resolved scenario on g; check is called between steps
// and stops the run when it returns an error.
func compute(g *graph.Graph, ix func() *pathanalysis.Index, r *Resolved, check func() error) (*Result, error) {
	im := g.Simulate(r.Scenario)
	if err := check(); err != nil {
		return nil, err
	}
	out := &Result{Paths: []PathOut{}, GPUNodes: []GPUNodeOut{}, Jobs: []JobOut{}, Redundancy: []RedundancyOut{},
		AffectedDevices: []DeviceOut{}, Endpoints: []EndpointOut{}, EndpointsByVLAN: []VLANCountOut{}}
	out.Failed = failedOut(r.Scenario)
	out.Summary.AffectedDevices = len(im.Devices)
	for i, d := range im.Devices {
		if i == MaxListed {
			out.DevicesTruncated = true
			break
		}
		out.AffectedDevices = append(out.AffectedDevices, DeviceOut{Hostname: d.Hostname, Role: d.Role, Site: d.Site})
	}
	out.Summary.AffectedEndpoints = len(im.Endpoints)
	for i, ep := range im.Endpoints {
		if i == MaxListed {
			out.EndpointsTrunc = true
			break
		}
		ips := []string{}
		for _, a := range ep.IPs {
			ips = append(ips, a.IP.String())
		}
		out.Endpoints = append(out.Endpoints, EndpointOut{MAC: ep.MAC, VLAN: ep.VLAN, Hostname: ep.Device.Hostname, Interface: ep.Interface, IPs: ips})
	}
	for _, c := range im.ByVLAN {
		out.EndpointsByVLAN = append(out.EndpointsByVLAN, VLANCountOut{VLAN: c.VLAN, Endpoints: c.Endpoints})
	}
	for _, s := range im.Survivors {
		out.Redundancy = append(out.Redundancy, RedundancyOut{Hostname: s.Device.Hostname, LostPorts: s.Lost, RemainingLinks: s.Remaining})
	}
	out.Summary.SavedByRedundancy = len(im.Survivors)

	if len(r.Pairs) > 0 {
		pix := ix()
		for _, p := range r.Pairs {
			po := checkPair(g, pix, im, p)
			switch po.Status {
			case PathBroken:
				out.Summary.BrokenPaths++
			case PathRerouted:
				out.Summary.ReroutedPaths++
			}
			out.Paths = append(out.Paths, po)
			if err := check(); err != nil {
				return nil, err
			}
		}
	}
	down := map[*Node]string{}
	for _, n := range r.Nodes {
		no := nodeOut(im, n)
		if no.Status == NodeCutOff {
			down[n] = no.Reason
			out.Summary.GPUNodesCutOff++
		}
		out.GPUNodes = append(out.GPUNodes, no)
	}
	for _, j := range r.Jobs {
		jo := jobOut(g, im, j, down)
		if jo.Status != JobUnaffected {
			out.Summary.JobsAffected++
		}
		out.Jobs = append(out.Jobs, jo)
		if err := check(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func failedOut(s graph.Scenario) FailedOut {
	f := FailedOut{Devices: []string{}, Interfaces: []string{}, Links: []string{}, VLANs: []int{}, Subnets: []string{}}
	for _, d := range s.Devices {
		f.Devices = append(f.Devices, d.Hostname)
	}
	for _, p := range s.Interfaces {
		f.Interfaces = append(f.Interfaces, p.Device.Hostname+" "+p.Interface)
	}
	for _, l := range s.Links {
		f.Links = append(f.Links, l.A.Hostname+" "+l.A.Interface+" - "+l.B.Hostname+" "+l.B.Interface)
	}
	f.VLANs = append(f.VLANs, s.VLANs...)
	for _, p := range s.Subnets {
		f.Subnets = append(f.Subnets, p.String())
	}
	return f
}

// endpointsDown says whether every endpoint holding ip loses service (an
// address no endpoint holds is not down by this test).
func endpointsDown(g *graph.Graph, im *graph.Impact, ip netip.Addr) bool {
	eps := g.EndpointsByIP(ip)
	if len(eps) == 0 {
		return false
	}
	for _, e := range eps {
		if !im.EndpointDown(e.Endpoint) && !im.CutOff(e.Endpoint.Device) {
			return false
		}
	}
	return true
}

// attachment is the device an endpoint address is learned on, nil for an
// address no endpoint holds.
func attachment(g *graph.Graph, ip netip.Addr) *graph.Device {
	if eps := g.EndpointsByIP(ip); len(eps) > 0 {
		return eps[0].Endpoint.Device
	}
	return nil
}

// checkPair traces the flow on the intact graph (every service) and tells
// whether its paths cross the failures; a crossed path whose two ends the
// topology still joins is rerouted, since the routing over the detour is
// not in the facts to trace.
func checkPair(g *graph.Graph, ix *pathanalysis.Index, im *graph.Impact, p ResolvedPair) PathOut {
	po := PathOut{Src: p.Src.String(), Dst: p.Dst.String(), Hops: []string{}, FailedAt: []string{}}
	for _, side := range []struct {
		ip   netip.Addr
		name string
	}{{p.Src, "source"}, {p.Dst, "destination"}} {
		if endpointsDown(g, im, side.ip) {
			po.Status, po.Reason = PathBroken, fmt.Sprintf("the %s %s loses service", side.name, side.ip)
		}
	}
	res := ix.Analyze(pathanalysis.Query{Src: p.Src, Dst: p.Dst, Services: firewall.AllServices()})
	if len(res.Paths) == 0 {
		if po.Status == "" {
			po.Status, po.Reason = PathUnknown, "no path before the failures: "+res.Reason
		}
		return po
	}
	for _, h := range res.Paths[0].Hops {
		po.Hops = append(po.Hops, h.Device.Hostname)
	}
	intact, joined := 0, 0
	for _, path := range res.Paths {
		crossed := false
		for _, h := range path.Hops {
			var where string
			switch {
			case im.Failed(h.Device):
				where = h.Device.Hostname
			case im.PortDown(h.Device, h.In):
				where = h.Device.Hostname + " " + h.In
			case im.PortDown(h.Device, h.Out):
				where = h.Device.Hostname + " " + h.Out
			case im.CutOff(h.Device):
				where = h.Device.Hostname + " (cut off)"
			}
			if where != "" {
				crossed = true
				if !slices.Contains(po.FailedAt, where) {
					po.FailedAt = append(po.FailedAt, where)
				}
			}
		}
		// An endpoint must still reach the path's first (last) device: its
		// gateway can be fine while the endpoint's uplinks are not.
		srcEnd, dstEnd := path.Hops[0].Device, path.Hops[len(path.Hops)-1].Device
		for _, side := range []struct {
			ip  netip.Addr
			end **graph.Device
		}{{p.Src, &srcEnd}, {p.Dst, &dstEnd}} {
			at := attachment(g, side.ip)
			if at == nil || at == *side.end || !im.WasConnected(at, *side.end) {
				continue // not an endpoint, or delivered off its segment already
			}
			if !im.Connected(at, *side.end) {
				crossed = true
				where := at.Hostname + " to " + (*side.end).Hostname
				if !slices.Contains(po.FailedAt, where) {
					po.FailedAt = append(po.FailedAt, where)
				}
			}
			*side.end = at
		}
		if !crossed {
			intact++
			continue
		}
		if !im.Failed(srcEnd) && !im.Failed(dstEnd) && im.Connected(srcEnd, dstEnd) {
			joined++
		}
	}
	if po.Status != "" {
		return po
	}
	switch {
	case intact == len(res.Paths):
		po.Status, po.Reason = PathIntact, "no traced path crosses a failure"
	case intact > 0:
		po.Status, po.Reason = PathRerouted, fmt.Sprintf("%d of %d traced paths cross a failure; the others carry the flow", len(res.Paths)-intact, len(res.Paths))
	case joined > 0:
		po.Status, po.Reason = PathRerouted, "every traced path crosses a failure, but the topology still joins its ends (redundant links); the detour's routing is not traced"
	default:
		po.Status, po.Reason = PathBroken, "every traced path crosses a failure and nothing else joins its ends"
	}
	return po
}

func nodeOut(im *graph.Impact, n *Node) GPUNodeOut {
	at := n.Attached()
	no := GPUNodeOut{Node: n.Name, AttachedTo: at.Hostname, Status: NodeOK, Reason: "still reaches the core"}
	if n.Endpoint != nil {
		no.Interface = n.Endpoint.Interface
	}
	switch {
	case n.Device != nil && im.Failed(n.Device):
		no.Status, no.Reason = NodeCutOff, "the node itself fails"
	case im.Failed(at):
		no.Status, no.Reason = NodeCutOff, "its switch "+at.Hostname+" fails"
	case im.CutOff(at):
		no.Status, no.Reason = NodeCutOff, at.Hostname+" loses every path to the core"
	case n.Endpoint != nil && im.EndpointDown(n.Endpoint):
		no.Status, no.Reason = NodeCutOff, "its port, VLAN or subnet fails"
	}
	return no
}

func jobOut(g *graph.Graph, im *graph.Impact, j ResolvedJob, down map[*Node]string) JobOut {
	jo := JobOut{Name: j.Name, Source: j.Source, Status: JobUnaffected, Reason: "every member is up and their paths avoid the failures", LostMembers: []string{}}
	why := ""
	for i, n := range j.Nodes {
		if reason, ok := down[n]; ok && !slices.Contains(jo.LostMembers, j.Names[i]) {
			jo.LostMembers = append(jo.LostMembers, j.Names[i])
			if why == "" {
				why = j.Names[i] + ": " + reason
			}
		}
	}
	if len(jo.LostMembers) > 0 {
		jo.Status, jo.Reason = JobMemberLost, fmt.Sprintf("%d of %d members cut off (%s)", len(jo.LostMembers), len(j.Nodes), why)
		return jo
	}
	first := j.Nodes[0]
	var detoured []string
	for i, n := range j.Nodes[1:] {
		a, b := first.Attached(), n.Attached()
		if !im.Connected(a, b) {
			jo.Status, jo.Reason = JobPartitioned, fmt.Sprintf("%s and %s are both up but no longer reach each other", j.Names[0], j.Names[i+1])
			return jo
		}
		if a != b && im.Crosses(g.ShortestPath(a, b)) {
			detoured = append(detoured, j.Names[i+1])
		}
	}
	if len(detoured) > 0 {
		jo.Status, jo.Reason = JobRerouted, fmt.Sprintf("the shortest path from %s to %s crosses a failure; redundant links still join them", j.Names[0], strings.Join(detoured, ", "))
	}
	return jo
}
