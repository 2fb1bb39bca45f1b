package telemetry

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkIngestJSON decodes and stores one report with 100 events.
func BenchmarkIngestJSON(b *testing.B) {
	var evs []string
	for i := range 100 {
		evs = append(evs, eventJSON("closed", fmt.Sprintf("10.0.%d.%d", i/250, i%250), t0))
	}
	body := []byte(reportJSON("gpu-01", 1, t0, strings.Join(evs, ",")))
	s := New(quiet(), Options{Now: afterT0})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body := []byte(reportJSON("gpu-01", i+1, t0.Add(time.Duration(i)), strings.Join(evs, ",")))
		if err := s.IngestJSON(body); err != nil {
			b.Fatal(err)
		}
	}
}
