package neo4jstore

import (
	"context"
	"strings"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/common/tracing"
)

// span starts the span of one store operation; devices < 0 leaves
// meshq.device.count to be set when it is known.
func (s *Store) span(ctx context.Context, op string, devices int) (context.Context, trace.Span) {
	if devices < 0 {
		return tracing.StartStore(ctx, s.tr, tracing.Neo4j, op)
	}
	return tracing.StartStore(ctx, s.tr, tracing.Neo4j, op, tracing.DeviceCount.Int(devices))
}

// traced gives every statement work runs a span of its own (the driver has
// no hook for it): the transaction it is handed runs each statement under
// a span that ends when the statement's result is read to its end.
func traced[T any](s *Store, work neo4j.ManagedTransactionWorkT[T]) neo4j.ManagedTransactionWorkT[T] {
	if s.tr == nil {
		return work
	}
	return func(tx neo4j.ManagedTransaction) (T, error) { return work(tracedTx{tx, s.tr}) }
}

type tracedTx struct {
	neo4j.ManagedTransaction
	tr trace.Tracer
}

func (t tracedTx) Run(ctx context.Context, cypher string, params map[string]any) (neo4j.ResultWithContext, error) {
	ctx, span := tracing.StartStore(ctx, t.tr, tracing.Neo4j, verb(cypher), tracing.QueryText(cypher))
	res, err := t.ManagedTransaction.Run(ctx, cypher, params)
	if err != nil {
		tracing.End(span, err)
		return nil, err
	}
	return &tracedResult{ResultWithContext: res, span: span}, nil
}

// tracedResult ends its statement's span, with the records read as
// meshq.row_count, once the result is consumed.
type tracedResult struct {
	neo4j.ResultWithContext
	span  trace.Span
	rows  int64
	ended bool
}

func (r *tracedResult) end(err error) {
	if r.ended {
		return
	}
	r.ended = true
	if err == nil {
		r.span.SetAttributes(tracing.RowCount.Int64(r.rows))
	}
	tracing.End(r.span, err)
}

func (r *tracedResult) Next(ctx context.Context) bool {
	if r.ResultWithContext.Next(ctx) {
		r.rows++
		return true
	}
	r.end(r.ResultWithContext.Err())
	return false
}

func (r *tracedResult) Single(ctx context.Context) (*neo4j.Record, error) {
	rec, err := r.ResultWithContext.Single(ctx)
	if err == nil {
		r.rows++
	}
	r.end(err)
	return rec, err
}

func (r *tracedResult) Collect(ctx context.Context) ([]*neo4j.Record, error) {
	recs, err := r.ResultWithContext.Collect(ctx)
	r.rows += int64(len(recs))
	r.end(err)
	return recs, err
}

func (r *tracedResult) Consume(ctx context.Context) (neo4j.ResultSummary, error) {
	sum, err := r.ResultWithContext.Consume(ctx)
	r.end(err)
	return sum, err
}

// verb is a statement's first word in capitals: MATCH, MERGE, UNWIND.
func verb(cypher string) string {
	f := strings.Fields(cypher)
	if len(f) == 0 {
		return "statement"
	}
	return strings.ToUpper(f[0])
}
