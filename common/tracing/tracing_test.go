//go:build !standard

package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/common/tracing"
	"github.com/meshoptixiq/mesh/common/tracing/tracingtest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// A server span continues the caller's trace (traceparent) and reaches a
// real OTLP receiver over HTTP and gRPC.
func TestSpansReachTheReceiver(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, proto := range []string{"http/protobuf", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			var rcv *tracingtest.Receiver
			if proto == "grpc" {
				rcv = tracingtest.StartGRPC(t)
			} else {
				rcv = tracingtest.StartHTTP(t)
			}
			p, err := tracing.Setup(context.Background(), "testd", env(map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL, "OTEL_EXPORTER_OTLP_PROTOCOL": proto}), quiet())
			if err != nil || p.Kind != tracing.OTLP || p.Tracer == nil {
				t.Fatalf("Setup = %+v, %v", p, err)
			}
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/queries/all_devices/execute")
			ctx.Request.Header.Set("traceparent", parent)
			spanCtx, span := tracing.StartServer(&ctx, p.Tracer, "POST /queries/{name}/execute")
			span.SetAttributes(tracing.QueryName.String("all_devices"))
			var out fasthttp.Request
			tracing.Inject(spanCtx, &out.Header)
			tracing.EndServer(span, 200)
			if err := p.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			spans := rcv.Spans()
			if len(spans) != 1 {
				t.Fatalf("received %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Service != "testd" || s.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || s.ParentID != "00f067aa0ba902b7" ||
				s.Attributes["meshq.query.name"] != "all_devices" || s.Attributes["http.response.status_code"] != "200" {
				t.Errorf("span = %+v", s)
			}
			// The outbound request carries this span as its parent.
			if got, want := string(out.Header.Peek("traceparent")), "00-4bf92f3577b34da6a3ce929d0e0e4736-"+s.SpanID+"-01"; got != want {
				t.Errorf("injected traceparent = %q, want %q", got, want)
			}
		})
	}
}

func TestExporterChoice(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want tracing.Exporter
	}{
		{nil, tracing.None},
		{map[string]string{"DD_AGENT_HOST": "127.0.0.1", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, tracing.Datadog},
		{map[string]string{"NEW_RELIC_LICENSE_KEY": "k", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, tracing.NewRelic},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces"}, tracing.OTLP},
	} {
		p, err := tracing.Setup(context.Background(), "x", env(c.env), quiet())
		if err != nil || p.Kind != c.want || (p.Tracer == nil) != (c.want == tracing.None) {
			t.Errorf("Setup(%v) = %+v, %v; want %s", c.env, p, err, c.want)
		}
		if p != nil {
			p.Shutdown(context.Background())
		}
	}
	if _, err := tracing.Setup(context.Background(), "x", env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}), quiet()); err == nil {
		t.Error("an unknown protocol was accepted")
	}
}

func TestDatadogPortSettingsRefused(t *testing.T) {
	for _, c := range []map[string]string{
		{"DD_AGENT_HOST": "127.0.0.1", "DD_OTLP_HTTP_PORT": "http"},
		{"DD_AGENT_HOST": "127.0.0.1", "DD_OTLP_HTTP_PORT": "70000"},
		{"DD_AGENT_HOST": "127.0.0.1", "DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT": "4318"},
	} {
		_, err := tracing.Setup(context.Background(), "x", env(c), quiet())
		var name string
		for k := range c {
			if k != "DD_AGENT_HOST" {
				name = k
			}
		}
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Setup(%v) = %v, want an error naming %s", c, err, name)
		}
	}
}
