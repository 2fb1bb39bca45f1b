package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/firewall/fwquery"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/suzieq"
	"github.com/meshoptixiq/mesh/common/facts"
)

//go:embed suzieq_bench.py
var suzieqBench []byte

// suzieqPython is the venv `make deps` installs SuzieQ into.
const suzieqPython = "var/tools/suzieq/bin/python"

// How many questions each side answers. SuzieQ reads its parquet files
// for every answer (seconds per path at 10k devices), so they are few;
// ours repeats each many times for stable percentiles.
const (
	suzieqFinds = 40
	suzieqPaths = 10
	ourRepeats  = 200
)

// suzieqSize is BENCH_SUZIEQ_DEVICES (default 10000; 0 skips the peer).
func suzieqSize(getenv func(string) string) (int, error) {
	v := getenv("BENCH_SUZIEQ_DEVICES")
	if v == "" {
		return 10000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || (n > 0 && (n < demo.MinDevices || n > demo.MaxDevices)) {
		return 0, fmt.Errorf("BENCH_SUZIEQ_DEVICES=%q: want 0 (skip) or %d..%d", v, demo.MinDevices, demo.MaxDevices)
	}
	return n, nil
}

type suzieqAnswers struct {
	LoadS  float64               `json:"load_s"`
	FindMS []float64             `json:"find_ms"`
	PathMS []float64             `json:"path_ms"`
	Find   map[string][][]string `json:"find"`
	Path   map[string][]string   `json:"path"`
	Errors map[string]string     `json:"errors"`
}

// suzieqFigures asks our queries and SuzieQ's the same questions about
// the same n-device demo network on this machine: where an IP is
// (locate_endpoint_by_ip, SuzieQ's network find) and a path between two
// endpoints (path_analysis, SuzieQ's path show), SuzieQ reading the
// network as its coalescer leaves it, written by apiserver/suzieq.
func suzieqFigures(out io.Writer, tmp string, n int) error {
	fmt.Fprintf(out, "\n== side by side with SuzieQ (%d-device demo network; BENCH_SUZIEQ_DEVICES)\n", n)
	if _, err := os.Stat(suzieqPython); err != nil {
		fmt.Fprintf(out, "  not measured: no SuzieQ at %s (make deps installs it)\n", suzieqPython)
		return nil
	}
	doc := demo.Generate(demo.Options{Seed: 1, Devices: n})
	if err := facts.Normalize(doc); err != nil {
		return err
	}
	g := graph.Build(1, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
	reg := query.NewBuiltin()
	if err := reg.Register(fwquery.Definitions(pathanalysis.NewCache())...); err != nil {
		return err
	}
	env := &query.Env{Graph: g}

	// Questions: endpoints' IPv4 addresses, drawn with a fixed seed.
	var ips []string
	for _, e := range g.Endpoints {
		for _, a := range e.IPs {
			if a.IP.Is4() {
				ips = append(ips, a.IP.String())
			}
		}
	}
	if len(ips) < 2 {
		return fmt.Errorf("the %d-device network has fewer than two endpoint IPv4 addresses", n)
	}
	rng := rand.New(rand.NewPCG(17, uint64(n)))
	pick := func() string { return ips[rng.IntN(len(ips))] }
	var finds []string
	for range suzieqFinds {
		finds = append(finds, pick())
	}
	var paths [][2]string
	for len(paths) < suzieqPaths {
		if s, d := pick(), pick(); s != d {
			paths = append(paths, [2]string{s, d})
		}
	}

	dir := filepath.Join(tmp, "suzieq")
	t0 := time.Now()
	st, err := suzieq.Export(dir, doc.Devices, suzieq.Options{Layout: suzieq.LayoutCoalesced, Time: doc.CollectedAt})
	if err != nil {
		return fmt.Errorf("exporting to SuzieQ: %w", err)
	}
	exportTime := time.Since(t0)

	script := filepath.Join(tmp, "suzieq_bench.py")
	if err := os.WriteFile(script, suzieqBench, 0o600); err != nil {
		return err
	}
	in, _ := json.Marshal(map[string]any{"find": finds, "path": paths})
	cmd := exec.Command(suzieqPython, script, dir, suzieq.DefaultNamespace)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("SuzieQ: %v\n%s", err, stderr.Bytes())
	}
	var sq suzieqAnswers
	if err := json.Unmarshal(raw, &sq); err != nil {
		return fmt.Errorf("SuzieQ printed %q: %v", raw, err)
	}

	// Ours, in process over the same network, each question many times.
	ctx := context.Background()
	ask := func(name string, params map[string]query.RawValue) (*query.Response, time.Duration, error) {
		d, _ := reg.Lookup(name)
		start := time.Now()
		res, err := reg.Execute(ctx, d, env, params)
		return res, time.Since(start), err
	}
	raw1 := func(s string) query.RawValue { b, _ := json.Marshal(s); return query.RawValue(b) }
	// Round after round over all the questions, so that no answer is
	// measured right after itself.
	var ourFind, ourPath []time.Duration
	ourFinds := make([][][]string, len(finds))
	ourPaths := make([][]string, len(paths))
	for round := range ourRepeats {
		for i, ip := range finds {
			res, d, err := ask("locate_endpoint_by_ip", map[string]query.RawValue{"ip": raw1(ip)})
			if err != nil {
				return fmt.Errorf("locate_endpoint_by_ip %s: %w", ip, err)
			}
			ourFind = append(ourFind, d)
			if round == 0 {
				for _, r := range res.Rows {
					ourFinds[i] = append(ourFinds[i], []string{fmt.Sprint(r[2]), fmt.Sprint(r[3])})
				}
				slices.SortFunc(ourFinds[i], slices.Compare)
			}
		}
		if round%10 != 0 {
			continue // paths cost more: a tenth as many rounds
		}
		for i, p := range paths {
			res, d, err := ask("path_analysis", map[string]query.RawValue{"src_ip": raw1(p[0]), "dst_ip": raw1(p[1])})
			if err != nil {
				return fmt.Errorf("path_analysis %s → %s: %w", p[0], p[1], err)
			}
			ourPath = append(ourPath, d)
			if round == 0 {
				for _, r := range res.Rows {
					ourPaths[i] = append(ourPaths[i], fmt.Sprint(r[2]))
				}
				slices.Sort(ourPaths[i])
				ourPaths[i] = slices.Compact(ourPaths[i])
			}
		}
	}
	findAgree, pathAgree := 0, 0
	var differ []string
	for i, ip := range finds {
		if slices.EqualFunc(ourFinds[i], sq.Find[ip], slices.Equal) {
			findAgree++
		} else if len(differ) < 2 {
			differ = append(differ, fmt.Sprintf("where is %s: ours %v, SuzieQ %v", ip, ourFinds[i], sq.Find[ip]))
		}
	}
	for i, p := range paths {
		if slices.Equal(ourPaths[i], sq.Path[p[0]+">"+p[1]]) {
			pathAgree++
		} else if len(differ) < 4 {
			differ = append(differ, fmt.Sprintf("path %s → %s: ours %v, SuzieQ %v", p[0], p[1], ourPaths[i], sq.Path[p[0]+">"+p[1]]))
		}
	}

	ms := func(v []float64) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x * float64(time.Millisecond))
		}
		return d
	}
	rows := []row{
		{fmt.Sprintf("export to SuzieQ parquet (%d files, %d interface rows)", st.Files, st.Rows["interfaces"]), dur(exportTime), "", true},
		{"SuzieQ: imports and first answer", dur(time.Duration(sq.LoadS * float64(time.Second))), "", true},
	}
	rows = append(rows, side("where is this IP", "locate_endpoint_by_ip", ourFind, "network find", ms(sq.FindMS))...)
	rows = append(rows, side("path", "path_analysis", ourPath, "path show", ms(sq.PathMS))...)
	rows = append(rows,
		row{fmt.Sprintf("same answer: device and port (of %d IPs)", len(finds)), strconv.Itoa(findAgree), "", true},
		row{fmt.Sprintf("same answer: devices on the path (of %d)", len(paths)), strconv.Itoa(pathAgree), "", true},
	)
	printRows(out, rows)
	for _, d := range differ {
		fmt.Fprintf(out, "  differs: %.300s\n", d)
	}
	if len(sq.Errors) > 0 {
		fmt.Fprintf(out, "  SuzieQ raised on %d of %d questions, e.g.:\n", len(sq.Errors), len(finds)+len(paths))
		shown := 0
		for q, e := range sq.Errors {
			if shown == 3 {
				break
			}
			fmt.Fprintf(out, "    %s: %.200s\n", q, e)
			shown++
		}
	}
	return nil
}

// side is our p50/p99 and SuzieQ's for one question, and their ratio.
func side(what, ours string, our []time.Duration, theirs string, sq []time.Duration) []row {
	pct := func(v []time.Duration) (p50, p99 time.Duration) {
		v = slices.Clone(v)
		slices.Sort(v)
		return v[len(v)/2], v[len(v)*99/100]
	}
	o50, o99 := pct(our)
	s50, s99 := pct(sq)
	ratio := func(a, b time.Duration) string {
		return fmt.Sprintf("%.2g (1/%.0f)", float64(a)/float64(b), float64(b)/float64(a))
	}
	return []row{
		{fmt.Sprintf("%s: ours (%s) p50 / p99", what, ours), dur(o50) + " / " + dur(o99), "", true},
		{fmt.Sprintf("%s: SuzieQ (%s) p50 / p99", what, theirs), dur(s50) + " / " + dur(s99), "", true},
		{fmt.Sprintf("%s: ours ÷ SuzieQ, p50", what), ratio(o50, s50), "", true},
		{fmt.Sprintf("%s: ours ÷ SuzieQ, p99", what), ratio(o99, s99), "", true},
	}
}
