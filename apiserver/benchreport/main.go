// Command benchreport measures the apiserver on seeded demo networks and
// prints each figure next to its target: for 1k and 10k devices (issue 2)
// ingest into the embedded store, resident memory after load,
// restart-to-ready, in-process p99 of the hot queries, and HTTP keep-alive
// throughput of locate_endpoint_by_ip under wrk; the scaling curve from 1k
// to 100k devices as a table and a PNG chart, and the memory of a server
// after repeated ingests and a query storm against a restarted one
// (issue 17); then the firewall figures, the AI reliability features'
// (chaos, spans, conversation) and, side by side with SuzieQ on the same
// network (BENCH_SUZIEQ_DEVICES, default 10000, 0 to skip), the latency of
// "where is this IP" and of a path, ours and SuzieQ's through its Python
// API, with their ratio. `make bench` runs it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/firewall/fwbench"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	sizes := fs.String("sizes", "1000,10000", "network sizes (devices), comma-separated")
	wrkDur := fs.Duration("wrk-duration", 10*time.Second, "how long wrk runs per size")
	suzieqOnly := fs.Bool("suzieq-only", false, "measure the side by side with SuzieQ alone")
	scaleMax := fs.Int("scale-max", envInt("BENCH_SCALE_MAX", curveSizes[len(curveSizes)-1]),
		"largest size of the scaling curve, of 1000, 10000, 50000, 100000 (default $BENCH_SCALE_MAX, or the whole curve); 0 skips it")
	chart := fs.String("chart", filepath.Join("var", "bench", "apiserver-scaling.png"), "where the scaling curve's chart is written")
	memory := fs.Bool("memory", true, "measure memory after ingest (issue 17)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "meshq-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "apiserver")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./apiserver")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the apiserver: %w", err)
	}
	fmt.Fprintf(out, "apiserver benchmarks (GOMAXPROCS=%s, %d CPUs)\n", os.Getenv("GOMAXPROCS"), numCPU())
	sqDevices, err := suzieqSize(os.Getenv)
	if err != nil {
		return err
	}
	if *suzieqOnly {
		return suzieqFigures(out, tmp, sqDevices)
	}
	for _, s := range strings.Split(*sizes, ",") {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-sizes: %q is not a number", s)
		}
		if err := measure(out, bin, filepath.Join(tmp, "data-"+s), n, *wrkDur); err != nil {
			return fmt.Errorf("%d devices: %w", n, err)
		}
	}
	if *scaleMax > 0 {
		if err := scalingCurve(out, bin, tmp, *scaleMax, *chart); err != nil {
			return err
		}
	}
	if *memory {
		if err := memoryAfterIngest(out, bin, tmp); err != nil {
			return fmt.Errorf("memory after ingest: %w", err)
		}
	}
	// Firewall intelligence (issue 3), measured by apiserver/firewall/fwbench.
	if err := firewallFigures(out); err != nil {
		return err
	}
	if err := reliabilityFigures(out); err != nil {
		return err
	}
	// The peer (issue 17): SuzieQ on the same network and questions.
	if sqDevices == 0 {
		return nil
	}
	return suzieqFigures(out, tmp, sqDevices)
}

// envInt is the integer in the environment variable, or def when unset.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func firewallFigures(out io.Writer) error {
	fmt.Fprintf(out, "firewall intelligence: %d-site network, one %d-rule firewall per site\n", fwbench.Network.Sites, fwbench.Network.RulesPerFW)
	figs, err := fwbench.Measure(context.Background())
	if err != nil {
		return fmt.Errorf("firewall figures: %w", err)
	}
	rows := make([]row, len(figs))
	for i, f := range figs {
		rows[i] = row{what: f.What, got: f.Got, target: f.Target, ok: f.OK}
	}
	printRows(out, rows)
	return nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

type row struct {
	what, got, target string
	ok                bool
}

func printRows(out io.Writer, rows []row) {
	fmt.Fprintf(out, "  %-52s %14s   %-14s %s\n", "measure", "measured", "target", "")
	for _, r := range rows {
		mark := "ok"
		if !r.ok {
			mark = "MISSED"
		}
		if r.target == "" || strings.HasPrefix(r.target, "(") {
			mark = ""
		}
		fmt.Fprintf(out, "  %-52s %14s   %-14s %s\n", r.what, r.got, r.target, mark)
	}
}

func measure(out io.Writer, bin, dir string, n int, wrkDur time.Duration) error {
	ctx := context.Background()
	doc := demo.Generate(demo.Options{Seed: 1, Devices: n})
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	var rows []row

	// Ingest: what POST /graph/ingest does: parse and validate the JSON,
	// write it durably to the store, build the graph.
	st, err := store.OpenEmbedded(dir)
	if err != nil {
		return err
	}
	t0 := time.Now()
	parsed, err := facts.Parse(data)
	if err != nil {
		st.Close()
		return fmt.Errorf("parsing the generated network: %w", err)
	}
	tParse := time.Since(t0)
	eng := engine.New(st, graph.Options{RootRoles: graph.DefaultRootRoles()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t1 := time.Now()
	g, err := eng.Ingest(ctx, engine.ModeReplace, parsed.Devices)
	if err != nil {
		st.Close()
		return err
	}
	tIngest := time.Since(t0)
	s := g.Stats()
	fmt.Fprintf(out, "\n== %d devices (%d interfaces, %d endpoints, %d IPs, %d links; facts %.1f MiB)\n",
		s.Devices, s.Interfaces, s.Endpoints, s.IPAddresses, s.Links, float64(len(data))/(1<<20))
	rows = append(rows,
		row{"ingest: parse+validate JSON", dur(tParse), "", true},
		row{"ingest: store write (fsync) + graph build", dur(time.Since(t1)), "", true},
		sized(n, row{"ingest: total", dur(tIngest), "≤ 30 s", tIngest <= 30*time.Second}),
	)

	// In-process latency of the hot queries over the engine's graph.
	reg := query.NewBuiltin()
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	var eps []string
	for _, e := range g.Endpoints {
		for _, a := range e.IPs {
			eps = append(eps, a.IP.String())
		}
	}
	var s24 []string
	for _, sn := range g.Subnets {
		if sn.Prefix.Bits() == 24 && sn.Prefix.Addr().Is4() {
			s24 = append(s24, sn.Prefix.String())
		}
	}
	var hosts []string
	for _, d := range g.Devices {
		hosts = append(hosts, d.Hostname)
	}
	if len(eps) == 0 || len(s24) == 0 {
		return errors.New("the generated network has no endpoints or no /24 subnets")
	}
	lat := func(name string, iters int, target time.Duration, params func() string) error {
		d, _ := reg.Lookup(name)
		env := &query.Env{Graph: eng.Graph()}
		times := make([]time.Duration, iters)
		for i := range iters {
			var raw map[string]query.RawValue
			if p := params(); p != "" {
				if err := json.Unmarshal([]byte(p), &raw); err != nil {
					return err
				}
			}
			st := time.Now()
			if _, err := reg.Execute(ctx, d, env, raw); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			times[i] = time.Since(st)
		}
		slices.Sort(times)
		p50, p99 := times[iters/2], times[iters*99/100]
		rows = append(rows, row{fmt.Sprintf("p50 %s", name), dur(p50), "", true},
			row{fmt.Sprintf("p99 %s", name), dur(p99), "≤ " + dur(target), p99 <= target})
		return nil
	}
	if err := lat("locate_endpoint_by_ip", 20000, 50*time.Microsecond, func() string {
		return `{"ip":"` + eps[rng.IntN(len(eps))] + `"}`
	}); err != nil {
		return err
	}
	if err := lat("ips_in_subnet", 5000, time.Millisecond, func() string {
		return `{"subnet":"` + s24[rng.IntN(len(s24))] + `"}`
	}); err != nil {
		return err
	}
	if err := lat("blast_radius_from_device", 500, 20*time.Millisecond, func() string {
		return `{"hostname":"` + hosts[rng.IntN(len(hosts))] + `"}`
	}); err != nil {
		return err
	}
	if err := lat("summary_stats", 20000, time.Millisecond, func() string { return "" }); err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}

	// Restart-to-ready and memory: the real binary on the data directory.
	port, err := freePort()
	if err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "MESHQ_DATA_DIR="+dir, "API_LISTEN=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=ERROR")
	cmd.Stderr = os.Stderr
	t2 := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := waitReady(base, 60*time.Second); err != nil {
		return err
	}
	ready := time.Since(t2)
	rows = append(rows, sized(n, row{"restart to ready (exec → /health/ready 200)", dur(ready), "≤ 5 s", ready <= 5*time.Second}))
	// Settle the heap the way a running server would after load.
	time.Sleep(500 * time.Millisecond)
	rss, err := rssKiB(cmd.Process.Pid)
	if err != nil {
		return err
	}
	per := float64(rss) / float64(s.Devices)
	rows = append(rows, row{"resident memory after load", fmt.Sprintf("%.0f MiB", float64(rss)/1024), "", true},
		sized(n, row{"resident memory per device", fmt.Sprintf("%.1f KiB", per), "≤ 50 KiB", per <= 50}))

	// HTTP keep-alive throughput under wrk.
	rps, detail, err := wrkLocate(base, eps, wrkDur)
	switch {
	case err != nil:
		rows = append(rows, row{"HTTP locate_endpoint_by_ip (wrk)", "not measured", "≥ 20000 req/s", false})
		fmt.Fprintf(out, "  wrk: %v\n", err)
	default:
		rows = append(rows, row{"HTTP locate_endpoint_by_ip, keep-alive (wrk)", fmt.Sprintf("%.0f req/s", rps), "≥ 20000 req/s", rps >= 20000})
		// The same server's cheapest route under the same load: the
		// ceiling that wrk and this machine allow, for comparison.
		if base, _, err := wrkRun(base+"/health", "", wrkDur); err == nil {
			rows = append(rows, row{"  baseline: GET /health, same server and wrk", fmt.Sprintf("%.0f req/s", base), "", true})
		}
	}
	printRows(out, rows)
	if detail != "" {
		fmt.Fprintf(out, "  wrk: %s\n", detail)
	}
	return nil
}

// sized keeps a target the issue states for the 10k-device network only
// on that network; smaller ones report the figure alone (fixed runtime
// overheads dominate them).
func sized(n int, r row) row {
	if n < 10000 {
		r.target, r.ok = "(set @10k)", true
	}
	return r
}

func dur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s", limit)
}

func rssKiB(pid int) (int64, error) { return procStatusKiB(pid, "VmRSS:") }

// procStatusKiB reads one of the memory fields of /proc/PID/status.
func procStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

var reqPerSec = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// wrkLocate runs wrk against locate_endpoint_by_ip with a rotating set of
// real endpoint IPs.
func wrkLocate(base string, eps []string, d time.Duration) (float64, string, error) {
	var sb strings.Builder
	sb.WriteString("local bodies = {\n")
	for i := 0; i < min(len(eps), 1000); i++ {
		fmt.Fprintf(&sb, "  '{\"parameters\":{\"ip\":\"%s\"}}',\n", eps[i*len(eps)/min(len(eps), 1000)])
	}
	sb.WriteString(`}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, "/queries/locate_endpoint_by_ip/execute", nil, bodies[i])
end
`)
	script := filepath.Join(os.TempDir(), fmt.Sprintf("meshq-wrk-%d.lua", os.Getpid()))
	if err := os.WriteFile(script, []byte(sb.String()), 0o600); err != nil {
		return 0, "", err
	}
	defer os.Remove(script)
	return wrkRun(base, script, d)
}

// wrkRun runs wrk (with a Lua script when given) and returns requests per
// second and its latency line.
func wrkRun(url, script string, d time.Duration) (float64, string, error) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return 0, "", errors.New("wrk is not installed (make bench-deps installs it)")
	}
	args := []string{"-t2", "-c32", "-d" + d.String()}
	if script != "" {
		args = append(args, "-s", script)
	}
	out, err := exec.Command(wrk, append(args, url)...).CombinedOutput()
	if err != nil {
		return 0, "", fmt.Errorf("wrk: %v: %s", err, out)
	}
	m := reqPerSec.FindSubmatch(out)
	if m == nil {
		return 0, "", fmt.Errorf("no Requests/sec in wrk output: %s", out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	var lat string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "Latency") || strings.Contains(l, "Non-2xx") {
			lat += strings.Join(strings.Fields(l), " ") + "; "
		}
	}
	return rps, "-t2 -c32 -d" + d.String() + ": " + lat, nil
}
