// Package telemetry is the apiserver's side of the node agents: it takes
// their meshq.telemetry/v1 reports (from the Redis streams
// meshq:telemetry:<node>, or POST /telemetry/report without Redis), keeps a
// bounded recent window in memory and serves GET /ebpf/metrics,
// /ebpf/events, /nccl/topology/full and /nccl/operations/active.
package telemetry

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/fasthttp/router"

	"github.com/meshoptixiq/mesh/common/httpx"
	"github.com/meshoptixiq/mesh/common/routes"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/common/apierror"
	contract "github.com/meshoptixiq/mesh/common/telemetry"
)

// Version is the report format this package reads (common/telemetry).
const Version = contract.Version

// Report is the part of an agent's report the service reads; the TCP, GPU
// and NCCL sections pass through as the agent wrote them.
type Report struct {
	Version       string          `json:"version"`
	Node          string          `json:"node"`
	Time          time.Time       `json:"time"`
	Seq           uint64          `json:"seq"`
	BootID        string          `json:"boot_id"` // random per agent start; Seq counts within it
	Status        json.RawMessage `json:"status"`
	TCP           json.RawMessage `json:"tcp"`
	Events        []Event         `json:"events"`
	DroppedEvents uint64          `json:"dropped_events"`
	GPU           GPUSection      `json:"gpu"`
	NCCL          NCCLSection     `json:"nccl"`
}

// Event is one connection event; Node is set on ingest.
type Event = contract.Event

// GPUSection is the agent's NVML snapshot.
type GPUSection struct {
	Status string            `json:"status"`
	Driver string            `json:"driver_version,omitempty"`
	GPUs   []json.RawMessage `json:"gpus"`
	Matrix [][]string        `json:"matrix"`
	P2P    [][]string        `json:"p2p_read"`
}

// NCCLSection is what the agent read from NCCL.
type NCCLSection struct {
	Topology      json.RawMessage `json:"topology,omitempty"`
	Communicators json.RawMessage `json:"communicators,omitempty"`
	ActiveOps     []Operation     `json:"active_operations,omitempty"`
	Disagreements json.RawMessage `json:"disagreements,omitempty"`
}

// Operation is one in-flight NCCL operation.
type Operation struct {
	Node       string `json:"node"`
	Kind       string `json:"kind"`
	Category   string `json:"category"`
	CommHash   string `json:"comm_hash,omitempty"`
	Rank       int    `json:"rank"`
	Seq        int64  `json:"seq"`
	Count      int64  `json:"count,omitempty"`
	Datatype   string `json:"datatype,omitempty"`
	PID        int    `json:"pid"`
	DurationNS int64  `json:"duration_ns"`
	AverageNS  int64  `json:"kind_average_ns"`
	Hang       bool   `json:"hang"`
}

// Options bounds the service. Zero values take the defaults.
type Options struct {
	MaxEvents int // events kept across nodes, newest win (default 20000)
	MaxNodes  int // nodes tracked (default 4096)
	MaxBody   int // largest report accepted over HTTP (default 8 MiB)
	// DiscoverEvery is how often RunRedis looks for new node streams
	// (default 5 s).
	DiscoverEvery time.Duration
	// NodeTTL forgets a node not heard from for this long, so dead nodes
	// stop showing (and stop holding a MaxNodes slot) (default 10 min).
	NodeTTL time.Duration
	// MaxSkew is how far in the future a report's time may be (default
	// 5 min); later ones are rejected.
	MaxSkew time.Duration
	Now     func() time.Time
}

// Service holds the recent window.
type Service struct {
	log  *slog.Logger
	opts Options

	mu     sync.RWMutex
	nodes  map[string]*nodeState
	events []Event // ring buffer
	next   int     // where the next event goes
	full   bool
	stats  counters
	swept  time.Time // last expiry sweep
}

type nodeState struct {
	report   Report
	received time.Time
}

type counters struct {
	reports, rejected, stale, expired, events uint64
}

// New returns an empty service.
func New(log *slog.Logger, opts Options) *Service {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = 20000
	}
	if opts.MaxNodes <= 0 {
		opts.MaxNodes = 4096
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 8 << 20
	}
	if opts.DiscoverEvery <= 0 {
		opts.DiscoverEvery = 5 * time.Second
	}
	if opts.NodeTTL <= 0 {
		opts.NodeTTL = 10 * time.Minute
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{log: log.With("component", "telemetry"), opts: opts, nodes: map[string]*nodeState{},
		events: make([]Event, opts.MaxEvents)}
}

// Mount serves the service's endpoints alone on r, at the paths the route
// table gives them (tests and benchmarks; the daemon goes through httpapi).
func (s *Service) Mount(r *router.Router) {
	hs := s.Handlers()
	for _, rt := range routes.Of(routes.Apiserver) {
		if h, ok := hs[rt.OperationID]; ok {
			r.Handle(rt.Method, rt.Path, h)
		}
	}
}

// Handlers are the service's endpoints by the operation id of their route
// in common/routes, which declares path, method and permission.
func (s *Service) Handlers() map[string]fasthttp.RequestHandler {
	return map[string]fasthttp.RequestHandler{
		"telemetry_report": s.handleReport,
		"ebpf_metrics":     s.handleMetrics,
		"ebpf_events":      s.handleEvents,
		"nccl_topology":    s.handleTopology,
		"nccl_operations":  s.handleOperations,
	}
}

// errBadReport marks reports that are the sender's fault.
var errBadReport = errors.New("bad report")

// errFuture marks a report dated past the allowed clock skew.
var errFuture = fmt.Errorf("%w: time in the future", errBadReport)

// ErrStale marks a report older than one already held for the same agent
// run (same boot id, sequence number not above the last one).
var ErrStale = errors.New("stale report")

// Ingest adds one decoded report to the window.
func (s *Service) Ingest(rep Report) error {
	if rep.Version != Version {
		return fmt.Errorf("%w: version %q, want %s", errBadReport, rep.Version, Version)
	}
	if rep.Node == "" || len(rep.Node) > 253 {
		return fmt.Errorf("%w: node must be 1 to 253 characters", errBadReport)
	}
	now := s.opts.Now().UTC()
	if rep.Time.After(now.Add(s.opts.MaxSkew)) {
		s.mu.Lock()
		s.stats.rejected++
		s.mu.Unlock()
		return fmt.Errorf("%w: %s is more than %s ahead", errFuture, rep.Time.Format(time.RFC3339), s.opts.MaxSkew)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	prev, ok := s.nodes[rep.Node]
	if !ok && len(s.nodes) >= s.opts.MaxNodes {
		s.stats.rejected++
		return fmt.Errorf("%w: too many nodes (%d)", errBadReport, s.opts.MaxNodes)
	}
	if ok && stale(prev.report, rep) {
		s.stats.stale++
		return fmt.Errorf("%w: node %s boot %q seq %d, already have seq %d", ErrStale, rep.Node, rep.BootID, rep.Seq, prev.report.Seq)
	}
	for i := range rep.NCCL.ActiveOps {
		rep.NCCL.ActiveOps[i].Node = rep.Node
	}
	for _, e := range rep.Events {
		e.Node = rep.Node
		s.events[s.next] = e
		s.next++
		if s.next == len(s.events) {
			s.next, s.full = 0, true
		}
		s.stats.events++
	}
	rep.Events = nil // kept in the ring, not twice
	s.nodes[rep.Node] = &nodeState{report: rep, received: now}
	s.stats.reports++
	return nil
}

// stale says whether rep is a replay of, or older than, what prev holds.
// Sequence numbers compare only within one boot id: a new boot id is a
// restarted agent and replaces the node's state. Reports without a boot id
// (older agents) fall back to seq and time together.
func stale(prev, rep Report) bool {
	if rep.BootID != prev.BootID || rep.Seq == 0 || rep.Seq > prev.Seq {
		return false
	}
	return rep.BootID != "" || !rep.Time.After(prev.Time)
}

// expireLocked forgets nodes not heard from for NodeTTL. It sweeps at most
// once per NodeTTL/10 so that ingest stays O(1) per report.
func (s *Service) expireLocked(now time.Time) {
	if now.Sub(s.swept) < s.opts.NodeTTL/10 {
		return
	}
	s.swept = now
	for n, st := range s.nodes {
		if now.Sub(st.received) > s.opts.NodeTTL {
			delete(s.nodes, n)
			s.stats.expired++
		}
	}
}

// IngestJSON decodes and ingests one report.
func (s *Service) IngestJSON(b []byte) error {
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%w: %v", errBadReport, err)
	}
	return s.Ingest(rep)
}

func (s *Service) handleReport(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	if len(body) > s.opts.MaxBody {
		apierror.Write(ctx, fasthttp.StatusRequestEntityTooLarge, apierror.TooLarge,
			fmt.Sprintf("report exceeds %d bytes", s.opts.MaxBody))
		return
	}
	if err := s.IngestJSON(body); err != nil {
		if errors.Is(err, ErrStale) {
			s.log.Info("stale report", "err", err)
			apierror.Write(ctx, fasthttp.StatusConflict, apierror.Conflict,
				"stale report: sequence number not above the last one received for this boot id")
			return
		}
		if errors.Is(err, errBadReport) {
			s.log.Info("rejected report", "err", err)
			msg := "invalid telemetry report"
			if errors.Is(err, errFuture) {
				msg = "invalid telemetry report: time is too far in the future"
			}
			apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, msg)
			return
		}
		s.log.Error("ingesting report", "err", err)
		apierror.Write(ctx, fasthttp.StatusInternalServerError, apierror.Internal, "report not stored")
		return
	}
	httpx.WriteJSON(ctx, fasthttp.StatusAccepted, map[string]string{"status": "accepted"})
}

// nodeFilter reads ?node=; empty means all.
func nodeFilter(ctx *fasthttp.RequestCtx) string { return string(ctx.QueryArgs().Peek("node")) }

// sortedNodes lists the live nodes (heard from within NodeTTL) matching
// filter; the caller holds s.mu.
func (s *Service) sortedNodes(filter string) []string {
	var names []string
	cutoff := s.opts.Now().Add(-s.opts.NodeTTL)
	for n, st := range s.nodes {
		if st.received.Before(cutoff) {
			continue
		}
		if filter == "" || n == filter {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

func (s *Service) handleMetrics(ctx *fasthttp.RequestCtx) {
	filter := nodeFilter(ctx)
	type nodeMetrics struct {
		Node          string          `json:"node"`
		ReceivedAt    time.Time       `json:"received_at"`
		ReportedAt    time.Time       `json:"reported_at"`
		Status        json.RawMessage `json:"status"`
		TCP           json.RawMessage `json:"tcp"`
		DroppedEvents uint64          `json:"dropped_events"`
	}
	s.mu.RLock()
	out := struct {
		Nodes           []nodeMetrics `json:"nodes"`
		ReportsReceived uint64        `json:"reports_received"`
		ReportsRejected uint64        `json:"reports_rejected"`
		ReportsStale    uint64        `json:"reports_stale"`
		NodesExpired    uint64        `json:"nodes_expired"`
		EventsReceived  uint64        `json:"events_received"`
	}{Nodes: []nodeMetrics{}, ReportsReceived: s.stats.reports, ReportsRejected: s.stats.rejected,
		ReportsStale: s.stats.stale, NodesExpired: s.stats.expired, EventsReceived: s.stats.events}
	for _, n := range s.sortedNodes(filter) {
		st := s.nodes[n]
		out.Nodes = append(out.Nodes, nodeMetrics{Node: n, ReceivedAt: st.received, ReportedAt: st.report.Time,
			Status: st.report.Status, TCP: st.report.TCP, DroppedEvents: st.report.DroppedEvents})
	}
	s.mu.RUnlock()
	if filter != "" && len(out.Nodes) == 0 {
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, "no telemetry from node "+strconv.Quote(filter))
		return
	}
	httpx.WriteJSON(ctx, fasthttp.StatusOK, out)
}

// Event query limits.
const (
	defaultLimit = 100
	maxLimit     = 5000
)

func (s *Service) handleEvents(ctx *fasthttp.RequestCtx) {
	q := ctx.QueryArgs()
	node := nodeFilter(ctx)
	var remote netip.Addr
	if v := q.Peek("remote"); len(v) > 0 {
		a, err := netip.ParseAddr(string(v))
		if err != nil {
			apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "parameter remote: not an IP address")
			return
		}
		remote = a.Unmap()
	}
	since, err := httpx.Since(q, s.opts.Now())
	if err != nil {
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, err.Error())
		return
	}
	limit, err := httpx.Limit(q, defaultLimit, maxLimit)
	if err != nil {
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, err.Error())
		return
	}
	out := []Event{}
	s.mu.RLock()
	size := s.next
	if s.full {
		size = len(s.events)
	}
	// Newest first.
	for i := 0; i < size && len(out) < limit; i++ {
		e := s.events[(s.next-1-i+len(s.events))%len(s.events)]
		if node != "" && e.Node != node {
			continue
		}
		if remote.IsValid() {
			if a, err := netip.ParseAddr(e.Remote); err != nil || a.Unmap() != remote {
				continue
			}
		}
		if !since.IsZero() && e.Time.Before(since) {
			continue
		}
		out = append(out, e)
	}
	s.mu.RUnlock()
	httpx.WriteJSON(ctx, fasthttp.StatusOK, struct {
		Events []Event `json:"events"`
		Count  int     `json:"count"`
	}{out, len(out)})
}

// Link is one NVLink in the flattened topology view.
type Link struct {
	GPU            int    `json:"gpu"`
	Link           int    `json:"link"`
	Active         bool   `json:"active"`
	State          string `json:"state,omitempty"` // "error: <nvml return>" when the agent could not read the link
	Version        uint32 `json:"version,omitempty"`
	RemoteType     string `json:"remote_type,omitempty"`
	RemotePCIBusID string `json:"remote_pci_bus_id,omitempty"`
	RemoteGPU      int    `json:"remote_gpu"`
}

func (s *Service) handleTopology(ctx *fasthttp.RequestCtx) {
	filter := nodeFilter(ctx)
	type nodeTopo struct {
		Node          string            `json:"node"`
		ReportedAt    time.Time         `json:"reported_at"`
		NVMLStatus    string            `json:"nvml_status"`
		Driver        string            `json:"driver_version,omitempty"`
		GPUs          []json.RawMessage `json:"gpus"`
		Links         []Link            `json:"links"`
		Matrix        [][]string        `json:"matrix"`
		P2P           [][]string        `json:"p2p_read"`
		NCCLTopology  json.RawMessage   `json:"nccl_topology,omitempty"`
		Communicators json.RawMessage   `json:"communicators,omitempty"`
		Disagreements json.RawMessage   `json:"disagreements,omitempty"`
	}
	s.mu.RLock()
	out := struct {
		Nodes []nodeTopo `json:"nodes"`
	}{Nodes: []nodeTopo{}}
	var bad error
	for _, n := range s.sortedNodes(filter) {
		r := s.nodes[n].report
		t := nodeTopo{Node: n, ReportedAt: r.Time, NVMLStatus: r.GPU.Status, Driver: r.GPU.Driver, GPUs: r.GPU.GPUs,
			Links: []Link{}, Matrix: r.GPU.Matrix, P2P: r.GPU.P2P, NCCLTopology: r.NCCL.Topology,
			Communicators: r.NCCL.Communicators, Disagreements: r.NCCL.Disagreements}
		if t.GPUs == nil {
			t.GPUs = []json.RawMessage{}
		}
		for _, raw := range r.GPU.GPUs {
			var g struct {
				Index int    `json:"index"`
				Links []Link `json:"nvlinks"`
			}
			if err := json.Unmarshal(raw, &g); err != nil {
				bad = err
				continue
			}
			for _, l := range g.Links {
				l.GPU = g.Index
				t.Links = append(t.Links, l)
			}
		}
		out.Nodes = append(out.Nodes, t)
	}
	s.mu.RUnlock()
	if bad != nil {
		s.log.Warn("undecodable gpu in a report", "err", bad)
	}
	if filter != "" && len(out.Nodes) == 0 {
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, "no telemetry from node "+strconv.Quote(filter))
		return
	}
	httpx.WriteJSON(ctx, fasthttp.StatusOK, out)
}

func (s *Service) handleOperations(ctx *fasthttp.RequestCtx) {
	filter := nodeFilter(ctx)
	onlyHung := false
	if v := string(ctx.QueryArgs().Peek("hung")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "parameter hung: true or false")
			return
		}
		onlyHung = b
	}
	out := struct {
		Operations []Operation `json:"operations"`
		Count      int         `json:"count"`
		Hung       int         `json:"hung"`
	}{Operations: []Operation{}}
	s.mu.RLock()
	for _, n := range s.sortedNodes(filter) {
		for _, op := range s.nodes[n].report.NCCL.ActiveOps {
			if op.Hang {
				out.Hung++
			}
			if onlyHung && !op.Hang {
				continue
			}
			out.Operations = append(out.Operations, op)
		}
	}
	s.mu.RUnlock()
	out.Count = len(out.Operations)
	httpx.WriteJSON(ctx, fasthttp.StatusOK, out)
}

// NodeView is what the service held about one node at a moment: the
// latest report's TCP counters and RTT quantiles, the NCCL operations it
// flagged as hung, the NVLinks that were down, and the retransmit events
// the node reported within a time range.
type NodeView struct {
	Node       string    `json:"node"`
	ReportedAt time.Time `json:"reported_at"`
	ReceivedAt time.Time `json:"received_at"`
	TCPSource  string    `json:"tcp_source,omitempty"`
	// Retransmits is the node's TCP retransmit counter (since the agent
	// started with eBPF, since boot with /proc).
	Retransmits uint64  `json:"tcp_retransmits"`
	RTTP50us    float64 `json:"rtt_p50_us"`
	RTTP99us    float64 `json:"rtt_p99_us"`
	RTTP999us   float64 `json:"rtt_p999_us"`
	// RetransmitEvents counts the retransmit events of the range asked
	// for; RetransmitsInRange sums their retransmits.
	RetransmitEvents   int    `json:"retransmit_events"`
	RetransmitsInRange uint64 `json:"retransmits_in_range"`
	NCCLActive         int    `json:"nccl_active_operations"`
	NCCLHung           int    `json:"nccl_hung_operations"`
	NCCLHang           bool   `json:"nccl_hang"`
	NVLinksDown        int    `json:"nvlinks_down"`
	NVLinkDown         bool   `json:"nvlink_down"`
}

// NodeAt returns the view of a live node, its retransmit events counted
// between from and to; false when no live node has that name.
func (s *Service) NodeAt(node string, from, to time.Time) (NodeView, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.nodes[node]
	if !ok || st.received.Before(s.opts.Now().Add(-s.opts.NodeTTL)) {
		return NodeView{}, false
	}
	r := st.report
	v := NodeView{Node: node, ReportedAt: r.Time, ReceivedAt: st.received}
	var tcp struct {
		Source      string  `json:"source"`
		Retransmits uint64  `json:"retransmits"`
		P50         float64 `json:"rtt_p50_us"`
		P99         float64 `json:"rtt_p99_us"`
		P999        float64 `json:"rtt_p999_us"`
	}
	if len(r.TCP) > 0 && json.Unmarshal(r.TCP, &tcp) == nil {
		v.TCPSource, v.Retransmits, v.RTTP50us, v.RTTP99us, v.RTTP999us = tcp.Source, tcp.Retransmits, tcp.P50, tcp.P99, tcp.P999
	}
	for _, op := range r.NCCL.ActiveOps {
		v.NCCLActive++
		if op.Hang {
			v.NCCLHung++
		}
	}
	for _, raw := range r.GPU.GPUs {
		var g struct {
			Links []Link `json:"nvlinks"`
		}
		if json.Unmarshal(raw, &g) != nil {
			continue
		}
		for _, l := range g.Links {
			if !l.Active || l.State != "" {
				v.NVLinksDown++
			}
		}
	}
	v.NCCLHang, v.NVLinkDown = v.NCCLHung > 0, v.NVLinksDown > 0
	// Newest first; events arrive in report order, so once they are a
	// minute older than the range the rest are older still.
	size := s.next
	if s.full {
		size = len(s.events)
	}
	for i := range size {
		e := &s.events[(s.next-1-i+len(s.events))%len(s.events)]
		if e.Time.Before(from.Add(-time.Minute)) {
			break
		}
		if e.Node != node || e.Kind != "retransmit" || e.Time.Before(from) || e.Time.After(to) {
			continue
		}
		v.RetransmitEvents++
		v.RetransmitsInRange += uint64(e.Retransmits)
	}
	return v, true
}
