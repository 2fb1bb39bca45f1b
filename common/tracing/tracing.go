// Package tracing is the pod's one OpenTelemetry instrumentation: a tracer
// provider chosen from the environment, W3C trace-context propagation over
// fasthttp headers, and the span helpers the daemons use.
//
// The exporter is chosen as the product documentation says: DD_AGENT_HOST →
// the Datadog Agent's OTLP intake; else NEW_RELIC_LICENSE_KEY → New Relic's
// OTLP endpoint with its api-key header; else OTEL_EXPORTER_OTLP_ENDPOINT
// (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) → OTLP over
// OTEL_EXPORTER_OTLP_PROTOCOL (grpc, or http/protobuf, the default). With
// none of them there is no tracing and no cost: spans are no-ops. The
// standard OTEL_* variables (headers, timeouts, OTEL_TRACES_SAMPLER and its
// argument, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) are honoured by the
// SDK itself.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of the product's spans.
const (
	QueryName   = attribute.Key("meshq.query.name")
	PlanTier    = attribute.Key("meshq.plan.tier")
	DeviceCount = attribute.Key("meshq.device.count")
	RowCount    = attribute.Key("meshq.row_count")
	// ChangedDeviceCount is how many of an ingest's devices a store
	// rewrote (the others were stored with the same facts).
	ChangedDeviceCount = attribute.Key("meshq.device.changed_count")
	// EndUser is the caller: a user name or a key's fingerprint, never a key.
	EndUser = attribute.Key("enduser.id")
)

// Exporter names what Setup chose.
type Exporter string

// The exporters.
const (
	None     Exporter = "none"
	Datadog  Exporter = "datadog"
	NewRelic Exporter = "newrelic"
	OTLP     Exporter = "otlp"
)

// Provider is a daemon's tracing: the exporter chosen and its tracer, nil
// when tracing is off (callers then skip their spans entirely).
type Provider struct {
	Kind     Exporter
	Tracer   trace.Tracer
	shutdown func(context.Context) error
}

// Shutdown flushes the spans not yet exported.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.shutdown == nil {
		return nil
	}
	return p.shutdown(ctx)
}

// Setup chooses the exporter for service from getenv and builds its
// tracer. The provider is the daemon's own (not the process-global one),
// so that tests can run several daemons in one process.
func Setup(ctx context.Context, service string, getenv func(string) string, log *slog.Logger) (*Provider, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	kind, exp, err := exporter(ctx, getenv)
	if err != nil {
		return nil, err
	}
	if exp == nil {
		return &Provider{Kind: None}, nil
	}
	name := service
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		name = v
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(name)))
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	// The sampler comes from OTEL_TRACES_SAMPLER when set (the SDK reads
	// it); by default a trace is sampled when its parent is, or when it
	// starts here.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	log.Info("tracing on", "exporter", string(kind))
	return &Provider{Kind: kind, Tracer: tp.Tracer("github.com/meshoptixiq/mesh/" + service), shutdown: tp.Shutdown}, nil
}

// headerCarrier adapts fasthttp request headers to the propagator.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(key, value string) { c.h.Set(key, value) }
func (c headerCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, string(k))
	}
	return keys
}

// StartServer starts the span of an inbound request, continuing the trace
// its traceparent names.
func StartServer(ctx *fasthttp.RequestCtx, tr trace.Tracer, name string) (context.Context, trace.Span) {
	parent := otel.GetTextMapPropagator().Extract(context.Background(), headerCarrier{&ctx.Request.Header})
	return tr.Start(parent, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(time.Now()),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(string(ctx.Method())), semconv.URLPath(string(ctx.Path()))))
}

// Inject writes the span context of ctx into an outbound request's headers.
func Inject(ctx context.Context, h *fasthttp.RequestHeader) {
	otel.GetTextMapPropagator().Inject(ctx, headerCarrier{h})
}

// EndServer records the answer's status and ends span.
func EndServer(span trace.Span, status int) {
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", status))
	}
	span.End()
}
