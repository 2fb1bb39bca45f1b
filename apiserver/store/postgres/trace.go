package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/common/tracing"
)

// queryTracer gives every statement pgx sends (Query, QueryRow, Exec,
// CopyFrom, and the BEGIN and COMMIT of transactions) a span through
// common/tracing: named for the statement's verb, with its text and the
// rows it returned or changed as meshq.row_count.
type queryTracer struct{ tr trace.Tracer }

type spanKey struct{}

func (q queryTracer) start(ctx context.Context, name string, text string) context.Context {
	ctx, span := tracing.StartStore(ctx, q.tr, tracing.PostgreSQL, name, tracing.QueryText(text))
	return context.WithValue(ctx, spanKey{}, span)
}

func (queryTracer) end(ctx context.Context, rows int64, err error) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	if err == nil {
		span.SetAttributes(tracing.RowCount.Int64(rows))
	}
	tracing.End(span, err)
}

func (q queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return q.start(ctx, verb(data.SQL), data.SQL)
}

func (q queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	q.end(ctx, data.CommandTag.RowsAffected(), data.Err)
}

func (q queryTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	return q.start(ctx, "COPY", "COPY "+data.TableName.Sanitize()+" ("+strings.Join(data.ColumnNames, ", ")+") FROM STDIN")
}

func (q queryTracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	q.end(ctx, data.CommandTag.RowsAffected(), data.Err)
}

// verb is a statement's first word in capitals: SELECT, INSERT, LOCK.
func verb(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "statement"
	}
	return strings.ToUpper(strings.TrimRight(f[0], ";"))
}
