// Package postgres is the PostgreSQL graph store (GRAPH_BACKEND=postgres):
// the facts of every device in a native relational model in schema meshq
// (README.md beside this file), written through jackc/pgx with a pool,
// prepared statements and COPY. It is persistence only: every query is
// answered by the in-memory engine.
//
// Each change is one transaction that first locks meshq.graph_versions, so
// that changes made by several apiservers on one database serialize and
// the graph version grows by one each; it notifies channel meshq_graph on
// commit, which the other replicas LISTEN on (Watch).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/tracing"
)

// Channel is the NOTIFY channel a committed change announces its graph
// version on.
const Channel = "meshq_graph"

// DefaultPollInterval is how often Watch checks the version by default.
const DefaultPollInterval = 5 * time.Second

// Store is the PostgreSQL store.
type Store struct {
	pool *pgxpool.Pool
	cfg  *pgxpool.Config
	tr   trace.Tracer // nil: no spans
	// migrated is set once the schema is known to be this binary's.
	migrateMu sync.Mutex
	migrated  bool
	// PollInterval is how often Watch checks the version besides LISTEN,
	// for a notification lost with a connection.
	PollInterval time.Duration
}

// ValidateDSN checks a POSTGRES_DSN without connecting: a postgres:// or
// postgresql:// URL (or key=value string) pgx can parse, naming a host.
// Its messages never repeat the DSN (it holds the password).
func ValidateDSN(dsn string) error {
	if strings.TrimSpace(dsn) == "" {
		return errors.New("must be set for GRAPH_BACKEND=postgres (postgres://user:password@host:5432/db?sslmode=require)")
	}
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return errors.New("is not a URL (want postgres://user:password@host:5432/db?sslmode=require)")
		}
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			return fmt.Errorf("scheme %q is not postgres:// or postgresql://", u.Scheme)
		}
	}
	if _, err := pgxpool.ParseConfig(dsn); err != nil {
		return errors.New("cannot be parsed (check the host, port and sslmode=disable|allow|prefer|require|verify-ca|verify-full)")
	}
	return nil
}

// TLSRequired reports whether the DSN's sslmode refuses a connection
// without TLS (require, verify-ca, verify-full).
func TLSRequired(dsn string) bool {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return false
	}
	for _, c := range append([]*pgconn.FallbackConfig{{TLSConfig: cfg.ConnConfig.TLSConfig}}, cfg.ConnConfig.Fallbacks...) {
		if c.TLSConfig == nil {
			return false
		}
	}
	return true
}

// Open makes a store over the database the DSN names. It does not connect:
// the first Load (or Migrate) does, and applies the migrations. With a
// tracer, every operation (Load, Ingest, UpdateMetadata, Version) and
// every statement under it gets a span; nil means none.
func Open(dsn string, tr trace.Tracer) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("POSTGRES_DSN cannot be parsed")
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		// Names the apiserver's sessions in pg_stat_activity.
		cfg.ConnConfig.RuntimeParams["application_name"] = "meshq-apiserver"
	}
	// A dead connection is found by the next request or within this.
	cfg.HealthCheckPeriod = 10 * time.Second
	if tr != nil {
		cfg.ConnConfig.Tracer = queryTracer{tr}
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("opening the PostgreSQL pool: %w", classify(err))
	}
	return &Store{pool: pool, cfg: cfg, tr: tr, PollInterval: DefaultPollInterval}, nil
}

// Close closes every connection.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return classify(err)
	}
	return nil
}

// classify turns errors that mean "PostgreSQL cannot be reached now" into a
// *store.UnavailableError with a reason safe for clients; others pass
// through.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var ue *store.UnavailableError
	if errors.As(err, &ue) {
		return err
	}
	reason := ""
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connErr):
		if permanent(connErr.Unwrap()) {
			// Wrong credentials or database: retrying will not help.
			return err
		}
		reason = "cannot connect to PostgreSQL"
	case errors.As(err, &pgErr):
		switch {
		case strings.HasPrefix(pgErr.Code, "08"):
			reason = "PostgreSQL refused the connection"
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			reason = "PostgreSQL is shutting down or starting up"
		case strings.HasPrefix(pgErr.Code, "53"):
			reason = "PostgreSQL is out of resources (connections, memory or disk)"
		case pgErr.Code == "40001", pgErr.Code == "40P01":
			reason = "PostgreSQL aborted the transaction (serialization failure or deadlock)"
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		reason = "PostgreSQL did not answer in time"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr), pgconn.SafeToRetry(err), strings.Contains(err.Error(), "conn closed"):
		reason = "the connection to PostgreSQL was lost"
	}
	if reason == "" {
		return err
	}
	return &store.UnavailableError{Reason: reason, Err: err}
}

// permanent reports whether err will not go away by retrying: wrong
// credentials, a database that does not exist, a schema this binary cannot
// use.
func permanent(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000" || pgErr.Code == "42501"
	}
	var se *SchemaError
	return errors.As(err, &se)
}

// withTx runs f in a transaction and commits it; any error rolls back.
func (s *Store) withTx(ctx context.Context, opts pgx.TxOptions, f func(tx pgx.Tx) error) error {
	if err := s.ensureMigrated(ctx); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return classify(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(tx); err != nil {
		return classify(err)
	}
	return classify(tx.Commit(ctx))
}

// span starts the span of one store operation.
func (s *Store) span(ctx context.Context, op string, devices int) (context.Context, trace.Span) {
	if devices < 0 {
		return tracing.StartStore(ctx, s.tr, tracing.PostgreSQL, op)
	}
	return tracing.StartStore(ctx, s.tr, tracing.PostgreSQL, op, tracing.DeviceCount.Int(devices))
}
