package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/common/obs"
	"github.com/meshoptixiq/mesh/common/tracing/tracingtest"
)

// Durations of the longer scenarios; CI keeps them to seconds, a soak run
// sets AUDITSHIPPER_TEST_OUTAGE=5m and AUDITSHIPPER_TEST_ROTATIONS=300.
func outage(t *testing.T) time.Duration {
	if v := os.Getenv("AUDITSHIPPER_TEST_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("AUDITSHIPPER_TEST_OUTAGE: %v", err)
		}
		return d
	}
	return 3 * time.Second
}

func rotations(t *testing.T) int {
	if v := os.Getenv("AUDITSHIPPER_TEST_ROTATIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("AUDITSHIPPER_TEST_ROTATIONS: %v", err)
		}
		return n
	}
	return 4
}

// writeFor keeps writing batches of n records every 20 ms until stop closes.
func writeFor(w *writer, n int, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				w.write(n)
			}
		}
	}()
	return done
}

func TestRenameRotationEverySecond(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, nil)
	h.start()
	stop := make(chan struct{})
	done := writeFor(h.w, 20, stop)
	for range rotations(t) {
		time.Sleep(time.Second)
		h.w.renameRotate()
	}
	close(stop)
	<-done
	h.w.write(10)
	h.expectAll(es.Received, 30*time.Second)
	if got := h.metric("auditshipper_rotations_total", `kind="rename"`); got < float64(rotations(t)) {
		t.Errorf("auditshipper_rotations_total{kind=rename} = %v, want >= %d", got, rotations(t))
	}
	h.stop()
}

func TestShiftRotationDeletesUnreadBackups(t *testing.T) {
	t.Parallel()
	// The authsidecar's scheme with two backups, rotating faster than a
	// throttled sink drains: backups are deleted before they are read and
	// must be read to the end through the open descriptors.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "50", "SHIPPER_QUEUE_BATCHES": "1", "SHIPPER_CONCURRENCY": "1", "SHIPPER_ROTATE_WAIT": "300ms"})
	es.Set(func(n int) (int, string) {
		if n%2 == 0 {
			return 503, ""
		}
		return 0, ""
	}, nil)
	h.start()
	stop := make(chan struct{})
	done := writeFor(h.w, 30, stop)
	for range 2 * rotations(t) {
		time.Sleep(400 * time.Millisecond)
		h.w.shiftRotate(2)
	}
	close(stop)
	<-done
	es.Set(nil, nil)
	h.expectAll(es.Received, 60*time.Second)
	h.stop()
}

func TestCopytruncateWhileWriting(t *testing.T) {
	t.Parallel()
	// Keep the sink slow enough that the shipper is behind when the file is
	// truncated, so the rest must come from the copy.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "50", "SHIPPER_QUEUE_BATCHES": "1", "SHIPPER_CONCURRENCY": "1"})
	es.Set(func(n int) (int, string) {
		if n%2 == 0 {
			return 503, ""
		}
		return 0, ""
	}, nil)
	h.start()
	stop := make(chan struct{})
	done := writeFor(h.w, 30, stop)
	for range rotations(t) {
		time.Sleep(time.Second)
		h.w.copyTruncate()
	}
	close(stop)
	<-done
	es.Set(nil, nil)
	h.expectAll(es.Received, 30*time.Second)
	if got := h.metric("auditshipper_rotations_total", `kind="copytruncate"`); got < 1 {
		t.Errorf("auditshipper_rotations_total{kind=copytruncate} = %v, want >= 1 (the test did not exercise reading from the copy)", got)
	}
	h.stop()
}

func TestTruncateInPlace(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, nil)
	h.start()
	h.w.write(200)
	h.expectAll(es.Received, 20*time.Second)
	h.w.truncate()
	// Fewer bytes than before (size check) ...
	h.w.write(20)
	h.expectAll(es.Received, 20*time.Second)
	h.w.truncate()
	// ... and, after a truncation, more bytes than the old offset before
	// the shipper looks (head check).
	h.w.write(400)
	h.expectAll(es.Received, 20*time.Second)
	if got := h.metric("auditshipper_rotations_total", `kind="truncate"`) + h.metric("auditshipper_rotations_total", `kind="replaced"`); got < 2 {
		t.Errorf("truncations seen = %v, want >= 2", got)
	}
	h.stop()
}

func TestRotatedFileDeletedBeforeRead(t *testing.T) {
	t.Parallel()
	// The sink is down, so the shipper stops reading (backpressure) with
	// most of the file unread; the file is then rotated and deleted.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "20", "SHIPPER_QUEUE_BATCHES": "1", "SHIPPER_CONCURRENCY": "1"})
	es.Stop()
	h.w.write(1000)
	h.start()
	time.Sleep(300 * time.Millisecond)
	rotated := h.w.renameRotate()
	if err := os.Remove(rotated); err != nil {
		t.Fatal(err)
	}
	h.w.write(100)
	if err := es.Start(); err != nil {
		t.Fatal(err)
	}
	h.expectAll(es.Received, 30*time.Second)
	h.stop()
}

func TestInodeReuse(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, map[string]string{"AUDIT_LOG_BACKEND": "opensearch"})
	h.w.write(50)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	h.stop()
	oldIno := inode(t, h.logPath)
	if err := os.Remove(h.logPath); err != nil {
		t.Fatal(err)
	}
	h.w.f.Close()
	h.w.f = nil
	// The kernel hands a freed inode number out again; try a few files so
	// that the new log most likely reuses the old number.
	var newIno uint64
	for i := 0; i < 20; i++ {
		f, err := os.Create(h.logPath)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if newIno = inode(t, h.logPath); newIno == oldIno {
			break
		}
		os.Rename(h.logPath, filepath.Join(h.dir, fmt.Sprintf("spare-%d", i)))
	}
	h.w.write(60)
	t.Logf("old inode %d, new inode %d (reused: %v)", oldIno, newIno, oldIno == newIno)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	h.stop()
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	out, err := exec.Command("stat", "-c", "%i", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	return n
}

func TestRestartDuringRotation(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "20", "SHIPPER_QUEUE_BATCHES": "1", "SHIPPER_CONCURRENCY": "1"})
	h.w.write(300)
	h.start()
	h.waitFor(10*time.Second, "some records delivered", func() bool { n, _ := es.Received.Total(); return n > 0 })
	es.Stop()
	h.stop()
	// While the shipper is down: a rename rotation, new records, then a
	// copytruncate of the new file.
	h.w.renameRotate()
	h.w.write(200)
	h.w.copyTruncate()
	h.w.write(50)
	if err := es.Start(); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.expectAll(es.Received, 30*time.Second)
	h.stop()
}

func TestKill9MidBatch(t *testing.T) {
	t.Parallel()
	// Every other request hangs, so kill -9 lands while batches are in
	// flight and unconfirmed.
	h, es := esHarness(t, map[string]string{"SHIPPER_REQUEST_TIMEOUT": "300ms", "SHIPPER_BATCH_RECORDS": "50"})
	es.Set(nil, func(n int) bool { return n%2 == 0 })
	h.w.write(500)
	for range 4 {
		h.start()
		time.Sleep(150 * time.Millisecond)
		h.kill()
		h.w.write(100)
	}
	es.Set(nil, nil)
	h.start()
	h.expectAll(es.Received, 30*time.Second)
	t.Logf("resends answered 409 by the sink: %d", es.Conflicts())
	h.stop()
}

func TestKill9MidCheckpoint(t *testing.T) {
	t.Parallel()
	// Small batches confirm (and checkpoint) continuously; repeated kill -9
	// at varying moments interrupts checkpoint writes. Then a torn current
	// checkpoint (what a crash on a filesystem without atomic rename could
	// leave) must fall back to the previous copy.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "5"})
	stop := make(chan struct{})
	done := writeFor(h.w, 10, stop)
	for i := range 6 {
		h.start()
		time.Sleep(time.Duration(80+37*i) * time.Millisecond)
		h.kill()
	}
	close(stop)
	<-done
	h.start()
	h.expectAll(es.Received, 30*time.Second)
	h.waitFor(10*time.Second, "a checkpoint", func() bool { _, err := os.Stat(filepath.Join(h.stateDir, "checkpoint.json")); return err == nil })
	h.kill()
	// The states a kill at each step of a checkpoint write leaves behind.
	cur := filepath.Join(h.stateDir, "checkpoint.json")
	prev := filepath.Join(h.stateDir, "checkpoint.prev.json")
	tmp := filepath.Join(h.stateDir, "checkpoint.json.tmp")
	for _, step := range []struct {
		name  string
		crash func(cur []byte)
	}{
		{"while writing the temp file", func(b []byte) { os.WriteFile(tmp, b[:len(b)/3], 0o640) }},
		{"between the two renames", func([]byte) { os.Rename(cur, prev); os.WriteFile(tmp, []byte("{}"), 0o640) }},
		{"torn current file (no atomic rename)", func(b []byte) { os.WriteFile(cur, b[:len(b)/2], 0o640) }},
	} {
		b, err := os.ReadFile(cur)
		if err != nil {
			t.Fatalf("no checkpoint before crash %q: %v", step.name, err)
		}
		h.w.write(50)
		step.crash(b)
		h.start()
		h.expectAll(es.Received, 30*time.Second)
		h.waitFor(10*time.Second, "a checkpoint", func() bool { _, err := os.Stat(cur); return err == nil })
		h.kill()
	}
}

func TestSinkDownWithRotations(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, nil)
	h.start()
	h.w.write(50)
	h.expectAll(es.Received, 20*time.Second)
	es.Stop()
	down := outage(t)
	end := time.Now().Add(down)
	rot := 0
	for time.Now().Before(end) {
		h.w.write(100)
		time.Sleep(down / 4)
		h.w.renameRotate()
		rot++
	}
	h.w.write(100)
	if got := h.metric("auditshipper_bytes_behind", ""); got <= 0 {
		t.Errorf("auditshipper_bytes_behind during outage = %v, want > 0", got)
	}
	if err := es.Start(); err != nil {
		t.Fatal(err)
	}
	h.expectAll(es.Received, 60*time.Second)
	t.Logf("outage %s with %d rotations", down, rot)
	h.stop()
}

func TestThrottleAndUnavailableStorms(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "100"})
	es.Set(func(n int) (int, string) {
		switch {
		case n > 40:
			return 0, ""
		case n%3 == 0:
			return 503, ""
		case n%5 == 0:
			return 429, "1"
		default:
			return 429, ""
		}
	}, nil)
	h.w.write(2000)
	h.start()
	h.expectAll(es.Received, 60*time.Second)
	if got := h.metric("auditshipper_records_retried_total", `reason="throttled"`); got == 0 {
		t.Errorf("retried{reason=throttled} = 0, want > 0")
	}
	if got := h.metric("auditshipper_records_retried_total", `reason="server_error"`); got == 0 {
		t.Errorf("retried{reason=server_error} = 0, want > 0")
	}
	h.stop()
}

func idHash(id string) uint32 {
	f := fnv.New32a()
	f.Write([]byte(id))
	return f.Sum32()
}

func TestMixedPartialBulkFailures(t *testing.T) {
	t.Parallel()
	// Per item: some 429 once, some 503 twice, some rejected for good with
	// 400; requests over 64 KiB get 413 and must be split.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_BYTES": "256KiB"})
	es.MaxBody = 64 << 10
	es.SetItemFault(func(id string, seen int) int {
		switch k := idHash(id) % 10; {
		case k == 0:
			return 400
		case k == 1 && seen == 1:
			return 429
		case k == 2 && seen <= 2:
			return 503
		}
		return 0
	})
	h.w.write(1500)
	h.w.writeRaw("this is not json\n")
	h.start()
	rejected := map[string]string{}
	for id, line := range h.w.written() {
		if idHash(id)%10 == 0 {
			rejected[id] = line
		}
	}
	h.w.forget(rejected)
	h.expectAll(es.Received, 60*time.Second)
	h.waitFor(10*time.Second, "dead letters", func() bool { return len(h.deadLetters()) >= len(rejected)+1 })
	dl := h.deadLetters()
	got := map[string]bool{}
	invalid := 0
	for _, d := range dl {
		switch d.Reason {
		case "rejected":
			got[idOf(d.Record)] = true
			if string(d.Record) != rejected[idOf(d.Record)] {
				t.Errorf("dead letter for %s holds %s, want the record as written", idOf(d.Record), d.Record)
			}
			if d.Status != 400 {
				t.Errorf("dead letter status = %d, want 400", d.Status)
			}
		case "invalid_json":
			invalid++
			if d.Line != "this is not json" {
				t.Errorf("invalid_json dead letter line = %q, want the raw line", d.Line)
			}
		default:
			t.Errorf("unexpected dead letter reason %q", d.Reason)
		}
	}
	for id := range rejected {
		if !got[id] {
			t.Errorf("rejected record %s not in the dead-letter file", id)
		}
	}
	if invalid != 1 {
		t.Errorf("invalid_json dead letters = %d, want 1", invalid)
	}
	for id := range es.Received.Docs() {
		if _, ok := rejected[id]; ok {
			t.Errorf("rejected record %s reached the index", id)
		}
	}
	if got := h.metric("auditshipper_sink_requests_total", `status="413"`); got == 0 {
		t.Errorf("no 413 seen: the split path was not exercised")
	}
	h.stop()
}

func idOf(raw []byte) string {
	s := string(raw)
	i := strings.Index(s, `"id":"`)
	if i < 0 {
		return ""
	}
	s = s[i+6:]
	return s[:strings.IndexByte(s, '"')]
}

func TestHECAcksLost(t *testing.T) {
	t.Parallel()
	hec, err := fakes.NewHEC("hec-token", true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hec.Close)
	hec.SetLoseAck(func(id int64) bool { return id%3 == 1 })
	h := newHarness(t, map[string]string{"AUDIT_LOG_BACKEND": "splunk", "SPLUNK_HEC_URL": hec.URL(), "SPLUNK_HEC_TOKEN": "hec-token",
		"SPLUNK_HEC_ACK": "true", "SHIPPER_BATCH_RECORDS": "100"})
	h.w.write(1000)
	h.start()
	h.expectAll(hec.Received, 60*time.Second)
	if hec.Lost() == 0 {
		t.Errorf("HEC fake lost no acks: the scenario did not run")
	}
	if got := h.metric("auditshipper_records_retried_total", `reason="ack_timeout"`); got == 0 {
		t.Errorf("retried{reason=ack_timeout} = 0, want > 0")
	}
	h.stop()
}

func TestHangingConnection(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, map[string]string{"SHIPPER_REQUEST_TIMEOUT": "300ms"})
	es.Set(nil, func(n int) bool { return n <= 3 })
	h.w.write(300)
	h.start()
	h.expectAll(es.Received, 30*time.Second)
	if got := h.metric("auditshipper_records_retried_total", `reason="timeout"`); got == 0 {
		t.Errorf("retried{reason=timeout} = 0, want > 0")
	}
	h.stop()
}

func TestCheckpointDirectoryFull(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "50"})
	// A real full filesystem: a 64 KiB tmpfs holds the state directory.
	if err := os.MkdirAll(h.stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", h.stateDir).CombinedOutput(); err != nil {
		t.Fatalf("this test mounts a tmpfs and needs root (CI runs as root): mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", h.stateDir).Run() })
	h.w.write(100)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	filler := filepath.Join(h.stateDir, "filler")
	// Fill it: dd stops at ENOSPC.
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").Run()
	h.w.write(300)
	h.expectAll(es.Received, 20*time.Second)
	h.waitFor(10*time.Second, "checkpoint write errors", func() bool { return h.metric("auditshipper_checkpoint_write_errors_total", "") > 0 })
	// Crash while the checkpoint is stale: at-least-once means resending.
	h.kill()
	h.w.write(100)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	before := h.metric("auditshipper_checkpoint_writes_total", "")
	h.w.write(100)
	h.expectAll(es.Received, 20*time.Second)
	h.waitFor(10*time.Second, "a checkpoint write after space came back", func() bool {
		return h.metric("auditshipper_checkpoint_writes_total", "") > before
	})
	h.stop()
}

func TestPartialLastLineAtShutdown(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, nil)
	h.w.write(100)
	id, rest := h.w.partial()
	h.start()
	h.waitFor(20*time.Second, "the complete records", func() bool { n, _ := es.Received.Total(); return n >= 100 })
	time.Sleep(300 * time.Millisecond) // several polls with the half line present
	h.stop()
	if _, ok := es.Received.Docs()[id]; ok {
		t.Fatalf("half-written record %s was shipped before its newline", id)
	}
	h.w.writeRaw(rest)
	h.w.write(10)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	if dl := h.deadLetters(); len(dl) != 0 {
		t.Errorf("dead letters = %+v, want none (the partial line must wait for its newline)", dl)
	}
	h.stop()
}

func TestAuthFailureKeepsData(t *testing.T) {
	t.Parallel()
	es, err := fakes.NewElastic(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(es.Close)
	es.APIKey = "right-key"
	h := newHarness(t, map[string]string{"AUDIT_LOG_BACKEND": "elasticsearch", "ES_URL": es.URL(), "ES_API_KEY": "wrong-key"})
	h.w.write(100)
	h.start()
	h.waitFor(10*time.Second, "auth failures counted", func() bool {
		return h.metric("auditshipper_sink_auth_failures_total", `status="401"`) > 0
	})
	h.stop()
	if n, _ := es.Received.Total(); n != 0 {
		t.Fatalf("sink accepted %d records with a wrong key", n)
	}
	if dl := h.deadLetters(); len(dl) != 0 {
		t.Fatalf("auth failure dead-lettered %d records, want the data kept", len(dl))
	}
	h.env["ES_API_KEY"] = "right-key"
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	h.stop()
}

func TestWebhookSinkSigned(t *testing.T) {
	t.Parallel()
	wh, err := fakes.NewWebhook("wh-token", "wh-secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wh.Close)
	h := newHarness(t, map[string]string{"AUDIT_LOG_BACKEND": "webhook", "AUDIT_WEBHOOK_URL": wh.URL() + "/hooks/audit",
		"AUDIT_WEBHOOK_TOKEN": "wh-token", "AUDIT_WEBHOOK_SECRET": "wh-secret"})
	wh.Set(func(n int) (int, string) {
		if n <= 2 {
			return 503, ""
		}
		return 0, ""
	}, nil)
	h.w.write(500)
	h.start()
	h.expectAll(wh.Received, 20*time.Second)
	if n := wh.BadSignatures(); n != 0 {
		t.Errorf("webhook receiver rejected %d signatures", n)
	}
	h.stop()
}

func TestSplunkWithoutAck(t *testing.T) {
	t.Parallel()
	hec, err := fakes.NewHEC("tok", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hec.Close)
	// Batches above 1 MB must be cut to fit HEC's limit.
	h := newHarness(t, map[string]string{"AUDIT_LOG_BACKEND": "splunk", "SPLUNK_HEC_URL": hec.URL(), "SPLUNK_HEC_TOKEN": "tok", "SHIPPER_BATCH_BYTES": "4MiB", "SHIPPER_BATCH_RECORDS": "20000"})
	h.w.write(8000)
	h.start()
	h.expectAll(hec.Received, 30*time.Second)
	if got := h.metric("auditshipper_sink_requests_total", `status="413"`); got != 0 {
		t.Errorf("HEC answered 413 %v times: requests exceeded 1 MB", got)
	}
	h.stop()
}

func TestStdoutSink(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.w.write(50)
	h.start()
	for path, want := range map[string]int{"/livez": 200, "/readyz": 200, "/metrics": 200, "/nope": 404} {
		resp, err := http.Get("http://" + h.listen + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	h.waitFor(10*time.Second, "50 lines on stdout", func() bool { return strings.Count(h.cur.stdout.String(), "\n") >= 50 })
	out := h.cur.stdout.String()
	h.stop()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	written := h.w.written()
	for _, l := range lines {
		if written[idOf([]byte(l))] != l {
			t.Errorf("stdout line %q was not written as such", l)
		}
	}
	if len(lines) != len(written) {
		t.Errorf("stdout has %d lines, want %d", len(lines), len(written))
	}
}

func TestNewFileInGlobFound(t *testing.T) {
	t.Parallel()
	for _, notify := range []string{"true", "false"} {
		t.Run("fsnotify="+notify, func(t *testing.T) {
			t.Parallel()
			h, es := esHarness(t, map[string]string{"SHIPPER_FSNOTIFY": notify})
			h.env["AUDIT_LOG_PATH"] = filepath.Join(filepath.Dir(h.logPath), "*.jsonl")
			h.start()
			h.w.write(10)
			other := &writer{t: t, path: filepath.Join(filepath.Dir(h.logPath), "other.jsonl"), ids: map[string]string{}, seq: 1_000_000}
			other.write(10)
			h.w.adopt(other.written())
			h.expectAll(es.Received, 10*time.Second)
			h.stop()
		})
	}
}

func TestLogsDurationsAsStrings(t *testing.T) {
	t.Parallel()
	// slog's JSON handler writes a time.Duration as integer nanoseconds;
	// an operator reading "timeout":2000000000 has to count zeros.
	h, es := esHarness(t, nil)
	es.Stop()
	h.w.write(5)
	h.start()
	h.waitFor(10*time.Second, "a retry log line", func() bool {
		return strings.Contains(h.cur.stderr.String(), "delivery failed; retrying")
	})
	h.stop()
	want := map[string]string{"delivery failed; retrying": "wait", "stopping: draining in-flight batches": "timeout"}
	seen := map[string]bool{}
	for _, line := range strings.Split(h.logs[len(h.logs)-1], "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		msg, _ := rec["msg"].(string)
		key, ok := want[msg]
		if !ok {
			continue
		}
		seen[msg] = true
		s, isString := rec[key].(string)
		if !isString {
			t.Errorf("log %q: %s = %v (%T), want a duration string", msg, key, rec[key], rec[key])
			continue
		}
		if _, err := time.ParseDuration(s); err != nil {
			t.Errorf("log %q: %s = %q, want a duration string: %v", msg, key, s, err)
		}
		if msg == "stopping: draining in-flight batches" && s != "2s" {
			t.Errorf("log %q: timeout = %q, want \"2s\" (SHIPPER_DRAIN_TIMEOUT)", msg, s)
		}
	}
	for msg := range want {
		if !seen[msg] {
			t.Errorf("no %q log line", msg)
		}
	}
}

func TestDeadLettersKeepExactBytes(t *testing.T) {
	t.Parallel()
	// Lines the sink refuses for good, or that are not JSON, reach the
	// dead-letter file byte for byte: invalid UTF-8 (Elasticsearch refuses
	// it in a document) included.
	h, es := esHarness(t, nil)
	es.SetItemFault(func(id string, _ int) int {
		if id == "html" {
			return 400
		}
		return 0
	})
	bad := []string{
		"{\"id\":\"bad-utf8\",\"user\":\"\xc3\x28\"}",
		"not json \xff\xfe",
		`{"id":"html", "q":"<a & b>"}`,
	}
	h.w.write(10)
	for _, l := range bad {
		h.w.writeRaw(l + "\n")
	}
	h.w.write(10)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	h.waitFor(10*time.Second, "3 dead letters", func() bool { return len(h.deadLetters()) >= len(bad) })
	got := map[string]bool{}
	for _, d := range h.deadLetters() {
		got[string(d.Raw)] = true
	}
	for _, l := range bad {
		if !got[l] {
			t.Errorf("dead-letter file has no entry whose line_base64 is %q; it has %v", l, got)
		}
	}
	if len(got) != len(bad) {
		t.Errorf("dead-letter file holds %d distinct lines, want %d", len(got), len(bad))
	}
	h.stop()
}

func TestSinkDownRotationsOfUnseenFiles(t *testing.T) {
	t.Parallel()
	// While the sink is down the reader is blocked (queue full), and the
	// log is rotated five times with three backups kept: one file is
	// created and rotated away at once (never a live file at any scan),
	// and some are rotated out of existence before the sink returns. Each
	// must be found and shipped: no record may be lost.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "20", "SHIPPER_QUEUE_BATCHES": "1", "SHIPPER_CONCURRENCY": "1",
		"SHIPPER_POLL_INTERVAL": "50ms"})
	es.Stop()
	h.w.write(200)
	h.start()
	h.waitFor(10*time.Second, "a failed delivery", func() bool {
		return strings.Contains(h.cur.stderr.String(), "delivery failed; retrying")
	})
	h.w.write(30)
	h.w.shiftRotate(3) // the followed file → .1
	h.w.write(30)
	h.w.shiftRotate(3) // created and rotated at once → .1
	for range 3 {
		time.Sleep(200 * time.Millisecond)
		h.w.write(30)
		h.w.shiftRotate(3) // the last two delete the two oldest backups
	}
	h.w.write(30)
	if err := es.Start(); err != nil {
		t.Fatal(err)
	}
	h.expectAll(es.Received, 60*time.Second)
	h.stop()
}

func TestMetricsPassPromlint(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, nil)
	h.w.write(20)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	resp, err := http.Get("http://" + h.listen + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := obs.Lint(body)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s", p)
	}
	h.stop()
}

func TestProbesAreReadOnly(t *testing.T) {
	t.Parallel()
	h, _ := esHarness(t, nil)
	h.start()
	for _, path := range []string{"/livez", "/readyz", "/metrics"} {
		resp, err := http.Post("http://"+h.listen+path, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s = %d Allow %q, want 405 with Allow: GET, HEAD", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	h.stop()
}

func TestDeliveriesAreTraced(t *testing.T) {
	t.Parallel()
	rcv := tracingtest.StartHTTP(t)
	h, es := esHarness(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL, "OTEL_BSP_SCHEDULE_DELAY": "50", "SHIPPER_BATCH_RECORDS": "10"})
	h.w.write(30)
	h.start()
	h.expectAll(es.Received, 20*time.Second)
	h.stop() // flushes the spans
	delivered := 0
	for _, s := range rcv.Spans() {
		if s.Service == "auditshipper" && s.Name == "auditshipper deliver" && s.Attributes["meshq.sink"] == "elasticsearch" {
			n, _ := strconv.Atoi(s.Attributes["meshq.delivered"])
			delivered += n
		}
	}
	if delivered != 30 {
		t.Errorf("delivery spans account for %d records, want 30 (spans: %+v)", delivered, rcv.Spans())
	}
}
