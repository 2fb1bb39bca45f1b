package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/store"
	neo4jstore "github.com/meshoptixiq/mesh/apiserver/store/neo4j"
)

// closingStore is a store the daemon must close on exit.
type closingStore interface {
	engine.Store
	io.Closer
}

// neo4jOpenTimeout bounds connecting and creating the schema at start.
const neo4jOpenTimeout = 60 * time.Second

// openStore opens the GRAPH_BACKEND store; config validation has refused
// the backends this build lacks.
func openStore(cfg config) (closingStore, error) {
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
			Password: cfg.Neo4j.Password.Reveal(), Database: cfg.Neo4j.Database})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, fmt.Errorf("GRAPH_BACKEND %q is not available in this build", cfg.Backend)
}
