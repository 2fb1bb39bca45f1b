// Package sinktest holds what the sinks' tests share: records to deliver,
// outcomes counted by kind, and HTTP options with a short timeout.
package sinktest

import (
	"fmt"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/sink"
)

// Rec is an audit record with id.
func Rec(id string) sink.Record {
	return sink.Record{Data: []byte(`{"id":"` + id + `","ts":"2026-11-23T10:00:00.000Z"}`), ID: `"` + id + `"`,
		TS: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
}

// Recs is n records, r000 onwards.
func Recs(n int) []sink.Record {
	out := make([]sink.Record, n)
	for i := range out {
		out[i] = Rec(fmt.Sprintf("r%03d", i))
	}
	return out
}

// Kinds counts outcomes by kind.
func Kinds(out []sink.Outcome) map[sink.Kind]int {
	m := map[sink.Kind]int{}
	for _, o := range out {
		m[o.Kind]++
	}
	return m
}

// Fast is HTTP options whose timeout a test waits out quickly.
func Fast() sink.HTTPOptions { return sink.HTTPOptions{Timeout: 300 * time.Millisecond} }
