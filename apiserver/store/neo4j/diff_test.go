package neo4jstore

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/tracing"
)

// An ingest rewrites only the devices whose facts changed. The oracle: the
// database after a sequence of ingests holds exactly the nodes,
// properties and relationships that one ingest of the final network writes
// into an empty database; and the trace says how many devices were
// rewritten, which the test works out from what it changed.
func TestIngestRewritesOnlyChangedDevicesAndWritesWhatAFreshIngestWrites(t *testing.T) {
	ctx := context.Background()
	demoNet := normalized(t, demo.Generate(demo.Options{Seed: 3, Devices: demo.MinDevices}).Devices)
	campus := normalized(t, graphtest.Campus())
	firewall := normalized(t, pathtest.Document().Devices)
	first := slices.Concat(demoNet, campus, firewall)

	// The network collected again: acc1 with a port re-described and a MAC
	// moved (its facts changed), dist1 unchanged but given metadata, core2
	// gone (its links to the others with it), the rest as they were.
	next := slices.Clone(first)
	at := func(h string) int {
		return slices.IndexFunc(next, func(d facts.Device) bool { return d.Hostname == h })
	}
	acc1 := &next[at("acc1")]
	acc1.Interfaces = slices.Clone(acc1.Interfaces)
	acc1.Interfaces[0].Description = "re-collected"
	acc1.MACTable = slices.Clone(acc1.MACTable)
	acc1.MACTable[0].Interface = acc1.Interfaces[1].Name
	next[at("dist1")].Metadata = map[string]any{"owner": "campus-team"}
	next = slices.Delete(next, at("core2"), at("core2")+1)

	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	openEmpty(t, server.URI).Close()
	s, err := Open(ctx, Options{URI: server.URI, Tracer: tp.Tracer("test")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ingest := func(mode string, devs []facts.Device) int64 {
		t.Helper()
		if _, err := s.Ingest(ctx, mode, devs); err != nil {
			t.Fatalf("Ingest(%s, %d devices) = %v", mode, len(devs), err)
		}
		ended := rec.Ended()
		for _, a := range ended[len(ended)-1].Attributes() {
			if a.Key == tracing.ChangedDeviceCount {
				return a.Value.AsInt64()
			}
		}
		t.Fatalf("the ingest's span %q has no %s", ended[len(ended)-1].Name(), tracing.ChangedDeviceCount)
		return 0
	}
	if n := ingest(store.ModeReplace, first); n != int64(len(first)) {
		t.Errorf("first ingest rewrote %d devices, want all %d", n, len(first))
	}
	if n := ingest(store.ModeReplace, next); n != 1 {
		t.Errorf("replace with acc1 changed rewrote %d devices, want 1", n)
	}
	if n := ingest(store.ModeMerge, next[:5]); n != 0 {
		t.Errorf("merge of 5 unchanged devices rewrote %d, want 0", n)
	}
	afterSequence := modelDump(t)

	openEmpty(t, server.URI).Close()
	if n := ingest(store.ModeReplace, next); n != int64(len(next)) {
		t.Errorf("ingest into an empty database rewrote %d devices, want all %d", n, len(next))
	}
	fresh := modelDump(t)

	if len(fresh) < 1000 {
		t.Fatalf("the fresh model has only %d nodes and relationships", len(fresh))
	}
	extra, missing := difference(afterSequence, fresh), difference(fresh, afterSequence)
	for i, x := range extra[:min(len(extra), 10)] {
		t.Errorf("after the sequence but not in a fresh ingest (%d of %d): %s", i+1, len(extra), x)
	}
	for i, x := range missing[:min(len(missing), 10)] {
		t.Errorf("in a fresh ingest but not after the sequence (%d of %d): %s", i+1, len(missing), x)
	}
	meta := cypher(t, `MATCH (d:Device {hostname: 'dist1'}) RETURN d.metadata`, nil)
	if len(meta) != 1 || meta[0][0] != `{"owner":"campus-team"}` {
		t.Errorf("dist1's metadata = %v", meta)
	}
}

// modelDump describes every node and relationship of the model (but the
// version node) as a sorted list of strings, without database ids: a node
// by its labels and properties, a relationship by its type, properties
// and the two nodes'. Device facts are left out of relationship ends
// (the node's own line has them).
func modelDump(t *testing.T) []string {
	t.Helper()
	describe := func(labels, props any) string {
		if p, ok := props.(map[string]any); ok {
			delete(p, "facts")
		}
		b, err := json.Marshal([]any{labels, props})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var out []string
	for _, r := range cypher(t, `MATCH (n) WHERE NOT n:GraphVersion RETURN labels(n), properties(n)`, nil) {
		b, _ := json.Marshal(r)
		out = append(out, "node "+string(b))
	}
	for _, r := range cypher(t, `MATCH (a)-[r]->(b) RETURN type(r), properties(r), labels(a), properties(a), labels(b), properties(b)`, nil) {
		ends := []string{describe(r[2], r[3]), describe(r[4], r[5])}
		if r[0] == "CONNECTED_TO" {
			slices.Sort(ends) // one relationship per link, in either direction
		}
		b, _ := json.Marshal([]any{r[0], r[1], ends})
		out = append(out, "relationship "+string(b))
	}
	slices.Sort(out)
	return out
}

// difference is the multiset a - b of sorted lists.
func difference(a, b []string) []string {
	var out []string
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			j++
			continue
		}
		out = append(out, x)
	}
	return out
}
