package spans

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/meshoptixiq/mesh/apiserver/telemetry"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest is span ingest as POST /tracing/spans does it, body to
// stored: protobuf decoding of 512-span batches (8 services × 64 span
// names, server spans with a client and local address and a port), the
// ring, four SLOs (two thresholds, a p99 over 5 min, a catch-all) and,
// for the ~5% of spans that break one, the correlation with node
// telemetry and the campus graph's path. It reports spans/s on one
// goroutine and CPU time per span (all of the process's CPU, GC included).
func BenchmarkIngest(b *testing.B) {
	eng := campus(b)
	tel := telemetry.New(quiet(), telemetry.Options{Now: func() time.Time { return base.Add(time.Second) }})
	if err := tel.IngestJSON([]byte(gpuNode1())); err != nil {
		b.Fatal(err)
	}
	slos, err := ParseSLOs(`[{"name":"chat","service":"inference-*","span_name":"POST /v1/chat/*","latency_ms":950},
		{"name":"embed","service":"embedder","latency_ms":990},
		{"name":"p99","service":"inference-*","percentile":99,"latency_ms":995,"window":"5m"},
		{"name":"all","latency_ms":999}]`)
	if err != nil {
		b.Fatal(err)
	}
	s := New(quiet(), Options{SLOs: slos, Telemetry: tel, Graph: eng})
	const perBatch = 512
	str := func(v string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}
	}
	var bodies [][]byte
	for k := range 8 {
		req := batch()
		rs := req.ResourceSpans[0]
		svc := "inference-gw"
		if k == 7 {
			svc = "embedder"
		}
		rs.Resource.Attributes = []*commonpb.KeyValue{{Key: "service.name", Value: str(fmt.Sprintf("%s-%d", svc, k))},
			{Key: "host.name", Value: str("gpu-node-1")}}
		start := uint64(base.UnixNano())
		for i := range perBatch {
			// Durations 1..1000 ms: about 5 in 100 over chat's 950 ms.
			d := uint64((i*7919+k*104729)%1000+1) * uint64(time.Millisecond)
			rs.ScopeSpans[0].Spans = append(rs.ScopeSpans[0].Spans, &tracepb.Span{
				TraceId: []byte(fmt.Sprintf("%016d", k*perBatch+i)), SpanId: []byte(fmt.Sprintf("%08d", i)),
				Name: fmt.Sprintf("POST /v1/chat/op%d", i%64), Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: start, EndTimeUnixNano: start + d,
				Attributes: []*commonpb.KeyValue{{Key: "client.address", Value: str("10.1.10.13")},
					{Key: "network.local.address", Value: str("10.1.20.12")},
					{Key: "server.port", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 443}}}}})
		}
		body, err := proto.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, body)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for i := 0; i < b.N; i++ {
		req, err := Decode(bodies[i%len(bodies)], ContentTypeProtobuf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Export(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	cpu, wall := cpuTime()-cpu0, time.Since(wall0)
	n := float64(b.N * perBatch)
	b.ReportMetric(n/wall.Seconds(), "spans/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/span")
	b.ReportMetric(float64(s.Stats().Violations)/n*100, "%violating")
}
