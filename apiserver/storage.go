package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/store"
	neo4jstore "github.com/meshoptixiq/mesh/apiserver/store/neo4j"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres"
)

// closingStore is a store the daemon must close on exit.
type closingStore interface {
	engine.Store
	io.Closer
}

// neo4jOpenTimeout bounds connecting and creating the schema at start.
const neo4jOpenTimeout = 60 * time.Second

// watcher is a store that tells of changes other replicas commit (the
// PostgreSQL store's LISTEN/NOTIFY and version poll, the Neo4j store's
// version poll), so that replicas keep in step without Redis.
type watcher interface {
	Watch(ctx context.Context, log *slog.Logger, changed func(ctx context.Context, version uint64)) error
}

// openStore opens the GRAPH_BACKEND store; config validation refuses the
// backends this build lacks before this runs.
func openStore(cfg config, tr trace.Tracer) (closingStore, error) {
	switch cfg.Backend {
	case "embedded":
		st, err := store.OpenEmbedded(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		return st, nil
	case "neo4j":
		ctx, cancel := context.WithTimeout(context.Background(), neo4jOpenTimeout)
		defer cancel()
		st, err := neo4jstore.Open(ctx, neo4jstore.Options{URI: cfg.Neo4j.URI, User: cfg.Neo4j.User,
			Password: cfg.Neo4j.Password.Reveal(), Database: cfg.Neo4j.Database, Tracer: tr, CACertFile: cfg.Neo4j.CACert})
		if err != nil {
			return nil, err
		}
		st.PollInterval = cfg.GraphPoll
		return st, nil
	case "postgres":
		st, err := postgres.Open(cfg.PostgresDSN.Reveal(), tr)
		if err != nil {
			return nil, err
		}
		st.PollInterval = cfg.GraphPoll
		return st, nil
	}
	return nil, fmt.Errorf("GRAPH_BACKEND %q is not available in this build", cfg.Backend)
}

// warnInsecureStore logs a store connection that may travel unencrypted.
func warnInsecureStore(cfg config, log *slog.Logger) {
	if cfg.Backend == "postgres" && !postgres.TLSRequired(cfg.PostgresDSN.Reveal()) {
		log.Warn("POSTGRES_DSN does not require TLS: credentials and network facts may cross the network in clear; set sslmode=require or verify-full")
	}
	if cfg.Backend == "neo4j" && !neo4jstore.TLS(cfg.Neo4j.URI) {
		log.Warn("NEO4J_URI does not use TLS: credentials and network facts may cross the network in clear; use bolt+s:// or neo4j+s://")
	}
}

// migrateCmd applies the PostgreSQL schema migrations and says what it did.
func migrateCmd(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Backend != "postgres" {
		return fmt.Errorf("migrate: GRAPH_BACKEND is %q; only postgres has schema migrations (the embedded store upgrades its file itself)", cfg.Backend)
	}
	st, err := postgres.Open(cfg.PostgresDSN.Reveal(), nil)
	if err != nil {
		return err
	}
	defer st.Close()
	from, to, err := st.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if from == to {
		_, err = fmt.Fprintf(stdout, "schema meshq is at version %d, the newest this apiserver knows; nothing to do\n", to)
		return err
	}
	_, err = fmt.Fprintf(stdout, "schema meshq migrated from version %d to %d\n", from, to)
	return err
}
