package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// An ingest body may be gzip-compressed; decompressed, it is bounded by
// MAX_BODY_BYTES like any body, so a small bomb cannot expand in memory.
func TestIngestGzip(t *testing.T) {
	f := start(t, options{maxBody: 4096})
	doc := `{"schema":"meshq.facts/v1","devices":[{"hostname":"gz1","interfaces":[{"name":"Gi1","mac":"AABB.CC00.0B0B"}]}]}`
	r := f.do(t, "POST", "/graph/ingest?mode=merge", gz(t, doc), "Content-Encoding", "gzip")
	if r.status != 200 || f.eng.Graph().Device("gz1") == nil {
		t.Fatalf("gzip ingest = %d %s, want 200 with gz1 ingested", r.status, r.body)
	}
	v := f.eng.Graph().Version
	// 40 KB of JSON compresses far under the 4 KiB limit; decompressed it
	// is over it.
	big := `{"schema":"meshq.facts/v1","devices":[` + strings.Repeat(`{"hostname":"x"},`, 2400) + `{"hostname":"y"}]}`
	small := gz(t, big)
	if len(small) >= 4096 {
		t.Fatalf("compressed fixture is %d bytes, want it under the limit", len(small))
	}
	wantError(t, "gzip over the limit", f.do(t, "POST", "/graph/ingest", small, "Content-Encoding", "gzip"),
		413, "payload_too_large", "decompressed request body is larger than the limit of 4096 bytes (MAX_BODY_BYTES)")
	wantError(t, "corrupt gzip", f.do(t, "POST", "/graph/ingest", "not gzip at all", "Content-Encoding", "gzip"),
		400, "bad_request", "not a valid gzip stream")
	truncated := gz(t, doc)
	wantError(t, "truncated gzip", f.do(t, "POST", "/graph/ingest", truncated[:len(truncated)-6], "Content-Encoding", "gzip"),
		400, "bad_request", "not a valid gzip stream")
	wantError(t, "other encoding", f.do(t, "POST", "/graph/ingest", doc, "Content-Encoding", "br"),
		400, "bad_request", `header Content-Encoding: "br" is not supported`)
	// Bad facts inside a good stream are reported with their paths, as
	// uncompressed ones are.
	wantError(t, "bad facts gzipped", f.do(t, "POST", "/graph/ingest", gz(t, `{"schema":"meshq.facts/v1","devices":[{"hostname":"a","mgmt_ip":"nope"}]}`), "Content-Encoding", "gzip"),
		400, "bad_request", "devices[0].mgmt_ip")
	if got := f.eng.Graph().Version; got != v {
		t.Errorf("graph version after refused gzip ingests = %d, want %d", got, v)
	}
}
