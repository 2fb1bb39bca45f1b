package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/firewall/fwquery"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
)

// curveSizes are the network sizes of the scaling curve (issue 17).
var curveSizes = []int{1000, 10000, 50000, 100000}

// curveQueries are the queries the curve times, in the table's order.
var curveQueries = []string{"locate_endpoint_by_ip", "ips_in_subnet", "blast_radius_from_device", "path_analysis", "hygiene_duplicate_ips"}

// point is the curve's figures at one size.
type point struct {
	devices    int
	factsBytes int
	ingest     time.Duration
	rssKiB     int64
	ready      time.Duration
	// p50 and p99 by query; hygieneFirst is the first (computing) call of
	// the hygiene query, whose repeats are answered from the memo.
	p50, p99     map[string]time.Duration
	hygieneFirst time.Duration
	err          error // where the size failed, if it did
}

func (p point) kibPerDevice() float64 { return float64(p.rssKiB) / float64(p.devices) }

// scalingCurve measures every size of curveSizes up to maxDevices, prints
// the table with the goals and writes the chart to chartPath.
func scalingCurve(out io.Writer, bin, tmp string, maxDevices int, chartPath string) error {
	fmt.Fprintf(out, "\n== scaling curve (BENCH_SCALE_MAX=%d)\n", maxDevices)
	var pts []point
	for _, n := range curveSizes {
		if n > maxDevices {
			continue
		}
		p := curvePoint(bin, filepath.Join(tmp, "curve-"+strconv.Itoa(n)), n)
		pts = append(pts, p)
		if p.err != nil {
			fmt.Fprintf(out, "  %d devices: FAILED: %v\n", n, p.err)
			break // a larger size would fail the same way, later
		}
		fmt.Fprintf(out, "  %d devices measured\n", n)
	}
	printCurve(out, pts)
	if len(pts) > 0 && chartPath != "" {
		if err := writeChart(chartPath, pts); err != nil {
			return fmt.Errorf("writing the chart: %w", err)
		}
		fmt.Fprintf(out, "  chart: %s\n", chartPath)
	}
	return nil
}

// curvePoint measures one size: ingest as POST /graph/ingest does it (parse
// and validate, durable write, graph build) in this process, the queries'
// latency on that graph, then the real binary restarted on the store:
// time to ready and resident memory.
func curvePoint(bin, dir string, n int) point {
	p := point{devices: n, p50: map[string]time.Duration{}, p99: map[string]time.Duration{}}
	data, err := json.Marshal(demo.Generate(demo.Options{Seed: 1, Devices: n}))
	if err != nil {
		p.err = err
		return p
	}
	p.factsBytes = len(data)
	returnMemory() // the generator's document
	st, err := store.OpenEmbedded(dir)
	if err != nil {
		p.err = err
		return p
	}
	ctx := context.Background()
	eng := engine.New(st, graph.Options{RootRoles: graph.DefaultRootRoles()}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Now()
	doc, err := facts.Parse(data)
	if err != nil {
		st.Close()
		p.err = fmt.Errorf("parsing the generated network: %w", err)
		return p
	}
	g, err := eng.Ingest(ctx, engine.ModeReplace, doc.Devices)
	p.ingest = time.Since(t0)
	if err != nil {
		st.Close()
		p.err = fmt.Errorf("ingest: %w", err)
		return p
	}
	p.devices = g.Stats().Devices
	if err := curveLatencies(ctx, g, &p); err != nil {
		st.Close()
		p.err = err
		return p
	}
	if err := st.Close(); err != nil {
		p.err = err
		return p
	}
	returnMemory()

	rss, ready, err := restartedRSS(bin, dir)
	if err != nil {
		p.err = fmt.Errorf("restarting the binary: %w", err)
		return p
	}
	p.rssKiB, p.ready = rss, ready
	if err := os.RemoveAll(dir); err != nil {
		p.err = err
	}
	return p
}

// returnMemory gives this process's garbage back between sizes, so that
// the larger sizes (and the binary started meanwhile) have the memory.
func returnMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// curveLatencies times curveQueries on g with the apiserver's registry.
func curveLatencies(ctx context.Context, g *graph.Graph, p *point) error {
	reg := query.NewBuiltin()
	if err := reg.Register(fwquery.Definitions(pathanalysis.NewCache())...); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, uint64(p.devices)))
	var campus, servers, eps []string
	dc := netip.MustParsePrefix("10.128.0.0/12")
	for _, e := range g.Endpoints {
		for _, a := range e.IPs {
			if !a.IP.Is4() {
				continue
			}
			eps = append(eps, a.IP.String())
			if dc.Contains(a.IP) {
				servers = append(servers, a.IP.String())
			} else if a.IP.IsPrivate() {
				campus = append(campus, a.IP.String())
			}
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
	if len(campus) == 0 || len(servers) == 0 || len(s24) == 0 {
		return fmt.Errorf("the generated network lacks campus or server endpoints or /24 subnets")
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	params := map[string]func() string{
		"locate_endpoint_by_ip":    func() string { return `{"ip":"` + pick(eps) + `"}` },
		"ips_in_subnet":            func() string { return `{"subnet":"` + pick(s24) + `"}` },
		"blast_radius_from_device": func() string { return `{"hostname":"` + pick(hosts) + `"}` },
		"path_analysis":            func() string { return `{"src_ip":"` + pick(campus) + `","dst_ip":"` + pick(servers) + `"}` },
		"hygiene_duplicate_ips":    func() string { return "" },
	}
	iters := map[string]int{"locate_endpoint_by_ip": 20000, "ips_in_subnet": 5000, "blast_radius_from_device": 300,
		"path_analysis": 2000, "hygiene_duplicate_ips": 2000}
	env := &query.Env{Graph: g}
	for _, name := range curveQueries {
		d, ok := reg.Lookup(name)
		if !ok {
			return fmt.Errorf("no query %s", name)
		}
		times := make([]time.Duration, iters[name])
		for i := range times {
			var raw map[string]query.RawValue
			if s := params[name](); s != "" {
				if err := json.Unmarshal([]byte(s), &raw); err != nil {
					return err
				}
			}
			start := time.Now()
			if _, err := reg.Execute(ctx, d, env, raw); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			times[i] = time.Since(start)
		}
		if name == "hygiene_duplicate_ips" {
			p.hygieneFirst = times[0]
		}
		slices.Sort(times)
		p.p50[name], p.p99[name] = times[len(times)/2], times[len(times)*99/100]
	}
	return nil
}

// restartedRSS starts the binary on dir and returns its resident memory
// once ready and how long it took to be ready.
func restartedRSS(bin, dir string) (int64, time.Duration, error) {
	cmd, base, err := startBinary(bin, dir, nil)
	if err != nil {
		return 0, 0, err
	}
	defer stopBinary(cmd)
	start := time.Now()
	if err := waitReady(base, 10*time.Minute); err != nil {
		return 0, 0, err
	}
	ready := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	rss, err := rssKiB(cmd.Process.Pid)
	return rss, ready, err
}

// startBinary runs the apiserver on dir on a free port with env added.
func startBinary(bin, dir string, env []string) (*exec.Cmd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), "MESHQ_DATA_DIR="+dir, "API_LISTEN="+addr, "LOG_LEVEL=ERROR"), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	return cmd, "http://" + addr, nil
}

func stopBinary(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// printCurve prints the curve as one table and its goals as rows.
func printCurve(out io.Writer, pts []point) {
	fmt.Fprintf(out, "  %-8s %9s %9s %9s %8s %8s %8s", "devices", "facts", "ingest", "µs/dev", "RSS", "KiB/dev", "ready")
	for _, q := range curveQueries {
		fmt.Fprintf(out, " %19s", shortName(q)+" p50/p99")
	}
	fmt.Fprintf(out, " %9s\n", "hyg first")
	for _, p := range pts {
		if p.err != nil {
			fmt.Fprintf(out, "  %-8d failed: %v\n", p.devices, p.err)
			continue
		}
		fmt.Fprintf(out, "  %-8d %9s %9s %9.1f %8s %8.1f %8s", p.devices, fmt.Sprintf("%.1f MiB", float64(p.factsBytes)/(1<<20)),
			dur(p.ingest), float64(p.ingest.Microseconds())/float64(p.devices), fmt.Sprintf("%.0f MiB", float64(p.rssKiB)/1024),
			p.kibPerDevice(), dur(p.ready))
		for _, q := range curveQueries {
			fmt.Fprintf(out, " %19s", dur(p.p50[q])+"/"+dur(p.p99[q]))
		}
		fmt.Fprintf(out, " %9s\n", dur(p.hygieneFirst))
	}
	var ok []point
	for _, p := range pts {
		if p.err == nil {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		return
	}
	first, last := ok[0], ok[len(ok)-1]
	at := fmt.Sprintf(" @%dk", last.devices/1000)
	var rows []row
	rows = append(rows, row{"memory per device" + at, fmt.Sprintf("%.1f KiB", last.kibPerDevice()), "≤ 50 KiB", last.kibPerDevice() <= 50})
	if last.devices >= 100000 && first.devices < last.devices {
		ratio := float64(last.p99["locate_endpoint_by_ip"]) / float64(first.p99["locate_endpoint_by_ip"])
		rows = append(rows, row{fmt.Sprintf("locate p99, %dk vs %dk", last.devices/1000, first.devices/1000), fmt.Sprintf("%.2f×", ratio), "≤ 2×", ratio <= 2})
	} else {
		rows = append(rows, row{"locate p99 flat 1k..100k", "not measured", "≤ 2×", false})
	}
	// Linear: the time per device of the largest ingest against the 10k
	// one's (the 1k one is mostly fixed costs).
	var ref *point
	for i := range ok {
		if ok[i].devices == 10000 {
			ref = &ok[i]
		}
	}
	if ref != nil && last.devices > ref.devices {
		per := func(p point) float64 { return float64(p.ingest) / float64(p.devices) }
		ratio := per(last) / per(*ref)
		rows = append(rows, row{fmt.Sprintf("ingest per device, %dk vs 10k (linear)", last.devices/1000), fmt.Sprintf("%.2f×", ratio), "≤ 1.5×", ratio <= 1.5})
	} else {
		rows = append(rows, row{"ingest linear 10k..100k", "not measured", "≤ 1.5×", false})
	}
	printRows(out, rows)
}

func shortName(q string) string {
	switch q {
	case "locate_endpoint_by_ip":
		return "locate"
	case "ips_in_subnet":
		return "subnet"
	case "blast_radius_from_device":
		return "blast"
	case "path_analysis":
		return "path"
	case "hygiene_duplicate_ips":
		return "hyg dup-IP"
	}
	return q
}
