package neo4jstore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/meshoptixiq/mesh/common/testenv"
)

// server is the package's one real Neo4j 5, shared by its tests (each
// starts from an empty database: they do not run in parallel).
var server *testenv.Neo4j

func TestMain(m *testing.M) {
	start := time.Now()
	var err error
	server, err = testenv.StartNeo4j()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting Neo4j for the tests: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "neo4j harness on %s ready in %s\n", server.URI, time.Since(start).Round(time.Millisecond))
	code := m.Run()
	server.Stop()
	os.Exit(code)
}

// openEmpty empties the database and opens a store on uri.
func openEmpty(t testing.TB, uri string) *Store {
	t.Helper()
	ctx := context.Background()
	drv, err := neo4j.NewDriverWithContext(server.URI, neo4j.NoAuth())
	if err != nil {
		t.Fatalf("driver: %v", err)
	}
	defer drv.Close(ctx)
	if _, err := neo4j.ExecuteQuery(ctx, drv, `MATCH (n) DETACH DELETE n`, nil, neo4j.EagerResultTransformer); err != nil {
		t.Fatalf("emptying the database: %v", err)
	}
	return open(t, uri)
}

func open(t testing.TB, uri string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{URI: uri})
	if err != nil {
		t.Fatalf("Open(%s) = %v", uri, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// cypher runs a read query against the test server and returns its rows.
func cypher(t *testing.T, q string, params map[string]any) [][]any {
	t.Helper()
	ctx := context.Background()
	drv, err := neo4j.NewDriverWithContext(server.URI, neo4j.NoAuth())
	if err != nil {
		t.Fatalf("driver: %v", err)
	}
	defer drv.Close(ctx)
	res, err := neo4j.ExecuteQuery(ctx, drv, q, params, neo4j.EagerResultTransformer)
	if err != nil {
		t.Fatalf("cypher %q: %v", q, err)
	}
	rows := make([][]any, len(res.Records))
	for i, r := range res.Records {
		rows[i] = r.Values
	}
	return rows
}
