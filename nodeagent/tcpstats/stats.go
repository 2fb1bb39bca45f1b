package tcpstats

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshoptixiq/mesh/nodeagent/ebpf"
	"github.com/meshoptixiq/mesh/nodeagent/report"
)

// Kernel is what the stats read from the loaded eBPF programs.
type Kernel interface {
	Counters() (ebpf.Counters, error)
	RTT() ([ebpf.RTTSlots]uint64, error)
	Remotes() (map[netip.Addr]uint64, error)
}

// MaxRemotes bounds the remotes reported and exported, busiest first.
const MaxRemotes = 50

// Stats is the TCP side of the agent.
type Stats struct {
	kernel   Kernel // nil: /proc fallback
	procRoot string

	mu      sync.Mutex
	queue   []report.Event
	max     int
	dropped atomic.Uint64
	handled atomic.Uint64
}

// New returns stats over kernel, or over the /proc counters under procRoot
// when kernel is nil. At most maxEvents events wait for the next report.
func New(kernel Kernel, procRoot string, maxEvents int) *Stats {
	return &Stats{kernel: kernel, procRoot: procRoot, max: maxEvents}
}

// Source is "ebpf" or "procfs".
func (s *Stats) Source() string {
	if s.kernel == nil {
		return "procfs"
	}
	return "ebpf"
}

// Handle queues a batch from the tracer; it is the tracer's callback.
func (s *Stats) Handle(batch []ebpf.Event) {
	s.handled.Add(uint64(len(batch)))
	s.mu.Lock()
	defer s.mu.Unlock()
	room := s.max - len(s.queue)
	if room < len(batch) {
		s.dropped.Add(uint64(len(batch) - max(room, 0)))
		batch = batch[:max(room, 0)]
	}
	for _, e := range batch {
		s.queue = append(s.queue, Convert(e))
	}
}

// Convert maps a tracer event to its report form.
func Convert(e ebpf.Event) report.Event {
	return report.Event{
		Time: e.Time, Kind: e.Kind.String(), Src: e.Src.String(), Dst: e.Dst.String(), Remote: e.Dst.Addr().String(),
		PID: e.PID, Comm: e.Comm, Cgroup: e.Cgroup, Passive: e.Passive,
		DurationUS: e.Duration.Microseconds(), SRTTUS: e.SRTT.Microseconds(), Retransmits: e.Retransmits,
		BytesAcked: e.BytesAcked, BytesReceived: e.BytesReceived,
	}
}

// Drain hands over the queued events and the running count of drops.
func (s *Stats) Drain() ([]report.Event, uint64) {
	s.mu.Lock()
	q := s.queue
	s.queue = make([]report.Event, 0, min(len(q), s.max))
	s.mu.Unlock()
	return q, s.dropped.Load()
}

// Requeue puts back events a failed report did not deliver, ahead of the
// ones queued since, so the next report carries them. The queue stays
// bounded by maxEvents: the oldest events beyond it are dropped and
// counted with the other drops.
func (s *Stats) Requeue(undelivered []report.Event) {
	if len(undelivered) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]report.Event, 0, min(len(undelivered)+len(s.queue), s.max))
	if over := len(undelivered) + len(s.queue) - s.max; over > 0 {
		s.dropped.Add(uint64(over))
		if over >= len(undelivered) {
			// Only newer events fit (the queue itself is never over max).
			return
		}
		undelivered = undelivered[over:]
	}
	all = append(all, undelivered...)
	s.queue = append(all, s.queue...)
}

// Handled is how many events the tracer delivered.
func (s *Stats) Handled() uint64 { return s.handled.Load() }

// TCP reads the current figures.
func (s *Stats) TCP() (report.TCP, error) {
	if s.kernel == nil {
		return s.procTCP()
	}
	c, err := s.kernel.Counters()
	if err != nil {
		return report.TCP{}, err
	}
	h, err := s.kernel.RTT()
	if err != nil {
		return report.TCP{}, err
	}
	rem, err := s.kernel.Remotes()
	if err != nil {
		return report.TCP{}, err
	}
	t := report.TCP{Source: "ebpf", OpenedActive: c.OpenActive, OpenedPassive: c.OpenPassive, Established: c.Established,
		Closed: c.Closed, Failed: c.Failed, Retransmits: c.Retransmits, EventsEmitted: c.Emitted, LostEvents: c.Lost,
		Untracked: c.Untracked, ConnTableFull: c.TableFull,
		RTTLog2Buckets: h[:]}
	for _, n := range h {
		t.RTTSamples += n
	}
	t.RTTP50us, t.RTTP99us, t.RTTP999us = Quantile(h[:], 0.5), Quantile(h[:], 0.99), Quantile(h[:], 0.999)
	for a, n := range rem {
		t.Remotes = append(t.Remotes, report.Remote{Addr: a.String(), Retransmits: n})
	}
	sort.Slice(t.Remotes, func(i, j int) bool {
		if t.Remotes[i].Retransmits != t.Remotes[j].Retransmits {
			return t.Remotes[i].Retransmits > t.Remotes[j].Retransmits
		}
		return t.Remotes[i].Addr < t.Remotes[j].Addr
	})
	if len(t.Remotes) > MaxRemotes {
		t.Remotes = t.Remotes[:MaxRemotes]
	}
	return t, nil
}

func (s *Stats) procTCP() (report.TCP, error) {
	m, err := ProcCounters(s.procRoot)
	if err != nil {
		return report.TCP{}, err
	}
	tcp, ok := m["Tcp"]
	if !ok {
		return report.TCP{}, fmt.Errorf("reading tcp counters: no Tcp section in %s/net/snmp", s.procRoot)
	}
	ext := m["TcpExt"] // a nil map reads as zeros on kernels without a field
	u := func(v int64) uint64 { return uint64(max(v, 0)) }
	return report.TCP{Source: "procfs", OpenedActive: u(tcp["ActiveOpens"]), OpenedPassive: u(tcp["PassiveOpens"]),
		Failed: u(tcp["AttemptFails"]), Retransmits: u(tcp["RetransSegs"]), CurrEstab: u(tcp["CurrEstab"]),
		Timeouts: u(ext["TCPTimeouts"]), SynRetransmits: u(ext["TCPSynRetrans"]),
		ListenOverflows: u(ext["ListenOverflows"]), ListenDrops: u(ext["ListenDrops"])}, nil
}

// Quantile estimates the q-quantile of a log2 histogram (bucket i holds
// [2^i, 2^(i+1))), interpolating linearly inside the bucket. 0 when empty.
func Quantile(h []uint64, q float64) float64 {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum float64
	for i, n := range h {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			lo := float64(uint64(1) << i)
			return lo + lo*(rank-cum)/float64(n)
		}
		cum += float64(n)
	}
	return float64(uint64(1) << len(h))
}

var (
	descConns   = prometheus.NewDesc("meshq_nodeagent_tcp_connections_total", "TCP connection lifecycle transitions by kind.", []string{"kind"}, nil)
	descRetrans = prometheus.NewDesc("meshq_nodeagent_tcp_retransmits_total", "TCP segments retransmitted.", nil, nil)
	descRemote  = prometheus.NewDesc("meshq_nodeagent_tcp_remote_retransmits_total", "TCP retransmits towards a remote address (busiest 50).", []string{"remote"}, nil)
	descRTT     = prometheus.NewDesc("meshq_nodeagent_tcp_rtt_seconds", "Smoothed TCP RTT quantiles from the in-kernel log2 histogram.", []string{"quantile"}, nil)
	descRTTHist = prometheus.NewDesc("meshq_nodeagent_tcp_rtt_histogram_seconds", "Smoothed TCP RTT, one sample per received segment, log2 buckets.", nil, nil)
	descEstab   = prometheus.NewDesc("meshq_nodeagent_tcp_established", "TCP connections currently established (procfs source only).", nil, nil)
	descEmitted = prometheus.NewDesc("meshq_nodeagent_ebpf_events_total", "Events the eBPF programs wrote to the ring buffer.", nil, nil)
	descLost    = prometheus.NewDesc("meshq_nodeagent_ebpf_lost_events_total", "Events dropped because the ring buffer was full.", nil, nil)
	descDropped = prometheus.NewDesc("meshq_nodeagent_events_dropped_total", "Events read but dropped because the report queue was full.", nil, nil)
	descUntrack = prometheus.NewDesc("meshq_nodeagent_tcp_untracked_closes_total", "Closes and failures of connections opened before the agent (or past the connection table): no process or duration.", nil, nil)
	descTblFull = prometheus.NewDesc("meshq_nodeagent_conn_table_full_total", "Opens not tracked because NODEAGENT_MAX_CONNS connections were open.", nil, nil)
	descExt     = prometheus.NewDesc("meshq_nodeagent_tcp_netstat_total", "TcpExt counters from /proc/net/netstat (procfs source only).", []string{"counter"}, nil)
	descSource  = prometheus.NewDesc("meshq_nodeagent_tcp_source", "Where TCP figures come from: ebpf, or procfs when eBPF could not load.", []string{"source"}, nil)
	descErr     = prometheus.NewDesc("meshq_nodeagent_tcp_read_errors_total", "Failed reads of the TCP figures.", nil, nil)
)

// Collector exports the figures at scrape time.
func (s *Stats) Collector() prometheus.Collector { return &collector{s: s} }

type collector struct {
	s    *Stats
	errs atomic.Uint64
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descRetrans, descRemote, descRTT, descRTTHist, descEstab, descEmitted, descLost, descDropped, descSource, descErr, descUntrack, descTblFull, descExt} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descSource, prometheus.GaugeValue, 1, c.s.Source())
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(c.s.dropped.Load()))
	t, err := c.s.TCP()
	if err != nil {
		c.errs.Add(1)
	}
	ch <- prometheus.MustNewConstMetric(descErr, prometheus.CounterValue, float64(c.errs.Load()))
	if err != nil {
		return
	}
	kinds := map[string]uint64{"opened_active": t.OpenedActive, "opened_passive": t.OpenedPassive, "failed": t.Failed}
	if t.Source == "ebpf" {
		// /proc has no counters for these two.
		kinds["established"], kinds["closed"] = t.Established, t.Closed
	}
	for kind, v := range kinds {
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.CounterValue, float64(v), kind)
	}
	ch <- prometheus.MustNewConstMetric(descRetrans, prometheus.CounterValue, float64(t.Retransmits))
	if t.Source == "procfs" {
		ch <- prometheus.MustNewConstMetric(descEstab, prometheus.GaugeValue, float64(t.CurrEstab))
		for name, v := range map[string]uint64{"TCPTimeouts": t.Timeouts, "TCPSynRetrans": t.SynRetransmits,
			"ListenOverflows": t.ListenOverflows, "ListenDrops": t.ListenDrops} {
			ch <- prometheus.MustNewConstMetric(descExt, prometheus.CounterValue, float64(v), name)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(descEmitted, prometheus.CounterValue, float64(t.EventsEmitted))
	ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(t.LostEvents))
	ch <- prometheus.MustNewConstMetric(descUntrack, prometheus.CounterValue, float64(t.Untracked))
	ch <- prometheus.MustNewConstMetric(descTblFull, prometheus.CounterValue, float64(t.ConnTableFull))
	for _, r := range t.Remotes {
		ch <- prometheus.MustNewConstMetric(descRemote, prometheus.CounterValue, float64(r.Retransmits), r.Addr)
	}
	for q, v := range map[string]float64{"0.5": t.RTTP50us, "0.99": t.RTTP99us, "0.999": t.RTTP999us} {
		ch <- prometheus.MustNewConstMetric(descRTT, prometheus.GaugeValue, v/1e6, q)
	}
	buckets := map[float64]uint64{}
	var cum uint64
	var sum float64
	for i, n := range t.RTTLog2Buckets {
		cum += n
		buckets[float64(uint64(2)<<i)/1e6] = cum
		sum += float64(n) * 1.5 * float64(uint64(1)<<i) / 1e6 // bucket midpoints: the exact sum is not kept
	}
	ch <- prometheus.MustNewConstHistogram(descRTTHist, cum, sum, buckets)
}
