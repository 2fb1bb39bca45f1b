package nccl

import (
	"bytes"
	"os"
	"testing"
)

func BenchmarkParseTrace(b *testing.B) {
	data, err := os.ReadFile("testdata/trace.json")
	if err != nil {
		b.Fatal(err)
	}
	rule := HangRule{Factor: 10, Window: 100, MinSamples: 3}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseTrace(bytes.NewReader(data), 0, rule); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTopology(b *testing.B) {
	data, err := os.ReadFile("testdata/dgx-h100.topo.xml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseTopology(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
