package neo4jstore

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/tracing/tracingtest"
)

// Every operation and every Cypher statement under it is a span: the
// operation with meshq.device.count, each statement its child with the
// records it returned as meshq.row_count.
func TestStoreQueriesAreSpans(t *testing.T) {
	ctx := context.Background()
	cypher(t, `MATCH (n) DETACH DELETE n`, nil)
	rec := tracingtest.NewRecorder()
	s, err := Open(ctx, Options{URI: server.URI, Tracer: rec.Tracer})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	campus := normalized(t, graphtest.Campus())
	n := strconv.Itoa(len(campus))

	rec.Reset()
	if _, err := s.Ingest(ctx, store.ModeReplace, campus); err != nil {
		t.Fatalf("Ingest = %v", err)
	}
	spans := rec.Ended()
	ingest := tracingtest.FindStatement(t, spans, "neo4j Ingest", "")
	if ingest.Kind != 3 /* client */ || ingest.Attributes["meshq.device.count"] != n || ingest.Attributes["db.system"] != "neo4j" || ingest.Failed {
		t.Errorf("Ingest span = %+v, want a client span with meshq.device.count %s", ingest, n)
	}
	// The version bump returns one record.
	bump := tracingtest.FindStatement(t, spans, "neo4j MATCH", "SET v.version = v.version + 1")
	if bump.ParentID != ingest.SpanID || bump.Attributes["meshq.row_count"] != "1" {
		t.Errorf("version bump span = %+v, want child of %s with meshq.row_count 1", bump, ingest.SpanID)
	}
	statements := 0
	for _, sp := range spans {
		if sp.Name != "neo4j Ingest" {
			statements++
			if sp.ParentID != ingest.SpanID {
				t.Errorf("statement span %s is not the Ingest span's child", sp.Name)
			}
		}
	}
	if statements < 3 {
		t.Errorf("Ingest made %d statement spans, want the bump, the batch's writes and the links", statements)
	}

	rec.Reset()
	if _, _, err := s.Load(ctx); err != nil {
		t.Fatalf("Load = %v", err)
	}
	spans = rec.Ended()
	load := tracingtest.FindStatement(t, spans, "neo4j Load", "")
	if load.Attributes["meshq.device.count"] != n {
		t.Errorf("Load span = %+v, want meshq.device.count %s", load, n)
	}
	devs := tracingtest.FindStatement(t, spans, "neo4j MATCH", "RETURN d.facts, d.metadata ORDER BY")
	if devs.ParentID != load.SpanID || devs.Attributes["meshq.row_count"] != n {
		t.Errorf("devices statement span = %+v, want child of %s with meshq.row_count %s", devs, load.SpanID, n)
	}

	rec.Reset()
	if _, _, err := s.UpdateMetadata(ctx, "no-such-device", map[string]any{"k": "v"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateMetadata(no-such-device) = %v, want ErrNotFound", err)
	}
	spans = rec.Ended()
	if upd := tracingtest.FindStatement(t, spans, "neo4j UpdateMetadata", ""); !upd.Failed {
		t.Errorf("failed UpdateMetadata span = %+v, want status Error", upd)
	}
	if miss := tracingtest.FindStatement(t, spans, "neo4j MATCH", "{hostname: $h}) RETURN d.facts"); miss.Attributes["meshq.row_count"] != "0" {
		t.Errorf("lookup of a missing device span = %+v, want meshq.row_count 0", miss)
	}

	// A statement the server refuses ends its span as failed.
	rec.Reset()
	sess := s.session(ctx, neo4j.AccessModeRead)
	defer sess.Close(ctx)
	_, err = neo4j.ExecuteRead(ctx, sess, traced(s, func(tx neo4j.ManagedTransaction) (any, error) {
		return nil, execute(ctx, tx, "RETURN 1 +", nil)
	}))
	if err == nil {
		t.Fatal("a syntax error was accepted")
	}
	if bad := tracingtest.FindStatement(t, rec.Ended(), "neo4j RETURN", ""); !bad.Failed {
		t.Errorf("refused statement span = %+v, want status Error", bad)
	}
}
