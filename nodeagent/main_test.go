package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/meshoptixiq/mesh/common/obs"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/fasthttp/router"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/testenv"
	"github.com/meshoptixiq/mesh/nodeagent/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// binary is the agent built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "nodeagent-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by nobody too, for the unprivileged run.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "nodeagent")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building nodeagent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixtures copies the NCCL fixtures to a temporary directory with their
// modification time an hour ahead, so the trace's idle time is zero for the
// whole test and hang verdicts do not depend on how fast the test runs.
func fixtures(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out := map[string]string{}
	for _, name := range []string{"dgx-h100.topo.xml", "rank0-1.log", "trace.json"} {
		b, err := os.ReadFile(filepath.Join("nccl", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		future := time.Now().Add(time.Hour)
		if err := os.Chtimes(p, future, future); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

// apiserver runs the apiserver's telemetry service on loopback, as the
// agent's HTTP peer.
func apiserver(t *testing.T) (*telemetry.Service, string) {
	t.Helper()
	s := telemetry.New(slog.New(slog.NewTextHandler(io.Discard, nil)), telemetry.Options{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := router.New()
	s.Mount(r)
	srv := &fasthttp.Server{Handler: r.Handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return s, "http://" + ln.Addr().String()
}

// unprivileged, when set on start's env, runs the agent as nobody.
const unprivileged = "TEST_RUN_AS_NOBODY"

// capabilitiesOnly, when set on start's env, runs the agent as nobody with
// exactly the capabilities k8s/nodeagent.yaml grants it, raised as ambient
// capabilities so they survive the switch away from root.
const capabilitiesOnly = "TEST_RUN_WITH_AGENT_CAPABILITIES"

// Linux capability numbers (linux/capability.h).
const (
	capPerfmon = 38
	capBPF     = 39
)

// asInManifest, when set on start's env to a comma-separated list of
// capabilities ("bpf,perfmon"), runs the agent the way k8s/nodeagent.yaml
// has the runtime run it: as root, every capability outside the list gone
// from the bounding set (capabilities: drop ALL, add ...), no_new_privs
// (allowPrivilegeEscalation: false), and RLIMIT_MEMLOCK at 64 KiB, the low
// limit many container runtimes leave, with no CAP_SYS_RESOURCE to raise it.
const asInManifest = "TEST_RUN_AS_IN_MANIFEST"

// manifestCommand is the agent under setpriv(1) and prlimit(1)
// (util-linux) as asInManifest describes.
func manifestCommand(t *testing.T, caps []string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: dropping to a set of capabilities needs root (CI runs as root)")
	}
	for _, tool := range []string{"setpriv", "prlimit"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (util-linux) is needed to run the agent with only some capabilities: %v", tool, err)
		}
	}
	bounding := "-all"
	for _, c := range caps {
		bounding += ",+" + c
	}
	return exec.Command("prlimit", "--memlock=65536:65536", "--",
		"setpriv", "--bounding-set="+bounding, "--inh-caps=-all", "--no-new-privs", "--", binary)
}

type agentProc struct {
	base   string
	stderr *bytes.Buffer
}

// start runs the binary with env (and nothing else from the environment)
// and waits until /readyz answers 200.
func start(t *testing.T, env map[string]string) *agentProc {
	t.Helper()
	port := testenv.FreePort(t)
	cmd := exec.Command(binary)
	if caps, ok := env[asInManifest]; ok {
		cmd = manifestCommand(t, strings.Split(caps, ","))
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("NODEAGENT_LISTEN=127.0.0.1:%d", port), "NODE_NAME=gpu-test-01"}
	for k, v := range env {
		if k == asInManifest {
			continue
		}
		if k == unprivileged {
			if os.Geteuid() == 0 {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			}
			continue
		}
		if k == capabilitiesOnly {
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
				AmbientCaps: []uintptr{capBPF, capPerfmon},
			}
			continue
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &agentProc{base: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("agent exit after SIGINT = %v, want 0\n%s", err, p.stderr)
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("agent did not stop on SIGINT\n%s", p.stderr)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("agent exited before ready: %v\n%s", err, p.stderr)
		default:
		}
		if resp, err := http.Get(p.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent never ready\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *agentProc) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(p.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
	}
	return string(b)
}

// stableMetrics drops the families whose values legitimately vary between
// runs: the Go runtime, the process, the build (its revision) and report
// counts (timing).
func stableMetrics(page string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		l := sc.Text()
		name := strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "meshq_build_info") ||
			strings.HasPrefix(name, "meshq_nodeagent_reports_total") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

func fixtureEnv(t *testing.T) map[string]string {
	f := fixtures(t)
	return map[string]string{
		"NODEAGENT_EBPF":                  "off",
		"NODEAGENT_PROC_ROOT":             "testdata/proc",
		"NODEAGENT_GPU_FIXTURE":           "dgx-h100",
		"NCCL_TOPO_DUMP_FILE":             f["dgx-h100.topo.xml"],
		"NODEAGENT_NCCL_LOGS":             f["rank0-1.log"],
		"NODEAGENT_NCCL_TRACES":           f["trace.json"],
		"NODEAGENT_REPORT_INTERVAL":       "200ms",
		"NODEAGENT_NCCL_HANG_FACTOR":      "10",
		"NODEAGENT_NCCL_HANG_WINDOW":      "100",
		"NODEAGENT_NCCL_HANG_MIN_SAMPLES": "3",
		"LOG_LEVEL":                       "ERROR",
	}
}

// TestMetricsGolden runs the real binary against fixtures (/proc counters,
// the DGX H100 NVML mock, NCCL dumps) and compares the whole /metrics page
// with a golden file.
func TestMetricsGolden(t *testing.T) {
	_, api := apiserver(t)
	env := fixtureEnv(t)
	env["APISERVER_URL"] = api
	a := start(t, env)
	raw := a.get(t, "/metrics")
	problems, err := obs.Lint([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s", p)
	}
	got := stableMetrics(raw)
	path := filepath.Join("testdata", "metrics.golden")
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
		t.Errorf("/metrics mismatch (-want +got):\n%s", diff)
	}
	ready := a.get(t, "/readyz")
	if want := "ok\nebpf: unavailable: disabled by NODEAGENT_EBPF=off; using /proc/net/snmp\nnvml: ok\ndelivery: "; !strings.HasPrefix(ready, want) {
		t.Errorf("/readyz = %q, want it to start %q", ready, want)
	}
	if got := a.get(t, "/livez"); got != "ok\n" {
		t.Errorf("/livez = %q, want ok", got)
	}
}

// TestReportsThroughAPIServer checks the contract: what the agent posts,
// the apiserver's telemetry service accepts and serves.
func TestReportsThroughAPIServer(t *testing.T) {
	svc, api := apiserver(t)
	env := fixtureEnv(t)
	env["APISERVER_URL"] = api
	start(t, env)
	var ops struct {
		Operations []telemetry.Operation `json:"operations"`
		Hung       int                   `json:"hung"`
	}
	waitJSON(t, api+"/nccl/operations/active?node=gpu-test-01", &ops, func() bool { return len(ops.Operations) > 0 })
	if len(ops.Operations) != 3 || ops.Hung != 1 || !ops.Operations[0].Hang || ops.Operations[0].Kind != "AllReduce" {
		t.Errorf("operations = %+v (hung %d), want 3 with the AllReduce hung", ops.Operations, ops.Hung)
	}
	var topo struct {
		Nodes []struct {
			Links         []telemetry.Link `json:"links"`
			Matrix        [][]string       `json:"matrix"`
			Disagreements []map[string]any `json:"disagreements"`
			Communicators []map[string]any `json:"communicators"`
		} `json:"nodes"`
	}
	waitJSON(t, api+"/nccl/topology/full", &topo, func() bool { return len(topo.Nodes) == 1 })
	n := topo.Nodes[0]
	if len(n.Links) != 8*18 || n.Matrix[0][7] != "NV18" || len(n.Disagreements) != 1 || len(n.Communicators) != 2 {
		t.Errorf("topology = %d links, matrix[0][7] %q, %d disagreements, %d communicators; want 144, NV18, 1, 2",
			len(n.Links), n.Matrix[0][7], len(n.Disagreements), len(n.Communicators))
	}
	var m struct {
		Nodes []struct {
			TCP report.TCP `json:"tcp"`
		} `json:"nodes"`
	}
	waitJSON(t, api+"/ebpf/metrics", &m, func() bool { return len(m.Nodes) == 1 })
	if tcp := m.Nodes[0].TCP; tcp.Source != "procfs" || tcp.Retransmits != 3 || tcp.OpenedActive != 439 {
		t.Errorf("tcp = %+v, want procfs figures from testdata/proc", tcp)
	}
	_ = svc
}

func waitJSON(t *testing.T, url string, v any, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && json.Unmarshal(b, v) == nil && done() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never gave the expected answer", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisStream checks the Redis path: reports land on the node's capped
// stream.
func TestRedisStream(t *testing.T) {
	rd := testenv.StartRedis(t)
	env := fixtureEnv(t)
	env["REDIS_URL"] = rd.URL()
	env["NODEAGENT_STREAM_MAXLEN"] = "5"
	env["NODEAGENT_REPORT_INTERVAL"] = "100ms"
	start(t, env)
	client := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	defer client.Close()
	ctx := context.Background()
	var entries []redis.XMessage
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		entries, err = client.XRange(ctx, "meshq:telemetry:gpu-test-01", "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		// Past the cap several times over: the stream has been trimmed.
		if seq := lastSeq(t, entries); seq > 30 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream has %d entries, last seq %d; want reports past seq 30", len(entries), lastSeq(t, entries))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(entries) > 30 {
		t.Errorf("stream length = %d, want it capped near NODEAGENT_STREAM_MAXLEN=5", len(entries))
	}
	var r report.Report
	if err := json.Unmarshal([]byte(entries[len(entries)-1].Values["report"].(string)), &r); err != nil {
		t.Fatal(err)
	}
	if r.Version != report.Version || r.Node != "gpu-test-01" || len(r.GPU.GPUs) != 8 || r.Status.NCCL != "ok" || r.TCP.Source != "procfs" {
		t.Errorf("report = version %q node %q gpus %d nccl %q tcp %q", r.Version, r.Node, len(r.GPU.GPUs), r.Status.NCCL, r.TCP.Source)
	}
	var first report.Report
	if err := json.Unmarshal([]byte(entries[0].Values["report"].(string)), &first); err != nil {
		t.Fatal(err)
	}
	if len(r.BootID) < 16 || first.BootID != r.BootID {
		t.Errorf("boot ids = %q then %q, want one random id (16+ characters) for the whole run", first.BootID, r.BootID)
	}
}

func lastSeq(t *testing.T, entries []redis.XMessage) uint64 {
	if len(entries) == 0 {
		return 0
	}
	var r report.Report
	if err := json.Unmarshal([]byte(entries[len(entries)-1].Values["report"].(string)), &r); err != nil {
		t.Fatal(err)
	}
	return r.Seq
}

// TestNoDriver runs the agent with the real NVML binding on a machine
// without the NVIDIA driver: it runs and says nvml is unavailable.
func TestNoDriver(t *testing.T) {
	if ret := nvml.New().Init(); ret == nvml.SUCCESS {
		t.Skip("skipping: an NVIDIA driver is present, so nvml is available here")
	}
	_, api := apiserver(t)
	a := start(t, map[string]string{"NODEAGENT_EBPF": "off", "NODEAGENT_PROC_ROOT": "testdata/proc", "APISERVER_URL": api})
	if got := a.get(t, "/readyz"); !strings.Contains(got, "nvml: unavailable: init: ERROR_LIBRARY_NOT_FOUND") {
		t.Errorf("/readyz = %q, want nvml: unavailable", got)
	}
	if got := a.get(t, "/metrics"); !strings.Contains(got, "meshq_nodeagent_nvml_up 0\n") {
		t.Errorf("/metrics has no meshq_nodeagent_nvml_up 0")
	}
}

// TestEBPFEndToEnd runs the agent with eBPF required, makes connections on
// loopback and finds them on the apiserver.
func TestEBPFEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: loading eBPF programs needs root (CI runs as root)")
	}
	_, api := apiserver(t)
	a := start(t, map[string]string{"NODEAGENT_EBPF": "on", "APISERVER_URL": api, "NODEAGENT_REPORT_INTERVAL": "200ms",
		"NODEAGENT_FLUSH_INTERVAL": "20ms", "LOG_LEVEL": "ERROR"})
	ln, err := net.Listen("tcp4", "127.0.0.81:0")
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
	for range 5 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	var ev struct {
		Events []telemetry.Event `json:"events"`
	}
	waitJSON(t, api+"/ebpf/events?remote=127.0.0.81&limit=1000", &ev, func() bool {
		n := 0
		for _, e := range ev.Events {
			if e.Kind == "closed" {
				n++
			}
		}
		return n >= 5
	})
	page := a.get(t, "/metrics")
	for _, want := range []string{"meshq_nodeagent_ebpf_up 1\n", "meshq_nodeagent_tcp_source{source=\"ebpf\"} 1\n", "meshq_nodeagent_ebpf_lost_events_total 0\n"} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
	// The eBPF-mode page, series by series without values (they depend on
	// the host's traffic), against a golden file.
	got := metricShape(page)
	path := filepath.Join("testdata", "metrics-ebpf.shape.golden")
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
		t.Errorf("eBPF /metrics series mismatch (-want +got):\n%s", diff)
	}
}

// TestEBPFWithOnlyItsCapabilities runs the agent as nobody with only
// CAP_BPF and CAP_PERFMON, the set k8s/nodeagent.yaml grants instead of
// privileged: the programs load and attach, and the agent reports eBPF mode.
func TestEBPFWithOnlyItsCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: granting capabilities needs root (CI runs as root)")
	}
	_, api := apiserver(t)
	a := start(t, map[string]string{capabilitiesOnly: "1", "NODEAGENT_EBPF": "on", "APISERVER_URL": api,
		"NODEAGENT_GPU_FIXTURE": "pcie", "LOG_LEVEL": "ERROR"})
	page := a.get(t, "/metrics")
	for _, want := range []string{"meshq_nodeagent_ebpf_up 1\n", "meshq_nodeagent_tcp_source{source=\"ebpf\"} 1\n"} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q: the agent needs more than CAP_BPF and CAP_PERFMON", strings.TrimSpace(want))
		}
	}
}

// TestEBPFAsInTheManifest runs the agent as k8s/nodeagent.yaml does — root
// with a bounding set of CAP_BPF and CAP_PERFMON, no_new_privs, and a 64 KiB
// RLIMIT_MEMLOCK it may not raise — and checks that the programs load and
// attach; and that with either capability alone they do not, so neither is
// granted for nothing.
func TestEBPFAsInTheManifest(t *testing.T) {
	_, api := apiserver(t)
	env := map[string]string{asInManifest: "bpf,perfmon", "NODEAGENT_EBPF": "on", "APISERVER_URL": api,
		"NODEAGENT_GPU_FIXTURE": "pcie", "LOG_LEVEL": "ERROR"}
	a := start(t, env)
	page := a.get(t, "/metrics")
	for _, want := range []string{"meshq_nodeagent_ebpf_up 1\n", "meshq_nodeagent_tcp_source{source=\"ebpf\"} 1\n"} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q: the agent needs more than the manifest grants", strings.TrimSpace(want))
		}
	}

	for _, only := range []string{"bpf", "perfmon"} {
		cmd := manifestCommand(t, []string{only})
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), fmt.Sprintf("NODEAGENT_LISTEN=127.0.0.1:%d", testenv.FreePort(t)),
			"NODE_NAME=gpu-test-01", "NODEAGENT_EBPF=on", "NODEAGENT_GPU_FIXTURE=pcie", "APISERVER_URL=" + api}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "NODEAGENT_EBPF=on") || !strings.Contains(string(out), "operation not permitted") {
			t.Errorf("agent with only CAP_%s: %v\n%s\nwant it to stop: the eBPF programs need both capabilities", strings.ToUpper(only), err, out)
		}
	}
}

// metricShape keeps the TCP and eBPF families of a /metrics page with the
// sample values cut off. Left out: the per-remote retransmit series (which
// remotes, if any, depends on the host's traffic) and the GPU, NCCL, Go
// and process families (they depend on the machine).
func metricShape(page string) string {
	keep := func(name string) bool {
		for _, p := range []string{"meshq_nodeagent_tcp_", "meshq_nodeagent_ebpf_", "meshq_nodeagent_events_", "meshq_nodeagent_conn_"} {
			if strings.HasPrefix(name, p) {
				return !strings.HasPrefix(name, "meshq_nodeagent_tcp_remote_retransmits_total")
			}
		}
		return false
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		l := sc.Text()
		if rest, ok := strings.CutPrefix(l, "# "); ok {
			if _, name, ok := strings.Cut(rest, " "); ok && keep(name) {
				out = append(out, l)
			}
			continue
		}
		if keep(l) {
			series, _, _ := strings.Cut(l, " ")
			if i := strings.LastIndexByte(l, '}'); i >= 0 {
				series = l[:i+1]
			}
			out = append(out, series)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// TestEBPFFallback runs the agent without the privilege to load eBPF (as
// nobody when the test runs as root): it falls back to /proc and says why.
func TestEBPFFallback(t *testing.T) {
	_, api := apiserver(t)
	a := start(t, map[string]string{unprivileged: "1", "NODEAGENT_EBPF": "auto", "NODEAGENT_PROC_ROOT": "testdata/proc",
		"NODEAGENT_GPU_FIXTURE": "pcie", "APISERVER_URL": api})
	ready := a.get(t, "/readyz")
	if !strings.Contains(ready, "ebpf: unavailable: ") || !strings.Contains(ready, "; using /proc/net/snmp\n") {
		t.Errorf("/readyz = %q, want ebpf unavailable with its reason and the /proc fallback", ready)
	}
	page := a.get(t, "/metrics")
	for _, want := range []string{"meshq_nodeagent_ebpf_up 0\n", "meshq_nodeagent_tcp_source{source=\"procfs\"} 1\n", "meshq_nodeagent_tcp_retransmits_total 3\n"} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}

// The built binary says which revision it was built from.
func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("nodeagent --version: %v\n%s", err, out)
	}
	if s := string(out); !strings.HasPrefix(s, "nodeagent ") || !strings.Contains(s, "(revision ") || strings.Contains(s, "revision unknown") {
		t.Errorf("nodeagent --version = %q, want the name, the module version and the VCS revision", s)
	}
}

func TestInvalidConfig(t *testing.T) {
	var stderr bytes.Buffer
	env := map[string]string{"NODEAGENT_RINGBUF_BYTES": "1000", "NODEAGENT_EBPF": "maybe", "APISERVER_URL": "ftp://x",
		"NODEAGENT_GPU_FIXTURE": "dgx-z", "LOG_LEVEL": "LOUD", "NODEAGENT_LISTEN": "nowhere"}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard, &stderr)
	if err == nil {
		t.Fatal("run() with invalid configuration = nil, want an error")
	}
	for _, name := range []string{"NODEAGENT_RINGBUF_BYTES", "NODEAGENT_EBPF", "APISERVER_URL", "NODEAGENT_GPU_FIXTURE", "LOG_LEVEL", "NODEAGENT_LISTEN"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("run() error does not name %s:\n%v", name, err)
		}
	}
	if err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, &stderr); err == nil {
		t.Errorf("run(frobnicate) = nil, want unknown command")
	}
}

func TestTopoCommand(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"NODEAGENT_GPU_FIXTURE": "pcie"}
	if err := run(context.Background(), []string{"topo"}, func(k string) string { return env[k] }, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("gpu/testdata/pcie.topo")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("nodeagent topo mismatch (-want +got):\n%s", diff)
	}
}

// TestAgentLinksNoSecretsManagerSDK guards the agent's memory: the cloud
// and Vault SDKs' package data and init made its RSS 64 MiB instead of 41
// before it left fetching to secretsexec (common/secrets/launch).
func TestAgentLinksNoSecretsManagerSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !slices.Contains(deps, "github.com/meshoptixiq/mesh/common/secrets/launch") {
		t.Fatalf("go list -deps gave %d packages without common/secrets/launch: not the agent's dependencies", len(deps))
	}
	for _, d := range deps {
		for _, sdk := range []string{"github.com/aws/", "github.com/Azure/", "cloud.google.com/", "github.com/hashicorp/vault/", "github.com/meshoptixiq/mesh/common/secrets"} {
			if strings.HasPrefix(d, sdk) && !strings.HasPrefix(d, "github.com/meshoptixiq/mesh/common/secrets/launch") {
				t.Errorf("the agent links %s", d)
			}
		}
	}
}
