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
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
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

// newRelicEndpoint is New Relic's OTLP intake (US region).
const newRelicEndpoint = "https://otlp.nr-data.net:4318"

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

func exporter(ctx context.Context, getenv func(string) string) (Exporter, sdktrace.SpanExporter, error) {
	switch {
	case getenv("DD_AGENT_HOST") != "":
		port, err := datadogOTLPPort(getenv)
		if err != nil {
			return None, nil, err
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(net.JoinHostPort(getenv("DD_AGENT_HOST"), port)), otlptracehttp.WithInsecure())
		return Datadog, exp, wrap("DD_AGENT_HOST", err)
	case getenv("NEW_RELIC_LICENSE_KEY") != "":
		endpoint := getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
		if endpoint == "" {
			endpoint = newRelicEndpoint
		}
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimSuffix(endpoint, "/")+"/v1/traces"),
			otlptracehttp.WithHeaders(map[string]string{"api-key": getenv("NEW_RELIC_LICENSE_KEY")}))
		return NewRelic, exp, wrap("NEW_RELIC_LICENSE_KEY", err)
	case getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
		if proto == "" {
			proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
		}
		// As the specification says: the signal's own endpoint is used as
		// it is; the generic one gets /v1/traces appended over HTTP.
		endpoint, generic := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), false
		if endpoint == "" {
			endpoint, generic = getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), true
		}
		switch proto {
		case "grpc":
			exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
			return OTLP, exp, wrap("OTEL_EXPORTER_OTLP_ENDPOINT", err)
		case "", "http/protobuf":
			if generic {
				endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/traces"
			}
			exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
			return OTLP, exp, wrap("OTEL_EXPORTER_OTLP_ENDPOINT", err)
		}
		return None, nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not grpc or http/protobuf", proto)
	}
	return None, nil, nil
}

// datadogOTLPPort is the port of the Datadog Agent's OTLP/HTTP intake
// (enabled on the Agent; 4318 by default): DD_OTLP_HTTP_PORT, else the
// port of the Agent's own setting
// DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT (host:port) when the pod
// shares it. DD_TRACE_AGENT_PORT (8126) is the Agent's Datadog-protocol
// port, which takes no OTLP, so it is not used.
func datadogOTLPPort(getenv func(string) string) (string, error) {
	if p := getenv("DD_OTLP_HTTP_PORT"); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("DD_OTLP_HTTP_PORT: %q is not a port (1-65535)", p)
		}
		return p, nil
	}
	const agentSetting = "DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT"
	if ep := getenv(agentSetting); ep != "" {
		_, p, err := net.SplitHostPort(ep)
		if n, perr := strconv.Atoi(p); err != nil || perr != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%s: %q is not host:port", agentSetting, ep)
		}
		return p, nil
	}
	return "4318", nil
}

func wrap(name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: tracing exporter: %w", name, err)
	}
	return nil
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
