package auditlog

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/meshoptixiq/mesh/common/audit"
)

func full() audit.Record {
	return audit.Record{TS: "2026-11-20T09:00:00.005Z", ID: "a1b2c3-1", Event: audit.EventQuery, Outcome: audit.OutcomeAllow,
		User: "alice", Auth: "oidc", KeyFP: "sha256:0123456789ab", Role: "noc,ops", Groups: []string{"network-ops-team", "noc"},
		ClientIP: "10.1.2.3", Method: "POST", Path: "/queries/blast_radius", Query: "blast_radius",
		Params: json.RawMessage(`{"hostname": "core-sw-01", "depth": 3}`), Status: 200, ElapsedMS: 1.234, RowCount: 42,
		PlanTier: "pro", MatchedPattern: "queries:*", PolicyVersion: "v1-abc", Reason: "why"}
}

func checkSame(t *testing.T, r audit.Record) {
	t.Helper()
	want, werr := json.Marshal(&r)
	var scratch bytes.Buffer
	got, gerr := appendRecord(nil, &r, &scratch)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("appendRecord(%+v) error = %v, want error %v as json.Marshal", r, gerr, werr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Errorf("appendRecord(%+v) =\n%s\nwant (json.Marshal)\n%s", r, got, want)
	}
}

func TestAppendRecordMatchesMarshal(t *testing.T) {
	// Every field set: a field added to audit.Record and not to
	// appendRecord shows up here.
	r := full()
	v := reflect.ValueOf(r)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("full() leaves %s unset; set every field so the comparison covers it", v.Type().Field(i).Name)
		}
	}
	checkSame(t, r)
	checkSame(t, audit.Record{})                   // nil groups and params: null
	checkSame(t, audit.Record{Groups: []string{}}) // empty list
	checkSame(t, audit.Record{Params: json.RawMessage(`{"a": "<b>&\u2028", "c": [1, 2]}`)})
	checkSame(t, audit.Record{Params: json.RawMessage(`{"x":"` + "\u2028\u2029" + `<>&"}`)})
	checkSame(t, audit.Record{Params: json.RawMessage(`{not json`)}) // an error, as json.Marshal
	for _, s := range []string{"", "plain", `quote" back\slash`, "<script>&amp;", "\x00\x01\b\f\n\r\t\x1f\x7f", "é ü 日本", "\u2028\u2029", "bad \xff utf8 \xc3", "\xe2\x80"} {
		checkSame(t, audit.Record{User: s, Groups: []string{s}, Reason: s})
	}
	for _, f := range []float64{0, 0.001, 1.5, 123456.789, 1e-7, 1e21, 1e20, -2.5, 5e-324} {
		checkSame(t, audit.Record{ElapsedMS: f})
	}
	for _, n := range []int64{0, -1, 1 << 62} {
		checkSame(t, audit.Record{RowCount: n, Status: int(n)})
	}
}

func TestAppendRecordAllocationFree(t *testing.T) {
	r := full()
	var scratch bytes.Buffer
	buf := make([]byte, 0, 4096)
	buf, _ = appendRecord(buf[:0], &r, &scratch)
	if n := testing.AllocsPerRun(100, func() { buf, _ = appendRecord(buf[:0], &r, &scratch) }); n != 0 {
		t.Errorf("appendRecord allocations = %v, want 0", n)
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("alice", "<g>&", `{"a": 1}`, 1.25, int64(3))
	f.Add("\xff\u2028", "", `[1, "x"]`, 1e-9, int64(-1))
	f.Add("", "\x00", `{"s": "\u2029<"}`, 0.0, int64(0))
	f.Fuzz(func(t *testing.T, user, group, params string, elapsed float64, rows int64) {
		r := full()
		r.User, r.Groups, r.Params, r.ElapsedMS, r.RowCount, r.Reason = user, []string{group, user}, json.RawMessage(params), elapsed, rows, group
		checkSame(t, r)
	})
}

func BenchmarkAppendRecord(b *testing.B) {
	r := full()
	var scratch bytes.Buffer
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendRecord(buf[:0], &r, &scratch)
	}
}

func BenchmarkMarshalRecord(b *testing.B) {
	r := full()
	b.ReportAllocs()
	for b.Loop() {
		json.Marshal(&r)
	}
}

func BenchmarkAppendRecordEmptyParams(b *testing.B) {
	r := full()
	r.Params = json.RawMessage(`{}`)
	var scratch bytes.Buffer
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendRecord(buf[:0], &r, &scratch)
	}
}
