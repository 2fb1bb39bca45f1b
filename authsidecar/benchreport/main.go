// Command benchreport measures the authsidecar against the targets
// and prints each figure next to its target: RBAC decision latency and
// allocations, cached and cold JWT verification, and — side by side in one
// run — latency and throughput straight to an upstream, through the
// sidecar, and through nginx as a plain reverse proxy.
//
// The upstream is an in-process fasthttp server answering a fixed JSON
// document unless -upstream-cmd starts the real apiserver:
//
//	go run ./authsidecar/benchreport -upstream-cmd 'bin/apiserver' \
//	    -upstream-addr 127.0.0.1:18080 -path /queries/summary_stats
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/fakeupstream"
	"github.com/meshoptixiq/mesh/authsidecar/oidc"
	"github.com/meshoptixiq/mesh/authsidecar/rbac"
	"github.com/meshoptixiq/mesh/authsidecar/testidp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

type options struct {
	upstreamCmd  string
	upstreamAddr string
	path         string
	sidecarBin   string
	duration     time.Duration
	rate         int
	conns        int
	rounds       int
	audit        bool
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.upstreamCmd, "upstream-cmd", os.Getenv("BENCH_UPSTREAM_CMD"), "command starting the real upstream (e.g. bin/apiserver); empty: in-process fixed-JSON server")
	fs.StringVar(&o.upstreamAddr, "upstream-addr", envOr("BENCH_UPSTREAM_ADDR", "127.0.0.1:18080"), "address the -upstream-cmd server listens on (passed to it as API_LISTEN)")
	fs.StringVar(&o.path, "path", envOr("BENCH_PATH", ""), "GET path to load (default /bench for the built-in upstream, /queries/ for a real one)")
	fs.StringVar(&o.sidecarBin, "sidecar", "", "authsidecar binary (default bin/authsidecar, else built into a temp dir)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	fs.IntVar(&o.rate, "rate", 2000, "offered load (requests/s) for the latency comparison")
	fs.IntVar(&o.conns, "conns", 32, "connections for the throughput comparison")
	fs.IntVar(&o.rounds, "rounds", 3, "throughput rounds; each round loads every target in turn and the median is reported")
	fs.BoolVar(&o.audit, "audit", true, "run the sidecar with its audit log on, as in production")
	serve := fs.String("serve-upstream", "", "internal: serve the built-in upstream on this address")
	serveUnix := fs.String("serve-upstream-unix", "", "internal: with -serve-upstream, serve it on this unix socket too")
	serveProxy := fs.String("serve-proxy", "", "internal: serve the bare fasthttp proxy on this address")
	proxyTo := fs.String("proxy-upstream", "", "internal: the bare proxy's upstream, host:port or unix:/path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case *serve != "":
		return serveUpstream(ctx, *serve, *serveUnix)
	case *serveProxy != "":
		return serveBareProxy(ctx, *serveProxy, *proxyTo)
	}
	if o.path == "" {
		o.path = "/bench"
		if o.upstreamCmd != "" {
			o.path = "/queries/summary_stats"
		}
	}
	fmt.Fprintf(out, "authsidecar benchmark report (%s/%s, %d CPUs, %s)\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	if err := rbacReport(out); err != nil {
		return err
	}
	if err := jwtReport(ctx, out); err != nil {
		return err
	}
	return proxyReport(ctx, out, o)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// rbacReport: p50/p99 of single decisions over the policy (100
// roles × 20 patterns, 10k groups), a user in three groups.
func rbacReport(out io.Writer) error {
	doc, groups := rbac.BenchPolicyYAML()
	p, err := rbac.Parse([]byte(doc), "bench")
	if err != nil {
		return err
	}
	user := []string{groups[17], groups[4242], groups[9999], "not-a-group"}
	perms := []string{"perm_99_x19_tail", "perm_42_0", "perm_17_1_anything", "perm_nomatch", "x_99_18_end"}
	var d rbac.Decision
	decide := func(i int) {
		set := p.RolesForGroups(user)
		d = p.Decide(&set, perms[i%len(perms)], false)
	}
	for i := 0; i < 100000; i++ {
		decide(i)
	}
	allocs := testing.AllocsPerRun(1000, func() { decide(3) })
	// Single decisions, each timed; the cost of reading the clock twice
	// (measured with nothing between) is subtracted.
	const n = 300000
	overhead := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		overhead = append(overhead, time.Since(t0))
	}
	clock := pct(overhead, 50)
	samples := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		decide(i)
		samples = append(samples, max(time.Since(t0)-clock, 0))
	}
	_ = d
	p50, p99 := pct(samples, 50), pct(samples, 99)
	fmt.Fprintf(out, "RBAC decision (100 roles x 20 patterns, 10k groups; groups→roles + decide, %d single calls, clock cost %s subtracted)\n", n, clock)
	fmt.Fprintf(out, "  p50 %-10s p99 %-10s target p99 <= 1µs   %s\n", p50, p99, verdict(p99 <= time.Microsecond))
	fmt.Fprintf(out, "  allocs/decision %-6v              target 0          %s\n\n", allocs, verdict(allocs == 0))
	return nil
}

func jwtReport(ctx context.Context, out io.Writer) error {
	idp, err := testidp.Start("meshq")
	if err != nil {
		return err
	}
	defer idp.Stop()
	idp.AddUser(testidp.User{ID: "alice", Secret: "s", Claims: map[string]any{"preferred_username": "alice", "groups": []any{"network-ops-team", "noc-helpdesk"}}})
	o := oidc.New(oidc.Config{Issuer: idp.Issuer, ClientID: "meshq", ClockSkew: time.Minute, MaxTokenBytes: 16 << 10},
		&http.Client{Timeout: 5 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := o.Discover(ctx); err != nil {
		return err
	}
	tok, err := idp.Token(ctx, "alice")
	if err != nil {
		return err
	}
	if _, err := o.Verify(ctx, tok); err != nil {
		return err
	}
	cached := make([]time.Duration, 0, 100000)
	for i := 0; i < 100000; i++ {
		t0 := time.Now()
		if _, err := o.Verify(ctx, tok); err != nil {
			return err
		}
		cached = append(cached, time.Since(t0))
	}
	cachedAllocs := testing.AllocsPerRun(10000, func() { _, _ = o.Verify(ctx, tok) })
	// Cold: a fresh verifier per sample sharing the fetched keys is not
	// possible from outside, so mint fresh tokens (each verified once).
	var toks []string
	for i := 0; i < 200; i++ {
		t, err := idp.Token(ctx, "alice")
		if err != nil {
			return err
		}
		toks = append(toks, t)
	}
	cold := make([]time.Duration, 0, len(toks))
	for _, t := range toks {
		t0 := time.Now()
		if _, err := o.Verify(ctx, t); err != nil {
			return err
		}
		cold = append(cold, time.Since(t0))
	}
	fmt.Fprintf(out, "JWT check (RS256 2048, zitadel/oidc provider in-process)\n")
	fmt.Fprintf(out, "  cached token   p50 %-10s p99 %-10s target <= 5µs   %s\n", pct(cached, 50), pct(cached, 99), verdict(pct(cached, 99) <= 5*time.Microsecond))
	fmt.Fprintf(out, "  cached token   allocs/check %-18v target 0         %s\n", cachedAllocs, verdict(cachedAllocs == 0))
	fmt.Fprintf(out, "  cold RS256     p50 %-10s p99 %-10s (reported)\n\n", pct(cold, 50), pct(cold, 99))
	return nil
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

const benchKey = "benchmark-key-0123456789abcdef0123456789"

// proxyReport loads the upstream directly and through each proxy, first
// with the proxies reaching the upstream over loopback TCP, then over a
// unix socket as in the pod (built-in upstream only: the clients reach
// every target over TCP, so direct stays TCP).
func proxyReport(ctx context.Context, out io.Writer, o options) error {
	tmp, err := os.MkdirTemp("", "authsidecar-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil { // for nginx's workers, another user
		return err
	}
	bin := o.sidecarBin
	if bin == "" {
		if _, err := os.Stat("bin/authsidecar"); err == nil {
			bin = "bin/authsidecar"
		} else {
			bin = filepath.Join(tmp, "authsidecar")
			if b, err := exec.Command("go", "build", "-o", bin, "./authsidecar").CombinedOutput(); err != nil {
				return fmt.Errorf("building the sidecar: %v\n%s", err, b)
			}
		}
	}
	for _, unix := range []bool{false, true} {
		if unix && o.upstreamCmd != "" {
			fmt.Fprintln(out, "Proxy over a unix socket: measured with the built-in upstream only (run without -upstream-cmd)")
			continue
		}
		dir := filepath.Join(tmp, map[bool]string{false: "tcp", true: "unix"}[unix])
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		if err := proxyRound(ctx, out, o, bin, dir, unix); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "  note: load generator, upstream, proxy and nginx share this machine's CPUs; on 2 cores the proxies compete with wrk for CPU.")
	return nil
}

// target is one address the load is sent to.
type target struct {
	name string
	addr string
	hdr  map[string]string
	skip error
	pid  int // the proxy's process (tree), whose CPU is counted; 0 for direct
}

// proxyRound starts the upstream, the sidecar, nginx and the bare fasthttp
// proxy in dir, the proxies reaching the upstream over TCP or (unix) a
// unix socket, and measures each target side by side.
func proxyRound(ctx context.Context, out io.Writer, o options, bin, dir string, unix bool) error {
	upAddr := o.upstreamAddr
	var upPid int
	sock := filepath.Join(dir, "upstream.sock")
	if o.upstreamCmd == "" {
		// The built-in upstream runs in its own process (this binary
		// re-executed) so it does not share a Go runtime with the load
		// generator.
		self, err := os.Executable()
		if err != nil {
			return err
		}
		upAddr = freeAddr()
		argv := []string{self, "-serve-upstream", upAddr}
		if unix {
			argv = append(argv, "-serve-upstream-unix", sock)
		}
		stopUp, pid, err := startProc(ctx, "upstream", argv, nil, filepath.Join(dir, "upstream.log"))
		if err != nil {
			return err
		}
		upPid = pid
		defer stopUp()
	} else {
		stopUp, pid, err := startProc(ctx, "upstream", strings.Fields(o.upstreamCmd), []string{"API_LISTEN=" + upAddr, "MESHQ_DATA_DIR=" + filepath.Join(dir, "data"), "MESHQ_DEMO=true"}, filepath.Join(dir, "upstream.log"))
		if err != nil {
			return err
		}
		upPid = pid
		defer stopUp()
	}
	if err := waitHTTP("http://"+upAddr+o.path, nil); err != nil {
		return fmt.Errorf("upstream at %s: %w", upAddr, err)
	}
	// How each proxy names the upstream.
	scUpstream, ngUpstream, bareUpstream := "http://"+upAddr, upAddr, upAddr
	if unix {
		scUpstream, ngUpstream, bareUpstream = "unix:"+sock, "unix:"+sock, "unix:"+sock
	}

	scAddr := freeAddr()
	scEnv := []string{"LISTEN_ADDR=" + scAddr, "UPSTREAM=" + scUpstream, "API_KEY=" + benchKey, "LOG_LEVEL=WARNING",
		"RBAC_POLICY=roles:\n  admin:\n    allow: [\"*\"]\n", "AUDIT_LOG_ENABLED=" + strconv.FormatBool(o.audit), "AUDIT_LOG_FILE=" + filepath.Join(dir, "audit", "audit.jsonl")}
	stopSC, scPid, err := startProc(ctx, "authsidecar", []string{bin}, scEnv, filepath.Join(dir, "sidecar.log"))
	if err != nil {
		return err
	}
	defer stopSC()
	hdr := map[string]string{"X-API-Key": benchKey}
	if err := waitHTTP("http://"+scAddr+o.path, hdr); err != nil {
		return fmt.Errorf("sidecar: %w", err)
	}

	ngAddr, ngPid, stopNginx, nerr := startNginx(ctx, dir, ngUpstream)
	if nerr == nil {
		defer stopNginx()
		if err := waitHTTP("http://"+ngAddr+o.path, nil); err != nil {
			nerr = err
		}
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	bareAddr := freeAddr()
	stopBare, barePid, berr := startProc(ctx, "bare proxy", []string{self, "-serve-proxy", bareAddr, "-proxy-upstream", bareUpstream}, nil, filepath.Join(dir, "bare.log"))
	if berr == nil {
		defer stopBare()
		berr = waitHTTP("http://"+bareAddr+o.path, nil)
	}

	targets := []target{{"direct", upAddr, nil, nil, 0}, {"authsidecar", scAddr, hdr, nil, scPid}, {"nginx", ngAddr, nil, nerr, ngPid},
		{"fasthttp", bareAddr, nil, berr, barePid}}

	hop := "loopback TCP"
	if unix {
		hop = "a unix socket, as in the pod"
	}
	fmt.Fprintf(out, "Proxy to the upstream over %s (upstream %s, GET %s; all processes on this machine)\n", hop, upstreamName(o), o.path)
	fmt.Fprintf(out, "  authsidecar: API key, RBAC, identity headers, audit log %s; nginx: plain proxy_pass, HTTP/1.1 keepalive to the upstream, no auth;\n",
		map[bool]string{true: "on (as in production)", false: "OFF (-audit=false)"}[o.audit])
	fmt.Fprintln(out, "  fasthttp: a bare fasthttp proxy (HostClient.Do, nothing else), the floor of the sidecar's own stack")
	fmt.Fprintf(out, "  latency at a fixed offered load of %d req/s for %s (open loop, measured from each send; median of %d interleaved rounds)\n",
		o.rate, o.duration, max(o.rounds, 1))
	type percentiles struct{ p50, p99 time.Duration }
	latRounds := map[string][]percentiles{}
	errCount := map[string]int{}
	for round := 0; round < max(o.rounds, 1); round++ {
		for _, tg := range targets {
			if tg.skip == nil {
				p50, p99, errs := fixedRate(tg.addr, o.path, tg.hdr, o.rate, o.duration)
				latRounds[tg.name] = append(latRounds[tg.name], percentiles{p50, p99})
				errCount[tg.name] += errs
			}
		}
	}
	lat := map[string][2]time.Duration{}
	for _, tg := range targets {
		if tg.skip != nil {
			fmt.Fprintf(out, "    %-12s skipped: %v\n", tg.name, tg.skip)
			continue
		}
		rs := latRounds[tg.name]
		median := func(of func(percentiles) time.Duration) time.Duration {
			d := make([]time.Duration, len(rs))
			for i, r := range rs {
				d[i] = of(r)
			}
			slices.Sort(d)
			return d[len(d)/2]
		}
		p50, p99 := median(func(r percentiles) time.Duration { return r.p50 }), median(func(r percentiles) time.Duration { return r.p99 })
		lat[tg.name] = [2]time.Duration{p50, p99}
		all := make([]string, len(rs))
		for i, r := range rs {
			all[i] = r.p50.Round(time.Microsecond).String() + "/" + r.p99.Round(time.Microsecond).String()
		}
		fmt.Fprintf(out, "    %-12s p50 %-10s p99 %-10s errors %d (rounds p50/p99: %s)\n", tg.name, p50.Round(100*time.Nanosecond), p99.Round(100*time.Nanosecond),
			errCount[tg.name], strings.Join(all, " "))
	}
	if d, s := lat["direct"], lat["authsidecar"]; d[0] > 0 && s[0] > 0 {
		a50, a99 := s[0]-d[0], s[1]-d[1]
		fmt.Fprintf(out, "    added by authsidecar: p50 %-10s target <= 100µs   %s\n", a50, verdict(a50 <= 100*time.Microsecond))
		fmt.Fprintf(out, "                          p99 %-10s target <= 500µs   %s\n", a99, verdict(a99 <= 500*time.Microsecond))
	}
	for _, ref := range []string{"nginx", "fasthttp"} {
		if d, n := lat["direct"], lat[ref]; d[0] > 0 && n[0] > 0 {
			fmt.Fprintf(out, "    added by %s (reference): p50 %s  p99 %s\n", ref, n[0]-d[0], n[1]-d[1])
		}
	}
	fmt.Fprintf(out, "  throughput, closed loop (wrk -t2 -c%d -d%s for every target, median of %d rounds; CPU/request is the proxy's own, the upstream's for direct)\n",
		o.conns, o.duration, o.rounds)
	type sample struct {
		rps      float64
		p50, p99 time.Duration
		cpu      time.Duration
	}
	samples := map[string][]sample{}
	for round := 0; round < max(o.rounds, 1); round++ {
		for _, tg := range targets {
			if tg.skip != nil {
				continue
			}
			pid := tg.pid
			if pid == 0 {
				pid = upPid
			}
			cpu0 := treeCPU(pid)
			r, p50, p99, err := wrk(ctx, tg.addr, o.path, tg.hdr, o.conns, o.duration)
			if err != nil {
				fmt.Fprintf(out, "    %-12s wrk failed: %v\n", tg.name, err)
				continue
			}
			cpu := treeCPU(pid) - cpu0
			perReq := time.Duration(0)
			if r > 0 {
				perReq = time.Duration(float64(cpu) / (r * o.duration.Seconds()))
			}
			samples[tg.name] = append(samples[tg.name], sample{r, p50, p99, perReq})
		}
	}
	rps := map[string]float64{}
	cpuPer := map[string]time.Duration{}
	for _, tg := range targets {
		ss := samples[tg.name]
		if len(ss) == 0 {
			continue
		}
		slices.SortFunc(ss, func(a, b sample) int { return cmp.Compare(a.rps, b.rps) })
		m := ss[len(ss)/2]
		rps[tg.name], cpuPer[tg.name] = m.rps, m.cpu
		all := make([]string, len(ss))
		for i, x := range ss {
			all[i] = strconv.FormatFloat(x.rps, 'f', 0, 64)
		}
		fmt.Fprintf(out, "    %-12s %10.0f req/s   p50 %-10s p99 %-10s CPU/request %-10s (rounds: %s req/s)\n", tg.name, m.rps, m.p50, m.p99, m.cpu.Round(100*time.Nanosecond), strings.Join(all, " "))
	}
	if d, s := rps["direct"], rps["authsidecar"]; d > 0 && s > 0 {
		fmt.Fprintf(out, "    authsidecar / direct = %.2f   target >= 0.70   %s\n", s/d, verdict(s/d >= 0.70))
	}
	if d, n := rps["direct"], rps["nginx"]; d > 0 && n > 0 {
		fmt.Fprintf(out, "    nginx / direct       = %.2f   (reference)\n", n/d)
	}
	if n, s := rps["nginx"], rps["authsidecar"]; n > 0 && s > 0 {
		fmt.Fprintf(out, "    authsidecar / nginx  = %.2f   goal   >= 1.00   %s\n", s/n, verdict(s/n >= 1.0))
	}
	if n, sc := cpuPer["nginx"], cpuPer["authsidecar"]; n > 0 && sc > 0 {
		fmt.Fprintf(out, "    CPU per proxied request: authsidecar %s, nginx %s (nginx/authsidecar = %.2f; robust to a busy machine, unlike req/s)\n", sc, n, float64(n)/float64(sc))
	}
	if f, sc := cpuPer["fasthttp"], cpuPer["authsidecar"]; f > 0 && sc > 0 {
		fmt.Fprintf(out, "    the sidecar's own work (authsidecar - fasthttp CPU/request): %s", sc-f)
		if n := cpuPer["nginx"]; n > 0 {
			fmt.Fprintf(out, "; the bare fasthttp proxy costs %.2f× nginx", float64(f)/float64(n))
		}
		fmt.Fprintln(out)
	}
	return nil
}

// serveUpstream serves the built-in upstream on addr, and on the unix
// socket sock when one is named, until ctx ends.
func serveUpstream(ctx context.Context, addr, sock string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	up := fakeupstream.Start(ln)
	defer up.Close()
	if sock != "" {
		uln, err := net.Listen("unix", sock)
		if err != nil {
			return err
		}
		// nginx's workers run as another user.
		if err := os.Chmod(sock, 0o666); err != nil {
			return err
		}
		defer fakeupstream.Start(uln).Close()
	}
	<-ctx.Done()
	return nil
}

// serveBareProxy is the reference the sidecar's own cost is measured
// against: a fasthttp server whose handler only relays the request
// through a fasthttp.HostClient, as the sidecar's forward does.
func serveBareProxy(ctx context.Context, addr, upstream string) error {
	hc := &fasthttp.HostClient{Addr: upstream, MaxConns: 1024}
	if path, ok := strings.CutPrefix(upstream, "unix:"); ok {
		hc.Addr = "upstream"
		hc.Dial = func(string) (net.Conn, error) { return net.Dial("unix", path) }
	}
	srv := &fasthttp.Server{NoDefaultServerHeader: true, Handler: func(c *fasthttp.RequestCtx) {
		if err := hc.Do(&c.Request, &c.Response); err != nil {
			c.Error("upstream: "+err.Error(), fasthttp.StatusBadGateway)
		}
	}}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); srv.Shutdown() }()
	return srv.Serve(ln)
}

// treeCPU is the user+system CPU time of pid and its children (nginx
// workers), from /proc.
func treeCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	pids := []int{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		if f := procStat(n); len(f) > 3 && f[3] == strconv.Itoa(pid) {
			pids = append(pids, n)
		}
	}
	var ticks int64
	for _, p := range pids {
		if f := procStat(p); len(f) > 14 {
			u, _ := strconv.ParseInt(f[13], 10, 64)
			s, _ := strconv.ParseInt(f[14], 10, 64)
			ticks += u + s
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
}

// procStat returns the fields of /proc/pid/stat, the command name
// (which may hold spaces) collapsed into one field.
func procStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return append([]string{strconv.Itoa(pid), "comm"}, strings.Fields(s[i+1:])...)
}

func upstreamName(o options) string {
	if o.upstreamCmd != "" {
		return o.upstreamCmd
	}
	return "built-in fasthttp server in its own process, fixed JSON"
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:18000"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc starts argv with extra env, logging to
// logPath; the returned func stops it.
func startProc(ctx context.Context, name string, argv, env []string, logPath string) (func(), int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, 0, fmt.Errorf("starting %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}, cmd.Process.Pid, nil
}

func startNginx(ctx context.Context, dir, upstream string) (string, int, func(), error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/sbin/nginx"} {
			if _, err2 := os.Stat(p); err2 == nil {
				bin, err = p, nil
			}
		}
		if err != nil {
			return "", 0, nil, errors.New("nginx not installed (apt-get install nginx-light)")
		}
	}
	addr := freeAddr()
	conf := fmt.Sprintf(`worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream api { server %[2]s; keepalive 256; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`, dir, upstream, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", 0, nil, err
	}
	stop, pid, err := startProc(ctx, "nginx", []string{bin, "-p", dir, "-c", path, "-g", "daemon off;"}, nil, filepath.Join(dir, "nginx.log"))
	if err != nil {
		return "", 0, nil, err
	}
	return addr, pid, stop, nil
}

func waitHTTP(url string, hdr map[string]string) error {
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not answering 200 on %s: %v", url, last)
}

// fixedRate sends GETs on a fixed schedule (open loop: a slow answer does
// not delay the next send) and measures each from its actual send, so the
// timer lateness of the generator's own sleeps is not counted.
func fixedRate(addr, path string, hdr map[string]string, rate int, d time.Duration) (p50, p99 time.Duration, errs int) {
	hc := &fasthttp.HostClient{Addr: addr, MaxConns: 256, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	total := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	type result struct {
		lat time.Duration
		err bool
	}
	results := make(chan result, total)
	jobs := make(chan time.Time, total)
	workers := 64
	for w := 0; w < workers; w++ {
		go func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for at := range jobs {
				if wait := time.Until(at); wait > 0 {
					time.Sleep(wait)
				}
				req.Reset()
				req.SetRequestURI("http://" + addr + path)
				for k, v := range hdr {
					req.Header.Set(k, v)
				}
				sent := time.Now()
				err := hc.Do(req, resp)
				results <- result{time.Since(sent), err != nil || resp.StatusCode() != 200}
			}
		}()
	}
	start := time.Now().Add(50 * time.Millisecond)
	for i := 0; i < total; i++ {
		jobs <- start.Add(time.Duration(i) * interval)
	}
	close(jobs)
	lats := make([]time.Duration, 0, total)
	for i := 0; i < total; i++ {
		r := <-results
		if r.err {
			errs++
			continue
		}
		lats = append(lats, r.lat)
	}
	// Discard the first 10% as warm-up.
	lats = lats[len(lats)/10:]
	return pct(lats, 50), pct(lats, 99), errs
}

var (
	reqSec  = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	latLine = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
)

func wrk(ctx context.Context, addr, path string, hdr map[string]string, conns int, d time.Duration) (float64, time.Duration, time.Duration, error) {
	args := []string{"-t2", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	for k, v := range hdr {
		args = append(args, "-H", k+": "+v)
	}
	args = append(args, "http://"+addr+path)
	b, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("wrk: %v: %s", err, b)
	}
	m := reqSec.FindSubmatch(b)
	if m == nil {
		return 0, 0, 0, fmt.Errorf("wrk output without Requests/sec: %s", b)
	}
	if strings.Contains(string(b), "Non-2xx") {
		return 0, 0, 0, fmt.Errorf("wrk saw non-2xx answers: %s", b)
	}
	r, _ := strconv.ParseFloat(string(m[1]), 64)
	var p50, p99 time.Duration
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if mm := latLine.FindStringSubmatch(sc.Text()); mm != nil {
			v, _ := strconv.ParseFloat(mm[2], 64)
			unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[mm[3]]
			if mm[1] == "50" {
				p50 = time.Duration(v * float64(unit))
			} else {
				p99 = time.Duration(v * float64(unit))
			}
		}
	}
	return r, p50, p99, nil
}
