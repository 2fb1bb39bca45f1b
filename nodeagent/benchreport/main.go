// Command benchreport measures the node agent against the targets of issue
// 6 and prints each figure next to its target: in-kernel cost per event
// (BPF run-time statistics), lost events under connection load, load+attach
// time, the agent's CPU and RSS at 10k events/s, and the time to the first
// report. It needs root (eBPF); run it with `go run ./nodeagent/benchreport`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/fasthttp/router"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/nodeagent/ebpf"
)

type row struct{ name, got, target, verdict string }

type results struct{ rows []row }

func (r *results) add(name, got, target string, ok bool) {
	v := "ok"
	if !ok {
		v = "MISSED"
	}
	r.rows = append(r.rows, row{name, got, target, v})
}

func (r *results) verdict(name, got, target, v string) {
	r.rows = append(r.rows, row{name, got, target, v})
}

func (r *results) note(name, got string) { r.rows = append(r.rows, row{name, got, "-", ""}) }

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	if os.Geteuid() != 0 {
		fmt.Fprintln(out, "nodeagent benchreport: skipped, eBPF needs root")
		return nil
	}
	var res results
	steps := []struct {
		name string
		fn   func(*results) error
	}{
		{"load+attach", loadAttach},
		{"kernel cost and losses", kernelCost},
		{"losses counted above capacity", lossesCounted},
		{"reader drain rate", drainRate},
		{"agent process", agentProcess},
	}
	only := os.Getenv("BENCH_ONLY") // a step name to run alone, while tuning
	for _, s := range steps {
		if only != "" && !strings.Contains(s.name, only) {
			continue
		}
		fmt.Fprintf(os.Stderr, "benchreport: %s...\n", s.name)
		if err := s.fn(&res); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	fmt.Fprintf(out, "nodeagent benchmarks (%s, %d CPUs)\n", kernelRelease(), numCPU())
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\ttarget\t")
	for _, r := range res.rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.name, r.got, r.target, r.verdict)
	}
	return tw.Flush()
}

func loadAttach(res *results) error {
	var times []time.Duration
	for range 5 {
		t, err := ebpf.Load(ebpf.Options{})
		if err != nil {
			return err
		}
		times = append(times, t.LoadTime)
		t.Close()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	res.add("load+attach of all programs (median of 5)", times[2].Round(time.Millisecond).String(), "≤ 500ms", times[2] <= 500*time.Millisecond)
	res.add("load+attach of all programs (worst of 5)", times[4].Round(time.Millisecond).String(), "≤ 500ms", times[4] <= 500*time.Millisecond)
	return nil
}

// withTracer loads the programs and reads the ring with a counting handler.
func withTracer(opts ebpf.Options, fn func(t *ebpf.Tracer, read *atomic.Int64) error) error {
	t, err := ebpf.Load(opts)
	if err != nil {
		return err
	}
	defer t.Close()
	var read atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- t.Run(ctx, func(b []ebpf.Event) { read.Add(int64(len(b))) }) }()
	err = fn(t, &read)
	cancel()
	return errors.Join(err, <-done)
}

// emptyProgram attaches a program that only returns to tracepoint: its run
// time is the floor BPF statistics measure on this machine (the
// sched_clock() bracket and dispatch), not work of ours.
func emptyProgram(tracepoint string) (*cebpf.Program, link.Link, error) {
	p, err := cebpf.NewProgram(&cebpf.ProgramSpec{Type: cebpf.Tracing, AttachType: cebpf.AttachTraceRawTp, AttachTo: tracepoint,
		License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		return nil, nil, fmt.Errorf("loading empty program: %w", err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: p})
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("attaching empty program: %w", err)
	}
	return p, l, nil
}

func perRun(p *cebpf.Program) (float64, uint64) {
	st, err := p.Stats()
	if err != nil || st.RunCount == 0 {
		return 0, 0
	}
	return float64(st.Runtime.Nanoseconds()) / float64(st.RunCount), st.RunCount
}

// costRuns is how many load runs the kernel cost is measured over.
const costRuns = 5

// costRun is one load run's inet_sock_set_state cost.
type costRun struct {
	perEvent, netPerEvent, floor, perRun, connRate float64
	runs, emitted, lost                            uint64
}

// measureCost drives srv as fast as it goes for a few seconds and charges
// the program's run time over that window to the events it emitted.
func measureCost(t *ebpf.Tracer, srv *loadServer, empty *cebpf.Program) (costRun, error) {
	before, err := t.Counters()
	if err != nil {
		return costRun{}, err
	}
	ps0, err := t.ProgramStats()
	if err != nil {
		return costRun{}, err
	}
	e0, err := empty.Stats()
	if err != nil {
		return costRun{}, err
	}
	n, d, err := generate(srv, 0, 4*time.Second, 2)
	if err != nil {
		return costRun{}, err
	}
	after, err := t.Counters()
	if err != nil {
		return costRun{}, err
	}
	ps1, err := t.ProgramStats()
	if err != nil {
		return costRun{}, err
	}
	e1, err := empty.Stats()
	if err != nil {
		return costRun{}, err
	}
	st, st0 := ps1["inet_sock_set_state"], ps0["inet_sock_set_state"]
	r := costRun{
		runs:     st.RunCount - st0.RunCount,
		emitted:  after.Emitted - before.Emitted,
		lost:     after.Lost - before.Lost,
		connRate: float64(n) / d.Seconds(),
	}
	rt := float64((st.Runtime - st0.Runtime).Nanoseconds())
	r.floor = float64((e1.Runtime - e0.Runtime).Nanoseconds()) / float64(max(e1.RunCount-e0.RunCount, 1))
	r.perEvent = rt / float64(max(r.emitted, 1))
	r.netPerEvent = (rt - r.floor*float64(r.runs)) / float64(max(r.emitted, 1))
	r.perRun = rt / float64(max(r.runs, 1))
	return r, nil
}

func median(runs []costRun, f func(costRun) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	return v[len(v)/2]
}

func kernelCost(res *results) error {
	stats, err := ebpf.EnableStats()
	if err != nil {
		return fmt.Errorf("enabling bpf stats: %w", err)
	}
	defer stats.Close()
	emptyState, l1, err := emptyProgram("inet_sock_set_state")
	if err != nil {
		return err
	}
	defer emptyState.Close()
	defer l1.Close()
	emptyProbe, l2, err := emptyProgram("tcp_probe")
	if err != nil {
		return err
	}
	defer emptyProbe.Close()
	defer l2.Close()
	return withTracer(ebpf.Options{}, func(t *ebpf.Tracer, read *atomic.Int64) error {
		srv, err := newLoadServer("127.0.0.91")
		if err != nil {
			return err
		}
		defer srv.Close()
		// Five runs under the same tracer, each charged with the floor the
		// empty program shows over that same run, so each net figure
		// subtracts the floor of its own load.
		var runs []costRun
		var lost uint64
		var connRate float64
		for range costRuns {
			r, err := measureCost(t, srv, emptyState)
			if err != nil {
				return err
			}
			runs = append(runs, r)
			lost += r.lost
			connRate = max(connRate, r.connRate)
		}
		for i, r := range runs {
			res.note(fmt.Sprintf("inet_sock_set_state run %d: raw / floor / net per emitted event", i+1),
				fmt.Sprintf("%.0f / %.0f / %.0f ns (%.0f ns per run over %d runs, %d emitted, %.0f conn/s)",
					r.perEvent, r.floor, r.netPerEvent, r.perRun, r.runs, r.emitted, r.connRate))
		}
		medRaw := median(runs, func(r costRun) float64 { return r.perEvent })
		medNet := median(runs, func(r costRun) float64 { return r.netPerEvent })
		medFloor := median(runs, func(r costRun) float64 { return r.floor })
		// The program runs on every state transition and emits on some
		// (here 5 of 6 per connection: the listener's child being
		// created emits nothing). Per emitted event charges the time of
		// every run, emitting or not, to the events: an upper bound on an
		// emitting run's cost. Net of the floor takes the empty
		// program's time off every run, so a run that leaves at the
		// state check adds almost nothing to it.
		res.add(fmt.Sprintf("inet_sock_set_state: ns per emitted event, raw (all runs' time / events emitted), median of %d", costRuns),
			fmt.Sprintf("%.0f ns", medRaw), "≤ 300 ns", medRaw <= 300)
		res.add(fmt.Sprintf("inet_sock_set_state: ns per emitted event, net of the floor ((all runs' time - floor × runs) / events), median of %d", costRuns),
			fmt.Sprintf("%.0f ns (floor %.0f ns per run)", medNet, medFloor), "≤ 300 ns", medNet <= 300)
		res.note("connection rate reached (2 cores, loopback, RST close)", fmt.Sprintf("%.0f conn/s at best", connRate))
		v := "MISSED"
		switch {
		case lost == 0 && connRate >= 50000:
			v = "ok"
		case lost == 0:
			v = "rate not reachable here; 0 lost at the rate reached"
		}
		res.verdict(fmt.Sprintf("lost events at %.0f conn/s (the most this machine makes)", connRate), strconv.FormatUint(lost, 10), "0 at 50k conn/s", v)
		var emitted uint64
		for _, r := range runs {
			emitted += r.emitted
		}
		time.Sleep(300 * time.Millisecond) // let the reader drain
		ps1, err := t.ProgramStats()
		if err != nil {
			return err
		}
		res.note("events read by the agent's reader / emitted", fmt.Sprintf("%d / %d", read.Load(), emitted))

		// RTT histogram: one ping-pong connection, every received segment
		// is one tcp_probe run.
		probe0 := ps1["tcp_probe"]
		samples, err := pingPong(srv.addr.IP.String(), 3*time.Second)
		if err != nil {
			return err
		}
		ps2, err := t.ProgramStats()
		if err != nil {
			return err
		}
		probe := ps2["tcp_probe"]
		pr := probe.RunCount - probe0.RunCount
		pt := probe.Runtime - probe0.Runtime
		perProbe := float64(pt.Nanoseconds()) / float64(max(pr, 1))
		floorProbe, _ := perRun(emptyProbe)
		res.add("tcp_probe: ns per histogram-only update, raw", fmt.Sprintf("%.0f ns over %d runs", perProbe, pr), "≤ 100 ns", perProbe <= 100)
		res.add("tcp_probe: ns per histogram-only update, net of the floor", fmt.Sprintf("%.0f ns", perProbe-floorProbe), "≤ 100 ns", perProbe-floorProbe <= 100)
		res.note("floor: an empty program's run time on the same tracepoints, same load",
			fmt.Sprintf("%.0f ns (inet_sock_set_state, median), %.0f ns (tcp_probe)", medFloor, floorProbe))
		res.note("ping-pong round trips driving tcp_probe", strconv.Itoa(samples))
		return nil
	})
}

// pingPong exchanges small messages on one connection for d.
func pingPong(ip string, d time.Duration) (int, error) {
	ln, err := net.Listen("tcp4", ip+":0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, 64)
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		if _, err := c.Write(buf); err != nil {
			return n, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return n, err
		}
	}
	return n, nil
}

// lossesCounted overloads a small ring nobody reads: drops must be counted.
func lossesCounted(res *results) error {
	t, err := ebpf.Load(ebpf.Options{RingBytes: 64 << 10, WakeupBytes: 1 << 30})
	if err != nil {
		return err
	}
	defer t.Close()
	srv, err := newLoadServer("127.0.0.92")
	if err != nil {
		return err
	}
	defer srv.Close()
	n, _, err := generate(srv, 0, time.Second, 2)
	if err != nil {
		return err
	}
	c, err := t.Counters()
	if err != nil {
		return err
	}
	// Per connection on loopback: opened_active, established, opened_passive
	// and two closes; every one either emitted or counted lost.
	want := uint64(n) * 5
	res.add("above capacity (64 KiB ring, no reader): emitted + lost",
		fmt.Sprintf("%d + %d = %d for %d conns", c.Emitted, c.Lost, c.Emitted+c.Lost, n), "every event counted (≥ 5/conn)",
		c.Lost > 0 && c.Emitted+c.Lost >= want)
	return nil
}

// drainRate fills a large ring with the reader stopped, then times how fast
// the reader empties it: the agent's sustainable event rate.
func drainRate(res *results) error {
	t, err := ebpf.Load(ebpf.Options{RingBytes: 64 << 20, WakeupBytes: 64 << 20})
	if err != nil {
		return err
	}
	defer t.Close()
	srv, err := newLoadServer("127.0.0.93")
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, _, err := generate(srv, 0, 2*time.Second, 2); err != nil {
		return err
	}
	c, err := t.Counters()
	if err != nil {
		return err
	}
	var read atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	var took time.Duration
	go func() {
		done <- t.Run(ctx, func(b []ebpf.Event) {
			if read.Add(int64(len(b))) >= int64(c.Emitted) && took == 0 {
				took = time.Since(start)
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		return fmt.Errorf("reader drained %d of %d events in 30s", read.Load(), c.Emitted)
	}
	rate := float64(read.Load()) / took.Seconds()
	res.add("reader drain rate (decode + hand over)", fmt.Sprintf("%.0f events/s (%d in %s)", rate, read.Load(), took.Round(time.Millisecond)),
		"≥ 250k events/s (50k conn/s × 5)", rate >= 250000)
	return nil
}

// agentProcess runs the real agent binary: time to first report, CPU and
// RSS while 2000 conn/s (about 10k events/s) go through it.
func agentProcess(res *results) error {
	dir, err := os.MkdirTemp("", "nodeagent-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "nodeagent")
	if out, err := exec.Command("go", "build", "-o", bin, "./nodeagent").CombinedOutput(); err != nil {
		return fmt.Errorf("building the agent: %v\n%s", err, out)
	}
	svc := telemetry.New(slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.Options{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	r := router.New()
	svc.Mount(r)
	api := &fasthttp.Server{Handler: r.Handler}
	go api.Serve(ln)
	defer api.Shutdown()
	base := "http://" + ln.Addr().String()

	agentLn, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	agentAddr := agentLn.Addr().String()
	agentLn.Close()
	cmd := exec.Command(bin)
	cmd.Env = []string{"NODEAGENT_EBPF=on", "APISERVER_URL=" + base, "NODEAGENT_LISTEN=" + agentAddr, "NODE_NAME=bench", "LOG_LEVEL=ERROR"}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	var first time.Duration
	for deadline := start.Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		resp, err := http.Get(base + "/ebpf/metrics?node=bench")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				first = time.Since(start)
				break
			}
		}
	}
	if first == 0 {
		return errors.New("no report within 20s")
	}
	res.add("first report after start (exec to apiserver receipt)", first.Round(time.Millisecond).String(), "≤ 2s", first <= 2*time.Second)

	srv, err := newLoadServer("127.0.0.94")
	if err != nil {
		return err
	}
	defer srv.Close()
	pid := cmd.Process.Pid
	ev0, err := scrape("http://"+agentAddr+"/metrics", "meshq_nodeagent_ebpf_events_total")
	if err != nil {
		return err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	n, d, err := generate(srv, 2000, 10*time.Second, 2)
	if err != nil {
		return err
	}
	cpu1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	ev1, err := scrape("http://"+agentAddr+"/metrics", "meshq_nodeagent_ebpf_events_total")
	if err != nil {
		return err
	}
	evRate := (ev1 - ev0) / d.Seconds()
	pct := 100 * (cpu1 - cpu0).Seconds() / d.Seconds()
	res.add(fmt.Sprintf("agent CPU at %.0f events/s (%.0f conn/s)", evRate, float64(n)/d.Seconds()), fmt.Sprintf("%.2f%% of a core", pct), "≤ 2% at 10k events/s", pct <= 2)
	rss, hwm, err := memory(pid)
	if err != nil {
		return err
	}
	res.add("agent RSS (now / peak)", fmt.Sprintf("%.1f / %.1f MiB", rss, hwm), "≤ 64 MiB", hwm <= 64)
	return nil
}

func scrape(url, metric string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == metric {
			return strconv.ParseFloat(f[1], 64)
		}
	}
	return 0, fmt.Errorf("%s not on %s", metric, url)
}

// cpuTime is utime+stime of pid.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

func memory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "linux"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

func numCPU() int { return runtime.NumCPU() }
