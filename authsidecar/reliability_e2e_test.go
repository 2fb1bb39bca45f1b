package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// replicaPod is one apiserver binary with its own sidecar and audit log,
// as one pod of a Deployment.
type replicaPod struct {
	url, auditFile string
}

// startReplicaPod runs the real apiserver on the demo network behind a
// sidecar; redisURL "" runs it without Redis.
func startReplicaPod(t *testing.T, redisURL string) replicaPod {
	t.Helper()
	dir := t.TempDir()
	sock, _, apiLog := startAPIServer(t, dir, "REDIS_URL="+redisURL,
		`TRACING_SLOS=[{"name":"chat-latency","service":"inference-*","span_name":"POST /v1/chat/*","latency_ms":500}]`)
	p := replicaPod{auditFile: filepath.Join(dir, "audit.jsonl")}
	p.url = startSidecar(t, "", map[string]string{"UPSTREAM": "unix:" + sock, "AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": p.auditFile}).URL
	eventually(t, "apiserver ready through the sidecar", 60*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", p.url+"/health/ready", nil, "")
		return status == 200, string(body) + apiLog.String()
	})
	return p
}

func (p replicaPod) call(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	status, _, out := do(t, method, p.url+path, map[string]string{"X-API-Key": testKey, "Content-Type": "application/json"}, string(b))
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("%s %s = %d, not JSON: %.300s", method, path, status, out)
	}
	return status, m
}

// chatSpans is one slow inference request from 10.32.0.12 to the demo's
// 10.128.0.10 (over chat-latency's 500 ms) and one fast one, made by the
// OpenTelemetry SDK.
func chatSpans() []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	res := resource.NewSchemaless(attribute.String("service.name", "inference-gateway"), attribute.String("host.name", "gpu-node-1"))
	tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res)).Tracer("e2e")
	flow := trace.WithAttributes(attribute.String("client.address", "10.32.0.12"), attribute.String("network.local.address", "10.128.0.10"),
		attribute.Int("server.port", 443))
	start := time.Now().Add(-time.Minute)
	for _, d := range []time.Duration{2 * time.Second, 50 * time.Millisecond} {
		_, sp := tr.Start(context.Background(), "POST /v1/chat/completions", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start), flow)
		sp.End(trace.WithTimestamp(start.Add(d)))
	}
	return rec.Ended()
}

func exportSpans(t *testing.T, p replicaPod) {
	t.Helper()
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(p.url+"/tracing/spans"),
		otlptracehttp.WithHeaders(map[string]string{"X-API-Key": testKey}), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Shutdown(context.Background())
	if err := exp.ExportSpans(context.Background(), chatSpans()); err != nil {
		t.Fatalf("exporting spans through the sidecar: %v", err)
	}
}

// TestReliabilityAcrossReplicas runs chaos simulation, the conversation
// and token-path tracing through two pods (real apiserver binaries, each
// behind its sidecar), the way a load balancer spreads one user's calls:
// with Redis the second pod answers for the first; without it each pod
// knows only its own, and says so.
func TestReliabilityAcrossReplicas(t *testing.T) {
	t.Run("with Redis", func(t *testing.T) {
		rs := testenv.StartRedis(t)
		a, b := startReplicaPod(t, rs.URL()), startReplicaPod(t, rs.URL())

		// Chaos: submitted to a, its result fetched from b.
		status, sub := a.call(t, "POST", "/graph/chaos-simulate", map[string]any{"devices": []string{"access-sw-0001"}})
		if status != 202 || sub["status"] != "pending" {
			t.Fatalf("chaos-simulate on a = %d %v, want 202 pending", status, sub)
		}
		var res map[string]any
		eventually(t, "chaos result on b", 30*time.Second, func() (bool, string) {
			status, res = b.call(t, "GET", fmt.Sprintf("/graph/chaos-results/%v", sub["id"]), nil)
			return status == 200 && res["status"] == "done", fmt.Sprint(status, res)
		})
		// The oracle: the same device's blast radius asked directly.
		_, blast := a.call(t, "POST", "/queries/blast_radius_from_device/execute", map[string]any{"parameters": map[string]any{"hostname": "access-sw-0001"}})
		summary, _ := res["result"].(map[string]any)["summary"].(map[string]any)
		if summary["affected_endpoints"] == nil || summary["affected_endpoints"].(float64) == 0 {
			t.Errorf("chaos result from b = %v, want access-sw-0001's endpoints affected (blast radius: %.300v)", res["result"], blast)
		}

		// Conversation: asked on a, followed up on b with the same session.
		status, first := a.call(t, "POST", "/ai/query/conversation", map[string]any{"message": "where is 10.32.0.12 plugged in?"})
		if status != 200 || first["query"] != "locate_endpoint_by_ip" {
			t.Fatalf("first turn on a = %d %v", status, first)
		}
		_, located := a.call(t, "POST", "/queries/locate_endpoint_by_ip/execute", map[string]any{"parameters": map[string]any{"ip": "10.32.0.12"}})
		rows, _ := located["rows"].([]any)
		if len(rows) == 0 {
			t.Fatalf("locate 10.32.0.12 = %v, want the demo's endpoint", located)
		}
		sw := rows[0].(map[string]any)["hostname"]
		status, next := b.call(t, "POST", "/ai/query/conversation", map[string]any{"session_id": first["session_id"], "message": "and what breaks if that switch fails?"})
		if params, _ := next["parameters"].(map[string]any); status != 200 || next["query"] != "blast_radius_from_device" || params["hostname"] != sw {
			t.Errorf("follow-up on b = %d %v, want blast_radius_from_device of %v (the switch a located)", status, next, sw)
		}

		// Tracing: spans exported to a, violations listed by b with the
		// network path a correlated.
		exportSpans(t, a)
		status, viol := b.call(t, "GET", "/tracing/slo-violations", nil)
		vs, _ := viol["violations"].([]any)
		if status != 200 || viol["scope"] != "shared" || len(vs) != 1 {
			t.Fatalf("violations on b = %d %v, want the one slow span a took, scope shared", status, viol)
		}
		v := vs[0].(map[string]any)
		path, _ := v["network"].(map[string]any)["path"].(map[string]any)
		if v["duration_ms"] != 2000.0 || path == nil || path["src"] != "10.32.0.12" || path["dst"] != "10.128.0.10" {
			t.Errorf("violation = %v, want 2000 ms with the path 10.32.0.12 → 10.128.0.10", v)
		}

		// Audit: the query the conversation dispatched is the one audited,
		// on the pod that ran it.
		assertAudited(t, a.auditFile, "/ai/query/conversation", "locate_endpoint_by_ip")
		assertAudited(t, b.auditFile, "/ai/query/conversation", "blast_radius_from_device")
		assertAudited(t, a.auditFile, "/tracing/spans", "")
		assertAudited(t, b.auditFile, "/tracing/slo-violations", "")
	})

	t.Run("without Redis", func(t *testing.T) {
		a, b := startReplicaPod(t, ""), startReplicaPod(t, "")
		_, sub := a.call(t, "POST", "/graph/chaos-simulate", map[string]any{"devices": []string{"access-sw-0001"}})
		if status, res := b.call(t, "GET", fmt.Sprintf("/graph/chaos-results/%v", sub["id"]), nil); status != 404 {
			t.Errorf("b for a's chaos run = %d %v, want 404", status, res)
		}
		_, first := a.call(t, "POST", "/ai/query/conversation", map[string]any{"message": "where is 10.32.0.12 plugged in?"})
		if status, next := b.call(t, "POST", "/ai/query/conversation", map[string]any{"session_id": first["session_id"], "message": "and what breaks if that switch fails?"}); status != 404 {
			t.Errorf("b for a's session = %d %v, want 404 (unknown session)", status, next)
		}
		exportSpans(t, a)
		if _, viol := b.call(t, "GET", "/tracing/slo-violations", nil); viol["scope"] != "replica" || viol["count"] != 0.0 {
			t.Errorf("violations on b = %v, want none of a's, scope replica", viol)
		}
		if _, viol := a.call(t, "GET", "/tracing/slo-violations", nil); viol["scope"] != "replica" || viol["count"] != 1.0 {
			t.Errorf("violations on a = %v, want its own one, scope replica", viol)
		}
	})
}

// assertAudited checks the audit log has a record of path, with status
// 200 or 202 and the query named (none when query is "").
func assertAudited(t *testing.T, file, path, query string) {
	t.Helper()
	var got []audit.Record
	eventually(t, "audit record of "+path, 10*time.Second, func() (bool, string) {
		got = nil
		for _, r := range readAudit(t, file, 1) {
			if r.Path == path {
				got = append(got, r)
				if r.Query == query && (r.Status == 200 || r.Status == 202) && r.User == "admin" {
					return true, ""
				}
			}
		}
		return false, fmt.Sprintf("%+v", got)
	})
}
