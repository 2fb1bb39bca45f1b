package demo

import (
	"encoding/json"
	"testing"

	"github.com/meshoptixiq/mesh/common/facts"
)

func benchGenerate(b *testing.B, n int) {
	b.ReportAllocs()
	for b.Loop() {
		Generate(Options{Seed: 1, Devices: n})
	}
}

// BenchmarkGenerate1k and BenchmarkGenerate10k build the benchmark
// networks.
func BenchmarkGenerate1k(b *testing.B)  { benchGenerate(b, 1000) }
func BenchmarkGenerate10k(b *testing.B) { benchGenerate(b, 10000) }

func benchParse(b *testing.B, n int) {
	data, err := json.Marshal(Generate(Options{Seed: 1, Devices: n}))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := facts.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse1k and BenchmarkParse10k decode and normalize the demo
// network's JSON as an ingest does (facts.Parse: strict decoding, then
// Normalize).
func BenchmarkParse1k(b *testing.B)  { benchParse(b, 1000) }
func BenchmarkParse10k(b *testing.B) { benchParse(b, 10000) }

// BenchmarkNormalize10k is validation and canonicalisation alone.
func BenchmarkNormalize10k(b *testing.B) {
	doc := Generate(Options{Seed: 1, Devices: 10000})
	b.ReportAllocs()
	for b.Loop() {
		if err := facts.Normalize(doc); err != nil {
			b.Fatal(err)
		}
	}
}
