package tracingtest

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Recorder keeps the spans of a tracer in memory (the SDK's
// tracetest.SpanRecorder), for tests of what a component instruments
// without an exporter in between.
type Recorder struct {
	Tracer trace.Tracer
	rec    *tracetest.SpanRecorder
}

// NewRecorder returns a recorder and the tracer to give the component.
func NewRecorder() *Recorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	return &Recorder{Tracer: tp.Tracer("tracingtest"), rec: rec}
}

// Ended returns the spans ended so far, in the order they ended, flattened
// like the receiver's (attribute values as text); Failed is a span whose
// status is Error.
func (r *Recorder) Ended() []Span {
	var out []Span
	for _, s := range r.rec.Ended() {
		sp := Span{Name: s.Name(), TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(),
			Kind: int32(s.SpanKind()), Attributes: map[string]string{}, Failed: s.Status().Code == codes.Error}
		if s.Parent().IsValid() {
			sp.ParentID = s.Parent().SpanID().String()
		}
		for _, kv := range s.Attributes() {
			sp.Attributes[string(kv.Key)] = kv.Value.String()
		}
		out = append(out, sp)
	}
	return out
}

// Reset forgets the spans recorded so far.
func (r *Recorder) Reset() { r.rec.Reset() }

// FindStatement returns the one span named name whose db.query.text
// contains text ("" matches any), failing t with every span listed when
// there is none or more than one.
func FindStatement(t testing.TB, spans []Span, name, text string) Span {
	t.Helper()
	var found []Span
	for _, s := range spans {
		if s.Name == name && strings.Contains(s.Attributes["db.query.text"], text) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name+" "+s.Attributes["db.query.text"])
		}
		t.Fatalf("%d spans %q with %q, want 1; spans:\n%s", len(found), name, text, strings.Join(names, "\n"))
	}
	return found[0]
}
