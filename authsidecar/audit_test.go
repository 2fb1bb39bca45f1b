package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/obs"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/meshoptixiq/mesh/common/audit"
)

// readAudit waits for at least n records in path and returns them.
func readAudit(t *testing.T, path string, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	eventually(t, "audit records written", 10*time.Second, func() (bool, string) {
		recs = nil
		f, err := os.Open(path)
		if err != nil {
			return false, err.Error()
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			recs = append(recs, decode[audit.Record](t, sc.Bytes()))
		}
		return len(recs) >= n, fmt.Sprintf("have %d", len(recs))
	})
	return recs
}

func TestAuditRotationBySize(t *testing.T) {
	up := startUpstream(t)
	dir := t.TempDir()
	path := dir + "/audit.jsonl"
	sc := startSidecar(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": path, "AUDIT_LOG_MAX_BYTES": "2KiB", "AUDIT_LOG_BACKUPS": "2"})
	for i := 0; i < 40; i++ {
		do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}, "")
	}
	total := 0
	eventually(t, "40 records across the rotated files", 10*time.Second, func() (bool, string) {
		total = 0
		for _, p := range []string{path, path + ".1", path + ".2"} {
			b, err := os.ReadFile(p)
			if err != nil {
				return false, err.Error()
			}
			if len(b) > 2048 {
				return false, fmt.Sprintf("%s is %d bytes, over the 2 KiB limit", p, len(b))
			}
			total += strings.Count(string(b), "\n")
		}
		return total >= 6, fmt.Sprintf("%d records", total)
	})
	if _, err := os.Stat(path + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists with AUDIT_LOG_BACKUPS=2 (err %v)", path, err)
	}
}

func TestAuditWriteFailure(t *testing.T) {
	up := startUpstream(t)
	// /dev/full accepts the open and fails every write with ENOSPC: a full disk.
	sc := startSidecar(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": "/dev/full", "AUDIT_REQUIRED": "true"})
	status, _, _ := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}, "")
	if status != 200 {
		t.Fatalf("first request (audit not yet known to fail) = %d, want 200", status)
	}
	eventually(t, "readyz reports the audit failure", 10*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 503 && strings.Contains(string(body), "no space left"), fmt.Sprintf("%d %s", status, body)
	})
	up.Reset()
	status, _, body := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}, "")
	if status != 503 || len(up.Seen()) != 0 {
		t.Errorf("request with AUDIT_REQUIRED and a failing audit log = %d %s (upstream saw %d), want 503 and nothing upstream", status, body, len(up.Seen()))
	}
	_, _, metrics := do(t, "GET", sc.URL+"/metrics", nil, "")
	problems, err := obs.Lint(metrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s", p)
	}
	if !strings.Contains(string(metrics), "authsidecar_audit_write_errors_total ") || strings.Contains(string(metrics), "authsidecar_audit_write_errors_total 0\n") {
		t.Errorf("metrics do not count the audit write errors")
	}
	if !strings.Contains(sc.Log.String(), `"msg":"audit record not written"`) {
		t.Errorf("log does not report the audit failure")
	}
	// Without AUDIT_REQUIRED the request is served but the failure shows.
	sc2 := startSidecar(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": "/dev/full"})
	do(t, "GET", sc2.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}, "")
	eventually(t, "readyz reports the audit failure", 10*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc2.URL+"/readyz", nil, "")
		return status == 503, fmt.Sprintf("%d %s", status, body)
	})
	if status, _, _ := do(t, "GET", sc2.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey}, ""); status != 200 {
		t.Errorf("request with a failing audit log, not required = %d, want 200", status)
	}
}

func TestAuditUnwritableAtStartRefusesToStart(t *testing.T) {
	err := run(t.Context(), nil, mapEnv(map[string]string{"API_KEY": testKey, "AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": "/proc/nope/audit.jsonl", "LISTEN_ADDR": "127.0.0.1:0"}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "audit") {
		t.Errorf("run with an unwritable audit path = %v, want an audit error", err)
	}
}

// TestAuditRequiredRecoversAfterDiskFull runs the sidecar as a process
// whose file size limit (RLIMIT_FSIZE) is lowered under the audit file: a
// full disk, met in the middle of a record. Requests are refused and never
// forwarded while the log cannot be written, the sidecar recovers by itself
// once the limit is lifted, and the file holds every record, whole.
func TestAuditRequiredRecoversAfterDiskFull(t *testing.T) {
	up := startUpstream(t)
	path := t.TempDir() + "/audit.jsonl"
	sc := startProcess(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": path, "AUDIT_REQUIRED": "true"})
	get := func(id string) int {
		t.Helper()
		status, _, _ := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Request-Id": id}, "")
		return status
	}
	if status := get("r1"); status != 200 {
		t.Fatalf("request r1 = %d, want 200", status)
	}
	readAudit(t, path, 1)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	setFsize := func(limit uint64) {
		t.Helper()
		if err := unix.Prlimit(sc.Pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: limit, Max: unix.RLIM_INFINITY}, nil); err != nil {
			t.Fatalf("prlimit(%d, RLIMIT_FSIZE, %d): %v", sc.Pid, limit, err)
		}
	}
	setFsize(uint64(st.Size()) + 100) // room for part of the next record only
	if status := get("r2"); status != 200 {
		t.Fatalf("request r2 (failure not yet known) = %d, want 200", status)
	}
	eventually(t, "readyz reports the audit failure", 10*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 503 && strings.Contains(string(body), "file too large"), fmt.Sprintf("%d %s", status, body)
	})
	up.Reset()
	if status := get("r3"); status != 503 || len(up.Seen()) != 0 {
		t.Fatalf("request r3 while the audit log cannot be written = %d (upstream saw %d), want 503 and nothing upstream", status, len(up.Seen()))
	}
	setFsize(unix.RLIM_INFINITY)
	// No request is needed to heal: the writer retries with what it kept.
	eventually(t, "readyz healthy again", 10*time.Second, func() (bool, string) {
		status, _, body := do(t, "GET", sc.URL+"/readyz", nil, "")
		return status == 200, fmt.Sprintf("%d %s", status, body)
	})
	if status := get("r4"); status != 200 || len(up.Seen()) != 1 {
		t.Fatalf("request r4 after recovery = %d (upstream saw %d), want 200 and forwarded", status, len(up.Seen()))
	}
	type idStatus struct {
		ID     string
		Status int
	}
	var got []idStatus
	for _, r := range readAudit(t, path, 4) { // every line decodes: no torn record
		got = append(got, idStatus{r.ID, r.Status})
	}
	if diff := cmp.Diff([]idStatus{{"r1", 200}, {"r2", 200}, {"r3", 503}, {"r4", 200}}, got); diff != "" {
		t.Errorf("audit records (-want +got):\n%s", diff)
	}
}

// TestAuditRequiredNeverServesUnaudited: with AUDIT_REQUIRED=true and a
// tiny queue under concurrent load, every request answered 2xx has its
// audit line; requests that find no room in the queue are answered 503
// without reaching the upstream.
func TestAuditRequiredNeverServesUnaudited(t *testing.T) {
	const workers, perWorker = 32, 25
	up := startUpstream(t)
	path := t.TempDir() + "/audit.jsonl"
	sc := startSidecar(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": path, "AUDIT_REQUIRED": "true",
		"AUDIT_QUEUE_SIZE": "2", "LOG_LEVEL": "INFO"})
	var mu sync.Mutex
	served := map[string]bool{}
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("load-%d-%d", w, i)
				status, _, _ := do(t, "GET", sc.URL+"/queries/all_devices", map[string]string{"X-API-Key": testKey, "X-Request-Id": id}, "")
				mu.Lock()
				statuses[status]++
				if status >= 200 && status < 300 {
					served[id] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := sc.stop(); err != nil { // the writer drains what is queued
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, r := range readAudit(t, path, 0) {
		if r.Status >= 200 && r.Status < 300 {
			audited[r.ID] = true
		}
	}
	unaudited := 0
	for id := range served {
		if !audited[id] {
			unaudited++
		}
	}
	forwarded := len(up.Seen())
	t.Logf("AUDIT_REQUIRED=true, AUDIT_QUEUE_SIZE=2, %d×%d concurrent requests: answers %v, %d forwarded, %d answered 2xx without an audit line",
		workers, perWorker, statuses, forwarded, unaudited)
	if unaudited != 0 {
		t.Errorf("%d of %d requests answered 2xx have no audit line, want 0", unaudited, len(served))
	}
	if len(served) == 0 {
		t.Errorf("no request was served: the test shows nothing")
	}
	if forwarded != len(served) {
		t.Errorf("upstream saw %d requests, %d were answered 2xx; want every refusal kept from the upstream", forwarded, len(served))
	}
}

// TestRefusedWhileReadingAudited: requests refused while their head or
// body is read (413, 431, 400 for ambiguous framing or a broken body, 408
// for a client too slow) are audited as errors with the client address
// and, when their head had been read, the identity of their API key. A
// head fasthttp refuses itself (too large, ambiguous framing) is never
// parsed: of those only the address is known.
func TestRefusedWhileReadingAudited(t *testing.T) {
	up := startUpstream(t)
	path := t.TempDir() + "/audit.jsonl"
	sc := startSidecar(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": path,
		"MAX_BODY_BYTES": "16KiB", "MAX_HEADER_BYTES": "16KiB", "CLIENT_READ_TIMEOUT": "1s"})
	head := func(id, framing string) string {
		return "POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testKey + "\r\nX-Request-Id: " + id + "\r\n" + framing + "\r\n"
	}
	body := func(n int) string { return strings.Repeat("x", n) }
	// Heads that were read: found by request id, with the identity.
	identified := map[string]struct {
		request string
		status  int
	}{
		"r413":          {head("r413", "Content-Length: 32768\r\n") + body(8<<10), 413},
		"r400-chunks":   {head("r400-chunks", "Transfer-Encoding: chunked\r\n") + "zz\r\nnot a chunk\r\n", 400},
		"r408-prefetch": {head("r408-prefetch", "Content-Length: 100\r\n") + body(10), 408},
		"r408-stream":   {head("r408-stream", "Content-Length: 12000\r\n") + body(9000), 408},
	}
	// Heads refused unparsed: one record per status, address only.
	anonymous := map[int][]string{
		431: {head("r431", "X-Big: "+body(32<<10)+"\r\n")},
		400: {head("r400-cl-cl", "Content-Length: 5\r\nContent-Length: 40\r\n") + "hello", head("r400-te", "Transfer-Encoding: xchunked\r\n") + "0\r\n\r\n"},
		408: {"POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: " + testKey + "\r\n"},
	}
	var wg sync.WaitGroup
	total := len(identified)
	for _, c := range identified {
		wg.Go(func() { untilClosed(t, sc.Addr, c.request) })
	}
	for _, reqs := range anonymous {
		for _, req := range reqs {
			total++
			wg.Go(func() { untilClosed(t, sc.Addr, req) })
		}
	}
	wg.Wait()
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests, want none of the refused ones", n)
	}
	recs := readAudit(t, path, total)
	byID := map[string]audit.Record{}
	anonymousSeen := map[int]int{}
	for _, r := range recs {
		if r.Outcome != audit.OutcomeError || r.ClientIP != "127.0.0.1" || r.Status < 400 {
			t.Errorf("record %s (status %d): outcome %q client_ip %q, want error and 127.0.0.1", r.ID, r.Status, r.Outcome, r.ClientIP)
		}
		if r.User == "" {
			anonymousSeen[r.Status]++
			continue
		}
		if r.User != "admin" || r.Auth != "api_key" || r.KeyFP == "" {
			t.Errorf("record %s: user %q auth %q key_fp %q, want the API key's identity", r.ID, r.User, r.Auth, r.KeyFP)
		}
		byID[r.ID] = r
	}
	for id, c := range identified {
		if r, ok := byID[id]; !ok || r.Status != c.status || r.Path != "/queries/all_devices/execute" {
			t.Errorf("audit record for %s = %+v (found %v), want status %d with the path and identity", id, r, ok, c.status)
		}
	}
	for status, reqs := range anonymous {
		if anonymousSeen[status] != len(reqs) {
			t.Errorf("%d records with status %d and no identity, want %d", anonymousSeen[status], status, len(reqs))
		}
	}
}

// untilClosed sends request on a fresh connection and reads until the
// sidecar closes it (raw gives up after a quiet second, which is no longer
// than CLIENT_READ_TIMEOUT=1s: the client would leave first).
func untilClosed(t *testing.T, addr, request string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.Write([]byte(request)); err != nil {
		t.Error(err)
		return ""
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// The outcome is the door's decision, recorded where it is made, not read
// back from the status: the apiserver refusing an allowed request (a plan
// that lacks the query: 403) is "allow" with status 403; a role that lacks
// the query is "deny"; the apiserver failing is "error".
func TestAuditOutcomeIsTheDecision(t *testing.T) {
	up := startUpstream(t)
	path := t.TempDir() + "/audit.jsonl"
	policy := "roles:\n  helpdesk:\n    allow: [locate_endpoint_by_ip]\ngroups:\n  helpdesk-team: helpdesk\n"
	keyFile := t.TempDir() + "/keys"
	deskKey := strings.Repeat("d", 32)
	if err := os.WriteFile(keyFile, []byte("desk:helpdesk:"+deskKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sc := startSidecar(t, up.Addr, map[string]string{"AUDIT_LOG_ENABLED": "true", "AUDIT_LOG_FILE": path,
		"API_KEYS_FILE": keyFile, "RBAC_POLICY": policy})
	key := map[string]string{"X-API-Key": deskKey}
	up.Configure(403, 0, 0)
	do(t, "POST", sc.URL+"/queries/locate_endpoint_by_ip/execute", key, `{"parameters":{"ip":"10.0.0.1"}}`)
	up.Configure(500, 0, 0)
	do(t, "POST", sc.URL+"/queries/locate_endpoint_by_ip/execute", key, `{"parameters":{"ip":"10.0.0.1"}}`)
	do(t, "POST", sc.URL+"/queries/firewall_rules_by_device/execute", key, `{}`)
	recs := readAudit(t, path, 3)
	got := []string{}
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s %d %s", r.Query, r.Status, r.Outcome))
	}
	want := []string{"locate_endpoint_by_ip 403 allow", "locate_endpoint_by_ip 500 error", "firewall_rules_by_device 403 deny"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit outcomes (-want +got):\n%s", diff)
	}
}
