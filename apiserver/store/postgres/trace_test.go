package postgres_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres"
	"github.com/meshoptixiq/mesh/common/tracing"
	"github.com/meshoptixiq/mesh/common/tracing/tracingtest"
)

// Every operation and every statement under it is a span: the operation
// with meshq.device.count, each statement its child with meshq.row_count,
// and an operation made while serving a request is the request span's
// child.
func TestStoreQueriesAreSpans(t *testing.T) {
	rec := tracingtest.NewRecorder()
	s, err := postgres.Open(newDB(t), rec.Tracer)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	campus := normalized(t, graphtest.Campus())
	n := strconv.Itoa(len(campus))

	// The ingest of a request: the span Attach put on the fasthttp request
	// is the operation's parent.
	var rc fasthttp.RequestCtx
	rc.Init(&fasthttp.Request{}, nil, nil)
	_, reqSpan := rec.Tracer.Start(ctx, "POST /graph/ingest")
	tracing.Attach(&rc, reqSpan)
	if _, err := s.Ingest(&rc, store.ModeReplace, campus); err != nil {
		t.Fatalf("Ingest = %v", err)
	}
	reqSpan.End()
	spans := rec.Ended()
	req := tracingtest.FindStatement(t, spans, "POST /graph/ingest", "")
	ingest := tracingtest.FindStatement(t, spans, "postgresql Ingest", "")
	if ingest.ParentID != req.SpanID || ingest.TraceID != req.TraceID || ingest.Kind != 3 /* client */ {
		t.Errorf("Ingest span = %+v, want a client span, child of the request span %s", ingest, req.SpanID)
	}
	if got := ingest.Attributes["meshq.device.count"]; got != n {
		t.Errorf("Ingest meshq.device.count = %q, want %s", got, n)
	}
	if got := ingest.Attributes["db.system"]; got != "postgresql" {
		t.Errorf("Ingest db.system = %q", got)
	}
	// One COPY per table, the devices table's with a row per device.
	copyDevices := tracingtest.FindStatement(t, spans, "postgresql COPY", `"meshq"."devices"`)
	if copyDevices.ParentID != ingest.SpanID || copyDevices.Attributes["meshq.row_count"] != n {
		t.Errorf("COPY devices span = %+v, want child of %s with meshq.row_count %s", copyDevices, ingest.SpanID, n)
	}
	// The version row: one inserted.
	insert := tracingtest.FindStatement(t, spans, "postgresql INSERT", "meshq.graph_versions")
	if insert.ParentID != ingest.SpanID || insert.Attributes["meshq.row_count"] != "1" {
		t.Errorf("INSERT graph_versions span = %+v", insert)
	}
	for _, sp := range spans {
		if strings.HasPrefix(sp.Name, "postgresql ") && sp.Name != "postgresql Ingest" && sp.ParentID != ingest.SpanID {
			t.Errorf("statement span %s (%s) is not the Ingest span's child", sp.Name, sp.Attributes["db.query.text"])
		}
	}

	// A load outside any request: a trace of its own.
	rec.Reset()
	if _, _, err := s.Load(ctx); err != nil {
		t.Fatalf("Load = %v", err)
	}
	spans = rec.Ended()
	load := tracingtest.FindStatement(t, spans, "postgresql Load", "")
	if load.ParentID != "" || load.Attributes["meshq.device.count"] != n || load.Failed {
		t.Errorf("Load span = %+v, want a root with meshq.device.count %s", load, n)
	}
	devRows := tracingtest.FindStatement(t, spans, "postgresql SELECT", "FROM meshq.devices")
	if devRows.ParentID != load.SpanID || devRows.Attributes["meshq.row_count"] != n {
		t.Errorf("SELECT devices span = %+v, want child of %s with meshq.row_count %s", devRows, load.SpanID, n)
	}

	// An operation that fails says so on its span.
	rec.Reset()
	if _, _, err := s.UpdateMetadata(ctx, "no-such-device", map[string]any{"k": "v"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateMetadata(no-such-device) = %v, want ErrNotFound", err)
	}
	upd := tracingtest.FindStatement(t, rec.Ended(), "postgresql UpdateMetadata", "")
	if !upd.Failed || upd.Attributes["meshq.device.count"] != "1" {
		t.Errorf("failed UpdateMetadata span = %+v, want status Error", upd)
	}
}
