// Package spans is token-path tracing: POST /tracing/spans takes OTLP
// trace exports (OTLP/HTTP, protobuf or JSON), keeps the spans in a
// bounded ring (and the Redis stream meshq:spans when the apiserver has
// Redis), evaluates the TRACING_SLOS latency objectives on arrival, and
// GET /tracing/slo-violations lists the spans that broke one, each with
// the network around it: the node agent's telemetry of the span's host at
// that time and the path between the span's peer addresses in the graph.
//
// With Redis every replica also appends its violations to the stream
// meshq:slo-violations and lists from it, so any replica answers with the
// violations all of them saw; without Redis (or while it fails) a replica
// lists its own and says so.
package spans

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/httpx"
)

// Redis streams: spans, and the violations every replica lists.
const (
	Stream          = "meshq:spans"
	ViolationStream = "meshq:slo-violations"
)

// Scopes of a violation listing.
const (
	ScopeShared  = "shared"  // every replica's, from ViolationStream
	ScopeReplica = "replica" // this replica's only
)

// Content types OTLP/HTTP defines.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// Defaults.
const (
	DefaultMaxBody       = 8 << 20
	DefaultMaxBatch      = 10000
	DefaultRingSize      = 65536
	DefaultMaxViolations = 10000
	DefaultStreamMaxLen  = 100000
)

// NodeSource is the node agents' telemetry (apiserver/telemetry).
type NodeSource interface {
	NodeAt(node string, from, to time.Time) (telemetry.NodeView, bool)
}

// GraphSource gives the current graph (the engine).
type GraphSource interface {
	Graph() *graph.Graph
}

// Options configure a Service. Zero values take the defaults.
type Options struct {
	SLOs []SLO
	// Redis, when set, receives every accepted span on Stream, capped at
	// about StreamMaxLen entries, and every violation on ViolationStream,
	// capped at about MaxViolations.
	Redis        *redis.Client
	StreamMaxLen int64
	// MaxBody bounds a request body, after gzip decoding too (bytes).
	MaxBody int
	// MaxBatch bounds the spans of one request.
	MaxBatch int
	// RingSize is how many recent spans are kept; MaxViolations how many
	// violations.
	RingSize, MaxViolations int
	// Telemetry and Graph feed the network correlation; either may be nil.
	Telemetry NodeSource
	Graph     GraphSource
	Paths     *pathanalysis.Cache
	Now       func() time.Time
}

// Span is a span as kept: the fields the SLOs and the correlation read.
type Span struct {
	TraceID      string    `json:"trace_id"`
	SpanID       string    `json:"span_id"`
	ParentSpanID string    `json:"parent_span_id,omitempty"`
	Service      string    `json:"service"`
	Name         string    `json:"span_name"`
	Kind         string    `json:"kind"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	Status       string    `json:"status,omitempty"`
	// Hosts are the resource's host.name and k8s.node.name, in that order,
	// those that are set.
	Hosts []string `json:"hosts,omitempty"`
	// Src and Dst are the flow's addresses from the span's network
	// attributes (IP addresses only); DstPort and Transport its service.
	Src       string    `json:"src,omitempty"`
	Dst       string    `json:"dst,omitempty"`
	DstPort   int       `json:"dst_port,omitempty"`
	Transport string    `json:"transport,omitempty"`
	Received  time.Time `json:"received"`

	dur time.Duration
}

// Service keeps spans and violations.
type Service struct {
	opt Options
	log *slog.Logger

	mu      sync.Mutex
	ring    []Span
	next    int
	full    bool
	windows []*window // per SLO; nil for threshold SLOs
	match   map[string][]int
	viol    []Violation
	vnext   int
	vfull   bool
	stats   Stats

	corr *correlator
}

// Stats counts what arrived.
type Stats struct {
	Requests   uint64 `json:"requests"`
	Accepted   uint64 `json:"spans_accepted"`
	Rejected   uint64 `json:"spans_rejected"`
	Violations uint64 `json:"violations"`
}

// New returns a service with opt's SLOs (already validated by ParseSLOs).
func New(log *slog.Logger, opt Options) *Service {
	if opt.MaxBody <= 0 {
		opt.MaxBody = DefaultMaxBody
	}
	if opt.MaxBatch <= 0 {
		opt.MaxBatch = DefaultMaxBatch
	}
	if opt.RingSize <= 0 {
		opt.RingSize = DefaultRingSize
	}
	if opt.MaxViolations <= 0 {
		opt.MaxViolations = DefaultMaxViolations
	}
	if opt.StreamMaxLen <= 0 {
		opt.StreamMaxLen = DefaultStreamMaxLen
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Paths == nil {
		opt.Paths = pathanalysis.NewCache()
	}
	s := &Service{opt: opt, log: log.With("component", "spans"), ring: make([]Span, opt.RingSize),
		windows: make([]*window, len(opt.SLOs)), match: map[string][]int{}, viol: make([]Violation, opt.MaxViolations)}
	for i := range opt.SLOs {
		if opt.SLOs[i].Percentile > 0 {
			s.windows[i] = newWindow(time.Duration(opt.SLOs[i].Window))
		}
	}
	s.corr = newCorrelator(opt)
	return s
}

// Handlers are the service's endpoints by the operation id of their route
// in common/routes.
func (s *Service) Handlers() map[string]fasthttp.RequestHandler {
	return map[string]fasthttp.RequestHandler{
		"tracing_spans":          s.handleSpans,
		"tracing_slo_violations": s.handleViolations,
	}
}

// Stats returns the counters.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// RequestError is a request refused whole: its HTTP status and why.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Status: fasthttp.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// Result is what one export did.
type Result struct {
	Accepted, Rejected int
	// Problem describes the first rejected spans ("" when none).
	Problem    string
	Violations int
}

// Decode reads an export in the given encoding (ContentTypeProtobuf or
// ContentTypeJSON).
func Decode(body []byte, contentType string) (*collectortrace.ExportTraceServiceRequest, error) {
	req := &collectortrace.ExportTraceServiceRequest{}
	switch contentType {
	case ContentTypeProtobuf:
		if err := proto.Unmarshal(body, req); err != nil {
			return nil, badRequest("the body is not an OTLP ExportTraceServiceRequest in protobuf: %v", err)
		}
	case ContentTypeJSON:
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, req); err != nil {
			return nil, badRequest("the body is not an OTLP ExportTraceServiceRequest in OTLP/JSON: %v", err)
		}
		hexIDs(req)
	default:
		return nil, &RequestError{Status: fasthttp.StatusUnsupportedMediaType,
			Msg: fmt.Sprintf("Content-Type %q: want %s or %s (OTLP/HTTP)", contentType, ContentTypeProtobuf, ContentTypeJSON)}
	}
	return req, nil
}

// hexIDs undoes protojson's reading of OTLP/JSON's ids: OTLP writes trace
// and span ids in hex, where protojson reads bytes as base64. Hex digits
// are base64 digits, and 32 (16) of them decode to 24 (12) bytes without
// loss, so an id of that length is re-encoded and read as hex.
func hexIDs(req *collectortrace.ExportTraceServiceRequest) {
	fix := func(b []byte, want int) []byte {
		if len(b) != want*3/2 {
			return b
		}
		h := base64.StdEncoding.EncodeToString(b)
		if out, err := hex.DecodeString(h); err == nil && len(out) == want {
			return out
		}
		return b
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				sp.TraceId, sp.SpanId, sp.ParentSpanId = fix(sp.TraceId, 16), fix(sp.SpanId, 8), fix(sp.ParentSpanId, 8)
				for _, l := range sp.Links {
					l.TraceId, l.SpanId = fix(l.TraceId, 16), fix(l.SpanId, 8)
				}
			}
		}
	}
}

// Export stores a decoded request's spans and evaluates the SLOs on them.
// A batch over MaxBatch is refused whole; spans without valid ids or with
// an end before their start are rejected one by one.
func (s *Service) Export(ctx context.Context, req *collectortrace.ExportTraceServiceRequest) (Result, error) {
	n := 0
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	if n > s.opt.MaxBatch {
		return Result{}, badRequest("the batch has %d spans, over the limit of %d per request (TRACING_MAX_BATCH_SPANS); send smaller batches", n, s.opt.MaxBatch)
	}
	now := s.opt.Now().UTC()
	var res Result
	var problems []string
	kept := make([]Span, 0, n)
	for ri, rs := range req.ResourceSpans {
		var service, hostName, nodeName, hostIP string
		for _, kv := range rs.GetResource().GetAttributes() {
			switch kv.Key {
			case "service.name":
				service = kv.Value.GetStringValue()
			case "host.name":
				hostName = kv.Value.GetStringValue()
			case "k8s.node.name":
				nodeName = kv.Value.GetStringValue()
			case "host.ip":
				if vs := kv.Value.GetArrayValue().GetValues(); len(vs) > 0 {
					hostIP = vs[0].GetStringValue()
				} else {
					hostIP = kv.Value.GetStringValue()
				}
			}
		}
		var hosts []string // host.name first
		for _, h := range []string{hostName, nodeName} {
			if h != "" && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		for si, ss := range rs.ScopeSpans {
			for pi, sp := range ss.Spans {
				if why := invalid(sp); why != "" {
					res.Rejected++
					if len(problems) < 3 {
						problems = append(problems, fmt.Sprintf("resource_spans[%d].scope_spans[%d].spans[%d]: %s", ri, si, pi, why))
					}
					continue
				}
				kept = append(kept, convert(sp, service, hosts, hostIP, now))
			}
		}
	}
	res.Accepted = len(kept)
	if res.Rejected > 0 {
		res.Problem = fmt.Sprintf("%d of %d spans rejected: %s", res.Rejected, n, strings.Join(problems, "; "))
		if res.Rejected > len(problems) {
			res.Problem += "; …"
		}
	}
	pending := s.store(kept, res.Rejected)
	for i := range pending {
		s.corr.correlate(&pending[i])
	}
	if len(pending) > 0 {
		s.mu.Lock()
		for _, v := range pending {
			s.viol[s.vnext] = v
			s.vnext++
			if s.vnext == len(s.viol) {
				s.vnext, s.vfull = 0, true
			}
		}
		s.mu.Unlock()
	}
	res.Violations = len(pending)
	if s.opt.Redis != nil && len(kept) > 0 {
		if err := s.publish(ctx, kept, pending); err != nil {
			// The spans and violations are held here either way; the
			// streams are copies.
			s.log.Warn("appending to the Redis streams", "streams", []string{Stream, ViolationStream},
				"spans", len(kept), "violations", len(pending), "err", err)
		}
	}
	return res, nil
}

// invalid says why a span cannot be kept, "" when it can.
func invalid(sp *tracepb.Span) string {
	switch {
	case len(sp.TraceId) != 16:
		return fmt.Sprintf("trace_id is %d bytes, want 16", len(sp.TraceId))
	case isZero(sp.TraceId):
		return "trace_id is all zeros"
	case len(sp.SpanId) != 8:
		return fmt.Sprintf("span_id is %d bytes, want 8", len(sp.SpanId))
	case isZero(sp.SpanId):
		return "span_id is all zeros"
	case len(sp.ParentSpanId) != 0 && len(sp.ParentSpanId) != 8:
		return fmt.Sprintf("parent_span_id is %d bytes, want 8 or none", len(sp.ParentSpanId))
	case sp.StartTimeUnixNano == 0 || sp.EndTimeUnixNano == 0:
		return "start_time_unix_nano and end_time_unix_nano are required"
	case sp.EndTimeUnixNano < sp.StartTimeUnixNano:
		return "end_time_unix_nano is before start_time_unix_nano"
	case sp.EndTimeUnixNano > 1<<63-1:
		return "end_time_unix_nano is out of range"
	}
	return ""
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var kindNames = map[tracepb.Span_SpanKind]string{
	tracepb.Span_SPAN_KIND_UNSPECIFIED: "unspecified", tracepb.Span_SPAN_KIND_INTERNAL: "internal",
	tracepb.Span_SPAN_KIND_SERVER: "server", tracepb.Span_SPAN_KIND_CLIENT: "client",
	tracepb.Span_SPAN_KIND_PRODUCER: "producer", tracepb.Span_SPAN_KIND_CONSUMER: "consumer",
}

var statusNames = map[tracepb.Status_StatusCode]string{
	tracepb.Status_STATUS_CODE_UNSET: "", tracepb.Status_STATUS_CODE_OK: "ok", tracepb.Status_STATUS_CODE_ERROR: "error",
}

func convert(sp *tracepb.Span, service string, hosts []string, hostIP string, now time.Time) Span {
	out := Span{TraceID: hex.EncodeToString(sp.TraceId), SpanID: hex.EncodeToString(sp.SpanId),
		Service: service, Name: sp.Name, Kind: kindNames[sp.Kind],
		Start: time.Unix(0, int64(sp.StartTimeUnixNano)).UTC(), End: time.Unix(0, int64(sp.EndTimeUnixNano)).UTC(),
		Status: statusNames[sp.GetStatus().GetCode()], Hosts: hosts, Received: now,
		dur: time.Duration(sp.EndTimeUnixNano - sp.StartTimeUnixNano)}
	if len(sp.ParentSpanId) == 8 && !isZero(sp.ParentSpanId) {
		out.ParentSpanID = hex.EncodeToString(sp.ParentSpanId)
	}
	if out.Kind == "" {
		out.Kind = "unspecified"
	}
	peers(&out, sp, hostIP)
	return out
}

// peers reads the flow's two addresses from the span's attributes, the
// current semantic conventions first, then the older net.* names. A
// server span's peer is the client (the source); any other span's peer is
// the server it called (the destination). Names that are not IP
// addresses (a server.address that is a DNS name) are skipped.
func peers(out *Span, sp *tracepb.Span, hostIP string) {
	var a attrs
	for _, kv := range sp.Attributes {
		switch kv.Key {
		case "network.peer.address":
			a.peer = kv.Value.GetStringValue()
		case "net.sock.peer.addr":
			a.sockPeer = kv.Value.GetStringValue()
		case "net.peer.ip":
			a.peerIP = kv.Value.GetStringValue()
		case "network.local.address":
			a.local = kv.Value.GetStringValue()
		case "net.sock.host.addr":
			a.sockHost = kv.Value.GetStringValue()
		case "net.host.ip":
			a.hostIP = kv.Value.GetStringValue()
		case "client.address":
			a.client = kv.Value.GetStringValue()
		case "server.address":
			a.server = kv.Value.GetStringValue()
		case "server.port":
			a.serverPort = port(kv.Value)
		case "net.peer.port", "network.peer.port":
			a.peerPort = port(kv.Value)
		case "net.host.port":
			a.hostPort = port(kv.Value)
		case "network.transport", "net.transport":
			a.transport = strings.ToLower(kv.Value.GetStringValue())
		}
	}
	if sp.Kind == tracepb.Span_SPAN_KIND_SERVER {
		out.Src = firstIP(a.client, a.peer, a.sockPeer, a.peerIP)
		out.Dst = firstIP(a.local, a.sockHost, a.hostIP, a.server, hostIP)
	} else {
		out.Src = firstIP(a.local, a.sockHost, a.hostIP, a.client, hostIP)
		out.Dst = firstIP(a.peer, a.server, a.sockPeer, a.peerIP)
	}
	if out.DstPort = a.serverPort; out.DstPort == 0 {
		if sp.Kind == tracepb.Span_SPAN_KIND_SERVER {
			out.DstPort = a.hostPort
		} else {
			out.DstPort = a.peerPort
		}
	}
	switch a.transport {
	case "udp", "ip_udp":
		out.Transport = "udp"
	case "tcp", "ip_tcp", "":
		if out.DstPort > 0 {
			out.Transport = "tcp"
		}
	}
}

type attrs struct {
	peer, sockPeer, peerIP, local, sockHost, hostIP, client, server, transport string
	serverPort, peerPort, hostPort                                             int
}

// port reads a port attribute (an int, or a string of digits); 0 when it
// is neither or out of range.
func port(v *commonpb.AnyValue) int {
	var n int64
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_IntValue:
		n = x.IntValue
	case *commonpb.AnyValue_StringValue:
		n, _ = strconv.ParseInt(x.StringValue, 10, 64)
	}
	if n < 1 || n > 65535 {
		return 0
	}
	return int(n)
}

func firstIP(cands ...string) string {
	for _, c := range cands {
		if c == "" {
			continue
		}
		if a, err := netip.ParseAddr(c); err == nil {
			return a.Unmap().String()
		}
	}
	return ""
}

// store puts spans in the ring and evaluates the SLOs; it returns the
// violations, not yet correlated.
func (s *Service) store(spans []Span, rejected int) []Violation {
	var out []Violation
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	s.stats.Accepted += uint64(len(spans))
	s.stats.Rejected += uint64(rejected)
	for i := range spans {
		sp := &spans[i]
		s.ring[s.next] = *sp
		s.next++
		if s.next == len(s.ring) {
			s.next, s.full = 0, true
		}
		for _, k := range s.matching(sp.Service, sp.Name) {
			slo := &s.opt.SLOs[k]
			over := sp.dur > slo.threshold
			v := Violation{SLO: slo.Name, Kind: slo.Kind(), LatencyMS: slo.LatencyMS}
			if w := s.windows[k]; w != nil {
				total, nOver := w.add(sp.Received, over)
				if !over || total < uint64(slo.MinSpans) || !percentileOver(slo.Percentile, total, nOver) {
					continue
				}
				p, win := slo.Percentile, time.Duration(slo.Window).String()
				v.Percentile, v.Window, v.WindowSpans, v.WindowOver = &p, win, total, nOver
			} else if !over {
				continue
			}
			v.Span = *sp
			v.DurationMS = float64(sp.dur) / float64(time.Millisecond)
			out = append(out, v)
		}
	}
	s.stats.Violations += uint64(len(out))
	return out
}

// matching lists the SLOs whose globs match a service and span name,
// remembered per pair (bounded: forgotten all at once when full).
func (s *Service) matching(service, name string) []int {
	if len(s.opt.SLOs) == 0 {
		return nil
	}
	key := service + "\x00" + name
	if m, ok := s.match[key]; ok {
		return m
	}
	var m []int
	for k := range s.opt.SLOs {
		if s.opt.SLOs[k].service.match(service) && s.opt.SLOs[k].span.match(name) {
			m = append(m, k)
		}
	}
	if len(s.match) >= 4096 {
		clear(s.match)
	}
	s.match[key] = m
	return m
}

func (s *Service) publish(ctx context.Context, spans []Span, violations []Violation) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pipe := s.opt.Redis.Pipeline()
	for i := range spans {
		b, err := json.Marshal(&spans[i])
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: Stream, MaxLen: s.opt.StreamMaxLen, Approx: true, Values: []any{"span", b}})
	}
	for i := range violations {
		b, err := json.Marshal(&violations[i])
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: ViolationStream, MaxLen: int64(s.opt.MaxViolations), Approx: true, Values: []any{"violation", b}})
	}
	_, err := pipe.Exec(ctx)
	return err
}

// Listing is one answer of Violations.
type Listing struct {
	Violations []Violation `json:"violations"`
	Count      int         `json:"count"`
	// Scope is ScopeShared when the list is every replica's, ScopeReplica
	// when it is this replica's only; ScopeReason says why.
	Scope       string `json:"scope"`
	ScopeReason string `json:"scope_reason,omitempty"`
}

// clockSlack widens the stream read past since: entry ids are Redis's
// clock, since is compared with each replica's arrival time.
const clockSlack = time.Minute

// sharedPage is how many stream entries one read takes.
const sharedPage = 512

// Violations lists the violations since a time (zero: all), of one SLO
// ("" all), newest first, at most limit: every replica's with Redis, this
// replica's without it or when Redis fails.
func (s *Service) Violations(ctx context.Context, since time.Time, slo string, limit int) Listing {
	if s.opt.Redis == nil {
		vs := s.localViolations(since, slo, limit)
		return Listing{Violations: vs, Count: len(vs), Scope: ScopeReplica, ScopeReason: "no REDIS_URL: this replica's violations only"}
	}
	vs, err := s.sharedViolations(ctx, since, slo, limit)
	if err != nil {
		s.log.Warn("reading the shared violations; answering with this replica's", "stream", ViolationStream, "err", err)
		vs = s.localViolations(since, slo, limit)
		return Listing{Violations: vs, Count: len(vs), Scope: ScopeReplica, ScopeReason: "Redis failed (" + err.Error() + "): this replica's violations only"}
	}
	return Listing{Violations: vs, Count: len(vs), Scope: ScopeShared}
}

// sharedViolations reads ViolationStream newest first, page by page.
func (s *Service) sharedViolations(ctx context.Context, since time.Time, slo string, limit int) ([]Violation, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	low := "-"
	if !since.IsZero() {
		low = strconv.FormatInt(max(since.Add(-clockSlack).UnixMilli(), 0), 10)
	}
	out := []Violation{}
	high := "+"
	for len(out) < limit {
		entries, err := s.opt.Redis.XRevRangeN(ctx, ViolationStream, high, low, sharedPage).Result()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			raw, _ := e.Values["violation"].(string)
			var v Violation
			if err := json.Unmarshal([]byte(raw), &v); err != nil {
				// Another writer's entry, or a newer format: not ours to read.
				s.log.Warn("skipping an unreadable entry", "stream", ViolationStream, "id", e.ID, "err", err)
				continue
			}
			if (slo != "" && v.SLO != slo) || (!since.IsZero() && v.Span.Received.Before(since)) {
				continue
			}
			if out = append(out, v); len(out) == limit {
				break
			}
		}
		if len(entries) < sharedPage {
			break
		}
		high = "(" + entries[len(entries)-1].ID
	}
	return out, nil
}

// localViolations lists this replica's violations.
func (s *Service) localViolations(since time.Time, slo string, limit int) []Violation {
	out := []Violation{}
	s.mu.Lock()
	defer s.mu.Unlock()
	size := s.vnext
	if s.vfull {
		size = len(s.viol)
	}
	for i := 0; i < size && len(out) < limit; i++ {
		v := &s.viol[(s.vnext-1-i+len(s.viol))%len(s.viol)]
		if slo != "" && v.SLO != slo {
			continue
		}
		if !since.IsZero() && v.Span.Received.Before(since) {
			continue
		}
		out = append(out, *v)
	}
	return out
}

// mediaType is the request's content type without parameters.
func mediaType(ctx *fasthttp.RequestCtx) string {
	ct := string(ctx.Request.Header.ContentType())
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return strings.TrimSpace(ct)
}

func (s *Service) handleSpans(ctx *fasthttp.RequestCtx) {
	enc := mediaType(ctx)
	body := ctx.PostBody()
	if len(body) > s.opt.MaxBody {
		s.fail(ctx, enc, &RequestError{Status: fasthttp.StatusRequestEntityTooLarge, Msg: fmt.Sprintf(
			"the body of %d bytes is over the limit of %d bytes (TRACING_MAX_BODY_BYTES); send smaller batches", len(body), s.opt.MaxBody)})
		return
	}
	switch ce := strings.ToLower(string(ctx.Request.Header.Peek(fasthttp.HeaderContentEncoding))); ce {
	case "", "identity":
	case "gzip":
		var err error
		if body, err = gunzip(body, s.opt.MaxBody); err != nil {
			s.fail(ctx, enc, err)
			return
		}
	default:
		s.fail(ctx, enc, &RequestError{Status: fasthttp.StatusUnsupportedMediaType,
			Msg: fmt.Sprintf("Content-Encoding %q: want gzip or none", ce)})
		return
	}
	req, err := Decode(body, enc)
	if err != nil {
		s.fail(ctx, enc, err)
		return
	}
	res, err := s.Export(ctx, req)
	if err != nil {
		s.fail(ctx, enc, err)
		return
	}
	resp := &collectortrace.ExportTraceServiceResponse{}
	if res.Rejected > 0 {
		resp.PartialSuccess = &collectortrace.ExportTracePartialSuccess{RejectedSpans: int64(res.Rejected), ErrorMessage: res.Problem}
	}
	var b []byte
	if enc == ContentTypeProtobuf {
		b, err = proto.Marshal(resp)
	} else {
		b, err = protojson.Marshal(resp)
	}
	if err != nil {
		s.fail(ctx, enc, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(enc)
	ctx.SetBody(b)
}

func gunzip(b []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, badRequest("Content-Encoding gzip: the body is not gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, badRequest("Content-Encoding gzip: %v", err)
	}
	if len(out) > limit {
		return nil, &RequestError{Status: fasthttp.StatusRequestEntityTooLarge, Msg: fmt.Sprintf(
			"the body decompresses to more than the limit of %d bytes (TRACING_MAX_BODY_BYTES); send smaller batches", limit)}
	}
	return out, nil
}

// fail answers an error: to an OTLP protobuf client as OTLP/HTTP says, a
// google.rpc.Status in protobuf; to anyone else the apiserver's JSON error
// envelope.
func (s *Service) fail(ctx *fasthttp.RequestCtx, enc string, err error) {
	var re *RequestError
	if !errors.As(err, &re) {
		s.log.Error("storing spans", "err", err)
		re = &RequestError{Status: fasthttp.StatusInternalServerError, Msg: "the spans were not stored"}
	}
	if enc == ContentTypeProtobuf {
		code := codes.InvalidArgument
		if re.Status >= 500 {
			code = codes.Internal
		}
		b, _ := proto.Marshal(&status.Status{Code: int32(code), Message: re.Msg})
		ctx.SetStatusCode(re.Status)
		ctx.SetContentType(ContentTypeProtobuf)
		ctx.SetBody(b)
		return
	}
	code := apierror.BadRequest
	switch re.Status {
	case fasthttp.StatusRequestEntityTooLarge:
		code = apierror.TooLarge
	case fasthttp.StatusInternalServerError:
		code = apierror.Internal
	}
	apierror.Write(ctx, re.Status, code, re.Msg)
}

// Violation query limits.
const (
	defaultLimit = 100
	maxLimit     = 5000
)

func (s *Service) handleViolations(ctx *fasthttp.RequestCtx) {
	q := ctx.QueryArgs()
	since, err := httpx.Since(q, s.opt.Now())
	if err != nil {
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, err.Error())
		return
	}
	slo := string(q.Peek("slo"))
	if slo != "" && !s.hasSLO(slo) {
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, fmt.Sprintf("parameter slo: no SLO named %q in TRACING_SLOS", slo))
		return
	}
	limit, err := httpx.Limit(q, defaultLimit, maxLimit)
	if err != nil {
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, err.Error())
		return
	}
	l := s.Violations(ctx, since, slo, limit)
	slos := make([]string, len(s.opt.SLOs))
	for i := range s.opt.SLOs {
		slos[i] = s.opt.SLOs[i].Name
	}
	httpx.WriteJSON(ctx, fasthttp.StatusOK, struct {
		Listing
		SLOs []string `json:"slos"`
		// Stats are this replica's.
		Stats Stats `json:"stats"`
	}{l, slos, s.Stats()})
}

func (s *Service) hasSLO(name string) bool {
	for i := range s.opt.SLOs {
		if s.opt.SLOs[i].Name == name {
			return true
		}
	}
	return false
}
