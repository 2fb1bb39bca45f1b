package store

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/common/facts"
)

// The benchmark networks are generated once per process: at 10,000
// devices generating takes longer than storing.
var (
	benchOnce sync.Once
	bench1k   []facts.Device
	bench10k  []facts.Device
)

func benchDevices(b *testing.B, n int) []facts.Device {
	benchOnce.Do(func() {
		bench1k = demo.Generate(demo.Options{Seed: 1, Devices: 1000}).Devices
		bench10k = demo.Generate(demo.Options{Seed: 1, Devices: 10000}).Devices
	})
	if n == 1000 {
		return bench1k
	}
	return bench10k
}

func benchIngest(b *testing.B, n int) {
	devs := benchDevices(b, n)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		s, err := OpenEmbedded(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Ingest(context.Background(), ModeReplace, devs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		reportSize(b, s)
		s.Close()
		b.StartTimer()
	}
}

func reportSize(b *testing.B, s *Embedded) {
	if st, err := os.Stat(s.Path()); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "MiB-file")
	}
}

// BenchmarkIngest1k and BenchmarkIngest10k write a whole demo network
// into an empty store (one transaction, fsynced).
func BenchmarkIngest1k(b *testing.B)  { benchIngest(b, 1000) }
func BenchmarkIngest10k(b *testing.B) { benchIngest(b, 10000) }

func benchLoad(b *testing.B, n int) {
	devs := benchDevices(b, n)
	dir := b.TempDir()
	s, err := OpenEmbedded(dir)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Ingest(context.Background(), ModeReplace, devs); err != nil {
		b.Fatal(err)
	}
	s.Close()
	b.ReportAllocs()
	for b.Loop() {
		// Open + Load is what a restart does before building the graph.
		s, err := OpenEmbedded(dir)
		if err != nil {
			b.Fatal(err)
		}
		_, got, err := s.Load(context.Background())
		if err != nil || len(got) != len(devs) {
			b.Fatalf("Load() = %d devices, %v, want %d", len(got), err, len(devs))
		}
		s.Close()
	}
	_ = filepath.Join
}

// BenchmarkLoad1k and BenchmarkLoad10k open the store and load every
// device, as a restart does.
func BenchmarkLoad1k(b *testing.B)  { benchLoad(b, 1000) }
func BenchmarkLoad10k(b *testing.B) { benchLoad(b, 10000) }

// BenchmarkIngestMerge10kOne is the cost of a small collector update on a
// 10,000-device store: one device merged.
func BenchmarkIngestMerge10kOne(b *testing.B) {
	devs := benchDevices(b, 10000)
	s, err := OpenEmbedded(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Ingest(context.Background(), ModeReplace, devs); err != nil {
		b.Fatal(err)
	}
	one := devs[len(devs)/2 : len(devs)/2+1]
	for b.Loop() {
		if _, err := s.Ingest(context.Background(), ModeMerge, one); err != nil {
			b.Fatal(err)
		}
	}
}
