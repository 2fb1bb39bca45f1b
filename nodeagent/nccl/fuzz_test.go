package nccl

import (
	"os"
	"strings"
	"testing"
	"time"
)

func seed(f *testing.F, name string) {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
}

// The parsers read files other programs write: whatever is in them, they
// must return (an error or a result), never panic.

func FuzzParseTrace(f *testing.F) {
	seed(f, "trace.json")
	f.Add(`[{"name":"AllReduce","cat":"COLL","ph":"e","id":1,"pid":1,"ts":-5}`)
	f.Fuzz(func(t *testing.T, in string) {
		res, err := ParseTrace(strings.NewReader(in), time.Second, HangRule{Factor: 2, Window: 3, MinSamples: 1})
		if err == nil && res.Completed < 0 {
			t.Fatalf("Completed = %d", res.Completed)
		}
	})
}

func FuzzParseLog(f *testing.F) {
	seed(f, "rank0-1.log")
	f.Add("h:1:1 [0] NCCL INFO Channel 99999/1 : 1 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		p := NewLogParser()
		if err := p.Parse(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		p.Communicators()
	})
}

func FuzzParseTopology(f *testing.F) {
	seed(f, "dgx-h100.topo.xml")
	f.Fuzz(func(t *testing.T, in string) {
		ParseTopology(strings.NewReader(in))
	})
}
