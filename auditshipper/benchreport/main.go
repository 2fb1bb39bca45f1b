// Command benchreport measures the auditshipper against its targets and,
// in the same run, against rsyslog (imfile + omelasticsearch) and syslog-ng
// (file source + elasticsearch-http) shipping the same file to the same
// _bulk fake, and prints each figure next to its target. It installs
// nothing: `make bench-deps` installs rsyslog and unpacks syslog-ng
// (install-syslog-ng.sh); a baseline that is missing is reported as such.
//
// Sizes come from BENCH_MIB (file size, default 256), BENCH_BACKLOG_MIB
// (default 1024) and BENCH_BACKLOG_SECONDS (default 5).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/common/audit"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// RecordBytes is the size of every generated line, newline included.
const RecordBytes = 1024

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

type env struct {
	tmp     string
	root    string // module root
	shipper string // built binary
	file    string
	state   string // state directory of the last run
	records int64
	bytes   int64
}

func run(out io.Writer) error {
	e := &env{}
	var err error
	if e.tmp, err = os.MkdirTemp("", "auditshipper-bench"); err != nil {
		return err
	}
	defer os.RemoveAll(e.tmp)
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("finding the module: %w", err)
	}
	e.root = filepath.Dir(strings.TrimSpace(string(gomod)))
	e.shipper = filepath.Join(e.tmp, "auditshipper")
	build := exec.Command("go", "build", "-o", e.shipper, "./auditshipper")
	build.Dir = e.root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building auditshipper: %v\n%s", err, b)
	}
	mib := envInt("BENCH_MIB", 256)
	e.file = filepath.Join(e.tmp, "log", "audit.jsonl")
	if e.records, e.bytes, err = generate(e.file, int64(mib)<<20, "r"); err != nil {
		return err
	}
	fmt.Fprintf(out, "auditshipper benchmark: %d records of %d bytes (%d MiB) from a file to the _bulk fake, on %d CPUs\n\n", e.records, RecordBytes, mib, numCPU())

	load0 := loadAvg()
	rounds := envInt("BENCH_ROUNDS", 2)
	var ours, rs, sng measurement
	var lag lagStats
	var rsErr, sngErr error
	faster := func(best *measurement, m measurement) {
		if best.wall == 0 || m.wall < best.wall {
			*best = m
		}
	}
	for r := range rounds {
		m, l, err := e.ours(r)
		if err != nil {
			return fmt.Errorf("auditshipper run: %w", err)
		}
		if ours.wall == 0 || m.wall < ours.wall {
			ours, lag = m, l
		}
		if m, err := e.rsyslog(); err == nil {
			faster(&rs, m)
		} else {
			rs.name, rsErr = m.name, err
		}
		if m, err := e.syslogNG(); err == nil {
			faster(&sng, m)
		} else {
			sng.name, sngErr = m.name, err
		}
	}
	if rs.wall > 0 {
		rsErr = nil
	}
	if sng.wall > 0 {
		sngErr = nil
	}
	restart, err := e.restart()
	if err != nil {
		return fmt.Errorf("restart run: %w", err)
	}
	backlog, err := e.backlog()
	if err != nil {
		return fmt.Errorf("backlog run: %w", err)
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tmeasured\ttarget\tverdict")
	perCore := ours.mibPerCPUSecond()
	fmt.Fprintf(tw, "throughput per core (MiB per CPU-second of the shipper)\t%.1f MiB/s\t>= 50 MiB/s\t%s\n", perCore, verdict(perCore >= 50))
	fmt.Fprintf(tw, "throughput, wall clock (file → fake)\t%.1f MiB/s, %.0f events/s\t-\t-\n", ours.mibPerSecond(), ours.eventsPerSecond())
	fmt.Fprintf(tw, "peak RSS while shipping (VmHWM)\t%.1f MiB\t<= 64 MiB\t%s\n", mb(ours.peakRSS), verdict(ours.peakRSS <= 64<<20))
	fmt.Fprintf(tw, "peak RSS, %d MiB backlog, sink down %ds\t%.1f MiB\t<= 128 MiB\t%s\n", backlog.mib, backlog.seconds, mb(backlog.peakRSS), verdict(backlog.peakRSS <= 128<<20))
	fmt.Fprintf(tw, "restart to first send\t%s\t<= 1s\t%s\n", restart.Round(time.Millisecond), verdict(restart <= time.Second))
	fmt.Fprintf(tw, "checkpoint lag after confirmation (mean; p99 bucket)\t%s; <= %s\t<= 250ms\t%s\n", lag.mean.Round(10*time.Microsecond), lag.p99, verdict(lag.p99 <= 250*time.Millisecond))
	tw.Flush()

	fmt.Fprintln(out, "\nside by side (same file, same _bulk fake, one run):")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "shipper\tevents/s\tMiB/s (wall)\tMiB per CPU-s\tCPU s\tpeak RSS\tours: throughput ratio\tours: CPU ratio\tours: memory ratio")
	row := func(m measurement) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f\t%.2f\t%.1f MiB\t%s\t%s\t%s\n", m.name, m.eventsPerSecond(), m.mibPerSecond(), m.mibPerCPUSecond(), m.cpu.Seconds(), mb(m.peakRSS),
			ratio(ours.eventsPerSecond(), m.eventsPerSecond()), ratio(ours.mibPerCPUSecond(), m.mibPerCPUSecond()), ratio(float64(ours.peakRSS), float64(m.peakRSS)))
	}
	row(ours)
	for _, b := range []struct {
		m   measurement
		err error
	}{{rs, rsErr}, {sng, sngErr}} {
		if b.err != nil {
			fmt.Fprintf(tw, "%s\tnot measured: %v\n", b.m.name, b.err)
			continue
		}
		row(b.m)
	}
	tw.Flush()
	fmt.Fprintln(out, "\nthroughput ratio = our events/s ÷ theirs (>1: we are faster); CPU ratio = our MiB per CPU-second ÷ theirs (>1: we")
	fmt.Fprintln(out, "need less CPU per byte); memory ratio = our peak RSS ÷ theirs (<1: we use less). Wall-clock figures are the best")
	fmt.Fprintf(out, "of %d interleaved rounds; load average before %s, after %s (other work on the machine lowers wall-clock figures).\n", rounds, load0, loadAvg())
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

// generate writes size bytes of audit records, each RecordBytes long.
func generate(path string, size int64, prefix string) (int64, int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	n := size / RecordBytes
	ts := audit.Timestamp(time.Now())
	for i := int64(0); i < n; i++ {
		rec := audit.Record{TS: ts, ID: fmt.Sprintf("%s-%010d", prefix, i), Event: audit.EventQuery, Outcome: audit.OutcomeAllow,
			User: "alice@example.com", Auth: "oidc", KeyFP: "", Role: "network", Groups: []string{"network-ops-team"}, ClientIP: "10.0.0.7",
			Method: "POST", Path: "/queries/locate_endpoint_by_ip/execute", Query: "locate_endpoint_by_ip", Params: json.RawMessage(`{"ip":"10.1.2.3"}`),
			Status: 200, ElapsedMS: 3.25, RowCount: 1, PlanTier: "enterprise", MatchedPattern: "locate_endpoint_by_ip", PolicyVersion: "v1"}
		b, err := json.Marshal(rec)
		if err != nil {
			return 0, 0, err
		}
		pad := RecordBytes - 1 - len(b) - len(`,"pad":""`)
		if pad < 0 {
			return 0, 0, fmt.Errorf("record longer than %d bytes", RecordBytes)
		}
		b = append(b[:len(b)-1], `,"pad":"`...)
		b = append(b, strings.Repeat("x", pad)...)
		b = append(b, `"}`...)
		b = append(b, '\n')
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	return n, n * RecordBytes, f.Close()
}

// measurement is one shipper's run over the file.
type measurement struct {
	name    string
	records int64
	bytes   int64
	wall    time.Duration // process start → last record at the fake
	cpu     time.Duration // user+system CPU of the shipper process
	peakRSS int64
}

func (m measurement) mibPerSecond() float64 { return mb(m.bytes) / m.wall.Seconds() }
func (m measurement) eventsPerSecond() float64 {
	return float64(m.records) / m.wall.Seconds()
}
func (m measurement) mibPerCPUSecond() float64 {
	if m.cpu == 0 {
		return math.Inf(1)
	}
	return mb(m.bytes) / m.cpu.Seconds()
}

// procStats reads a live process's CPU time and peak RSS.
func procStats(pid int) (time.Duration, int64) {
	var cpu time.Duration
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ
		}
	}
	var hwm int64
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				hwm = kb << 10
			}
		}
	}
	return cpu, hwm
}

// measure runs cmd until the fake has received want records.
func measure(name string, cmd *exec.Cmd, es *fakes.Elastic, want, bytes int64, timeout time.Duration, beforeStop func()) (measurement, error) {
	m := measurement{name: name, records: want, bytes: bytes}
	var stderr strings.Builder
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(timeout)
	for {
		n, _ := es.Received.Total()
		if n >= want {
			break
		}
		select {
		case err := <-exited:
			return m, fmt.Errorf("%s exited early (%v) after %d of %d records: %s", name, err, n, want, tail(stderr.String()))
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			return m, fmt.Errorf("%s delivered %d of %d records in %s: %s", name, n, want, timeout, tail(stderr.String()))
		case <-time.After(5 * time.Millisecond):
		}
	}
	_, last := es.Received.Window()
	m.wall = last.Sub(start)
	m.cpu, m.peakRSS = procStats(cmd.Process.Pid)
	if beforeStop != nil {
		beforeStop()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
	return m, nil
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

type lagStats struct {
	mean, p99 time.Duration
}

func (e *env) shipperCmd(stateDir, listen, esURL, path string) *exec.Cmd {
	cmd := exec.Command(e.shipper)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "AUDIT_LOG_PATH=" + path, "AUDIT_LOG_BACKEND=elasticsearch", "ES_URL=" + esURL, "ES_INDEX=bench",
		"SHIPPER_STATE_DIR=" + stateDir, "SHIPPER_LISTEN=" + listen, "LOG_LEVEL=WARNING", "SHIPPER_RETRY_MAX=1s",
	}
	// Tuning runs: SHIPPER_* (but not the paths above) and GO* pass through.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(k, "SHIPPER_") && k != "SHIPPER_STATE_DIR" && k != "SHIPPER_LISTEN") || k == "GOGC" || k == "GOMEMLIMIT" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	return cmd
}

// ours measures throughput and memory, then restart-to-first-send and the
// checkpoint lag.
func (e *env) ours(round int) (measurement, lagStats, error) {
	es, err := fakes.NewElastic(false)
	if err != nil {
		return measurement{}, lagStats{}, err
	}
	defer es.Close()
	e.state = filepath.Join(e.tmp, fmt.Sprintf("state-%d", round))
	var lag lagStats
	m, err := measure("auditshipper", e.shipperCmd(e.state, ourListen, es.URL(), e.file), es, e.records, e.bytes, 5*time.Minute, func() {
		time.Sleep(500 * time.Millisecond) // let the last checkpoint land
		lag = scrapeLag(ourListen)
	})
	return m, lag, err
}

const ourListen = "127.0.0.1:19102"

// restart appends records behind the large, fully checkpointed file of the
// last run and times the way from exec to the first request at the sink.
func (e *env) restart() (time.Duration, error) {
	es, err := fakes.NewElastic(false)
	if err != nil {
		return 0, err
	}
	defer es.Close()
	extra := filepath.Join(e.tmp, "extra.jsonl")
	if _, _, err := generate(extra, 1000*RecordBytes, "restart"); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(extra)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(e.file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	f.Write(b)
	f.Close()
	cmd := e.shipperCmd(e.state, ourListen, es.URL(), e.file)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	for es.Requests() == 0 {
		if time.Since(start) > 30*time.Second {
			return 0, errors.New("no request within 30s of restart")
		}
		time.Sleep(200 * time.Microsecond)
	}
	return time.Since(start), nil
}

// scrapeLag reads the checkpoint lag histogram.
func scrapeLag(listen string) lagStats {
	resp, err := http.Get("http://" + listen + "/metrics")
	if err != nil {
		return lagStats{}
	}
	defer resp.Body.Close()
	var sum, count float64
	type bucket struct {
		le    float64
		count float64
	}
	var buckets []bucket
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "auditshipper_checkpoint_lag_seconds") {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		switch {
		case strings.HasPrefix(line, "auditshipper_checkpoint_lag_seconds_sum"):
			sum = v
		case strings.HasPrefix(line, "auditshipper_checkpoint_lag_seconds_count"):
			count = v
		case strings.Contains(line, `le="`):
			s := line[strings.Index(line, `le="`)+4:]
			le, _ := strconv.ParseFloat(s[:strings.IndexByte(s, '"')], 64)
			buckets = append(buckets, bucket{le, v})
		}
	}
	st := lagStats{}
	if count > 0 {
		st.mean = time.Duration(sum / count * float64(time.Second))
		for _, b := range buckets {
			if b.count >= 0.99*count {
				st.p99 = time.Duration(b.le * float64(time.Second))
				if math.IsInf(b.le, 1) {
					st.p99 = time.Duration(math.MaxInt64)
				}
				break
			}
		}
	}
	return st
}

type backlogResult struct {
	mib, seconds int
	peakRSS      int64
}

// backlog runs the shipper over a large file with the sink down.
func (e *env) backlog() (backlogResult, error) {
	r := backlogResult{mib: envInt("BENCH_BACKLOG_MIB", 1024), seconds: envInt("BENCH_BACKLOG_SECONDS", 5)}
	path := filepath.Join(e.tmp, "backlog", "audit.jsonl")
	if _, _, err := generate(path, int64(r.mib)<<20, "b"); err != nil {
		return r, err
	}
	defer os.Remove(path)
	es, err := fakes.NewElastic(false)
	if err != nil {
		return r, err
	}
	es.Stop() // connection refused
	defer es.Close()
	cmd := e.shipperCmd(filepath.Join(e.tmp, "backlog-state"), "127.0.0.1:19103", es.URL(), path)
	if err := cmd.Start(); err != nil {
		return r, err
	}
	time.Sleep(time.Duration(r.seconds) * time.Second)
	_, r.peakRSS = procStats(cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	return r, nil
}

func (e *env) rsyslog() (measurement, error) {
	m := measurement{name: "rsyslog (imfile + omelasticsearch)"}
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		return m, errors.New("rsyslogd not installed (make bench-deps installs rsyslog rsyslog-elasticsearch)")
	}
	es, err := fakes.NewElastic(false)
	if err != nil {
		return m, err
	}
	defer es.Close()
	dir, err := os.MkdirTemp(e.tmp, "rsyslog-") // fresh imfile state each run
	if err != nil {
		return m, err
	}
	os.MkdirAll(filepath.Join(dir, "work"), 0o755)
	port := es.URL()[strings.LastIndexByte(es.URL(), ':')+1:]
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omelasticsearch")
template(name="raw" type="string" string="%%msg%%")
input(type="imfile" file=%q tag="audit" ruleset="es" freshStartTail="off")
ruleset(name="es" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="1000") {
  action(type="omelasticsearch" server="127.0.0.1" serverport=%q searchIndex="bench" template="raw"
         bulkmode="on" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="1000"
         action.resumeRetryCount="-1")
}
`, filepath.Join(dir, "work"), e.file, port)
	cf := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return m, err
	}
	cmd := exec.Command(bin, "-n", "-f", cf, "-i", filepath.Join(dir, "rsyslog.pid"))
	got, err := measure(m.name, cmd, es, e.records, e.bytes, 5*time.Minute, nil)
	got.name = m.name
	return got, err
}

func (e *env) syslogNG() (measurement, error) {
	m := measurement{name: "syslog-ng (file + elasticsearch-http)"}
	prefix := os.Getenv("BENCH_SYSLOG_NG_DIR")
	if prefix == "" {
		prefix = filepath.Join(e.root, "var", "bench", "syslog-ng")
	}
	bin := filepath.Join(prefix, "usr", "sbin", "syslog-ng")
	if _, err := os.Stat(bin); err != nil {
		return m, fmt.Errorf("%s missing (make bench-deps runs auditshipper/benchreport/install-syslog-ng.sh %s)", bin, prefix)
	}
	es, err := fakes.NewElastic(false)
	if err != nil {
		return m, err
	}
	defer es.Close()
	dir, err := os.MkdirTemp(e.tmp, "syslog-ng-") // fresh persist file each run
	if err != nil {
		return m, err
	}
	scl := filepath.Join(prefix, "usr", "share", "syslog-ng", "include", "scl", "elasticsearch", "elastic-http.conf")
	conf := fmt.Sprintf(`@version: 3.38
@include %q
options { stats-freq(0); log-msg-size(65536); log-fifo-size(200000); };
source s_audit { file(%q flags(no-parse) follow-freq(1) log-fetch-limit(1000) log-iw-size(20000)); };
destination d_es { elasticsearch-http(url("%s/_bulk") index("bench") type("") template("$MSG") batch-lines(1000) workers(2)); };
log { source(s_audit); destination(d_es); flags(flow-control); };
`, scl, e.file, es.URL())
	cf := filepath.Join(dir, "syslog-ng.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return m, err
	}
	cmd := exec.Command(bin, "-F", "-f", cf, "--module-path="+filepath.Join(prefix, "usr", "lib", "syslog-ng", "3.38"),
		"-R", filepath.Join(dir, "persist"), "-c", filepath.Join(dir, "ctl"), "-p", filepath.Join(dir, "pid"))
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(prefix, "usr", "lib", "syslog-ng"))
	got, err := measure(m.name, cmd, es, e.records, e.bytes, 5*time.Minute, nil)
	got.name = m.name
	return got, err
}
