package ebpf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

func TestEventLayout(t *testing.T) {
	if got := int(reflect.TypeFor[tcpEvent]().Size()); got != eventSize {
		t.Fatalf("sizeof(tcpEvent) = %d, want eventSize %d", got, eventSize)
	}
	// Each field's offset must match decodeEvent.
	want := map[string]uintptr{"TsNs": 0, "Cookie": 8, "Cgroup": 16, "BytesAcked": 24, "BytesReceived": 32,
		"Pid": 40, "SrttUs": 44, "Retransmits": 48, "Family": 52, "Sport": 54, "Dport": 56, "Kind": 58,
		"Oldstate": 59, "Newstate": 60, "Passive": 61, "Saddr": 64, "Daddr": 80, "Comm": 96}
	typ := reflect.TypeFor[tcpEvent]()
	for name, off := range want {
		f, ok := typ.FieldByName(name)
		if !ok {
			t.Errorf("tcpEvent has no field %s", name)
			continue
		}
		if f.Offset != off {
			t.Errorf("offset of tcpEvent.%s = %d, want %d", name, f.Offset, off)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindOpenActive: "opened_active", KindOpenPassive: "opened_passive",
		KindEstablished: "established", KindClose: "closed", KindFail: "failed", KindRetransmit: "retransmit", 42: "kind_42"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

// requireRoot skips, saying why, when the test cannot load BPF programs.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: loading eBPF programs needs root (CI runs as root)")
	}
}

// collector gathers events from Run.
type collector struct {
	mu     sync.Mutex
	events []Event
}

func (c *collector) add(b []Event) {
	c.mu.Lock()
	c.events = append(c.events, b...)
	c.mu.Unlock()
}

func (c *collector) snapshot() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// waitFor polls until cond holds on the events seen so far, or fails after a
// generous limit printing what was seen (the limit only bounds a failure).
func (c *collector) waitFor(t *testing.T, what string, cond func([]Event) bool) []Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs := c.snapshot()
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			for _, e := range evs {
				t.Logf("seen: %s %s -> %s pid=%d comm=%q retrans=%d", e.Kind, e.Src, e.Dst, e.PID, e.Comm, e.Retransmits)
			}
			t.Fatalf("events never showed %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startTracer(t *testing.T) (*Tracer, *collector) {
	t.Helper()
	requireRoot(t)
	tr, err := Load(Options{FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Load() error = %v, want the programs loaded and attached (running as root)", err)
	}
	col := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, col.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil after cancel", err)
		}
		if err := tr.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return tr, col
}

func TestLifecycleEvents(t *testing.T) {
	tr, col := startTracer(t)
	before, err := tr.RTT()
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp4", "127.0.0.71:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := netip.MustParseAddrPort(ln.Addr().String())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(c, c)
			c.Close()
		}
	}()

	const conns = 4
	clientPorts := map[uint16]bool{}
	for range conns {
		c, err := net.Dial("tcp4", srv.String())
		if err != nil {
			t.Fatal(err)
		}
		clientPorts[uint16(c.LocalAddr().(*net.TCPAddr).Port)] = true
		buf := make([]byte, 5)
		for range 20 {
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}

	// A refused connect: a port nobody listens on.
	dead, err := net.Listen("tcp4", "127.0.0.72:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := netip.MustParseAddrPort(dead.Addr().String())
	dead.Close()
	if c, err := net.Dial("tcp4", deadAddr.String()); err == nil {
		c.Close()
		t.Fatalf("Dial(%s) succeeded, want connection refused", deadAddr)
	}

	pid := uint32(os.Getpid())
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 {
		comm = comm[:15]
	}
	count := func(evs []Event, k Kind, match func(Event) bool) int {
		n := 0
		for _, e := range evs {
			if e.Kind == k && match(e) {
				n++
			}
		}
		return n
	}
	toSrv := func(e Event) bool { return e.Dst == srv }
	fromSrv := func(e Event) bool { return e.Src == srv }
	evs := col.waitFor(t, "every lifecycle event", func(evs []Event) bool {
		return count(evs, KindOpenActive, toSrv) >= conns && count(evs, KindEstablished, toSrv) >= conns &&
			count(evs, KindOpenPassive, fromSrv) >= conns && count(evs, KindClose, toSrv) >= conns &&
			count(evs, KindClose, fromSrv) >= conns && count(evs, KindFail, func(e Event) bool { return e.Dst == deadAddr }) >= 1
	})
	for _, e := range evs {
		switch {
		case e.Kind == KindOpenActive && toSrv(e), e.Kind == KindEstablished && toSrv(e):
			if e.PID != pid || e.Comm != comm {
				t.Errorf("%s event pid, comm = %d, %q, want %d, %q", e.Kind, e.PID, e.Comm, pid, comm)
			}
			if e.Kind == KindEstablished && !clientPorts[e.Src.Port()] {
				t.Errorf("established event source port %d is none of the client ports %v", e.Src.Port(), clientPorts)
			}
		case e.Kind == KindClose && toSrv(e):
			if e.PID != pid || e.Duration <= 0 || e.BytesAcked < 100 || e.BytesReceived < 100 {
				t.Errorf("client close event = %+v, want pid %d, duration > 0, 100+ bytes each way", e, pid)
			}
		case e.Kind == KindOpenPassive && fromSrv(e):
			if !e.Passive || !clientPorts[e.Dst.Port()] {
				t.Errorf("passive open = %+v, want Passive and a client port as destination", e)
			}
		case e.Kind == KindClose && fromSrv(e):
			if !e.Passive || e.Duration <= 0 {
				t.Errorf("server close event = %+v, want Passive, duration > 0", e)
			}
		case e.Kind == KindFail && e.Dst == deadAddr:
			if e.PID != pid || e.OldState != 2 /* SYN_SENT */ {
				t.Errorf("failed event = %+v, want pid %d from SYN_SENT", e, pid)
			}
		}
	}

	after, err := tr.RTT()
	if err != nil {
		t.Fatal(err)
	}
	var grown uint64
	for i := range after {
		grown += after[i] - before[i]
	}
	// 4 connections × 20 round trips each way: every data segment and ack
	// received on an established socket is one tcp_probe sample.
	if grown < conns*20 {
		t.Errorf("RTT histogram grew by %d samples, want at least %d", grown, conns*20)
	}
	cnt, err := tr.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Lost != 0 {
		t.Errorf("Counters().Lost = %d, want 0", cnt.Lost)
	}
	if cnt.Emitted < uint64(len(evs)) {
		t.Errorf("Counters().Emitted = %d, want at least the %d events read", cnt.Emitted, len(evs))
	}
	ln.Close()
	wg.Wait()
}

// TestRetransmit drops every segment to a listener with a socket filter, so the client's SYN is retransmitted after the initial RTO.
func TestRetransmit(t *testing.T) {
	tr, col := startTracer(t)
	// Plain TCP: Go listens with MPTCP by default, and MPTCP sockets refuse
	// socket filters.
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp4", "127.0.0.73:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	drop, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Fatalf("loading drop filter: %v", err)
	}
	defer drop.Close()
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_BPF, drop.FD())
	}); err != nil || serr != nil {
		t.Fatalf("attaching drop filter: %v %v", err, serr)
	}
	dst := netip.MustParseAddrPort(ln.Addr().String())

	ctx, cancel := context.WithCancel(context.Background())
	dialDone := make(chan error, 1)
	go func() {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp4", dst.String())
		if err == nil {
			c.Close()
			err = errors.New("connected through a dropping filter")
		}
		dialDone <- err
	}()
	col.waitFor(t, "a retransmit towards "+dst.String(), func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == KindRetransmit && e.Dst == dst {
				return true
			}
		}
		return false
	})
	cancel()
	if err := <-dialDone; err == nil || err.Error() == "connected through a dropping filter" {
		t.Fatalf("dial through a dropping filter = %v, want cancelled", err)
	}
	evs := col.waitFor(t, "the failed connection with its retransmits", func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == KindFail && e.Dst == dst {
				return true
			}
		}
		return false
	})
	for _, e := range evs {
		if e.Kind == KindFail && e.Dst == dst && e.Retransmits < 1 {
			t.Errorf("failed event retransmits = %d, want ≥ 1", e.Retransmits)
		}
		if e.Kind == KindRetransmit && e.Dst == dst && e.PID != uint32(os.Getpid()) {
			t.Errorf("retransmit event pid = %d, want %d", e.PID, os.Getpid())
		}
	}
	remotes, err := tr.Remotes()
	if err != nil {
		t.Fatal(err)
	}
	if got := remotes[dst.Addr()]; got < 1 {
		t.Errorf("Remotes()[%s] = %d, want ≥ 1 (all: %v)", dst.Addr(), got, remotes)
	}
	cnt, err := tr.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Retransmits < 1 || cnt.Lost != 0 {
		t.Errorf("Counters() = %+v, want Retransmits ≥ 1, Lost 0", cnt)
	}
}

// TestLostEventsCounted fills a tiny ring buffer nobody reads and checks that
// the drops are counted rather than silent.
func TestLostEventsCounted(t *testing.T) {
	requireRoot(t)
	tr, err := Load(Options{RingBytes: 4096, WakeupBytes: 1 << 30})
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	defer tr.Close()
	ln, err := net.Listen("tcp4", "127.0.0.74:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	// 4096 bytes hold at most 4096/(112+8) = 34 records; 100 connections
	// make about 500.
	for range 100 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	cnt, err := tr.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cnt.Lost == 0 || cnt.Emitted > 34 {
		t.Errorf("Counters() = %+v, want Lost > 0 and Emitted ≤ 34", cnt)
	}
	if cnt.OpenActive < 100 {
		t.Errorf("Counters().OpenActive = %d, want ≥ 100 (counted even when the record is lost)", cnt.OpenActive)
	}
	fmt.Fprintln(io.Discard, cnt)
}

// TestIPv6 checks the v6 address path on ::1.
func TestIPv6(t *testing.T) {
	_, col := startTracer(t)
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("skipping: no IPv6 loopback here: %v", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	dst := netip.MustParseAddrPort(ln.Addr().String())
	c, err := net.Dial("tcp6", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddrPort(c.LocalAddr().String())
	c.Close()
	evs := col.waitFor(t, "the v6 connection's close", func(evs []Event) bool {
		for _, e := range evs {
			if e.Kind == KindClose && e.Dst == dst {
				return true
			}
		}
		return false
	})
	for _, e := range evs {
		if e.Kind == KindClose && e.Dst == dst && (e.Src != src || e.PID != uint32(os.Getpid())) {
			t.Errorf("v6 close event = %+v, want src %s and our pid", e, src)
		}
	}
}

func TestJoinTableFull(t *testing.T) {
	tr := &Tracer{conns: map[uint64]connInfo{}, maxConns: 1}
	open1 := Event{Kind: KindOpenActive, Cookie: 1, PID: 10, Comm: "a", mono: 100}
	open2 := Event{Kind: KindOpenActive, Cookie: 2, PID: 20, Comm: "b", mono: 100}
	tr.join(&open1)
	tr.join(&open2)
	close1 := Event{Kind: KindClose, Cookie: 1, mono: 400}
	close2 := Event{Kind: KindClose, Cookie: 2, mono: 400}
	tr.join(&close1)
	tr.join(&close2)
	if close1.PID != 10 || close1.Comm != "a" || close1.Duration != 300 {
		t.Errorf("joined close = %+v, want pid 10, comm a, duration 300ns", close1)
	}
	if close2.PID != 0 || tr.tableFull.Load() != 1 || tr.untracked.Load() != 1 {
		t.Errorf("close past the table = %+v, tableFull %d, untracked %d; want no pid, 1, 1", close2, tr.tableFull.Load(), tr.untracked.Load())
	}
	if len(tr.conns) != 0 {
		t.Errorf("conns after closes = %d, want 0", len(tr.conns))
	}
}
