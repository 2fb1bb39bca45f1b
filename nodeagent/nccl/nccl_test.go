package nccl

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/meshoptixiq/mesh/nodeagent/gpu"
	"github.com/meshoptixiq/mesh/nodeagent/gpu/gpufixture"
)

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseTopology(t *testing.T) {
	topo, err := ParseTopology(open(t, "dgx-h100.topo.xml"))
	if err != nil {
		t.Fatalf("ParseTopology() error = %v", err)
	}
	if len(topo.GPUs) != 8 || len(topo.NICs) != 8 {
		t.Fatalf("ParseTopology() = %d GPUs, %d NICs, want 8 and 8", len(topo.GPUs), len(topo.NICs))
	}
	want := TopoGPU{BusID: "0000:5d:00.0", Dev: 3, Rank: 3, NUMA: "0", NVLinks: []TopoNVLink{
		{Target: "0000:05:00.0", Count: 5, TClass: "0x068000"}, {Target: "0000:06:00.0", Count: 4, TClass: "0x068000"},
		{Target: "0000:07:00.0", Count: 4, TClass: "0x068000"}, {Target: "0000:08:00.0", Count: 5, TClass: "0x068000"}}}
	if diff := cmp.Diff(want, topo.GPUs[3]); diff != "" {
		t.Errorf("GPUs[3] mismatch (-want +got):\n%s", diff)
	}
	if got := topo.NICs[4]; got.Name != "mlx5_4" || got.Speed != 400000 || got.BusID != "0000:19:00.0" {
		t.Errorf("NICs[4] = %+v, want mlx5_4 400000 on 0000:19:00.0", got)
	}
}

func TestParseTopologyErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":      "{}",
		"wrong root":   `<topology></topology>`,
		"bad count":    `<system><pci busid="0000:01:00.0"><gpu dev="0" rank="0"><nvlink target="x" count="many"/></gpu></pci></system>`,
		"bad dev":      `<system><gpu dev="zero"/></system>`,
		"unterminated": `<system><cpu>`,
	} {
		if _, err := ParseTopology(strings.NewReader(doc)); err == nil {
			t.Errorf("ParseTopology(%s) error = nil, want an error", name)
		}
	}
}

func TestParseLog(t *testing.T) {
	p := NewLogParser()
	if err := p.Parse(open(t, "rank0-1.log")); err != nil {
		t.Fatal(err)
	}
	ring := []int{0, 1, 2, 3, 4, 5, 6, 7}
	want := []Communicator{
		{CommID: "0x8b2f6c1d4e5a7f90", Comm: "0x5501e8a0", Host: "dgx01", PID: 2041, Rank: 0, NRanks: 8, NNodes: 1, CudaDev: 0,
			BusID: "0000:18:00.0", Channels: 4, Rings: [][]int{ring, ring, ring, ring},
			Trees: []string{"[0] 1/-1/-1->0->-1", "[1] 1/-1/-1->0->-1", "[2] -1/-1/-1->0->7", "[3] -1/-1/-1->0->7"}, Complete: true},
		{CommID: "0x8b2f6c1d4e5a7f90", Comm: "0x5511e8a0", Host: "dgx01", PID: 2042, Rank: 1, NRanks: 8, NNodes: 1, CudaDev: 1,
			BusID: "0000:2a:00.0", Channels: 4, Rings: [][]int{ring, ring, ring, ring},
			Trees: []string{"[0] 1/-1/-1->0->-1", "[1] 1/-1/-1->0->-1", "[2] -1/-1/-1->0->7", "[3] -1/-1/-1->0->7"}, Complete: true},
	}
	if diff := cmp.Diff(want, p.Communicators()); diff != "" {
		t.Errorf("Communicators() mismatch (-want +got):\n%s", diff)
	}
}

func TestParseLogLongLine(t *testing.T) {
	p := NewLogParser()
	long := strings.Repeat("x", 200<<10)
	in := long + "\nh:1:1 [0] NCCL INFO ncclCommInitRank comm 0x1 rank 0 nranks 2 cudaDev 0 nvmlDev 0 busId 18000 commId 0x2 - Init START\n"
	if err := p.Parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if p.Skipped != 1 || len(p.Communicators()) != 1 {
		t.Errorf("Skipped = %d, communicators = %d; want 1 and 1", p.Skipped, len(p.Communicators()))
	}
}

func TestParseTrace(t *testing.T) {
	rule := HangRule{Factor: 10, Window: 100, MinSamples: 3}
	res, err := ParseTrace(open(t, "trace.json"), 0, rule)
	if err != nil {
		t.Fatal(err)
	}
	want := TraceResult{Completed: 8, Malformed: 1, Active: []Op{
		{Kind: "AllReduce", Category: "COLL", CommHash: "10049224567890123456", Rank: 0, Seq: 5, Count: 268435456, Datatype: "ncclFloat32",
			PID: 2041, Duration: 30 * time.Millisecond, Average: 2 * time.Millisecond, Hang: true},
		{Kind: "Send", Category: "P2P", CommHash: "10049224567890123456", Rank: 0, Seq: 0, Count: 1024, Datatype: "ncclFloat32",
			PID: 2041, Duration: 29900 * time.Microsecond},
		{Kind: "AllGather", Category: "COLL", CommHash: "10049224567890123456", Rank: 0, Seq: 3, Count: 1048576, Datatype: "ncclFloat32",
			PID: 2041, Duration: 400 * time.Microsecond, Average: 500 * time.Microsecond},
	}}
	if diff := cmp.Diff(want, res, cmpopts.IgnoreUnexported(Op{})); diff != "" {
		t.Errorf("ParseTrace() mismatch (-want +got):\n%s", diff)
	}
	// A trace that stopped being written 10 ms ago: the AllGather has now
	// run 10.4 ms, over 10 × its 0.5 ms average.
	res, err = ParseTrace(open(t, "trace.json"), 10*time.Millisecond, rule)
	if err != nil {
		t.Fatal(err)
	}
	if ag := res.Active[2]; !ag.Hang || ag.Duration != 10400*time.Microsecond {
		t.Errorf("AllGather after 10ms idle = %+v, want a hang of 10.4ms", ag)
	}
	// Too few samples: no verdict.
	res, err = ParseTrace(open(t, "trace.json"), 0, HangRule{Factor: 10, Window: 100, MinSamples: 6})
	if err != nil {
		t.Fatal(err)
	}
	if res.Active[0].Hang {
		t.Errorf("AllReduce with 5 samples and MinSamples 6: Hang = true, want false")
	}
}

func TestRepair(t *testing.T) {
	got := repair(`{"a": 0x1f, "b": ncclFloat32, "c": true, "d": null}`)
	if want := `{"a":"0x1f", "b":"ncclFloat32", "c": true, "d": null}`; got != want {
		t.Errorf("repair() = %s, want %s", got, want)
	}
}

func TestCrossCheck(t *testing.T) {
	snap, err := gpu.Open(gpufixture.DGXH100()).Read()
	if err != nil {
		t.Fatal(err)
	}
	topo, err := ParseTopology(open(t, "dgx-h100.topo.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Disagreement{{Kind: "nvlink_count_mismatch", GPU: "0000:ab:00.0", Target: "0000:08:00.0", NVML: 5, NCCL: 4}}
	if diff := cmp.Diff(want, CrossCheck(snap, topo)); diff != "" {
		t.Errorf("CrossCheck() mismatch (-want +got):\n%s", diff)
	}
	// NCCL sees a link NVML does not, and misses a GPU entirely.
	topo.GPUs[0].NVLinks = append(topo.GPUs[0].NVLinks, TopoNVLink{Target: "0000:2a:00.0", Count: 2})
	topo.GPUs = topo.GPUs[:7]
	got := CrossCheck(snap, topo)
	want = []Disagreement{
		{Kind: "nvlink_unknown_to_nvml", GPU: "0000:18:00.0", Target: "0000:2a:00.0", NCCL: 2},
		{Kind: "nvlink_count_mismatch", GPU: "0000:ab:00.0", Target: "0000:08:00.0", NVML: 5, NCCL: 4},
		{Kind: "gpu_missing_in_nccl", GPU: "0000:db:00.0", NVML: 18},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CrossCheck() mismatch (-want +got):\n%s", diff)
	}
	if got := CrossCheck(gpu.Snapshot{Status: "unavailable: x"}, topo); got != nil {
		t.Errorf("CrossCheck(unavailable) = %v, want nil", got)
	}
}

func TestBusFromInt(t *testing.T) {
	for in, want := range map[string]string{"18000": "0000:18:00.0", "1db000": "0001:db:00.0", "zz": ""} {
		if got := busFromInt(in); got != want {
			t.Errorf("busFromInt(%q) = %q, want %q", in, got, want)
		}
	}
}
