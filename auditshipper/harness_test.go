package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// binary is the auditshipper built once for the whole package: the fault
// scenarios run the real binary as a separate process, so kill -9 is real.
var binaryOnce struct {
	sync.Once
	path string
	err  error
}

func shipperBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "auditshipper-bin")
		if err != nil {
			binaryOnce.err = err
			return
		}
		binaryOnce.path = filepath.Join(dir, "auditshipper")
		args := []string{"build", "-o", binaryOnce.path}
		if os.Getenv("AUDITSHIPPER_TEST_RACE") != "" {
			args = append(args, "-race") // the race detector inside the child processes
		}
		out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
		if err != nil {
			binaryOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryOnce.err != nil {
		t.Fatalf("building auditshipper: %v", binaryOnce.err)
	}
	return binaryOnce.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryOnce.path != "" {
		os.RemoveAll(filepath.Dir(binaryOnce.path))
	}
	os.Exit(code)
}

// syncBuf collects a child's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is one run of the shipper binary.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncBuf
	stdout *syncBuf
	done   chan error
}

// harness is a shipper under test: its log directory, state directory,
// environment, and the writer of audit records.
type harness struct {
	t        *testing.T
	dir      string
	logPath  string
	stateDir string
	listen   string
	env      map[string]string
	cur      *proc
	logs     []string
	w        *writer
	nofile   int // when set, RLIMIT_NOFILE (soft and hard) of the shipper
}

func newHarness(t *testing.T, env map[string]string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, logPath: filepath.Join(dir, "log", "audit.jsonl"), stateDir: filepath.Join(dir, "state"),
		listen: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
	if err := os.MkdirAll(filepath.Dir(h.logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	h.env = map[string]string{
		"AUDIT_LOG_PATH":          h.logPath,
		"SHIPPER_STATE_DIR":       h.stateDir,
		"SHIPPER_LISTEN":          h.listen,
		"SHIPPER_ROTATE_WAIT":     "500ms",
		"SHIPPER_RETRY_MIN":       "20ms",
		"SHIPPER_RETRY_MAX":       "250ms",
		"SHIPPER_AUTH_RETRY":      "200ms",
		"SHIPPER_REQUEST_TIMEOUT": "2s",
		"SHIPPER_DRAIN_TIMEOUT":   "2s",
		"SPLUNK_HEC_ACK_POLL":     "30ms",
		"SPLUNK_HEC_ACK_TIMEOUT":  "700ms",
		"LOG_LEVEL":               "INFO",
	}
	for k, v := range env {
		h.env[k] = v
	}
	h.w = newWriter(t, h.logPath)
	t.Cleanup(func() {
		if h.cur != nil {
			h.kill()
		}
		all := strings.Join(h.logs, "\n---- restart ----\n")
		if strings.Contains(all, "WARNING: DATA RACE") {
			t.Errorf("the shipper reported a data race")
		}
		if t.Failed() {
			if len(all) > 12000 {
				all = "..." + all[len(all)-12000:]
			}
			t.Logf("shipper stderr:\n%s", all)
		}
	})
	return h
}

func (h *harness) start() {
	h.t.Helper()
	if h.cur != nil {
		h.t.Fatal("start: shipper already running")
	}
	cmd := exec.Command(shipperBinary(h.t))
	if h.nofile > 0 {
		// A hard descriptor limit, as a container runtime sets it.
		n := strconv.Itoa(h.nofile)
		cmd = exec.Command("prlimit", "--nofile="+n+":"+n, "--", shipperBinary(h.t))
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range h.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, stderr: &syncBuf{}, stdout: &syncBuf{}, done: make(chan error, 1)}
	cmd.Stderr, cmd.Stdout = p.stderr, p.stdout
	if err := cmd.Start(); err != nil {
		h.t.Fatalf("starting auditshipper: %v", err)
	}
	go func() { p.done <- cmd.Wait() }()
	h.cur = p
	// Its own "shipping" line first: a /readyz answer alone could come from
	// another process holding the port while this one failed to bind.
	h.waitFor(10*time.Second, "the shipper's \"shipping\" log line", func() bool {
		return strings.Contains(p.stderr.String(), `"msg":"shipping"`)
	})
	h.waitFor(10*time.Second, "shipper /readyz", func() bool {
		resp, err := http.Get("http://" + h.listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (h *harness) finish(sig syscall.Signal) error {
	h.t.Helper()
	p := h.cur
	if p == nil {
		return nil
	}
	p.cmd.Process.Signal(sig)
	var err error
	select {
	case err = <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		err = <-p.done
		h.t.Errorf("shipper did not exit within 20s of %v", sig)
	}
	h.logs = append(h.logs, p.stderr.String())
	h.cur = nil
	return err
}

// stop sends SIGTERM and expects a clean exit.
func (h *harness) stop() {
	h.t.Helper()
	if err := h.finish(syscall.SIGTERM); err != nil {
		h.t.Errorf("shipper exit after SIGTERM = %v, want success", err)
	}
}

// kill is kill -9.
func (h *harness) kill() { h.finish(syscall.SIGKILL) }

// peakRSS is the running shipper's high-water resident set (VmHWM), in bytes.
func (h *harness) peakRSS() int64 {
	h.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cur.cmd.Process.Pid))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				h.t.Fatal(err)
			}
			return kb << 10
		}
	}
	h.t.Fatal("no VmHWM in /proc status")
	return 0
}

func (h *harness) waitFor(d time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		if h.cur != nil {
			select {
			case err := <-h.cur.done:
				h.logs = append(h.logs, h.cur.stderr.String())
				h.cur = nil
				h.t.Fatalf("shipper exited (%v) while waiting for %s", err, what)
			default:
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric sums every series of the named metric, optionally filtered by a
// label substring such as `reason="throttled"`.
func (h *harness) metric(name, labelFilter string) float64 {
	h.t.Helper()
	resp, err := http.Get("http://" + h.listen + "/metrics")
	if err != nil {
		h.t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		if labelFilter != "" && !strings.Contains(line, labelFilter) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// deadLetters reads the dead-letter file.
func (h *harness) deadLetters() []deadLetter {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.stateDir, deadLetterName))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	var out []deadLetter
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var d deadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			h.t.Fatalf("dead-letter line %q: %v", line, err)
		}
		out = append(out, d)
	}
	return out
}

// expectAll waits until every written id has arrived, then checks that
// nothing is missing, invented or altered.
func (h *harness) expectAll(r *fakes.Received, d time.Duration) fakes.Report {
	h.t.Helper()
	written := h.w.written()
	h.waitFor(d, fmt.Sprintf("all %d records at the sink", len(written)), func() bool {
		return len(r.Check(written).Missing) == 0
	})
	rep := r.Check(written)
	checkReport(h.t, rep)
	h.t.Logf("oracle: %d written, %d delivered, %d duplicate copies", len(written), rep.Delivered, rep.Duplicates)
	return rep
}

func checkReport(t *testing.T, rep fakes.Report) {
	t.Helper()
	if len(rep.Missing) > 0 {
		t.Errorf("missing %d records, first %v", len(rep.Missing), rep.Missing[:min(5, len(rep.Missing))])
	}
	if len(rep.Unexpected) > 0 {
		t.Errorf("sink received %d ids never written, first %v", len(rep.Unexpected), rep.Unexpected[:min(5, len(rep.Unexpected))])
	}
	if len(rep.Altered) > 0 {
		t.Errorf("sink received altered bodies for %d ids, first %v", len(rep.Altered), rep.Altered[:min(5, len(rep.Altered))])
	}
}

// writer appends unique audit records to the log and performs rotations,
// remembering every line it wrote. Rotations hold the same lock as writes,
// as a logrotate run against a paused writer would.
type writer struct {
	t    *testing.T
	path string
	mu   sync.Mutex
	f    *os.File
	seq  int
	ids  map[string]string
	gen  int
}

func newWriter(t *testing.T, path string) *writer {
	return &writer{t: t, path: path, ids: map[string]string{}}
}

func (w *writer) open() {
	if w.f != nil {
		return
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatalf("opening log: %v", err)
	}
	w.f = f
}

func (w *writer) line() (string, string) {
	w.seq++
	id := fmt.Sprintf("req-%07d", w.seq)
	rec := audit.Record{
		TS: audit.Timestamp(time.Now()), ID: id, Event: audit.EventQuery, Outcome: audit.OutcomeAllow,
		User: "alice@example.com", Auth: "oidc", Role: "network", Groups: []string{"network-ops-team"},
		ClientIP: "10.0.0.7", Method: "POST", Path: "/queries/locate_endpoint_by_ip/execute", Query: "locate_endpoint_by_ip",
		Params: json.RawMessage(`{"ip":"10.1.2.3"}`), Status: 200, ElapsedMS: 3.2, RowCount: 1, PlanTier: "enterprise",
		MatchedPattern: "locate_endpoint_by_ip", PolicyVersion: "v1",
	}
	b, err := json.Marshal(rec)
	if err != nil {
		w.t.Fatal(err)
	}
	return id, string(b)
}

// write appends n records.
func (w *writer) write(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open()
	var buf bytes.Buffer
	for range n {
		id, line := w.line()
		w.ids[id] = line
		buf.WriteString(line)
		buf.WriteByte('\n')
	}
	if _, err := w.f.Write(buf.Bytes()); err != nil {
		w.t.Errorf("writing log: %v", err)
	}
}

// writeRaw appends bytes that are not tracked records.
func (w *writer) writeRaw(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open()
	if _, err := io.WriteString(w.f, s); err != nil {
		w.t.Errorf("writing log: %v", err)
	}
}

// partial writes the first half of a new record (no newline) and returns
// the rest, which completeLine writes later.
func (w *writer) partial() (id, rest string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open()
	id, line := w.line()
	w.ids[id] = line
	half := len(line) / 2
	if _, err := io.WriteString(w.f, line[:half]); err != nil {
		w.t.Errorf("writing log: %v", err)
	}
	return id, line[half:] + "\n"
}

// renameRotate moves the live file to <path>.<n> and starts a new one.
func (w *writer) renameRotate() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	dst := fmt.Sprintf("%s.%d", w.path, w.gen)
	if err := os.Rename(w.path, dst); err != nil {
		w.t.Errorf("rotating: %v", err)
	}
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	return dst
}

// shiftRotate rotates as the authsidecar does: the oldest backup is
// deleted, <path>.<i> becomes <path>.<i+1>, the live file becomes <path>.1.
func (w *writer) shiftRotate(backups int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	os.Remove(fmt.Sprintf("%s.%d", w.path, backups))
	for i := backups - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", w.path, i), fmt.Sprintf("%s.%d", w.path, i+1))
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		w.t.Errorf("rotating: %v", err)
	}
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// copyTruncate copies the live file to <path>.<n> and truncates it; the
// writer keeps its descriptor (O_APPEND), as with logrotate's copytruncate.
func (w *writer) copyTruncate() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	dst := fmt.Sprintf("%s.%d", w.path, w.gen)
	b, err := os.ReadFile(w.path)
	if err != nil {
		w.t.Errorf("copytruncate: %v", err)
		return dst
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		w.t.Errorf("copytruncate: %v", err)
	}
	if err := os.Truncate(w.path, 0); err != nil {
		w.t.Errorf("copytruncate: %v", err)
	}
	return dst
}

// truncate empties the live file in place.
func (w *writer) truncate() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := os.Truncate(w.path, 0); err != nil {
		w.t.Errorf("truncate: %v", err)
	}
}

func (w *writer) written() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.ids))
	for k, v := range w.ids {
		out[k] = v
	}
	return out
}

// adopt adds ids written by another writer to the oracle.
func (w *writer) adopt(ids map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k, v := range ids {
		w.ids[k] = v
	}
}

// forget drops ids from the oracle (records destroyed before they could
// be read, e.g. by a truncation in place).
func (w *writer) forget(ids map[string]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range ids {
		delete(w.ids, id)
	}
}

// esHarness starts an Elasticsearch fake and a harness pointed at it.
func esHarness(t *testing.T, env map[string]string) (*harness, *fakes.Elastic) {
	t.Helper()
	es, err := fakes.NewElastic(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(es.Close)
	all := map[string]string{"AUDIT_LOG_BACKEND": "elasticsearch", "ES_URL": es.URL(), "ES_INDEX": "audit-%{+yyyy.MM.dd}"}
	for k, v := range env {
		all[k] = v
	}
	return newHarness(t, all), es
}
