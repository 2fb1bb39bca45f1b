package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

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
