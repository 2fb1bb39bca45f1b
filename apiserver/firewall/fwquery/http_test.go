package fwquery_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/firewall/fwquery"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/lifecycle"
)

// serve starts the real HTTP API on loopback with the built-in and the
// firewall queries over the hand-built path-analysis network.
func serve(t *testing.T) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(graphtest.NewMemStore(), graph.Options{}, log)
	doc := pathtest.Document()
	if err := facts.Normalize(doc); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices); err != nil {
		t.Fatal(err)
	}
	reg := query.NewBuiltin()
	if err := reg.Register(fwquery.Definitions(pathanalysis.NewCache())...); err != nil {
		t.Fatal(err)
	}
	ready := &atomic.Bool{}
	ready.Store(true)
	// Every route needs a handler: the telemetry service's and the NetBox
	// sync's (unconfigured).
	handlers := telemetry.New(log, telemetry.Options{}).Handlers()
	nb, err := netbox.New(netbox.Config{}, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(handlers, nb.Handlers())
	maps.Copy(handlers, chaos.New(eng, log, chaos.Options{}).Handlers())
	maps.Copy(handlers, conversation.New(reg, eng, log, conversation.Options{}).Handlers())
	maps.Copy(handlers, spans.New(log, spans.Options{}).Handlers())
	api, err := httpapi.New(httpapi.Options{Engine: eng, Registry: reg, Log: log, Metrics: prometheus.NewRegistry(),
		MaxBodyBytes: 1 << 20, Ready: ready.Load, Handlers: handlers})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	ln, err := lifecycle.Listen("127.0.0.1:0") // as the daemon listens: lingering close
	if err != nil {
		t.Fatal(err)
	}
	srv := api.Server()
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown below
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func post(t *testing.T, url, query, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/queries/"+query+"/execute", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", query, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("POST %s: body is not JSON: %v", query, err)
	}
	return resp.StatusCode, m
}

func TestHTTPPathAnalysis(t *testing.T) {
	url := serve(t)
	status, m := post(t, url, "path_analysis", `{"parameters":{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"tcp","dst_port":443}}`)
	if status != 200 || m["verdict"] != "permit" || m["reason"] != "permitted by rule 10 on fw-1" || m["row_count"] != 2.0 {
		t.Fatalf("path_analysis over HTTP = %d %v, want 200, permit by rule 10 on fw-1, 2 hops", status, m)
	}
	rows := m["rows"].([]any)
	fw := rows[1].(map[string]any)
	for k, want := range map[string]any{"hostname": "fw-1", "in_zone": "untrust", "out_zone": "trust", "rule_id": "10", "rule_name": "web-in", "rule_order": 10.0, "action": "permit"} {
		if fw[k] != want {
			t.Errorf("path_analysis hop 2 %s = %v, want %v", k, fw[k], want)
		}
	}
	if m["truncated_paths"] != false {
		t.Errorf("truncated_paths = %v, want false", m["truncated_paths"])
	}
}

func TestHTTPBadParameters(t *testing.T) {
	url := serve(t)
	for _, c := range []struct {
		query, body string
		status      int
		msg         string
	}{
		{"path_analysis", `{"parameters":{"src_ip":"10.1.1.10"}}`, 400, `parameter "dst_ip": required`},
		{"path_analysis", `{"parameters":{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"icmp","dst_port":8}}`, 400, `parameter "dst_port": icmp has no ports`},
		{"path_analysis", `{"parameters":{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","dst_port":-1}}`, 400, `parameter "dst_port": expected an integer from 0 to 65535`},
		{"path_analysis", `{"parameters":{"src_ip":["10.1.1.10"],"dst_ip":"10.9.0.7"}}`, 400, `parameter "src_ip": expected an IP address`},
		{"firewall_rules_by_zone_pair", `{"parameters":{"hostname":"fw-1","src_zone":"untrust"}}`, 400, `parameter "dst_zone": required`},
		{"firewall_rules_by_device", `{"parameters":{"hostname":"ghost"}}`, 404, `no device named "ghost"`},
		{"hygiene_shadowed_rules", `{"parameters":{"hostname":"c-1"}}`, 400, `device "c-1" has no firewall policy`},
	} {
		status, m := post(t, url, c.query, c.body)
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if status != c.status || !strings.Contains(msg, c.msg) {
			t.Errorf("POST %s %s = %d %v, want %d %q", c.query, c.body, status, m, c.status, c.msg)
		}
	}
}
