//go:build standard

package tracing

import (
	"context"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/meshoptixiq/mesh/common/edition"
)

// exporter of the standard build: APM exporters are left out, and a
// setting that asks for one is refused rather than ignored.
func exporter(_ context.Context, getenv func(string) string) (Exporter, sdktrace.SpanExporter, error) {
	for _, v := range []string{"DD_AGENT_HOST", "NEW_RELIC_LICENSE_KEY", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if getenv(v) != "" {
			return None, nil, edition.Refuse(v, "tracing export (APM)")
		}
	}
	return None, nil, nil
}
