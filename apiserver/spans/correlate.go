package spans

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
)

// Violation is one span that broke an SLO, with the network around it.
type Violation struct {
	SLO  string `json:"slo"`
	Kind string `json:"kind"` // threshold or percentile
	// LatencyMS is the SLO's threshold; DurationMS the span's duration.
	LatencyMS  float64 `json:"latency_ms"`
	DurationMS float64 `json:"duration_ms"`
	// Percentile SLOs: the percentile, the window, and the window's counts
	// (its spans, and those over the threshold) when this span arrived.
	Percentile  *float64 `json:"percentile,omitempty"`
	Window      string   `json:"window,omitempty"`
	WindowSpans uint64   `json:"window_spans,omitempty"`
	WindowOver  uint64   `json:"window_over,omitempty"`
	Span        Span     `json:"span"`
	Network     Network  `json:"network"`
}

// Network is a violation's correlation with the network, taken when the
// span arrived.
type Network struct {
	// Host is the span's host that the telemetry knows (host.name first,
	// then k8s.node.name), or the first named when it knows neither.
	Host string              `json:"host,omitempty"`
	Node *telemetry.NodeView `json:"node"`
	// NodeReason says why Node is null.
	NodeReason string `json:"node_reason,omitempty"`
	Path       *Path  `json:"path"`
	PathReason string `json:"path_reason,omitempty"`
}

// Path is the graph's path between the span's two addresses.
type Path struct {
	Src          string `json:"src"`
	Dst          string `json:"dst"`
	Service      string `json:"service"` // "tcp/443", or "any"
	GraphVersion uint64 `json:"graph_version"`
	Verdict      string `json:"verdict"`
	Reason       string `json:"reason"`
	// Hops are the first path's devices, in order; Paths counts the
	// equal-cost paths.
	Hops  []string `json:"hops"`
	Paths int      `json:"paths"`
}

// telemetrySlack widens the span's time range for the retransmit events:
// an event stamped just before the span can be what slowed it.
const telemetrySlack = time.Second

// correlator adds the network to violations; its path answers are kept
// per graph version and flow (bounded), since a slow service repeats.
type correlator struct {
	tel   NodeSource
	graph GraphSource
	paths *pathanalysis.Cache

	mu      sync.Mutex
	version uint64
	memo    map[pathKey]pathMemo
}

type pathKey struct {
	src, dst  netip.Addr
	port      int
	transport string
}

type pathMemo struct {
	path   *Path
	reason string
}

const maxPathMemo = 4096

func newCorrelator(opt Options) *correlator {
	return &correlator{tel: opt.Telemetry, graph: opt.Graph, paths: opt.Paths, memo: map[pathKey]pathMemo{}}
}

func (c *correlator) correlate(v *Violation) {
	sp := &v.Span
	n := &v.Network
	switch {
	case len(sp.Hosts) == 0:
		n.NodeReason = "the span's resource has neither host.name nor k8s.node.name"
	case c.tel == nil:
		n.Host, n.NodeReason = sp.Hosts[0], "no node telemetry on this server"
	default:
		for _, h := range sp.Hosts {
			if nv, ok := c.tel.NodeAt(h, sp.Start.Add(-telemetrySlack), sp.End.Add(telemetrySlack)); ok {
				n.Host, n.Node = h, &nv
				break
			}
		}
		if n.Node == nil {
			n.Host = sp.Hosts[0]
			n.NodeReason = fmt.Sprintf("no live node agent telemetry for %s", quoteList(sp.Hosts))
		}
	}
	n.Path, n.PathReason = c.path(sp)
}

func quoteList(hs []string) string {
	b, _ := json.Marshal(hs)
	if len(hs) == 1 {
		return fmt.Sprintf("%q", hs[0])
	}
	return string(b)
}

func (c *correlator) path(sp *Span) (*Path, string) {
	if sp.Src == "" || sp.Dst == "" {
		return nil, "the span does not name both addresses of its flow (client.address, server.address, network.peer.address, network.local.address, net.peer.ip, host.ip)"
	}
	if c.graph == nil {
		return nil, "no graph on this server"
	}
	src, err1 := netip.ParseAddr(sp.Src)
	dst, err2 := netip.ParseAddr(sp.Dst)
	if err1 != nil || err2 != nil {
		return nil, "the span's addresses are not IP addresses"
	}
	if src.Is4() != dst.Is4() {
		return nil, fmt.Sprintf("%s and %s are of different address families", src, dst)
	}
	g := c.graph.Graph()
	key := pathKey{src: src, dst: dst, port: sp.DstPort, transport: sp.Transport}
	c.mu.Lock()
	if c.version != g.Version {
		c.version = g.Version
		clear(c.memo)
	}
	m, ok := c.memo[key]
	c.mu.Unlock()
	if ok {
		return m.path, m.reason
	}
	m = c.analyze(g, key)
	c.mu.Lock()
	if c.version == g.Version {
		if len(c.memo) >= maxPathMemo {
			clear(c.memo)
		}
		c.memo[key] = m
	}
	c.mu.Unlock()
	return m.path, m.reason
}

func (c *correlator) analyze(g *graph.Graph, k pathKey) pathMemo {
	for _, a := range []netip.Addr{k.src, k.dst} {
		if !inGraph(g, a) {
			return pathMemo{reason: fmt.Sprintf("%s is not in the graph (no device address, endpoint or subnet holds it)", a)}
		}
	}
	svc, label := firewall.AllServices(), "any"
	if k.port > 0 {
		var proto uint8 = firewall.ProtoTCP
		if k.transport == "udp" {
			proto = firewall.ProtoUDP
		}
		svc = firewall.ServiceSet(proto, []firewall.Span{{Lo: uint32(k.port), Hi: uint32(k.port)}})
		label = fmt.Sprintf("%s/%d", k.transport, k.port)
	}
	res := c.paths.Index(g).Analyze(pathanalysis.Query{Src: k.src, Dst: k.dst, Services: svc})
	p := &Path{Src: k.src.String(), Dst: k.dst.String(), Service: label, GraphVersion: g.Version,
		Verdict: res.Verdict, Reason: res.Reason, Hops: []string{}, Paths: len(res.Paths)}
	if len(res.Paths) > 0 {
		for _, h := range res.Paths[0].Hops {
			p.Hops = append(p.Hops, h.Device.Hostname)
		}
	}
	return pathMemo{path: p}
}

// inGraph says whether the graph knows an address: a device's, an
// endpoint's, or one in a subnet of the graph.
func inGraph(g *graph.Graph, a netip.Addr) bool {
	if len(g.InterfacesByIP(a)) > 0 || len(g.EndpointsByIP(a)) > 0 {
		return true
	}
	_, ok := g.SubnetFor(a)
	return ok
}
