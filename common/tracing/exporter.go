//go:build !standard

package tracing

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// newRelicEndpoint is New Relic's OTLP intake (US region).
const newRelicEndpoint = "https://otlp.nr-data.net:4318"

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
