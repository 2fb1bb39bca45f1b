// Package ebpf loads the node agent's TCP programs (bpf/tcp.bpf.c) on the
// kernel's BTF tracepoints, reads their ring buffer in batches and exposes
// the in-kernel counters, per-remote retransmits and the RTT histogram.
package ebpf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Kind is what happened to a connection.
type Kind uint8

// The kinds mirror the EV_* values in bpf/tcp.bpf.c.
const (
	KindOpenActive  Kind = 1
	KindOpenPassive Kind = 2
	KindEstablished Kind = 3
	KindClose       Kind = 4
	KindFail        Kind = 5
	KindRetransmit  Kind = 6
)

func (k Kind) String() string {
	switch k {
	case KindOpenActive:
		return "opened_active"
	case KindOpenPassive:
		return "opened_passive"
	case KindEstablished:
		return "established"
	case KindClose:
		return "closed"
	case KindFail:
		return "failed"
	case KindRetransmit:
		return "retransmit"
	}
	return fmt.Sprintf("kind_%d", uint8(k))
}

// Event is one decoded ring-buffer record.
type Event struct {
	Time          time.Time
	Kind          Kind
	Src, Dst      netip.AddrPort
	PID           uint32
	Comm          string
	Cgroup        uint64
	Passive       bool
	Cookie        uint64        // the kernel's socket cookie
	Duration      time.Duration // since the open (connect() or the passive handshake)
	SRTT          time.Duration
	Retransmits   uint32 // on this connection so far (the kernel's total_retrans)
	BytesAcked    uint64
	BytesReceived uint64
	OldState      uint8
	NewState      uint8
	mono          uint64
}

// Counters are the in-kernel counters, summed over CPUs.
type Counters struct {
	Emitted     uint64 // records written to the ring buffer
	Lost        uint64 // records dropped because the ring buffer was full
	OpenActive  uint64
	OpenPassive uint64
	Established uint64
	Closed      uint64
	Failed      uint64
	Retransmits uint64
	Untracked   uint64 // closes and failures of connections whose open the agent did not see
	TableFull   uint64 // opens not tracked because MaxConns connections were open
}

// RTTSlots is the number of log2 buckets of the RTT histogram; bucket i
// counts samples with 2^i ≤ srtt_us < 2^(i+1) (bucket 0 also holds 1 µs).
const RTTSlots = 32

// Options tunes the loader. Zero values take the defaults.
type Options struct {
	RingBytes     int           // ring buffer size, a power of two ≥ page size (default 8 MiB)
	MaxConns      int           // open connections tracked to join their events (default 262144)
	WakeupBytes   int           // wake the reader once this much is waiting (default 256 KiB)
	FlushInterval time.Duration // drain the ring at least this often (default 100 ms)
}

// Tracer owns the loaded programs, their links and the ring-buffer reader.
type Tracer struct {
	objs      tcpObjects
	links     []link.Link
	rd        *ringbuf.Reader
	flush     time.Duration
	monoToRT  time.Duration // add to a CLOCK_MONOTONIC reading to get wall time
	LoadTime  time.Duration // load + attach of all programs
	ncpu      int
	programes map[string]*ebpf.Program

	// The connection table joins each connection's events; only Run
	// touches it.
	conns     map[uint64]connInfo
	maxConns  int
	untracked atomic.Uint64
	tableFull atomic.Uint64
}

// connInfo is what the open of a connection told.
type connInfo struct {
	start   uint64 // CLOCK_MONOTONIC ns
	pid     uint32
	comm    string
	cgroup  uint64
	passive bool
}

// Load loads and attaches every program. The error says why when the kernel
// or the privileges do not allow it; the caller falls back to /proc counters.
func Load(opts Options) (*Tracer, error) {
	start := time.Now()
	if opts.RingBytes == 0 {
		opts.RingBytes = 8 << 20
	}
	if opts.WakeupBytes == 0 {
		opts.WakeupBytes = 256 << 10
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = 100 * time.Millisecond
	}
	if opts.MaxConns == 0 {
		opts.MaxConns = 1 << 18
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("removing memlock limit: %w", err)
	}
	spec, err := loadTcp()
	if err != nil {
		return nil, fmt.Errorf("reading embedded programs: %w", err)
	}
	spec.Maps[tcpMapEvents].MaxEntries = uint32(opts.RingBytes)
	if err := spec.Variables[tcpVarWakeupBytes].Set(uint64(opts.WakeupBytes)); err != nil {
		return nil, fmt.Errorf("setting wakeup_bytes: %w", err)
	}
	t := &Tracer{flush: opts.FlushInterval, conns: map[uint64]connInfo{}, maxConns: opts.MaxConns}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading programs: %+v", ve)
		}
		return nil, fmt.Errorf("loading programs: %w", err)
	}
	t.programes = map[string]*ebpf.Program{
		"inet_sock_set_state": t.objs.InetSockSetState,
		"tcp_retransmit_skb":  t.objs.TcpRetransmitSkb,
		"tcp_probe":           t.objs.TcpProbe,
	}
	for _, p := range []*ebpf.Program{t.objs.InetSockSetState, t.objs.TcpRetransmitSkb, t.objs.TcpProbe} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("attaching %s: %w", p, err)
		}
		t.links = append(t.links, l)
	}
	t.rd, err = ringbuf.NewReader(t.objs.Events)
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("opening ring buffer: %w", err)
	}
	t.ncpu, err = ebpf.PossibleCPU()
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("counting CPUs: %w", err)
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Close()
		return nil, fmt.Errorf("reading monotonic clock: %w", err)
	}
	t.monoToRT = time.Duration(time.Now().UnixNano() - ts.Nano())
	t.LoadTime = time.Since(start)
	return t, nil
}

// Close detaches the programs and frees the maps.
func (t *Tracer) Close() error {
	var errs []error
	if t.rd != nil {
		errs = append(errs, t.rd.Close())
	}
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	errs = append(errs, t.objs.Close())
	return errors.Join(errs...)
}

// maxBatch bounds how many events Run hands over at once.
const maxBatch = 4096

// Run reads the ring buffer until ctx ends, handing events to handle in
// batches: whenever the ring is drained (a forced wake-up or the flush
// timer) or maxBatch events are waiting. handle must not keep the slice.
func (t *Tracer) Run(ctx context.Context, handle func([]Event)) error {
	batch := make([]Event, 0, maxBatch)
	var rec ringbuf.Record
	deliver := func() {
		if len(batch) > 0 {
			handle(batch)
			batch = batch[:0]
		}
	}
	t.rd.SetDeadline(time.Now().Add(t.flush))
	for {
		if ctx.Err() != nil {
			deliver()
			return nil
		}
		err := t.rd.ReadInto(&rec)
		switch {
		case err == nil:
			if ev, ok := t.decode(rec.RawSample); ok {
				t.join(&ev)
				batch = append(batch, ev)
			}
			if len(batch) == maxBatch {
				deliver()
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			deliver()
			t.rd.SetDeadline(time.Now().Add(t.flush))
		case errors.Is(err, ringbuf.ErrClosed):
			deliver()
			return nil
		default:
			return fmt.Errorf("reading ring buffer: %w", err)
		}
	}
}

func (t *Tracer) decode(raw []byte) (Event, bool) {
	var r tcpEvent
	if len(raw) < eventSize {
		return Event{}, false
	}
	decodeEvent(raw, &r)
	ev := Event{
		Time:          time.Unix(0, int64(r.TsNs)+int64(t.monoToRT)).UTC(),
		mono:          r.TsNs,
		Kind:          Kind(r.Kind),
		Cookie:        r.Cookie,
		PID:           r.Pid,
		Cgroup:        r.Cgroup,
		Passive:       r.Passive != 0,
		SRTT:          time.Duration(r.SrttUs) * time.Microsecond,
		Retransmits:   r.Retransmits,
		BytesAcked:    r.BytesAcked,
		BytesReceived: r.BytesReceived,
		OldState:      r.Oldstate,
		NewState:      r.Newstate,
	}
	if r.Comm[0] != 0 {
		ev.Comm = string(bytes.TrimRight(r.Comm[:], "\x00"))
	}
	ev.Src = netip.AddrPortFrom(addr(r.Family, r.Saddr), r.Sport)
	ev.Dst = netip.AddrPortFrom(addr(r.Family, r.Daddr), r.Dport)
	return ev, true
}

// join records opens and completes the connection's later events with the
// process and cgroup seen at the open and the duration since it.
func (t *Tracer) join(ev *Event) {
	switch ev.Kind {
	case KindOpenActive, KindOpenPassive:
		if len(t.conns) >= t.maxConns {
			t.tableFull.Add(1)
			return
		}
		t.conns[ev.Cookie] = connInfo{start: ev.mono, pid: ev.PID, comm: ev.Comm, cgroup: ev.Cgroup, passive: ev.Passive}
		return
	}
	c, ok := t.conns[ev.Cookie]
	if !ok {
		if ev.Kind == KindClose || ev.Kind == KindFail {
			t.untracked.Add(1)
		}
		return
	}
	ev.PID, ev.Comm, ev.Cgroup, ev.Passive = c.pid, c.comm, c.cgroup, c.passive
	if ev.mono > c.start {
		ev.Duration = time.Duration(ev.mono - c.start)
	}
	if ev.Kind == KindClose || ev.Kind == KindFail {
		delete(t.conns, ev.Cookie)
	}
}

func addr(family uint16, b [16]byte) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(b).Unmap()
}

// Counters sums the per-CPU counters.
func (t *Tracer) Counters() (Counters, error) {
	per := make([]tcpCounters, t.ncpu)
	if err := t.objs.CounterMap.Lookup(uint32(0), &per); err != nil {
		return Counters{}, fmt.Errorf("reading counters: %w", err)
	}
	var v [16]uint64
	for _, c := range per {
		for i := range v {
			v[i] += c.V[i]
		}
	}
	return Counters{
		Emitted: v[0], Lost: v[1], OpenActive: v[2], OpenPassive: v[3], Established: v[4],
		Closed: v[5], Failed: v[6], Retransmits: v[7], Untracked: t.untracked.Load(), TableFull: t.tableFull.Load(),
	}, nil
}

// RTT sums the per-CPU log2 histograms of smoothed RTT in microseconds.
func (t *Tracer) RTT() ([RTTSlots]uint64, error) {
	var out [RTTSlots]uint64
	per := make([]tcpRttHist, t.ncpu)
	if err := t.objs.RttMap.Lookup(uint32(0), &per); err != nil {
		return out, fmt.Errorf("reading rtt histogram: %w", err)
	}
	for _, h := range per {
		for i := range out {
			out[i] += h.Slots[i]
		}
	}
	return out, nil
}

// Remotes returns retransmits per remote address.
func (t *Tracer) Remotes() (map[netip.Addr]uint64, error) {
	out := map[netip.Addr]uint64{}
	var k tcpRemoteKey
	var v tcpRemoteStats
	it := t.objs.Remotes.Iterate()
	for it.Next(&k, &v) {
		out[addr(k.Family, k.Addr)] += v.Retransmits
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading remotes: %w", err)
	}
	return out, nil
}

// ProgramStats returns run time and run count per program; they are zero
// unless kernel.bpf_stats_enabled is on (see EnableStats).
func (t *Tracer) ProgramStats() (map[string]ebpf.ProgramStats, error) {
	out := make(map[string]ebpf.ProgramStats, len(t.programes))
	for name, p := range t.programes {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("reading stats of %s: %w", name, err)
		}
		out[name] = *st
	}
	return out, nil
}

// EnableStats turns on the kernel's BPF run-time statistics until the
// returned closer is closed.
func EnableStats() (interface{ Close() error }, error) {
	return ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
}
