package gpu_test

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/google/go-cmp/cmp"
	"github.com/meshoptixiq/mesh/nodeagent/gpu"
	"github.com/meshoptixiq/mesh/nodeagent/gpu/gpufixture"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func read(t *testing.T, fixture string) gpu.Snapshot {
	t.Helper()
	srv, err := gpufixture.New(fixture)
	if err != nil {
		t.Fatal(err)
	}
	r := gpu.Open(srv)
	defer r.Close()
	s, err := r.Read()
	if err != nil {
		t.Fatalf("Read() error = %v", err)
	}
	return s
}

func TestDGXH100(t *testing.T) {
	s := read(t, "dgx-h100")
	golden(t, "dgx-h100.topo", gpu.Render(s))
	if len(s.GPUs) != 8 {
		t.Fatalf("len(GPUs) = %d, want 8", len(s.GPUs))
	}
	for _, g := range s.GPUs {
		if g.LinkCount != 18 || len(g.Links) != 18 {
			t.Errorf("GPU%d links = %d/%d, want 18", g.Index, g.LinkCount, len(g.Links))
		}
		for _, l := range g.Links {
			if !l.Active || l.RemoteType != gpu.RemoteNVSwitch || l.Version != 4 || l.TxBytes == nil {
				t.Errorf("GPU%d link %d = %+v, want active v4 to an NVSwitch with counters", g.Index, l.Link, l)
			}
		}
	}
	if got := *s.GPUs[3].Links[7].ReplayErrors; got != 2 {
		t.Errorf("GPU3 link 7 replay errors = %d, want 2", got)
	}
	if got := *s.GPUs[0].Links[1].TxBytes; got != 1001*1024 {
		t.Errorf("GPU0 link 1 tx bytes = %d, want %d", got, 1001*1024)
	}
	if s.GPUs[7].Links[17].CRCErrors != nil || s.FieldErrors != 1 {
		t.Errorf("GPU7 link 17 CRC = %v, FieldErrors = %d; want nil (unsupported field) and 1", s.GPUs[7].Links[17].CRCErrors, s.FieldErrors)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "dgx-h100.json", string(b)+"\n")
}

func TestPCIeBox(t *testing.T) {
	s := read(t, "pcie")
	golden(t, "pcie.topo", gpu.Render(s))
	for _, g := range s.GPUs {
		if g.LinkCount != 0 || len(g.Links) != 0 {
			t.Errorf("GPU%d links = %d, want none on a PCIe box", g.Index, g.LinkCount)
		}
	}
	want := [][]string{{"X", "PIX", "SYS", "SYS"}, {"PIX", "X", "SYS", "SYS"}, {"SYS", "SYS", "X", "PXB"}, {"SYS", "SYS", "PXB", "X"}}
	if diff := cmp.Diff(want, s.Matrix); diff != "" {
		t.Errorf("Matrix mismatch (-want +got):\n%s", diff)
	}
	if s.P2P[0][2] != "CNS" || s.P2P[0][1] != "OK" {
		t.Errorf("P2P[0] = %v, want OK to GPU1, CNS to GPU2", s.P2P[0])
	}
}

func TestUnavailable(t *testing.T) {
	lib := &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}
	r := gpu.Open(lib)
	s, err := r.Read()
	if err != nil {
		t.Fatalf("Read() error = %v, want nil without a driver", err)
	}
	if s.Available() || s.Status != "unavailable: init: ERROR_LIBRARY_NOT_FOUND" {
		t.Errorf("Status = %q, want unavailable: init: ERROR_LIBRARY_NOT_FOUND", s.Status)
	}
	if got := gpu.Render(s); got != "nvml: unavailable: init: ERROR_LIBRARY_NOT_FOUND\n" {
		t.Errorf("Render() = %q", got)
	}
}

// TestLinkLoopStopsAtCount reports 6 links on GPU 0 and checks that no link
// past them is asked for.
func TestLinkLoopStopsAtCount(t *testing.T) {
	srv := gpufixture.DGXH100()
	d0 := srv.Devices[0].(*server.Device)
	fields := d0.GetFieldValuesFunc
	d0.GetFieldValuesFunc = func(fv []nvml.FieldValue) nvml.Return {
		ret := fields(fv)
		for k := range fv {
			if fv[k].FieldId == nvml.FI_DEV_NVLINK_LINK_COUNT {
				binary.NativeEndian.PutUint64(fv[k].Value[:], 6)
			}
		}
		return ret
	}
	state := d0.GetNvLinkStateFunc
	maxAsked := -1
	d0.GetNvLinkStateFunc = func(l int) (nvml.EnableState, nvml.Return) {
		maxAsked = max(maxAsked, l)
		return state(l)
	}
	s, err := gpu.Open(srv).Read()
	if err != nil {
		t.Fatal(err)
	}
	if maxAsked != 5 || len(s.GPUs[0].Links) != 6 {
		t.Errorf("highest link asked = %d, links = %d; want 5 and 6", maxAsked, len(s.GPUs[0].Links))
	}
	if got := s.Matrix[0][1]; got != "NV6" {
		t.Errorf("Matrix[0][1] = %q, want NV6 (GPU0 has 6 switch links)", got)
	}
}

// TestLinkStateErrorIsPerLink: one link whose state NVML does not return
// is marked on that link; the GPU and its other links are still read.
func TestLinkStateErrorIsPerLink(t *testing.T) {
	srv := gpufixture.DGXH100()
	d2 := srv.Devices[2].(*server.Device)
	state := d2.GetNvLinkStateFunc
	d2.GetNvLinkStateFunc = func(l int) (nvml.EnableState, nvml.Return) {
		if l == 4 {
			return 0, nvml.ERROR_UNKNOWN
		}
		return state(l)
	}
	s, err := gpu.Open(srv).Read()
	if err != nil {
		t.Fatalf("Read() with one failing link = %v, want nil", err)
	}
	if len(s.GPUs) != 8 || len(s.GPUs[2].Links) != 18 {
		t.Fatalf("Read() = %d GPUs, GPU2 %d links; want 8 and 18", len(s.GPUs), len(s.GPUs[2].Links))
	}
	bad := s.GPUs[2].Links[4]
	if bad.State != "error: ERROR_UNKNOWN" || bad.Active || bad.Link != 4 {
		t.Errorf("GPU2 link 4 = %+v, want inactive with state error: ERROR_UNKNOWN", bad)
	}
	if ok := s.GPUs[2].Links[5]; ok.State != "" || !ok.Active || ok.RemoteType != gpu.RemoteNVSwitch {
		t.Errorf("GPU2 link 5 = %+v, want active to an NVSwitch", ok)
	}
	if s.FieldErrors != 2 { // the fixture's unsupported CRC field, and this link
		t.Errorf("FieldErrors = %d, want 2", s.FieldErrors)
	}
	if got := s.Matrix[2][0]; got != "NV17" {
		t.Errorf("Matrix[2][0] = %q, want NV17 (one of GPU2's 18 links unknown)", got)
	}
}

func TestDeviceErrorPropagates(t *testing.T) {
	srv := gpufixture.DGXH100()
	srv.DeviceGetHandleByIndexFunc = func(int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_GPU_IS_LOST }
	r := gpu.Open(srv)
	if _, err := r.Read(); err == nil || err.Error() != "device 0: ERROR_GPU_IS_LOST" {
		t.Errorf("Read() error = %v, want device 0: ERROR_GPU_IS_LOST", err)
	}
}

// BenchmarkReadDGXH100 is one full NVML pass over the DGX H100 fixture
// (8 GPUs × 18 links, 2 batched field reads per GPU, 56 pairs).
func BenchmarkReadDGXH100(b *testing.B) {
	r := gpu.Open(gpufixture.DGXH100())
	for b.Loop() {
		if _, err := r.Read(); err != nil {
			b.Fatal(err)
		}
	}
}
