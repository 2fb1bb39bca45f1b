// Package chaos answers "what if these fail at once?": a scenario of
// failed devices, ports, links, VLANs and subnets, with the GPU nodes and
// jobs to watch and the flows to check, is queued, computed by the graph's
// blast-radius engine (graph.Simulate) and path analysis, and its result
// kept in Redis (or memory) for any replica to answer.
package chaos

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// Limits of one scenario, so that one request cannot hold a worker for long.
const (
	MaxFailures = 1000 // per kind (devices, interfaces, …)
	MaxPairs    = 256
	MaxNodes    = 4096 // GPU nodes, those named by jobs included
	MaxJobs     = 256
)

// Request is the body of POST /graph/chaos-simulate.
type Request struct {
	Devices    []string       `json:"devices,omitempty"`
	Interfaces []InterfaceRef `json:"interfaces,omitempty"`
	Links      []LinkRef      `json:"links,omitempty"`
	VLANs      []int          `json:"vlans,omitempty"`
	Subnets    []string       `json:"subnets,omitempty"`
	Pairs      []Pair         `json:"pairs,omitempty"`
	GPUNodes   []string       `json:"gpu_nodes,omitempty"`
	Jobs       []Job          `json:"jobs,omitempty"`
}

// InterfaceRef names one port.
type InterfaceRef struct {
	Device    string `json:"device"`
	Interface string `json:"interface"`
}

// LinkRef names the links between two devices, or the one on a's port.
type LinkRef struct {
	A          string `json:"a"`
	B          string `json:"b"`
	AInterface string `json:"a_interface,omitempty"`
}

// Pair is a flow whose path is checked.
type Pair struct {
	Src string `json:"src"`
	Dst string `json:"dst"`
}

// Job is a workload spread over GPU nodes.
type Job struct {
	Name  string   `json:"name"`
	Nodes []string `json:"nodes"`
}

// FieldError is a scenario the caller got wrong; Field is where.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Parse decodes a request strictly: unknown fields and wrong types are
// errors naming the field.
func Parse(body []byte) (Request, error) {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return req, fieldErr(te.Field, "is %s, want %s", te.Value, te.Type)
		case errors.As(err, &se):
			return req, fieldErr("body", "not valid JSON at offset %d: %v", se.Offset, err)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return req, fieldErr(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "is not a scenario field (devices, interfaces, links, vlans, subnets, pairs, gpu_nodes, jobs)")
		case errors.Is(err, io.EOF):
			return req, fieldErr("body", "is empty; send a JSON scenario")
		default:
			return req, fieldErr("body", "%v", err)
		}
	}
	if dec.More() {
		return req, fieldErr("body", "holds more than one JSON value")
	}
	return req, nil
}

// Resolved is a request bound to one graph version.
type Resolved struct {
	Scenario graph.Scenario
	Pairs    []ResolvedPair
	Nodes    []*Node // GPU nodes, those only jobs name included, in request order
	Jobs     []ResolvedJob
}

// ResolvedPair is a flow with parsed addresses.
type ResolvedPair struct {
	Src, Dst netip.Addr
}

// ResolvedJob is a job with its nodes found in the graph.
type ResolvedJob struct {
	Name   string
	Source string // JobFromRequest or JobFromAgents
	Nodes  []*Node
	Names  []string // the nodes as the job names them
}

// Where a job came from.
const (
	JobFromRequest = "request"
	JobFromAgents  = "node_agent" // an NCCL communicator the node agents report
)

// Node is a GPU node: a device of the graph, or an endpoint it learned.
type Node struct {
	Name     string
	Device   *graph.Device   // the node itself, when it is a device
	Endpoint *graph.Endpoint // the node, when it is an endpoint
}

func (n *Node) key() any {
	if n.Device != nil {
		return n.Device
	}
	return n.Endpoint
}

// Attached is the device the node hangs off (itself when it is a device).
func (n *Node) Attached() *graph.Device {
	if n.Device != nil {
		return n.Device
	}
	return n.Endpoint.Device
}

// Resolve binds req, and the jobs the node agents reported for it, to g:
// every name must be known to g.
func Resolve(g *graph.Graph, req Request, reported ...Job) (*Resolved, error) {
	r := &Resolved{}
	if len(req.Devices)+len(req.Interfaces)+len(req.Links)+len(req.VLANs)+len(req.Subnets) == 0 {
		return nil, fieldErr("devices", "the scenario fails nothing: give devices, interfaces, links, vlans or subnets")
	}
	for name, n := range map[string]int{"devices": len(req.Devices), "interfaces": len(req.Interfaces), "links": len(req.Links),
		"vlans": len(req.VLANs), "subnets": len(req.Subnets)} {
		if n > MaxFailures {
			return nil, fieldErr(name, "has %d entries, at most %d", n, MaxFailures)
		}
	}
	device := func(field, name string) (*graph.Device, error) {
		if name == "" {
			return nil, fieldErr(field, "is empty; name a device hostname")
		}
		d := g.Device(name)
		if d == nil {
			return nil, fieldErr(field, "device %q is not in the graph", name)
		}
		return d, nil
	}
	for i, name := range req.Devices {
		d, err := device(fmt.Sprintf("devices[%d]", i), name)
		if err != nil {
			return nil, err
		}
		r.Scenario.Devices = append(r.Scenario.Devices, d)
	}
	for i, ref := range req.Interfaces {
		d, err := device(fmt.Sprintf("interfaces[%d].device", i), ref.Device)
		if err != nil {
			return nil, err
		}
		if !hasInterface(d, ref.Interface) {
			return nil, fieldErr(fmt.Sprintf("interfaces[%d].interface", i), "device %s has no interface %q", d.Hostname, ref.Interface)
		}
		r.Scenario.Interfaces = append(r.Scenario.Interfaces, graph.Port{Device: d, Interface: ref.Interface})
	}
	for i, ref := range req.Links {
		a, err := device(fmt.Sprintf("links[%d].a", i), ref.A)
		if err != nil {
			return nil, err
		}
		b, err := device(fmt.Sprintf("links[%d].b", i), ref.B)
		if err != nil {
			return nil, err
		}
		ls := g.LinksBetween(a, b, ref.AInterface)
		if len(ls) == 0 {
			on := ""
			if ref.AInterface != "" {
				on = " on " + ref.AInterface
			}
			return nil, fieldErr(fmt.Sprintf("links[%d]", i), "no working link joins %s%s and %s", a.Hostname, on, b.Hostname)
		}
		r.Scenario.Links = append(r.Scenario.Links, ls...)
	}
	for i, v := range req.VLANs {
		if v < 1 || v > 4094 {
			return nil, fieldErr(fmt.Sprintf("vlans[%d]", i), "%d is not a VLAN id (1-4094)", v)
		}
		r.Scenario.VLANs = append(r.Scenario.VLANs, v)
	}
	for i, s := range req.Subnets {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("subnets[%d]", i), "%q is not a prefix like 10.1.0.0/24", s)
		}
		r.Scenario.Subnets = append(r.Scenario.Subnets, p.Masked())
	}
	if len(req.Pairs) > MaxPairs {
		return nil, fieldErr("pairs", "has %d entries, at most %d", len(req.Pairs), MaxPairs)
	}
	for i, p := range req.Pairs {
		src, err := netip.ParseAddr(strings.TrimSpace(p.Src))
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("pairs[%d].src", i), "%q is not an IP address", p.Src)
		}
		dst, err := netip.ParseAddr(strings.TrimSpace(p.Dst))
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("pairs[%d].dst", i), "%q is not an IP address", p.Dst)
		}
		if src.Unmap().Is4() != dst.Unmap().Is4() {
			return nil, fieldErr(fmt.Sprintf("pairs[%d].dst", i), "%s and src %s are of different address families", dst, src)
		}
		r.Pairs = append(r.Pairs, ResolvedPair{Src: src, Dst: dst})
	}
	if len(req.Jobs) > MaxJobs {
		return nil, fieldErr("jobs", "has %d entries, at most %d", len(req.Jobs), MaxJobs)
	}
	// One node named twice (a MAC in two notations, a hostname and its
	// address) is one node, listed under its first name.
	nodes := map[any]*Node{}
	node := func(field, name string) (*Node, error) {
		n, err := findNode(g, name)
		if err != nil {
			return nil, fieldErr(field, "%v", err)
		}
		if seen, ok := nodes[n.key()]; ok {
			return seen, nil
		}
		if len(nodes) >= MaxNodes {
			return nil, fieldErr(field, "more than %d distinct GPU nodes", MaxNodes)
		}
		nodes[n.key()] = n
		r.Nodes = append(r.Nodes, n)
		return n, nil
	}
	for i, name := range req.GPUNodes {
		if _, err := node(fmt.Sprintf("gpu_nodes[%d]", i), name); err != nil {
			return nil, err
		}
	}
	jobNames := map[string]bool{}
	for _, list := range []struct {
		field, source string
		jobs          []Job
	}{{"jobs", JobFromRequest, req.Jobs}, {"reported_jobs", JobFromAgents, reported}} {
		for i, j := range list.jobs {
			field := fmt.Sprintf("%s[%d]", list.field, i)
			if j.Name == "" {
				return nil, fieldErr(field+".name", "is empty; name the job")
			}
			if jobNames[j.Name] {
				return nil, fieldErr(field+".name", "job %q is named twice", j.Name)
			}
			jobNames[j.Name] = true
			if len(j.Nodes) == 0 {
				return nil, fieldErr(field+".nodes", "is empty; list the job's GPU nodes")
			}
			rj := ResolvedJob{Name: j.Name, Source: list.source}
			for k, name := range j.Nodes {
				n, err := node(fmt.Sprintf("%s.nodes[%d]", field, k), name)
				if err != nil {
					return nil, err
				}
				rj.Nodes = append(rj.Nodes, n)
				rj.Names = append(rj.Names, name)
			}
			r.Jobs = append(r.Jobs, rj)
		}
	}
	return r, nil
}

func hasInterface(d *graph.Device, name string) bool {
	if name == "" {
		return false
	}
	for _, i := range d.Ifaces {
		if i.Name == name {
			return true
		}
	}
	return false
}

// findNode finds a GPU node by device hostname, by address (an endpoint's,
// else the device owning an interface address) or by MAC in any notation.
func findNode(g *graph.Graph, name string) (*Node, error) {
	s := strings.TrimSpace(name)
	if s == "" {
		return nil, errors.New("is empty; name a device hostname, an IP address or a MAC")
	}
	if d := g.Device(s); d != nil {
		return &Node{Name: name, Device: d}, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		if eps := g.EndpointsByIP(ip); len(eps) > 0 {
			return &Node{Name: name, Endpoint: eps[0].Endpoint}, nil
		}
		if ifs := g.InterfacesByIP(ip); len(ifs) > 0 {
			return &Node{Name: name, Device: ifs[0].Device}, nil
		}
		return nil, fmt.Errorf("no endpoint or device of the graph has address %s", ip)
	}
	if mac, ok := facts.CanonicalMAC(s); ok {
		if eps := g.EndpointsByMAC(mac); len(eps) > 0 {
			return &Node{Name: name, Endpoint: eps[0]}, nil
		}
		return nil, fmt.Errorf("no endpoint of the graph has MAC %s", mac)
	}
	return nil, fmt.Errorf("%q is not a device hostname, IP address or MAC known to the graph", name)
}
