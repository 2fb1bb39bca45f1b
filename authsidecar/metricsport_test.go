package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/common/testenv"
)

// With METRICS_LISTEN the sidecar's metrics are on that port only: the
// public port answers 404 for /metrics, the metrics port serves them (and
// nothing else: other paths 404, other methods 405).
func TestMetricsOnTheirOwnPort(t *testing.T) {
	up := startUpstream(t)
	mport := strconv.Itoa(testenv.FreePort(t))
	sc := startSidecar(t, up.Addr, map[string]string{"METRICS_LISTEN": "127.0.0.1:" + mport})
	metricsURL := "http://127.0.0.1:" + mport
	if status, _, body := do(t, "GET", sc.URL+"/queries/", map[string]string{"X-API-Key": testKey}, ""); status != 200 {
		t.Fatalf("a proxied request = %d %s", status, body)
	}
	if status, _, body := do(t, "GET", sc.URL+"/metrics", nil, ""); status != 404 || strings.Contains(string(body), "authsidecar_requests_total") {
		t.Errorf("public /metrics = %d %.200s, want 404 without metrics", status, body)
	}
	status, _, body := do(t, "GET", metricsURL+"/metrics", nil, "")
	if status != 200 || !strings.Contains(string(body), "authsidecar_requests_total") {
		t.Errorf("metrics port /metrics = %d %.200s, want the sidecar's metrics", status, body)
	}
	for path, want := range map[string]int{"/": 404, "/queries/": 404, "/livez": 404} {
		if status, _, _ := do(t, "GET", metricsURL+path, nil, ""); status != want {
			t.Errorf("metrics port GET %s = %d, want %d", path, status, want)
		}
	}
	if status, hdr, _ := do(t, "POST", metricsURL+"/metrics", nil, "x"); status != 405 || hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("metrics port POST /metrics = %d (Allow %q), want 405 GET, HEAD", status, hdr.Get("Allow"))
	}
}
