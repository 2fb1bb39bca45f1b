package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"github.com/meshoptixiq/mesh/common/envconf"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/obs"
	"github.com/meshoptixiq/mesh/nodeagent/ebpf"
	"github.com/meshoptixiq/mesh/nodeagent/gpu"
	"github.com/meshoptixiq/mesh/nodeagent/gpu/gpufixture"
	"github.com/meshoptixiq/mesh/nodeagent/nccl"
	"github.com/meshoptixiq/mesh/nodeagent/report"
	"github.com/meshoptixiq/mesh/nodeagent/tcpstats"
)

// run is the whole agent; main and the tests call it alike. With the
// argument "topo" it prints the GPU topology matrix and exits.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if obs.IsVersionFlag(args) {
		_, err := fmt.Fprintln(stdout, "nodeagent", obs.ReadBuild())
		return err
	}
	if obs.IsHelpFlag(args) {
		return envconf.WriteHelp(stdout, "usage: nodeagent [topo]\n\nThe node agent: eBPF TCP telemetry and GPU/NVLink/NCCL state, reported to the\napiserver. `nodeagent topo` prints this node's GPU topology once.\n",
			func(getenv func(string) string) { _, _ = loadConfig(getenv) })
	}
	fs := flag.NewFlagSet("nodeagent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nodeagent [topo]\n\nConfigured by environment variables; see nodeagent/README.md.")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	lib, err := nvmlLib(cfg)
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "":
	case "topo":
		gr := gpu.Open(lib)
		defer gr.Close()
		s, err := gr.Read()
		if err != nil {
			return fmt.Errorf("reading gpu topology: %w", err)
		}
		_, err = io.WriteString(stdout, gpu.Render(s))
		return err
	default:
		fs.Usage()
		return fmt.Errorf("unknown command %q", fs.Arg(0))
	}

	log := obs.NewLogger(stderr, cfg.LogLevel, "nodeagent")
	log.Info("starting", "config", cfg)
	a, err := newAgent(cfg, lib, log)
	if err != nil {
		return err
	}
	defer a.close()

	reg := obs.NewRegistry("nodeagent")
	reg.MustRegister(a.stats.Collector(), a)
	ln, err := lifecycle.Listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on NODEAGENT_LISTEN %s: %w", cfg.Listen, err)
	}
	r := router.New()
	r.GET("/metrics", obs.MetricsHandler(reg))
	r.GET("/livez", func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok\n") })
	r.GET("/readyz", a.readyz)
	srv := &fasthttp.Server{Handler: r.Handler, Name: "nodeagent", ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	log.Info("listening", "addr", ln.Addr().String(), "ebpf", a.ebpfStatus, "nvml", a.gpu.Status())

	g := lifecycle.NewGroup(ctx)
	g.Go(func() error { return lifecycle.ServeHTTP(g.Ctx, srv, ln) })
	if a.tracer != nil {
		g.Go(func() error { return a.tracer.Run(g.Ctx, a.stats.Handle) })
	}
	g.Go(func() error { return a.loop(g.Ctx) })
	err = g.Wait()
	log.Info("stopped")
	return err
}

func nvmlLib(cfg config) (gpu.Lib, error) {
	if cfg.GPUFixture != "" {
		return gpufixture.New(cfg.GPUFixture)
	}
	return nvml.New(), nil
}

// agent holds the sources and the latest snapshot between reports.
type agent struct {
	cfg        config
	log        *slog.Logger
	tracer     *ebpf.Tracer // nil when eBPF is off or could not load
	ebpfStatus string
	stats      *tcpstats.Stats
	gpu        *gpu.Reader
	sender     report.Sender

	bootID  string // random per start: the apiserver compares seq within it
	seq     uint64
	ready   atomic.Bool
	sent    atomic.Uint64
	failed  atomic.Uint64
	mu      sync.Mutex
	lastGPU gpu.Snapshot
	lastNC  report.NCCL
	ncclErr string
	// Delivery outcome, for /readyz (under mu).
	started     time.Time
	attempts    uint64
	deliveredAt time.Time // zero until a report is delivered
	failStreak  int       // consecutive undelivered reports
	lastErr     string
}

// readyFailures is how many reports in a row may go undelivered, or how
// many report periods may pass without a delivery, before /readyz says 503.
const readyFailures = 3

func newAgent(cfg config, lib gpu.Lib, log *slog.Logger) (*agent, error) {
	a := &agent{cfg: cfg, log: log, bootID: rand.Text(), started: time.Now()}
	var kernel tcpstats.Kernel
	switch cfg.EBPF {
	case "off":
		a.ebpfStatus = "unavailable: disabled by NODEAGENT_EBPF=off; using /proc/net/snmp"
	default:
		t, err := ebpf.Load(ebpf.Options{RingBytes: int(cfg.RingBytes), WakeupBytes: int(cfg.WakeupBytes),
			FlushInterval: cfg.FlushInterval, MaxConns: cfg.MaxConns})
		if err != nil {
			if cfg.EBPF == "on" {
				return nil, fmt.Errorf("loading eBPF programs (NODEAGENT_EBPF=on): %w", err)
			}
			a.ebpfStatus = "unavailable: " + err.Error() + "; using /proc/net/snmp"
			log.Warn("eBPF unavailable, falling back to /proc counters", "err", err)
		} else {
			a.tracer, kernel = t, t
			a.ebpfStatus = "loaded"
			log.Info("eBPF programs attached", "load_attach", t.LoadTime.String())
		}
	}
	a.stats = tcpstats.New(kernel, cfg.ProcRoot, cfg.MaxEvents)
	a.gpu = gpu.Open(lib)
	if !strings.HasPrefix(a.gpu.Status(), "ok") {
		log.Warn("nvml unavailable", "status", a.gpu.Status())
	}
	if cfg.RedisURL != "" {
		rs, err := report.NewRedis(cfg.RedisURL.Reveal(), cfg.Node, int64(cfg.StreamMaxLen))
		if err != nil {
			a.close()
			return nil, err
		}
		a.sender = rs
	} else {
		a.sender = report.NewHTTP(cfg.APIServerURL, cfg.APIKey.Reveal(), cfg.ReportTimeout)
	}
	return a, nil
}

func (a *agent) close() {
	if a.tracer != nil {
		if err := a.tracer.Close(); err != nil {
			a.log.Warn("closing eBPF programs", "err", err)
		}
	}
	if a.gpu != nil {
		a.gpu.Close()
	}
	if a.sender != nil {
		a.sender.Close()
	}
}

func (a *agent) readyz(ctx *fasthttp.RequestCtx) {
	if !a.ready.Load() {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("not ready: first snapshot not taken\n")
		return
	}
	delivery, ok := a.delivery(time.Now())
	if !ok {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		fmt.Fprintf(ctx, "not ready: reports not delivered\nebpf: %s\nnvml: %s\ndelivery: %s\n", a.ebpfStatus, a.gpu.Status(), delivery)
		return
	}
	fmt.Fprintf(ctx, "ok\nebpf: %s\nnvml: %s\ndelivery: %s\n", a.ebpfStatus, a.gpu.Status(), delivery)
}

// delivery describes the last report deliveries and says whether they are
// healthy: false when the last readyFailures reports all failed, or none
// was delivered for readyFailures report periods (each with its timeout).
func (a *agent) delivery(now time.Time) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	since := a.deliveredAt
	if since.IsZero() {
		since = a.started
	}
	quiet := now.Sub(since)
	ok := a.failStreak < readyFailures && quiet <= readyFailures*(a.cfg.ReportInterval+a.cfg.ReportTimeout)
	last := "never"
	if !a.deliveredAt.IsZero() {
		last = quiet.Round(time.Millisecond).String() + " ago"
	}
	switch {
	case a.attempts == 0:
		return "first report in flight", ok
	case a.failStreak == 0:
		return "ok, last report delivered " + last, ok
	default:
		return fmt.Sprintf("failing: last %d reports not delivered (%s); last delivered %s", a.failStreak, a.lastErr, last), ok
	}
}

// loop reports at once, then every interval.
func (a *agent) loop(ctx context.Context) error {
	t := time.NewTicker(a.cfg.ReportInterval)
	defer t.Stop()
	for {
		a.once(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (a *agent) once(ctx context.Context) {
	r := a.collect()
	a.ready.Store(true)
	sctx, cancel := context.WithTimeout(ctx, a.cfg.ReportTimeout)
	defer cancel()
	err := a.sender.Send(sctx, r)
	a.mu.Lock()
	a.attempts++
	if err != nil {
		a.failStreak++
		a.lastErr = strings.ReplaceAll(err.Error(), "\n", "; ")
	} else {
		a.failStreak, a.lastErr, a.deliveredAt = 0, "", time.Now()
	}
	a.mu.Unlock()
	if err != nil {
		a.failed.Add(1)
		// Keep the events for the next report (bounded by
		// NODEAGENT_MAX_EVENTS; the excess counts as dropped).
		a.stats.Requeue(r.Events)
		if ctx.Err() == nil {
			a.log.Warn("report not delivered", "seq", r.Seq, "events", len(r.Events), "err", err)
		}
		return
	}
	a.sent.Add(1)
}

func (a *agent) collect() *report.Report {
	a.seq++
	r := &report.Report{Version: report.Version, Node: a.cfg.Node, Time: time.Now().UTC(), Seq: a.seq, BootID: a.bootID}
	r.Status.EBPF = a.ebpfStatus
	tcp, err := a.stats.TCP()
	if err != nil {
		a.log.Warn("reading tcp figures", "err", err)
	}
	r.TCP = tcp
	r.Events, r.DroppedEvents = a.stats.Drain()
	snap, err := a.gpu.Read()
	if err != nil {
		a.log.Warn("reading gpus", "err", err)
		snap = gpu.Snapshot{Status: "unavailable: " + err.Error()}
	}
	r.GPU = snap
	r.Status.NVML = snap.Status
	nc, ncErr := a.readNCCL(snap)
	r.NCCL = nc
	r.Status.NCCL = ncErr
	a.mu.Lock()
	if len(nc.Disagreements) != len(a.lastNC.Disagreements) {
		for _, d := range nc.Disagreements {
			a.log.Warn("nvml and nccl disagree", "disagreement", d.String())
		}
	}
	a.lastGPU, a.lastNC, a.ncclErr = snap, nc, ncErr
	a.mu.Unlock()
	return r
}

func (a *agent) readNCCL(snap gpu.Snapshot) (report.NCCL, string) {
	var out report.NCCL
	if a.cfg.NCCLTopoFile == "" && len(a.cfg.NCCLLogs) == 0 && len(a.cfg.NCCLTraces) == 0 {
		return out, "not configured"
	}
	var errs []error
	if a.cfg.NCCLTopoFile != "" {
		if f, err := os.Open(a.cfg.NCCLTopoFile); err != nil {
			errs = append(errs, fmt.Errorf("NCCL_TOPO_DUMP_FILE: %w", err))
		} else {
			t, err := nccl.ParseTopology(f)
			f.Close()
			if err != nil {
				errs = append(errs, err)
			} else {
				out.Topology = &t
				out.Disagreements = nccl.CrossCheck(snap, t)
			}
		}
	}
	lp := nccl.NewLogParser()
	for _, path := range globs(a.cfg.NCCLLogs) {
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := lp.Parse(f); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
		f.Close()
	}
	out.Communicators = lp.Communicators()
	rule := nccl.HangRule{Factor: float64(a.cfg.HangFactor), Window: a.cfg.HangWindow, MinSamples: a.cfg.HangMinSamples}
	for _, path := range globs(a.cfg.NCCLTraces) {
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var idle time.Duration
		if st, err := f.Stat(); err == nil {
			idle = max(time.Since(st.ModTime()), 0)
		}
		res, err := nccl.ParseTrace(f, idle, rule)
		f.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		out.ActiveOps = append(out.ActiveOps, res.Active...)
	}
	if err := errors.Join(errs...); err != nil {
		return out, strings.ReplaceAll(err.Error(), "\n", "; ")
	}
	return out, "ok"
}

func globs(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		m, _ := filepath.Glob(p) // validated at start
		out = append(out, m...)
	}
	return out
}

var (
	descReports   = prometheus.NewDesc("meshq_nodeagent_reports_total", "Reports sent, by result.", []string{"result"}, nil)
	descEBPFUp    = prometheus.NewDesc("meshq_nodeagent_ebpf_up", "1 when the eBPF programs are loaded and attached.", nil, nil)
	descLoad      = prometheus.NewDesc("meshq_nodeagent_ebpf_load_seconds", "Time taken to load and attach every eBPF program.", nil, nil)
	descNVMLUp    = prometheus.NewDesc("meshq_nodeagent_nvml_up", "1 when NVML answered.", nil, nil)
	descGPUInfo   = prometheus.NewDesc("meshq_nodeagent_gpu_info", "One series per GPU with its identity.", []string{"gpu", "uuid", "name", "pci_bus_id", "mig"}, nil)
	descGPUMemT   = prometheus.NewDesc("meshq_nodeagent_gpu_memory_total_bytes", "GPU memory size.", []string{"gpu"}, nil)
	descGPUMemU   = prometheus.NewDesc("meshq_nodeagent_gpu_memory_used_bytes", "GPU memory in use.", []string{"gpu"}, nil)
	descGPUTemp   = prometheus.NewDesc("meshq_nodeagent_gpu_temperature_celsius", "GPU core temperature.", []string{"gpu"}, nil)
	descGPUUtil   = prometheus.NewDesc("meshq_nodeagent_gpu_utilization_ratio", "GPU utilisation over the driver's last sample period.", []string{"gpu"}, nil)
	descLinkUp    = prometheus.NewDesc("meshq_nodeagent_nvlink_up", "1 when the NVLink is active.", []string{"gpu", "link", "remote_type", "remote_pci_bus_id"}, nil)
	descLinkTx    = prometheus.NewDesc("meshq_nodeagent_nvlink_transmit_bytes_total", "NVLink data transmitted.", []string{"gpu", "link"}, nil)
	descLinkRx    = prometheus.NewDesc("meshq_nodeagent_nvlink_receive_bytes_total", "NVLink data received.", []string{"gpu", "link"}, nil)
	descLinkErr   = prometheus.NewDesc("meshq_nodeagent_nvlink_errors_total", "NVLink data-link errors by type.", []string{"gpu", "link", "type"}, nil)
	descFieldErr  = prometheus.NewDesc("meshq_nodeagent_nvml_field_errors", "Field values NVML did not return in the last read.", nil, nil)
	descComms     = prometheus.NewDesc("meshq_nodeagent_nccl_communicators", "NCCL communicator ranks seen in the INFO logs.", nil, nil)
	descActiveOps = prometheus.NewDesc("meshq_nodeagent_nccl_active_operations", "NCCL operations in flight, by kind.", []string{"kind"}, nil)
	descHung      = prometheus.NewDesc("meshq_nodeagent_nccl_hung_operations", "NCCL operations running longer than the hang factor times their kind's average.", nil, nil)
	descDisagree  = prometheus.NewDesc("meshq_nodeagent_nccl_topology_disagreements", "NVLinks on which NVML and NCCL disagree.", nil, nil)
	descNCCLErr   = prometheus.NewDesc("meshq_nodeagent_nccl_up", "1 when every configured NCCL source was read.", nil, nil)
	agentDescs    = []*prometheus.Desc{descReports, descEBPFUp, descLoad, descNVMLUp, descGPUInfo, descGPUMemT, descGPUMemU, descGPUTemp, descGPUUtil, descLinkUp, descLinkTx, descLinkRx, descLinkErr, descFieldErr, descComms, descActiveOps, descHung, descDisagree, descNCCLErr}
	boolGauge     = map[bool]float64{true: 1, false: 0}
)

// Describe and Collect export the agent's own, GPU and NCCL figures from
// the last snapshot.
func (a *agent) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range agentDescs {
		ch <- d
	}
}

func (a *agent) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(a.sent.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(descReports, prometheus.CounterValue, float64(a.failed.Load()), "error")
	ch <- prometheus.MustNewConstMetric(descEBPFUp, prometheus.GaugeValue, boolGauge[a.tracer != nil])
	if a.tracer != nil {
		ch <- prometheus.MustNewConstMetric(descLoad, prometheus.GaugeValue, a.tracer.LoadTime.Seconds())
	}
	a.mu.Lock()
	snap, nc, ncErr := a.lastGPU, a.lastNC, a.ncclErr
	a.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descNVMLUp, prometheus.GaugeValue, boolGauge[snap.Available()])
	if snap.Available() {
		ch <- prometheus.MustNewConstMetric(descFieldErr, prometheus.GaugeValue, float64(snap.FieldErrors))
	}
	for _, g := range snap.GPUs {
		idx := fmt.Sprint(g.Index)
		ch <- prometheus.MustNewConstMetric(descGPUInfo, prometheus.GaugeValue, 1, idx, g.UUID, g.Name, g.PCIBusID, fmt.Sprint(g.MIGEnabled))
		ch <- prometheus.MustNewConstMetric(descGPUMemT, prometheus.GaugeValue, float64(g.MemoryTotal), idx)
		ch <- prometheus.MustNewConstMetric(descGPUMemU, prometheus.GaugeValue, float64(g.MemoryUsed), idx)
		ch <- prometheus.MustNewConstMetric(descGPUTemp, prometheus.GaugeValue, float64(g.TemperatureC), idx)
		ch <- prometheus.MustNewConstMetric(descGPUUtil, prometheus.GaugeValue, float64(g.UtilGPU)/100, idx)
		for _, l := range g.Links {
			link := fmt.Sprint(l.Link)
			ch <- prometheus.MustNewConstMetric(descLinkUp, prometheus.GaugeValue, boolGauge[l.Active], idx, link, l.RemoteType, l.RemotePCIBusID)
			if l.TxBytes != nil {
				ch <- prometheus.MustNewConstMetric(descLinkTx, prometheus.CounterValue, float64(*l.TxBytes), idx, link)
			}
			if l.RxBytes != nil {
				ch <- prometheus.MustNewConstMetric(descLinkRx, prometheus.CounterValue, float64(*l.RxBytes), idx, link)
			}
			for typ, v := range map[string]*uint64{"replay": l.ReplayErrors, "recovery": l.RecoveryErrors, "crc": l.CRCErrors} {
				if v != nil {
					ch <- prometheus.MustNewConstMetric(descLinkErr, prometheus.CounterValue, float64(*v), idx, link, typ)
				}
			}
		}
	}
	if ncErr == "not configured" || ncErr == "" {
		return
	}
	ch <- prometheus.MustNewConstMetric(descNCCLErr, prometheus.GaugeValue, boolGauge[ncErr == "ok"])
	ch <- prometheus.MustNewConstMetric(descComms, prometheus.GaugeValue, float64(len(nc.Communicators)))
	kinds := map[string]int{}
	hung := 0
	for _, op := range nc.ActiveOps {
		kinds[op.Kind]++
		if op.Hang {
			hung++
		}
	}
	for k, n := range kinds {
		ch <- prometheus.MustNewConstMetric(descActiveOps, prometheus.GaugeValue, float64(n), k)
	}
	ch <- prometheus.MustNewConstMetric(descHung, prometheus.GaugeValue, float64(hung))
	ch <- prometheus.MustNewConstMetric(descDisagree, prometheus.GaugeValue, float64(len(nc.Disagreements)))
}
