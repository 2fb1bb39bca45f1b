package tracing

import (
	"context"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Database systems of store spans (the semantic conventions' db.system).
const (
	PostgreSQL = "postgresql"
	Neo4j      = "neo4j"
)

// requestSpanKey keys the request's span on a fasthttp request: a
// fasthttp.RequestCtx is the context its handlers pass down, but holds
// values only under keys it is given, so the span is put there by Attach
// and found again by StartStore.
type requestSpanKey struct{}

// Attach puts the request's span on ctx so that the store queries its
// handler makes become the span's children.
func Attach(ctx *fasthttp.RequestCtx, span trace.Span) {
	ctx.SetUserValue(requestSpanKey{}, span)
}

// parent is ctx with its span made visible to the SDK: the span ctx holds
// already, or the one Attach put on a request.
func parent(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	if span, ok := ctx.Value(requestSpanKey{}).(trace.Span); ok {
		return trace.ContextWithSpan(ctx, span)
	}
	return ctx
}

var noSpan = noop.Span{}

// StartStore starts the span of one store query, named "system name"
// (PostgreSQL "postgresql Load", a statement "postgresql SELECT"), a client
// span with db.system and the attributes given. With a nil tracer it costs
// nothing: ctx comes back as it is, with a span that records nothing.
func StartStore(ctx context.Context, tr trace.Tracer, system, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if tr == nil {
		return ctx, noSpan
	}
	attrs = append(attrs, semconv.DBSystemKey.String(system))
	return tr.Start(parent(ctx), system+" "+name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// QueryText is the statement a store span ran (constant text: values
// travel as parameters, never in it).
func QueryText(q string) attribute.KeyValue { return semconv.DBQueryText(q) }

// End ends a span, recording err when there is one.
func End(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
