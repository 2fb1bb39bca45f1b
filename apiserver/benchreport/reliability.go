package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/facts"
)

// reliabilityFigures measures the AI reliability features (issue 16) on
// the 10k-device demo network, in process: a chaos scenario of 5 failed
// devices from submission to result, span ingest with SLO evaluation in
// CPU per span, and the conversation's overhead over the query it
// dispatches, both asked through the same HTTP handler.
func reliabilityFigures(out io.Writer) error {
	fmt.Fprintln(out, "AI reliability: 10000-device demo network, in process")
	doc := demo.Generate(demo.Options{Seed: 1, Devices: 10000})
	if err := facts.Normalize(doc); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(graphtest.NewMemStore(), graph.Options{RootRoles: graph.DefaultRootRoles()}, log)
	g, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices)
	if err != nil {
		return err
	}
	var rows []row
	chaosRows, err := chaosLatency(eng, g, log)
	if err != nil {
		return err
	}
	rows = append(rows, chaosRows...)
	spanRows, err := spanIngestCost(log)
	if err != nil {
		return err
	}
	rows = append(rows, spanRows...)
	nlRows, err := conversationOverhead(eng, g, log)
	if err != nil {
		return err
	}
	printRows(out, append(rows, nlRows...))
	return nil
}

// chaosLatency submits 5 failed devices (2 distribution, a spine, 2
// leaves) with 8 flows and a 4-node job, 20 times, and times each to done.
func chaosLatency(eng *engine.Engine, g *graph.Graph, log *slog.Logger) ([]row, error) {
	var req chaos.Request
	want := map[string]int{"distribution": 2, "spine": 1, "leaf": 2}
	for _, d := range g.Devices {
		if want[d.Role] > 0 {
			want[d.Role]--
			req.Devices = append(req.Devices, d.Hostname)
		}
	}
	ips := spreadIPs(g, 16)
	for i := 0; i+1 < len(ips) && len(req.Pairs) < 8; i += 2 {
		req.Pairs = append(req.Pairs, chaos.Pair{Src: ips[i], Dst: ips[i+1]})
	}
	req.Jobs = []chaos.Job{{Name: "train", Nodes: ips[:4]}}
	svc := chaos.New(eng, log, chaos.Options{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svc.Run(ctx) //nolint:errcheck // ends with cancel
	var lat []time.Duration
	for i := range 21 {
		start := time.Now()
		rec, err := svc.Submit(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("chaos: %w", err)
		}
		for rec.Status == chaos.StatusPending || rec.Status == chaos.StatusRunning {
			time.Sleep(50 * time.Microsecond)
			rec, _, _ = svc.Get(ctx, rec.ID)
		}
		if rec.Status != chaos.StatusDone {
			return nil, fmt.Errorf("chaos run %s: %s", rec.Status, rec.Error)
		}
		if i > 0 { // the first builds the path-analysis index of this version
			lat = append(lat, time.Since(start))
		}
	}
	p50, worst := quantile(lat, 0.5), slices.Max(lat)
	return []row{
		{"chaos 5 devices: submission to result, p50 (20 runs)", dur(p50), "≤ 200ms", p50 <= 200*time.Millisecond},
		{"chaos 5 devices: submission to result, slowest", dur(worst), "≤ 200ms", worst <= 200*time.Millisecond},
	}, nil
}

// spreadIPs takes the first address of n endpoints spread over the graph.
func spreadIPs(g *graph.Graph, n int) []string {
	var ips []string
	for i := 0; i < len(g.Endpoints) && len(ips) < n; i += max(len(g.Endpoints)/n, 1) {
		if ep := g.Endpoints[i]; len(ep.IPs) > 0 {
			ips = append(ips, ep.IPs[0].IP.String())
		}
	}
	return ips
}

// spanIngestCost decodes and stores 200 OTLP protobuf batches of 500 spans
// against a threshold and a percentile SLO, and divides the process's CPU
// time by the spans: the spans one core takes per second.
func spanIngestCost(log *slog.Logger) ([]row, error) {
	slos, err := spans.ParseSLOs(`[{"name":"chat","service":"inference-*","span_name":"POST /v1/chat/*","latency_ms":950},
		{"name":"p99","service":"inference-*","percentile":99,"latency_ms":900,"window":"1m"}]`)
	if err != nil {
		return nil, err
	}
	svc := spans.New(log, spans.Options{SLOs: slos})
	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	const batches, perBatch = 200, 500
	bodies := make([][]byte, 0, 8)
	start := uint64(time.Now().Add(-time.Minute).UnixNano())
	for k := range 8 {
		rs := &tracepb.ResourceSpans{Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{
			{Key: "service.name", Value: str(fmt.Sprintf("inference-%d", k))}, {Key: "host.name", Value: str("gpu-node-1")}}},
			ScopeSpans: []*tracepb.ScopeSpans{{}}}
		for i := range perBatch {
			d := uint64((i*7919+k*104729)%1000+1) * uint64(time.Millisecond)
			rs.ScopeSpans[0].Spans = append(rs.ScopeSpans[0].Spans, &tracepb.Span{
				TraceId: fmt.Appendf(nil, "%016d", k*perBatch+i), SpanId: fmt.Appendf(nil, "%08d", i+1),
				Name: fmt.Sprintf("POST /v1/chat/op%d", i%64), Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: start, EndTimeUnixNano: start + d})
		}
		b, err := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{rs}})
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	cpu0 := processCPU()
	for i := range batches {
		req, err := spans.Decode(bodies[i%len(bodies)], spans.ContentTypeProtobuf)
		if err != nil {
			return nil, err
		}
		if _, err := svc.Export(context.Background(), req); err != nil {
			return nil, err
		}
	}
	cpu := processCPU() - cpu0
	perCore := float64(batches*perBatch) / cpu.Seconds()
	return []row{
		{"span ingest + 2 SLOs: CPU per span", fmt.Sprintf("%.1fµs", float64(cpu.Microseconds())/float64(batches*perBatch)), "", true},
		{"span ingest + 2 SLOs: spans/s one core sustains", fmt.Sprintf("%.0f", perCore), "≥ 10000", perCore >= 10000},
	}, nil
}

// conversationOverhead asks "where is <ip>?" through POST
// /ai/query/conversation and the same locate_endpoint_by_ip through POST
// /queries/…/execute, interleaved, in the same HTTP handler; the
// difference of the medians is what the interpreter and session add.
func conversationOverhead(eng *engine.Engine, g *graph.Graph, log *slog.Logger) ([]row, error) {
	reg := query.NewBuiltin()
	handlers := telemetry.New(log, telemetry.Options{}).Handlers()
	maps.Copy(handlers, chaos.New(eng, log, chaos.Options{}).Handlers())
	nb, err := netbox.New(netbox.Config{}, eng, log)
	if err != nil {
		return nil, err
	}
	maps.Copy(handlers, nb.Handlers())
	maps.Copy(handlers, conversation.New(reg, eng, log, conversation.Options{}).Handlers())
	maps.Copy(handlers, spans.New(log, spans.Options{}).Handlers())
	api, err := httpapi.New(httpapi.Options{Engine: eng, Registry: reg, Log: log, Metrics: prometheus.NewRegistry(),
		MaxBodyBytes: 1 << 20, Handlers: handlers})
	if err != nil {
		return nil, err
	}
	handler := api.Server().Handler
	call := func(path string, body []byte) (time.Duration, error) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.SetRequestURI(path)
		ctx.Request.Header.SetContentType("application/json")
		ctx.Request.SetBody(body)
		start := time.Now()
		handler(&ctx)
		took := time.Since(start)
		if ctx.Response.StatusCode() != fasthttp.StatusOK {
			return 0, fmt.Errorf("POST %s = %d %.200s", path, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		return took, nil
	}
	ips := spreadIPs(g, 64)
	var direct, nl []time.Duration
	for i := range 2000 {
		ip := ips[i%len(ips)]
		q, _ := json.Marshal(map[string]any{"parameters": map[string]string{"ip": ip}})
		m, _ := json.Marshal(map[string]string{"message": "where is " + ip + " plugged in?"})
		d, err := call("/queries/locate_endpoint_by_ip/execute", q)
		if err != nil {
			return nil, err
		}
		c, err := call("/ai/query/conversation", m)
		if err != nil {
			return nil, err
		}
		direct, nl = append(direct, d), append(nl, c)
	}
	dp, cp := quantile(direct, 0.5), quantile(nl, 0.5)
	over := cp - dp
	return []row{
		{"locate_endpoint_by_ip via POST /queries, p50", dur(dp), "", true},
		{"the same asked in plain language, p50", dur(cp), "", true},
		{"conversation overhead over the query, p50", dur(over), "≤ 1ms", over <= time.Millisecond},
	}, nil
}

// processCPU is the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// quantile is the q-quantile (nearest rank) of ds, which it sorts.
func quantile(ds []time.Duration, q float64) time.Duration {
	slices.Sort(ds)
	return ds[min(int(float64(len(ds))*q), len(ds)-1)]
}
