package main

import (
	"fmt"
	"io"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/store"
)

// closingStore is a store the daemon must close on exit.
type closingStore interface {
	engine.Store
	io.Closer
}

// openStore opens the GRAPH_BACKEND store. Only embedded exists in this
// build; config validation refuses the others before this runs.
func openStore(cfg config) (closingStore, error) {
	if cfg.Backend != "embedded" {
		return nil, fmt.Errorf("GRAPH_BACKEND %q is not available in this build", cfg.Backend)
	}
	st, err := store.OpenEmbedded(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	return st, nil
}
