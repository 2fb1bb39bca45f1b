package spans

import (
	"context"
	"strings"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

func TestParseSLOs(t *testing.T) {
	slos, err := ParseSLOs(`[{"name":"chat","service":"inference-*","span_name":"POST /v1/chat/*","latency_ms":500},
		{"name":"p99","percentile":99,"latency_ms":800,"window":"5m","min_spans":20}]`)
	if err != nil {
		t.Fatal(err)
	}
	if len(slos) != 2 || slos[0].Kind() != "threshold" || slos[0].threshold != 500*time.Millisecond ||
		slos[1].Kind() != "percentile" || time.Duration(slos[1].Window) != 5*time.Minute || slos[1].MinSpans != 20 {
		t.Errorf("ParseSLOs = %+v", slos)
	}
	if slos, err := ParseSLOs("  "); err != nil || slos != nil {
		t.Errorf("ParseSLOs(blank) = %v, %v; want none", slos, err)
	}
	if slos, _ := ParseSLOs(`[{"name":"p","percentile":50,"latency_ms":1,"window":"1m"}]`); slos[0].MinSpans != 1 {
		t.Errorf("min_spans default = %d, want 1", slos[0].MinSpans)
	}
}

// TestParseSLOsRefused: each problem names the entry and the field, all
// of them at once.
func TestParseSLOsRefused(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{`{"name":"x"}`, "not a JSON list of SLOs"},
		{`[{"latency_ms":5}]`, "entry 0: field name: is empty"},
		{`[{"name":"a","latency_ms":5},{"name":"a","latency_ms":6}]`, `entry 1 ("a"): field name: is also entry 0's`},
		{`[{"name":"a"}]`, `entry 0 ("a"): field latency_ms: must be a number of milliseconds above 0`},
		{`[{"name":"a","latency_ms":-1}]`, `entry 0 ("a"): field latency_ms: must be a number`},
		{`[{"name":"a","latency_ms":"5"}]`, "entry 0: field latency_ms: a JSON string is not allowed here, want float64"},
		{`[{"name":"a","latency_ms":5,"window":"1m"}]`, `entry 0 ("a"): field window: is set without percentile`},
		{`[{"name":"a","latency_ms":5,"min_spans":3}]`, `entry 0 ("a"): field min_spans: is set without percentile`},
		{`[{"name":"a","latency_ms":5,"percentile":99}]`, `entry 0 ("a"): field window: is required with percentile`},
		{`[{"name":"a","latency_ms":5,"percentile":101,"window":"1m"}]`, `entry 0 ("a"): field percentile: 101 is not above 0 and at most 100`},
		{`[{"name":"a","latency_ms":5,"percentile":99,"window":"100ms"}]`, `entry 0 ("a"): field window: 100ms is outside 1s..24h0m0s`},
		{`[{"name":"a","latency_ms":5,"percentile":99,"window":"soon"}]`, `entry 0: field window: "soon" is not a duration such as 5m`},
		{`[{"name":"a","latency_ms":5,"percentile":99,"window":5}]`, `entry 0: field window: not a duration string`},
		{`[{"name":"a","latency_ms":5,"percentile":99,"window":"1m","min_spans":-2}]`, `entry 0 ("a"): field min_spans: -2 is negative`},
		{`[{"name":"a","latency_ms":5,"threshold":3}]`, `entry 0: field "threshold": unknown (known: name, service, span_name`},
		{`[{"name":"a","latency_ms":5,"service":"` + strings.Repeat("x", 300) + `"}]`, `entry 0 ("a"): field service: is longer than 256 characters`},
		{`[3]`, "entry 0: not an SLO object"},
	} {
		_, err := ParseSLOs(c.text)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSLOs(%.60s) = %v, want an error with %q", c.text, err, c.want)
		}
	}
	// Two bad entries: both reported.
	_, err := ParseSLOs(`[{"name":"a"},{"name":"b","latency_ms":1,"window":"1m"}]`)
	if err == nil || !strings.Contains(err.Error(), `entry 0 ("a"): field latency_ms`) || !strings.Contains(err.Error(), `entry 1 ("b"): field window`) {
		t.Errorf("ParseSLOs(two bad) = %v, want both entries named", err)
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "anything", true}, {"*", "", true}, {"**", "x", true},
		{"inference-*", "inference-gateway", true}, {"inference-*", "inference-", true}, {"inference-*", "infer", false},
		{"POST /v1/chat/*", "POST /v1/chat/completions", true}, {"POST /v1/chat/*", "GET /v1/chat/completions", false},
		{"*/chat/*", "POST /v1/chat/x", true}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*a*b", "xxaxxb", true}, {"*a*b", "xxaxxbx", false}, {"exact", "exact", true}, {"exact", "exactly", false},
	} {
		g, _ := compileGlob(c.pattern)
		if got := g.match(c.s); got != c.want {
			t.Errorf("glob %q match %q = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// batch is one export of spans of the given durations, all of service s
// and name "op".
func batch(ms ...int) *collectortrace.ExportTraceServiceRequest {
	var sps []*tracepb.Span
	for i, d := range ms {
		start := uint64(base.UnixNano())
		sps = append(sps, &tracepb.Span{TraceId: []byte("0123456789abcdef"), SpanId: []byte{1, 2, 3, 4, 5, 6, 7, byte(i + 1)}, Name: "op",
			StartTimeUnixNano: start, EndTimeUnixNano: start + uint64(d)*uint64(time.Millisecond)})
	}
	return &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{{Key: "service.name",
			Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "s"}}}}},
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: sps}}}}}
}

// TestPercentileSLO: p50 ≤ 100 ms over 1 min, at least 4 spans. Worked out
// by hand, nearest rank (rank ⌈0.5·n⌉):
//
//	50, 50, 200: 3 spans, under min_spans
//	200:         4 spans, 2 over; rank 2 is 50 ms: met
//	300:         5 spans, 3 over; rank 3 is 200 ms: broken, the 300 ms span is a violation
//	40:          6 spans, 3 over; rank 3 is 50 ms: met (and 40 ms is not over anyway)
//	250:         7 spans, 4 over; rank 4 is 200 ms: broken, a violation
//
// then, two minutes later, the window has emptied: 250 alone is 1 span,
// under min_spans.
func TestPercentileSLO(t *testing.T) {
	now := base
	s := New(quiet(), Options{SLOs: mustSLOs(t, `[{"name":"p50","percentile":50,"latency_ms":100,"window":"1m","min_spans":4}]`),
		Now: func() time.Time { return now }})
	ctx := context.Background()
	for i, step := range []struct {
		ms   []int
		want int
	}{{[]int{50, 50, 200}, 0}, {[]int{200}, 0}, {[]int{300}, 1}, {[]int{40}, 0}, {[]int{250}, 1}} {
		now = now.Add(time.Second)
		res, err := s.Export(ctx, batch(step.ms...))
		if err != nil || res.Violations != step.want {
			t.Errorf("step %d (%v ms): %d violations, %v; want %d", i, step.ms, res.Violations, err, step.want)
		}
	}
	vs := s.Violations(ctx, time.Time{}, "", 10).Violations
	if len(vs) != 2 || vs[0].DurationMS != 250 || vs[0].WindowSpans != 7 || vs[0].WindowOver != 4 ||
		vs[1].DurationMS != 300 || vs[1].WindowSpans != 5 || vs[1].WindowOver != 3 || *vs[1].Percentile != 50 || vs[1].Window != "1m0s" {
		t.Errorf("violations = %+v, want 250 ms (7 spans, 4 over) then 300 ms (5, 3)", vs)
	}
	now = now.Add(2 * time.Minute)
	if res, _ := s.Export(ctx, batch(250)); res.Violations != 0 {
		t.Errorf("after the window emptied: %d violations, want 0 (1 span, under min_spans)", res.Violations)
	}
}

func TestPercentileOver(t *testing.T) {
	for _, c := range []struct {
		p           float64
		total, over uint64
		want        bool
	}{
		{99, 100, 1, false}, {99, 100, 2, true}, {50, 4, 2, false}, {50, 5, 3, true}, {100, 10, 1, true}, {100, 10, 0, false}, {1, 1, 1, true}, {50, 0, 0, false},
	} {
		if got := percentileOver(c.p, c.total, c.over); got != c.want {
			t.Errorf("percentileOver(p%v, %d spans, %d over) = %v, want %v", c.p, c.total, c.over, got, c.want)
		}
	}
}
