package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/meshoptixiq/mesh/authsidecar/soar"
)

type webhook struct {
	mu       sync.Mutex
	got      []soar.Payload
	auth     []string
	failNext int
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failNext > 0 {
		w.failNext--
		rw.WriteHeader(503)
		return
	}
	var p soar.Payload
	json.Unmarshal(b, &p)
	w.got = append(w.got, p)
	w.auth = append(w.auth, r.Header.Get("Authorization"))
}

func (w *webhook) payloads() []soar.Payload {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]soar.Payload(nil), w.got...)
}

const seedsRules = `[
 {"name":"high-blast-radius","query":"blast_radius_*","condition":"row_count > 50"},
 {"name":"firewall-query-spike","query":"firewall_*","condition":"elapsed_ms > 5000"},
 {"name":"server-error","query":"*","condition":"status >= 500"}
]`

func TestSOARWebhooks(t *testing.T) {
	up := startUpstream(t)
	hook := &webhook{failNext: 1} // the first delivery fails: retried once
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	sc := startSidecar(t, up.Addr, map[string]string{"SOAR_WEBHOOK_URL": srv.URL, "SOAR_WEBHOOK_TOKEN": "soar-secret", "SOAR_RULES": seedsRules, "SOAR_RETRY_DELAY": "200ms"})
	up.Configure(0, 87, 0)
	do(t, "POST", sc.URL+"/queries/blast_radius_from_device/execute", map[string]string{"X-API-Key": testKey}, `{"parameters":{"hostname":"core-sw-01"}}`)
	up.Configure(0, 10, 0)
	do(t, "POST", sc.URL+"/queries/blast_radius_vlan/execute", map[string]string{"X-API-Key": testKey}, `{"parameters":{"vlan":10}}`) // 10 rows: no rule
	up.Configure(502, 0, 0)
	do(t, "POST", sc.URL+"/queries/summary_stats/execute", map[string]string{"X-API-Key": testKey}, `{}`)
	up.Configure(0, 3, 0)
	eventually(t, "two webhooks delivered (one after its retry)", 10*time.Second, func() (bool, string) {
		return len(hook.payloads()) == 2, fmt.Sprintf("have %d", len(hook.payloads()))
	})
	want := []soar.Payload{
		{Rule: "high-blast-radius", Query: "blast_radius_from_device", User: "admin", RowCount: 87, Status: 200, Params: json.RawMessage(`{"hostname":"core-sw-01"}`)},
		{Rule: "server-error", Query: "summary_stats", User: "admin", RowCount: 0, Status: 502, Params: json.RawMessage(`{}`)},
	}
	got := hook.payloads()
	for i := range got {
		if _, err := time.Parse(time.RFC3339, got[i].Timestamp); err != nil {
			t.Errorf("payload %d timestamp %q: %v", i, got[i].Timestamp, err)
		}
	}
	opts := []cmp.Option{cmpopts.IgnoreFields(soar.Payload{}, "Timestamp", "ElapsedMS"), cmpopts.SortSlices(func(a, b soar.Payload) bool { return a.Rule < b.Rule }),
		cmp.Transformer("raw", func(r json.RawMessage) string { return string(r) })}
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("webhook payloads (-want +got):\n%s", diff)
	}
	for _, a := range hook.auth {
		if a != "Bearer soar-secret" {
			t.Errorf("webhook Authorization = %q, want Bearer soar-secret", a)
		}
	}
	// The failure was logged at WARNING before the retry succeeded.
	if !contains(sc.Log.String(), `"level":"WARN","msg":"soar webhook failed; retrying once"`) {
		t.Errorf("log lacks the WARNING for the failed webhook")
	}
}

func TestSOARGivesUpAfterOneRetry(t *testing.T) {
	up := startUpstream(t)
	hook := &webhook{failNext: 1000}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	sc := startSidecar(t, up.Addr, map[string]string{"SOAR_WEBHOOK_URL": srv.URL, "SOAR_RULES": seedsRules, "SOAR_RETRY_DELAY": "50ms"})
	up.Configure(500, 0, 0)
	do(t, "GET", sc.URL+"/queries/x", map[string]string{"X-API-Key": testKey}, "")
	eventually(t, "give-up logged and counted", 10*time.Second, func() (bool, string) {
		_, _, m := do(t, "GET", sc.URL+"/metrics", nil, "")
		return contains(sc.Log.String(), "giving up") && contains(string(m), `authsidecar_soar_webhooks_total{result="failed"} 1`), ""
	})
	hook.mu.Lock()
	attempts := 1000 - hook.failNext
	hook.mu.Unlock()
	if attempts != 2 {
		t.Errorf("delivery attempts = %d, want 2 (one retry)", attempts)
	}
}
