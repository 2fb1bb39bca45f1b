package spans

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/license"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// base is the fixture's clock: spans start at base, the node agent
// reported at base.
var base = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func campus(t testing.TB) *engine.Engine {
	t.Helper()
	eng := engine.New(graphtest.NewMemStore(), graph.Options{RootRoles: graph.DefaultRootRoles()}, quiet())
	doc := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices); err != nil {
		t.Fatal(err)
	}
	return eng
}

// gpuNode1 is a node agent's report, as nodeagent/report writes it: 41
// retransmits since start, RTT p50/p99/p99.9 of 180/2400/9100 µs, one of two
// NCCL operations flagged hung, GPU 0's NVLink 1 inactive, and three
// retransmit events: two during the slow span (3 and 2 retransmits), one
// a minute before it.
func gpuNode1() string {
	ev := func(at time.Duration, n int) string {
		return fmt.Sprintf(`{"time":%q,"kind":"retransmit","src":"10.1.20.12:443","dst":"10.1.10.13:51000","remote":"10.1.10.13","retransmits":%d}`,
			base.Add(at).Format(time.RFC3339Nano), n)
	}
	return `{"version":"meshq.telemetry/v1","node":"gpu-node-1","time":"` + base.Format(time.RFC3339) + `","seq":1,"boot_id":"b1",
	"status":{"ebpf":"loaded","nvml":"ok","nccl":"ok"},
	"tcp":{"source":"ebpf","retransmits":41,"rtt_samples":900,"rtt_p50_us":180,"rtt_p99_us":2400,"rtt_p999_us":9100},
	"events":[` + ev(-time.Minute, 7) + `,` + ev(200*time.Millisecond, 3) + `,` + ev(700*time.Millisecond, 2) + `],
	"gpu":{"status":"ok","gpus":[{"index":0,"name":"NVIDIA H100","nvlinks":[{"link":0,"active":true,"remote_gpu":1},{"link":1,"active":false,"remote_gpu":1}]}]},
	"nccl":{"active_operations":[{"kind":"AllReduce","category":"collective","rank":0,"seq":7,"pid":42,"duration_ns":9000000000,"kind_average_ns":1000000,"hang":true},
	{"kind":"Broadcast","category":"collective","rank":0,"seq":8,"pid":42,"duration_ns":1000,"kind_average_ns":1000,"hang":false}]}}`
}

type fixture struct {
	url string
	svc *Service
}

// serve starts the real HTTP API over the campus, every route with its
// handler, the spans service correlating with tel and the graph.
func serve(t *testing.T, opt Options, lic *license.License) fixture {
	t.Helper()
	eng := campus(t)
	tel := telemetry.New(quiet(), telemetry.Options{Now: func() time.Time { return base.Add(time.Second) }})
	if err := tel.IngestJSON([]byte(gpuNode1())); err != nil {
		t.Fatal(err)
	}
	opt.Telemetry, opt.Graph = tel, eng
	svc := New(quiet(), opt)
	reg := query.NewBuiltin()
	handlers := tel.Handlers()
	maps.Copy(handlers, chaos.New(eng, quiet(), chaos.Options{}).Handlers())
	nb, err := netbox.New(netbox.Config{}, eng, quiet())
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(handlers, nb.Handlers())
	maps.Copy(handlers, conversation.New(reg, eng, quiet(), conversation.Options{}).Handlers())
	maps.Copy(handlers, svc.Handlers())
	api, err := httpapi.New(httpapi.Options{Engine: eng, Registry: reg, Log: quiet(), Metrics: prometheus.NewRegistry(),
		MaxBodyBytes: 1 << 20, Handlers: handlers, License: lic})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := lifecycle.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.Server()
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	return fixture{url: "http://" + ln.Addr().String(), svc: svc}
}

func mustSLOs(t *testing.T, text string) []SLO {
	t.Helper()
	slos, err := ParseSLOs(text)
	if err != nil {
		t.Fatal(err)
	}
	return slos
}

const chatSLO = `[{"name": "chat-latency", "service": "inference-*", "span_name": "POST /v1/chat/*", "latency_ms": 500}]`

// sdkSpans makes spans with the real OpenTelemetry SDK: a slow (900 ms)
// and a fast (100 ms) server span of inference-gateway on gpu-node-1,
// endpoint C (10.1.10.13) calling endpoint B (10.1.20.12) on tcp/443, and
// a slow span of another service that the SLO does not cover.
func sdkSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	res := resource.NewSchemaless(attribute.String("service.name", "inference-gateway"), attribute.String("host.name", "gpu-node-1"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))
	tr := tp.Tracer("test")
	flow := trace.WithAttributes(attribute.String("client.address", "10.1.10.13"), attribute.String("network.local.address", "10.1.20.12"),
		attribute.Int("server.port", 443))
	_, slow := tr.Start(context.Background(), "POST /v1/chat/completions", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(base), flow)
	slow.End(trace.WithTimestamp(base.Add(900 * time.Millisecond)))
	_, fast := tr.Start(context.Background(), "POST /v1/chat/completions", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(base), flow)
	fast.End(trace.WithTimestamp(base.Add(100 * time.Millisecond)))
	_, other := tr.Start(context.Background(), "GET /healthz", trace.WithTimestamp(base))
	other.End(trace.WithTimestamp(base.Add(2 * time.Second)))
	return rec.Ended()
}

func exporter(t *testing.T, url string, enc otlptracehttp.Encoding, extra ...otlptracehttp.Option) *otlptrace.Exporter {
	t.Helper()
	opts := append([]otlptracehttp.Option{otlptracehttp.WithEndpointURL(url + "/tracing/spans"), otlptracehttp.WithEncoding(enc),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false})}, extra...)
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

type listing struct {
	Listing
	SLOs  []string `json:"slos"`
	Stats Stats    `json:"stats"`
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func violations(t *testing.T, url string) listing {
	t.Helper()
	code, b := get(t, url)
	if code != 200 {
		t.Fatalf("GET %s = %d %s", url, code, b)
	}
	var l listing
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestSDKExportCorrelated: the SDK's OTLP/HTTP exporter, in protobuf and
// in JSON, sends three spans; the slow chat span breaks chat-latency, and
// its violation carries gpu-node-1's telemetry and the campus path from
// C to B.
func TestSDKExportCorrelated(t *testing.T) {
	for _, enc := range []struct {
		name string
		enc  otlptracehttp.Encoding
	}{{"protobuf", otlptracehttp.EncodingProtobuf}, {"json", otlptracehttp.EncodingJSON}} {
		t.Run(enc.name, func(t *testing.T) {
			f := serve(t, Options{SLOs: mustSLOs(t, chatSLO)}, nil)
			spans := sdkSpans(t)
			if err := exporter(t, f.url, enc.enc).ExportSpans(context.Background(), spans); err != nil {
				t.Fatalf("ExportSpans = %v, want nil", err)
			}
			l := violations(t, f.url+"/tracing/slo-violations")
			if l.Count != 1 || len(l.Violations) != 1 {
				t.Fatalf("violations = %d, want 1 (the slow chat span): %+v", l.Count, l.Violations)
			}
			if want := (Stats{Requests: 1, Accepted: 3, Violations: 1}); l.Stats != want {
				t.Errorf("stats = %+v, want %+v", l.Stats, want)
			}
			v := l.Violations[0]
			sc := spans[0].SpanContext()
			if v.Span.TraceID != sc.TraceID().String() || v.Span.SpanID != sc.SpanID().String() {
				t.Errorf("ids = %s/%s, want the SDK's %s/%s", v.Span.TraceID, v.Span.SpanID, sc.TraceID(), sc.SpanID())
			}
			if v.SLO != "chat-latency" || v.Kind != "threshold" || v.DurationMS != 900 || v.LatencyMS != 500 {
				t.Errorf("violation = %s %s %v ms (threshold %v), want chat-latency threshold 900 (500)", v.SLO, v.Kind, v.DurationMS, v.LatencyMS)
			}
			sp := v.Span
			if sp.Service != "inference-gateway" || sp.Name != "POST /v1/chat/completions" || sp.Kind != "server" ||
				!sp.Start.Equal(base) || !sp.End.Equal(base.Add(900*time.Millisecond)) {
				t.Errorf("span = %+v", sp)
			}
			if sp.Src != "10.1.10.13" || sp.Dst != "10.1.20.12" || sp.DstPort != 443 || sp.Transport != "tcp" {
				t.Errorf("flow = %s → %s %s/%d, want 10.1.10.13 → 10.1.20.12 tcp/443", sp.Src, sp.Dst, sp.Transport, sp.DstPort)
			}
			// The node: its report's counters, the hung AllReduce, NVLink 1
			// down; retransmit events within the span ± 1 s: the two at
			// +200 ms and +700 ms (3 + 2), not the one a minute before.
			want := telemetry.NodeView{Node: "gpu-node-1", ReportedAt: base, ReceivedAt: base.Add(time.Second), TCPSource: "ebpf",
				Retransmits: 41, RTTP50us: 180, RTTP99us: 2400, RTTP999us: 9100, RetransmitEvents: 2, RetransmitsInRange: 5,
				NCCLActive: 2, NCCLHung: 1, NCCLHang: true, NVLinksDown: 1, NVLinkDown: true}
			if v.Network.Node == nil {
				t.Fatalf("network.node = nil (%s), want gpu-node-1's telemetry", v.Network.NodeReason)
			}
			if diff := cmp.Diff(want, *v.Network.Node); diff != "" || v.Network.Host != "gpu-node-1" {
				t.Errorf("network.node (host %q) mismatch (-want +got):\n%s", v.Network.Host, diff)
			}
			// C (10.1.10.13, vlan 10 on acc2) to B (10.1.20.12, vlan 20):
			// C's gateway is core1 (Vlan10 SVI), which has B's subnet
			// connected (Vlan20) and delivers; no firewall, so permitted.
			// (A, 10.1.10.11, would not do: orphan1's mgmt0 has it too.)
			p := v.Network.Path
			if p == nil {
				t.Fatalf("network.path = nil (%s), want the C→B path", v.Network.PathReason)
			}
			if p.Src != "10.1.10.13" || p.Dst != "10.1.20.12" || p.Service != "tcp/443" || p.Verdict != "permit" || p.Paths != 1 {
				t.Errorf("path = %+v, want 10.1.10.13 → 10.1.20.12 tcp/443 permit over one path", p)
			}
			if !cmp.Equal(p.Hops, []string{"core1"}) || p.Reason != "delivered to 10.1.20.12 at core1; no firewall on the path" {
				t.Errorf("path = %v (%s), want [core1]: C's gateway, where B's subnet is connected", p.Hops, p.Reason)
			}
		})
	}
}

// TestPartialSuccess: spans without valid ids are rejected one by one, the
// others kept, and the SDK hears partial_success in either encoding.
func TestPartialSuccess(t *testing.T) {
	f := serve(t, Options{SLOs: mustSLOs(t, chatSLO)}, nil)
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"inference-gateway"}}]},
	"scopeSpans":[{"spans":[
	 {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"POST /v1/chat/x","startTimeUnixNano":"1767225600000000000","endTimeUnixNano":"1767225601000000000"},
	 {"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b175","name":"a","startTimeUnixNano":"1","endTimeUnixNano":"2"},
	 {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b176","name":"b","startTimeUnixNano":"5","endTimeUnixNano":"2"}]}]}]}`
	resp, err := http.Post(f.url+"/tracing/spans", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST = %d %s %s, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var got struct {
		PartialSuccess struct {
			RejectedSpans string `json:"rejectedSpans"`
			ErrorMessage  string `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	wantMsg := "2 of 3 spans rejected: resource_spans[0].scope_spans[0].spans[1]: trace_id is all zeros; " +
		"resource_spans[0].scope_spans[0].spans[2]: end_time_unix_nano is before start_time_unix_nano"
	if got.PartialSuccess.RejectedSpans != "2" || got.PartialSuccess.ErrorMessage != wantMsg {
		t.Errorf("partialSuccess = %+v, want 2 rejected: %s", got.PartialSuccess, wantMsg)
	}
	l := violations(t, f.url+"/tracing/slo-violations?slo=chat-latency")
	if l.Count != 1 || l.Violations[0].Span.SpanID != "eee19b7ec3c1b174" || l.Stats.Rejected != 2 || l.Stats.Accepted != 1 {
		t.Errorf("after the partial batch: %d violations, stats %+v; want the one kept span (eee19b7ec3c1b174) violating", l.Count, l.Stats)
	}
	// Without a host or a flow, the correlation says why it has neither.
	n := l.Violations[0].Network
	if n.Node != nil || n.NodeReason != "the span's resource has neither host.name nor k8s.node.name" || n.Path != nil ||
		!strings.HasPrefix(n.PathReason, "the span does not name both addresses") {
		t.Errorf("network = %+v, want no node and no path, with reasons", n)
	}
	// The same in protobuf through the SDK: a batch of its spans is fine,
	// so partial success is tested above; here the protobuf answer of an
	// accepted batch is an empty ExportTraceServiceResponse.
	pb, _ := proto.Marshal(&collectortrace.ExportTraceServiceRequest{})
	resp, err = http.Post(f.url+"/tracing/spans", "application/x-protobuf", bytes.NewReader(pb))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var er collectortrace.ExportTraceServiceResponse
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &er) != nil || er.PartialSuccess != nil {
		t.Errorf("empty protobuf export = %d %s %x, want 200 with an empty response", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

type postCase struct {
	name, contentType, encoding string
	body                        []byte
	status                      int
	// want is in the message: the google.rpc.Status's for protobuf, the
	// envelope's otherwise.
	want string
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// TestRefused: bodies that are not exports, wrong content types, a body
// over the limit (raw or once decompressed) and a batch over the limit are
// refused whole with a message naming what is wrong, and nothing is kept.
func TestRefused(t *testing.T) {
	f := serve(t, Options{SLOs: mustSLOs(t, chatSLO), MaxBody: 4096, MaxBatch: 2}, nil)
	big := bytes.Repeat([]byte{'x'}, 4097)
	bomb := gz(t, append([]byte(`{"resourceSpans":[],"x":"`), bytes.Repeat([]byte{'a'}, 100000)...))
	for _, c := range []postCase{
		{name: "garbage protobuf", contentType: "application/x-protobuf", body: []byte{0x0a, 0xff, 0xff}, status: 400,
			want: "the body is not an OTLP ExportTraceServiceRequest in protobuf"},
		{name: "garbage json", contentType: "application/json", body: []byte(`{"resourceSpans": 3}`), status: 400,
			want: "the body is not an OTLP ExportTraceServiceRequest in OTLP/JSON"},
		{name: "not json", contentType: "application/json; charset=utf-8", body: []byte(`{`), status: 400,
			want: "the body is not an OTLP ExportTraceServiceRequest in OTLP/JSON"},
		{name: "text", contentType: "text/plain", body: []byte(`hi`), status: 415,
			want: `Content-Type "text/plain": want application/x-protobuf or application/json (OTLP/HTTP)`},
		{name: "no content type", body: []byte(`{}`), status: 415, want: `Content-Type "": want application/x-protobuf`},
		{name: "over the body limit", contentType: "application/json", body: big, status: 413,
			want: "the body of 4097 bytes is over the limit of 4096 bytes (TRACING_MAX_BODY_BYTES)"},
		{name: "decompresses over the limit", contentType: "application/json", encoding: "gzip", body: bomb, status: 413,
			want: "the body decompresses to more than the limit of 4096 bytes (TRACING_MAX_BODY_BYTES)"},
		{name: "not gzip", contentType: "application/json", encoding: "gzip", body: []byte("{}"), status: 400,
			want: "Content-Encoding gzip: the body is not gzip"},
		{name: "brotli", contentType: "application/json", encoding: "br", body: []byte("{}"), status: 415,
			want: `Content-Encoding "br": want gzip or none`},
		{name: "protobuf over the body limit", contentType: "application/x-protobuf", body: big, status: 413,
			want: "over the limit of 4096 bytes (TRACING_MAX_BODY_BYTES)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.url+"/tracing/spans", bytes.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			if c.encoding != "" {
				req.Header.Set("Content-Encoding", c.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var msg string
			if c.contentType == "application/x-protobuf" {
				var st status.Status
				if err := proto.Unmarshal(b, &st); err != nil || resp.Header.Get("Content-Type") != "application/x-protobuf" {
					t.Fatalf("body %x is not a google.rpc.Status in protobuf: %v", b, err)
				}
				msg = st.Message
				if st.Code != 3 { // INVALID_ARGUMENT
					t.Errorf("status code = %d, want 3", st.Code)
				}
			} else {
				var env struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal(b, &env); err != nil {
					t.Fatalf("body %s is not the error envelope: %v", b, err)
				}
				msg = env.Error.Message
			}
			if resp.StatusCode != c.status || !strings.Contains(msg, c.want) {
				t.Errorf("POST = %d %q, want %d with %q", resp.StatusCode, msg, c.status, c.want)
			}
		})
	}
	// A batch of three SDK spans is over MaxBatch 2: the SDK's exporter
	// gets the 400 and its message.
	err := exporter(t, f.url, otlptracehttp.EncodingProtobuf).ExportSpans(context.Background(), sdkSpans(t))
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(),
		"the batch has 3 spans, over the limit of 2 per request (TRACING_MAX_BATCH_SPANS)") {
		t.Errorf("ExportSpans of 3 spans = %v, want the 400 naming the batch limit", err)
	}
	if st := f.svc.Stats(); st != (Stats{}) {
		t.Errorf("stats after refused requests = %+v, want nothing kept", st)
	}
}

// TestGzipExport: the SDK's gzip compression is read.
func TestGzipExport(t *testing.T) {
	f := serve(t, Options{SLOs: mustSLOs(t, chatSLO)}, nil)
	exp := exporter(t, f.url, otlptracehttp.EncodingJSON, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err := exp.ExportSpans(context.Background(), sdkSpans(t)); err != nil {
		t.Fatal(err)
	}
	if st := f.svc.Stats(); st.Accepted != 3 || st.Violations != 1 {
		t.Errorf("stats = %+v, want 3 accepted, 1 violation", st)
	}
}

// TestPlanGate: below Enterprise both routes answer 403 plan_required.
func TestPlanGate(t *testing.T) {
	f := serve(t, Options{}, &license.License{Payload: license.Payload{Plan: license.Pro}})
	for _, path := range []string{"/tracing/spans", "/tracing/slo-violations"} {
		var resp *http.Response
		var err error
		if path == "/tracing/spans" {
			resp, err = http.Post(f.url+path, "application/json", strings.NewReader("{}"))
		} else {
			resp, err = http.Get(f.url + path)
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !bytes.Contains(b, []byte(`"plan_required"`)) || !bytes.Contains(b, []byte("token_path_tracing")) {
			t.Errorf("%s on the pro plan = %d %s, want 403 plan_required naming token_path_tracing", path, resp.StatusCode, b)
		}
	}
}

// TestViolationQuery: since and slo filter; malformed ones are 400, an
// unknown SLO 404.
//
// With Redis the spans go to one replica and the questions to another: the
// same answers, every replica's violations (scope shared).
func TestViolationQuery(t *testing.T) {
	t.Run("one replica", func(t *testing.T) { testViolationQuery(t, nil) })
	t.Run("two replicas sharing Redis", func(t *testing.T) { testViolationQuery(t, redisClient(t, testenv.StartRedis(t))) })
}

func redisClient(t *testing.T, rs *testenv.Redis) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { rc.Close() })
	return rc
}

func testViolationQuery(t *testing.T, rc *redis.Client) {
	now := base.Add(time.Hour)
	opt := Options{SLOs: mustSLOs(t, `[{"name":"chat-latency","service":"inference-*","span_name":"POST /v1/chat/*","latency_ms":500},
		{"name":"any-1s","latency_ms":1000}]`), Now: func() time.Time { return now }, Redis: rc}
	f := serve(t, opt, nil)
	asked, scope := f, ScopeReplica
	if rc != nil {
		asked, scope = serve(t, opt, nil), ScopeShared
	}
	exp := exporter(t, f.url, otlptracehttp.EncodingProtobuf)
	if err := exp.ExportSpans(context.Background(), sdkSpans(t)); err != nil { // arrives at base+1h
		t.Fatal(err)
	}
	now = base.Add(2 * time.Hour)
	if err := exp.ExportSpans(context.Background(), sdkSpans(t)); err != nil { // at base+2h
		t.Fatal(err)
	}
	// Per batch: the slow chat span breaks chat-latency; GET /healthz (2 s)
	// breaks any-1s; the 900 ms span does not.
	for q, want := range map[string]int{
		"": 4, "?slo=chat-latency": 2, "?slo=any-1s": 2, "?since=30m": 2, "?since=30m&slo=any-1s": 1, "?since=90m&slo=any-1s": 2,
		"?since=" + base.Add(2*time.Hour).Format(time.RFC3339): 2, "?limit=3": 3,
	} {
		if l := violations(t, asked.url+"/tracing/slo-violations"+q); l.Count != want || l.Scope != scope {
			t.Errorf("GET /tracing/slo-violations%s = %d violations (scope %s), want %d (%s)", q, l.Count, l.Scope, want, scope)
		}
	}
	l := violations(t, asked.url+"/tracing/slo-violations?slo=any-1s")
	if v := l.Violations[0]; v.Span.Name != "GET /healthz" || v.DurationMS != 2000 || !v.Span.Received.Equal(base.Add(2*time.Hour)) {
		t.Errorf("newest any-1s violation = %s %v ms received %s, want GET /healthz 2000 ms at base+2h", v.Span.Name, v.DurationMS, v.Span.Received)
	}
	// The correlation was made where the span arrived and travels with it.
	l = violations(t, asked.url+"/tracing/slo-violations?slo=chat-latency")
	if v := l.Violations[0]; v.Network.Node == nil || v.Network.Host != "gpu-node-1" || v.Network.Path == nil {
		t.Errorf("chat-latency violation's network = %+v, want gpu-node-1's telemetry and a path", v.Network)
	}
	if rc != nil && asked.svc.Stats().Violations != 0 {
		t.Errorf("the asked replica counts %d violations of its own, want 0 (all came through the other)", asked.svc.Stats().Violations)
	}
	for q, want := range map[string]string{
		"?since=yesterday": "parameter since", "?limit=0": "parameter limit", "?limit=x": "parameter limit",
	} {
		if code, b := get(t, f.url+"/tracing/slo-violations"+q); code != 400 || !bytes.Contains(b, []byte(want)) {
			t.Errorf("GET %s = %d %s, want 400 naming %s", q, code, b, want)
		}
	}
	if code, b := get(t, f.url+"/tracing/slo-violations?slo=nope"); code != 404 || !bytes.Contains(b, []byte(`no SLO named \"nope\"`)) {
		t.Errorf("GET ?slo=nope = %d %s, want 404", code, b)
	}
}

// TestRedisDownListsThisReplica: when Redis stops answering, a replica
// lists its own violations and says so; when it is back, the shared list
// again (here an empty one: the test server keeps nothing across restarts).
func TestRedisDownListsThisReplica(t *testing.T) {
	rs := testenv.StartRedis(t)
	rc := redisClient(t, rs)
	a := serve(t, Options{SLOs: mustSLOs(t, chatSLO), Redis: rc}, nil)
	b := serve(t, Options{SLOs: mustSLOs(t, chatSLO), Redis: rc}, nil)
	if err := exporter(t, a.url, otlptracehttp.EncodingProtobuf).ExportSpans(context.Background(), sdkSpans(t)); err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	if l := violations(t, b.url+"/tracing/slo-violations"); l.Scope != ScopeReplica || l.Count != 0 || !strings.Contains(l.ScopeReason, "Redis failed") {
		t.Errorf("replica b with Redis down = %d violations, scope %s (%s); want its own 0, scope replica naming Redis", l.Count, l.Scope, l.ScopeReason)
	}
	if l := violations(t, a.url+"/tracing/slo-violations"); l.Scope != ScopeReplica || l.Count != 1 {
		t.Errorf("replica a with Redis down = %d violations, scope %s; want its own 1", l.Count, l.Scope)
	}
	rs.Start() // an empty server: nothing was saved
	if l := violations(t, b.url+"/tracing/slo-violations"); l.Scope != ScopeShared || l.Count != 0 {
		t.Errorf("replica b with Redis back = %d violations, scope %s; want the (empty) shared list", l.Count, l.Scope)
	}
}

// TestRedisStream: with Redis every accepted span is appended to
// meshq:spans, capped.
func TestRedisStream(t *testing.T) {
	rc := redisClient(t, testenv.StartRedis(t))
	f := serve(t, Options{SLOs: mustSLOs(t, chatSLO), Redis: rc, StreamMaxLen: 1000}, nil)
	spans := sdkSpans(t)
	if err := exporter(t, f.url, otlptracehttp.EncodingProtobuf).ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	msgs, err := rc.XRange(context.Background(), Stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("XRANGE %s = %d entries, want 3", Stream, len(msgs))
	}
	var first Span
	if err := json.Unmarshal([]byte(msgs[0].Values["span"].(string)), &first); err != nil {
		t.Fatal(err)
	}
	if first.SpanID != spans[0].SpanContext().SpanID().String() || first.Service != "inference-gateway" || first.Hosts[0] != "gpu-node-1" {
		t.Errorf("first stream entry = %+v, want the SDK's first span", first)
	}
}

// TestHostFallback: a span whose host.name has no telemetry but whose
// k8s.node.name does is correlated by the latter; neither known says so.
func TestHostFallback(t *testing.T) {
	f := serve(t, Options{SLOs: mustSLOs(t, `[{"name":"all","latency_ms":1}]`)}, nil)
	send := func(host, node string) Violation {
		t.Helper()
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "s"), attribute.String("host.name", host), attribute.String("k8s.node.name", node))))
		_, sp := tp.Tracer("t").Start(context.Background(), "op", trace.WithTimestamp(base),
			trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.String("server.address", "10.1.10.13"),
				attribute.String("network.local.address", "203.0.113.9")))
		sp.End(trace.WithTimestamp(base.Add(time.Second)))
		if err := exporter(t, f.url, otlptracehttp.EncodingProtobuf).ExportSpans(context.Background(), rec.Ended()); err != nil {
			t.Fatal(err)
		}
		return violations(t, f.url+"/tracing/slo-violations?limit=1").Violations[0]
	}
	v := send("pod-7f9c", "gpu-node-1")
	if v.Network.Host != "gpu-node-1" || v.Network.Node == nil || v.Network.Node.NCCLHung != 1 {
		t.Errorf("network = %+v, want gpu-node-1's telemetry through k8s.node.name", v.Network)
	}
	// 203.0.113.9 is in no subnet of the campus: no path, and why.
	if v.Network.Path != nil || v.Network.PathReason != "203.0.113.9 is not in the graph (no device address, endpoint or subnet holds it)" {
		t.Errorf("path = %+v %q, want none: 203.0.113.9 is not in the graph", v.Network.Path, v.Network.PathReason)
	}
	v = send("pod-1", "node-9")
	if v.Network.Host != "pod-1" || v.Network.Node != nil || v.Network.NodeReason != `no live node agent telemetry for ["pod-1","node-9"]` {
		t.Errorf("network = %+v, want no telemetry for either name", v.Network)
	}
}
