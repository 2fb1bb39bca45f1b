package tcpstats

import (
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/meshoptixiq/mesh/nodeagent/ebpf"
	"github.com/meshoptixiq/mesh/nodeagent/report"
)

func TestProcCounters(t *testing.T) {
	m, err := ProcCounters("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	if got := m["Tcp"]["RetransSegs"]; got != 3 {
		t.Errorf("Tcp RetransSegs = %d, want 3", got)
	}
	if got := m["Tcp"]["MaxConn"]; got != -1 {
		t.Errorf("Tcp MaxConn = %d, want -1", got)
	}
	if _, ok := m["TcpExt"]["TCPTimeouts"]; !ok {
		t.Errorf("TcpExt has no TCPTimeouts: %v", m["TcpExt"])
	}
}

func TestProcCountersErrors(t *testing.T) {
	for name, snmp := range map[string]string{
		"header only":    "Tcp: A B\n",
		"count mismatch": "Tcp: A B\nTcp: 1\n",
		"proto mismatch": "Tcp: A B\nUdp: 1 2\n",
		"not a number":   "Tcp: A B\nTcp: 1 x\n",
		"no colon":       "Tcp A B\nTcp 1 2\n",
	} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "net"), 0o755)
		os.WriteFile(filepath.Join(dir, "net/snmp"), []byte(snmp), 0o644)
		os.WriteFile(filepath.Join(dir, "net/netstat"), []byte(""), 0o644)
		if _, err := ProcCounters(dir); err == nil {
			t.Errorf("ProcCounters(%s) error = nil, want an error", name)
		}
	}
	if _, err := ProcCounters(t.TempDir()); err == nil || !strings.Contains(err.Error(), "net/snmp") {
		t.Errorf("ProcCounters(empty dir) error = %v, want one naming net/snmp", err)
	}
}

func TestQuantile(t *testing.T) {
	h := make([]uint64, 32)
	if got := Quantile(h, 0.5); got != 0 {
		t.Errorf("Quantile(empty) = %v, want 0", got)
	}
	h[4] = 100 // 16..32 µs
	h[10] = 1  // 1024..2048 µs
	if got, want := Quantile(h, 0.5), 16+16*50.5/100; got != want {
		t.Errorf("Quantile(0.5) = %v, want %v", got, want)
	}
	if got := Quantile(h, 0.999); got < 1024 || got >= 2048 {
		t.Errorf("Quantile(0.999) = %v, want in [1024, 2048)", got)
	}
}

func TestQueueBounded(t *testing.T) {
	s := New(nil, "testdata/proc", 3)
	ev := ebpf.Event{Kind: ebpf.KindClose, Src: netip.MustParseAddrPort("10.0.0.1:5000"), Dst: netip.MustParseAddrPort("10.0.0.2:443"),
		Duration: 1500 * time.Microsecond, Time: time.Unix(1, 0)}
	s.Handle([]ebpf.Event{ev, ev})
	s.Handle([]ebpf.Event{ev, ev})
	got, dropped := s.Drain()
	if len(got) != 3 || dropped != 1 {
		t.Fatalf("Drain() = %d events, %d dropped; want 3 and 1", len(got), dropped)
	}
	want := report.Event{Time: time.Unix(1, 0), Kind: "closed", Src: "10.0.0.1:5000", Dst: "10.0.0.2:443", Remote: "10.0.0.2", DurationUS: 1500}
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("event mismatch (-want +got):\n%s", diff)
	}
	if got, _ := s.Drain(); len(got) != 0 {
		t.Errorf("second Drain() = %d events, want 0", len(got))
	}
}

func TestRequeueKeepsUndeliveredBounded(t *testing.T) {
	s := New(nil, "testdata/proc", 4)
	at := func(sec int64) ebpf.Event {
		return ebpf.Event{Kind: ebpf.KindClose, Src: netip.MustParseAddrPort("10.0.0.1:5000"),
			Dst: netip.MustParseAddrPort("10.0.0.2:443"), Time: time.Unix(sec, 0)}
	}
	secs := func(evs []report.Event) []int64 {
		var out []int64
		for _, e := range evs {
			out = append(out, e.Time.Unix())
		}
		return out
	}
	s.Handle([]ebpf.Event{at(1), at(2)})
	first, _ := s.Drain()
	s.Handle([]ebpf.Event{at(3)})
	s.Requeue(first) // the report carrying 1 and 2 failed
	got, dropped := s.Drain()
	if !cmp.Equal(secs(got), []int64{1, 2, 3}) || dropped != 0 {
		t.Errorf("Drain() after Requeue = %v, %d dropped; want [1 2 3], 0", secs(got), dropped)
	}
	// Over the bound: the oldest undelivered events go, and are counted.
	s.Handle([]ebpf.Event{at(4), at(5)})
	s.Requeue(got)
	got, dropped = s.Drain()
	if !cmp.Equal(secs(got), []int64{2, 3, 4, 5}) || dropped != 1 {
		t.Errorf("Drain() after an over-full Requeue = %v, %d dropped; want [2 3 4 5], 1", secs(got), dropped)
	}
	// Queue already full of newer events: every undelivered one is dropped.
	s.Handle([]ebpf.Event{at(6), at(7), at(8), at(9)})
	s.Requeue(got)
	got, dropped = s.Drain()
	if !cmp.Equal(secs(got), []int64{6, 7, 8, 9}) || dropped != 5 {
		t.Errorf("Drain() after Requeue onto a full queue = %v, %d dropped; want [6 7 8 9], 5", secs(got), dropped)
	}
}

// manyRemotes has more remotes with retransmits than MaxRemotes.
type manyRemotes struct{ fakeKernel }

func (manyRemotes) Remotes() (map[netip.Addr]uint64, error) {
	m := map[netip.Addr]uint64{}
	for i := range MaxRemotes + 10 {
		m[netip.AddrFrom4([4]byte{10, 1, 0, byte(i)})] = uint64(i + 1) // 10.1.0.i has i+1
	}
	return m, nil
}

// TestRemoteSeriesBounded: only the MaxRemotes busiest remotes are
// exported, so a node talking to many hosts keeps a bounded /metrics page.
func TestRemoteSeriesBounded(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(manyRemotes{}, "", 10).Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var remotes []string
	for _, mf := range mfs {
		if mf.GetName() == "meshq_nodeagent_tcp_remote_retransmits_total" {
			for _, m := range mf.GetMetric() {
				remotes = append(remotes, m.GetLabel()[0].GetValue())
				if m.GetCounter().GetValue() < 11 {
					t.Errorf("remote %s exported with %v retransmits, want only the %d busiest (11 and up)",
						m.GetLabel()[0].GetValue(), m.GetCounter().GetValue(), MaxRemotes)
				}
			}
		}
	}
	if len(remotes) != MaxRemotes {
		t.Errorf("remote series = %d, want %d", len(remotes), MaxRemotes)
	}
}

type fakeKernel struct{}

func (fakeKernel) Counters() (ebpf.Counters, error) {
	return ebpf.Counters{Emitted: 10, Lost: 2, OpenActive: 3, OpenPassive: 3, Established: 3, Closed: 5, Failed: 1, Retransmits: 4}, nil
}
func (fakeKernel) RTT() ([ebpf.RTTSlots]uint64, error) {
	var h [ebpf.RTTSlots]uint64
	h[3] = 7
	return h, nil
}
func (fakeKernel) Remotes() (map[netip.Addr]uint64, error) {
	return map[netip.Addr]uint64{netip.MustParseAddr("10.0.0.9"): 4}, nil
}

func TestCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(New(fakeKernel{}, "", 10).Collector())
	want := `
# HELP meshq_nodeagent_ebpf_lost_events_total Events dropped because the ring buffer was full.
# TYPE meshq_nodeagent_ebpf_lost_events_total counter
meshq_nodeagent_ebpf_lost_events_total 2
# HELP meshq_nodeagent_tcp_connections_total TCP connection lifecycle transitions by kind.
# TYPE meshq_nodeagent_tcp_connections_total counter
meshq_nodeagent_tcp_connections_total{kind="closed"} 5
meshq_nodeagent_tcp_connections_total{kind="established"} 3
meshq_nodeagent_tcp_connections_total{kind="failed"} 1
meshq_nodeagent_tcp_connections_total{kind="opened_active"} 3
meshq_nodeagent_tcp_connections_total{kind="opened_passive"} 3
# HELP meshq_nodeagent_tcp_remote_retransmits_total TCP retransmits towards a remote address (busiest 50).
# TYPE meshq_nodeagent_tcp_remote_retransmits_total counter
meshq_nodeagent_tcp_remote_retransmits_total{remote="10.0.0.9"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "meshq_nodeagent_ebpf_lost_events_total",
		"meshq_nodeagent_tcp_connections_total", "meshq_nodeagent_tcp_remote_retransmits_total"); err != nil {
		t.Error(err)
	}
	// The RTT quantile gauges, in seconds: 7 samples in [8, 16) µs.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	rtt := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "meshq_nodeagent_tcp_rtt_seconds" {
			if mf.GetType().String() != "GAUGE" {
				t.Errorf("meshq_nodeagent_tcp_rtt_seconds type = %s, want GAUGE", mf.GetType())
			}
			for _, m := range mf.GetMetric() {
				rtt[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	for q, want := range map[string]float64{"0.5": 12e-6, "0.99": 15.92e-6, "0.999": 15.992e-6} {
		if got, ok := rtt[q]; !ok || math.Abs(got-want) > 1e-12 {
			t.Errorf("meshq_nodeagent_tcp_rtt_seconds{quantile=%q} = %v (present %v), want %v", q, got, ok, want)
		}
	}
	if len(rtt) != 3 {
		t.Errorf("rtt quantile series = %v, want 0.5, 0.99 and 0.999", rtt)
	}
	tcp, err := New(fakeKernel{}, "", 10).TCP()
	if err != nil {
		t.Fatal(err)
	}
	// 7 samples in [8, 16) µs.
	if tcp.RTTP50us != 8+8*3.5/7 || tcp.RTTP99us <= tcp.RTTP50us || tcp.RTTP999us < tcp.RTTP99us || tcp.RTTP999us >= 16 {
		t.Errorf("RTT p50, p99, p999 = %v, %v, %v; want 12 ≤ p99 ≤ p999 < 16", tcp.RTTP50us, tcp.RTTP99us, tcp.RTTP999us)
	}
}
