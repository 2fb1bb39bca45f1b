package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/netbox/netboxfake"

	"github.com/meshoptixiq/mesh/common/license"

	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/obs"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/broadcast"
	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/routes"
	"github.com/meshoptixiq/mesh/common/testenv"
)

type fixture struct {
	url   string
	store *graphtest.MemStore
	eng   *engine.Engine
	ready *atomic.Bool
}

type options struct {
	extra     *query.Definition
	maxBody   int
	maxHeader int
	redisPing func(context.Context) error
	license   *license.License
	// realHandlers keeps every telemetry handler (no panicking one).
	realHandlers bool
	// network replaces the campus; reg the built-in registry.
	network []facts.Device
	reg     *query.Registry
}

func start(t *testing.T, o options) *fixture {
	t.Helper()
	st := graphtest.NewMemStore()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(st, graph.Options{RootRoles: graph.DefaultRootRoles()}, log)
	doc := facts.Document{Schema: facts.Schema, Devices: o.network}
	if doc.Devices == nil {
		doc.Devices = graphtest.Campus()
	}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices); err != nil {
		t.Fatal(err)
	}
	if o.maxBody == 0 {
		o.maxBody = 1 << 20
	}
	ready := &atomic.Bool{}
	ready.Store(true)
	reg := o.reg
	if reg == nil {
		reg = query.NewBuiltin()
	}
	if o.extra != nil {
		if err := reg.Register(*o.extra); err != nil {
			t.Fatal(err)
		}
	}
	// Every route of the table must have a handler: the telemetry
	// service's (one of them replaced to check panic recovery) and the
	// NetBox sync.
	handlers := telemetry.New(log, telemetry.Options{}).Handlers()
	// A fake NetBox (the documented API) answers the sync's example.
	fakeNB := httptest.NewServer(netboxfake.New("nb-token"))
	t.Cleanup(fakeNB.Close)
	nb, err := netbox.New(netbox.Config{URL: fakeNB.URL, Token: "nb-token", Direction: netbox.Pull, VerifyTLS: true,
		DefaultSite: netbox.DefaultSite, DefaultRole: netbox.DefaultRole}, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(handlers, nb.Handlers())
	maps.Copy(handlers, chaos.New(eng, log, chaos.Options{}).Handlers())
	maps.Copy(handlers, conversation.New(reg, eng, log, conversation.Options{}).Handlers())
	maps.Copy(handlers, spans.New(log, spans.Options{SLOs: exampleSLOs(t), Graph: eng}).Handlers())
	stop := make(chan struct{}) // ends event streams before the server shuts down
	if !o.realHandlers {
		handlers["ebpf_events"] = func(*fasthttp.RequestCtx) { panic("boom") }
	}
	api, err := httpapi.New(httpapi.Options{
		Engine: eng, Registry: reg, Log: log, Metrics: prometheus.NewRegistry(),
		MaxBodyBytes: o.maxBody, MaxHeaderBytes: o.maxHeader, RedisPing: o.redisPing, Ready: ready.Load,
		Handlers: handlers, Stop: stop, License: o.license,
	})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	ln, err := lifecycle.Listen("127.0.0.1:0") // as the daemon listens: lingering close
	if err != nil {
		t.Fatal(err)
	}
	srv := api.Server()
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown below
	t.Cleanup(func() { close(stop); _ = srv.Shutdown() })
	return &fixture{url: "http://" + ln.Addr().String(), store: st, eng: eng, ready: ready}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

func decode(t *testing.T, r reply) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.body, err)
	}
	return m
}

// wantError checks the JSON error envelope.
func wantError(t *testing.T, what string, r reply, status int, code, msg string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Errorf("%s status = %d, want %d (body %s)", what, r.status, status, r.body)
	}
	e, ok := decode(t, r)["error"].(map[string]any)
	if !ok {
		t.Fatalf("%s body = %s, want an error envelope", what, r.body)
	}
	if e["code"] != code || !strings.Contains(e["message"].(string), msg) {
		t.Errorf("%s error = %v %q, want %s containing %q", what, e["code"], e["message"], code, msg)
	}
	return e
}

func TestExecute(t *testing.T) {
	f := start(t, options{})
	r := f.do(t, "POST", "/queries/locate_endpoint_by_ip/execute", `{"parameters":{"ip":"10.1.10.11"}}`)
	if r.status != 200 {
		t.Fatalf("execute status = %d, body %s", r.status, r.body)
	}
	if got := r.header.Get("X-Row-Count"); got != "1" {
		t.Errorf("X-Row-Count = %q, want 1", got)
	}
	if got := r.header.Get("X-Query-Name"); got != "locate_endpoint_by_ip" {
		t.Errorf("X-Query-Name = %q, want locate_endpoint_by_ip", got)
	}
	want := map[string]any{
		"query": "locate_endpoint_by_ip", "graph_version": 1.0,
		"columns":   []any{"ip", "mac", "hostname", "interface", "vlan", "vrf"},
		"rows":      []any{map[string]any{"ip": "10.1.10.11", "mac": "aa:bb:cc:00:00:01", "hostname": "acc1", "interface": "Gi1/0/1", "vlan": 10.0, "vrf": "default"}},
		"row_count": 1.0, "truncated": false, "next_cursor": nil,
	}
	if diff := cmp.Diff(want, decode(t, r)); diff != "" {
		t.Errorf("execute body (-want +got):\n%s", diff)
	}
	// No body at all is no parameters.
	r = f.do(t, "POST", "/queries/summary_stats/execute", "")
	if r.status != 200 || decode(t, r)["row_count"] != 1.0 {
		t.Errorf("summary_stats without body = %d %s, want 200 with one row", r.status, r.body)
	}
	// Blast radius carries its summary beside the rows.
	r = f.do(t, "POST", "/queries/blast_radius_from_device/execute", `{"parameters":{"hostname":"dist1"}}`)
	sum, _ := decode(t, r)["summary"].(map[string]any)
	if sum["devices"] != 2.0 || sum["endpoints"] != 3.0 {
		t.Errorf("blast_radius summary = %v, want 2 devices and 3 endpoints", sum)
	}
}

func TestExecuteErrors(t *testing.T) {
	f := start(t, options{})
	wantError(t, "unknown query", f.do(t, "POST", "/queries/nope/execute", `{}`), 404, "not_found", `no query named "nope"`)
	wantError(t, "malformed JSON", f.do(t, "POST", "/queries/summary_stats/execute", "{\n \"parameters\": {,}}"), 400, "bad_request", "malformed JSON at line 2, column 17")
	wantError(t, "truncated JSON", f.do(t, "POST", "/queries/summary_stats/execute", `{"parameters": {`), 400, "bad_request", "unexpected end of JSON input")
	wantError(t, "wrong body type", f.do(t, "POST", "/queries/summary_stats/execute", `{"parameters": [1]}`), 400, "bad_request", "parameters must be a JSON object, not an array")
	wantError(t, "null parameters", f.do(t, "POST", "/queries/summary_stats/execute", `{"parameters": null}`), 400, "bad_request", "parameters must be a JSON object, not null")
	wantError(t, "null body", f.do(t, "POST", "/queries/summary_stats/execute", `null`), 400, "bad_request", `the body must be a JSON object {"parameters": {...}}, not null`)
	wantError(t, "array body", f.do(t, "POST", "/queries/summary_stats/execute", `[]`), 400, "bad_request", "the body must be a JSON object")
	wantError(t, "wrongly cased key", f.do(t, "POST", "/queries/summary_stats/execute", `{"Parameters": {}}`), 400, "bad_request", `unknown key "Parameters" in the body: the only allowed key is "parameters"`)
	wantError(t, "unknown body field", f.do(t, "POST", "/queries/summary_stats/execute", `{"params": {}}`), 400, "bad_request", `unknown key "params"`)
	wantError(t, "trailing data", f.do(t, "POST", "/queries/summary_stats/execute", `{} {}`), 400, "bad_request", "after top-level value")
	wantError(t, "bad parameter", f.do(t, "POST", "/queries/ips_in_subnet/execute", `{"parameters":{"subnet":"nope"}}`), 400, "bad_request", `parameter "subnet": expected an IP prefix`)
	wantError(t, "unknown device", f.do(t, "POST", "/queries/devices_detail/execute", `{"parameters":{"hostname":"ghost"}}`), 404, "not_found", `no device named "ghost"`)
}

func TestRouting(t *testing.T) {
	f := start(t, options{})
	r := f.do(t, "GET", "/nope", "", "X-Request-Id", "req-123")
	e := wantError(t, "unknown route", r, 404, "not_found", "no such endpoint: GET /nope")
	if e["request_id"] != "req-123" || r.header.Get("X-Request-Id") != "req-123" {
		t.Errorf("request id = %v / header %q, want req-123 echoed", e["request_id"], r.header.Get("X-Request-Id"))
	}
	wantError(t, "wrong method", f.do(t, "GET", "/queries/summary_stats/execute", ""), 405, "method_not_allowed", "POST")
	wantError(t, "wrong method", f.do(t, "DELETE", "/graph/ingest", ""), 405, "method_not_allowed", "POST")
	if r := f.do(t, "GET", "/health", ""); r.status != 200 || string(r.body) != `{"status":"ok"}` || r.header.Get("X-Request-Id") == "" {
		t.Errorf("GET /health = %d %s (request id %q), want 200 ok with a generated request id", r.status, r.body, r.header.Get("X-Request-Id"))
	}
}

func TestPanicIsA500AndKeepsTheConnection(t *testing.T) {
	f := start(t, options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	get := func(path string) (*http.Response, []byte) {
		if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: x\r\nX-Request-Id: rid-9\r\n\r\n"); err != nil {
			t.Fatalf("writing request: %v", err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading response to %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	resp, body := get("/ebpf/events")
	if resp.StatusCode != 500 {
		t.Errorf("panicking handler status = %d, want 500", resp.StatusCode)
	}
	want := `{"error":{"code":"internal","message":"internal error; quote the request id to the operators","request_id":"rid-9"}}`
	if string(body) != want {
		t.Errorf("panicking handler body = %s, want %s", body, want)
	}
	// Same connection, next request.
	if resp, body := get("/health"); resp.StatusCode != 200 {
		t.Errorf("request after panic on the same connection = %d %s, want 200", resp.StatusCode, body)
	}
}

func TestQueriesListing(t *testing.T) {
	f := start(t, options{})
	m := decode(t, f.do(t, "GET", "/queries/", ""))
	if m["count"] != float64(len(query.Builtin())) {
		t.Errorf("GET /queries/ count = %v, want %d", m["count"], len(query.Builtin()))
	}
	if r := f.do(t, "GET", "/queries", ""); r.status != 200 {
		t.Errorf("GET /queries = %d, want 200", r.status)
	}
	got := decode(t, f.do(t, "GET", "/queries/all_devices", ""))
	want := map[string]any{
		"name": "all_devices", "tier": "community", "permission": "all_devices", "paged": true, "write": false,
		"description": got["description"],
		"columns":     []any{"hostname", "mgmt_ip", "vendor", "os", "model", "serial", "version", "role", "site", "metadata"},
		"parameters": []any{
			map[string]any{"name": "vendor", "type": "string", "required": false, "description": "only this vendor"},
			map[string]any{"name": "site", "type": "string", "required": false, "description": "only this site"},
			map[string]any{"name": "role", "type": "string", "required": false, "description": "only this role"},
			map[string]any{"name": "limit", "type": "int", "required": false, "default": 1000.0, "min": 1.0, "max": 10000.0, "description": "rows per page (1..10000)"},
			map[string]any{"name": "cursor", "type": "string", "required": false, "description": "next_cursor of the previous page; omit for the first page"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /queries/all_devices (-want +got):\n%s", diff)
	}
	wantError(t, "unknown query", f.do(t, "GET", "/queries/nope", ""), 404, "not_found", `no query named "nope"`)

	doc := decode(t, f.do(t, "GET", "/openapi.json", ""))
	paths := doc["paths"].(map[string]any)
	op := paths["/queries/locate_endpoint_by_ip/execute"].(map[string]any)["post"].(map[string]any)
	if op["x-permission"] != "locate_endpoint_by_ip" {
		t.Errorf("openapi x-permission = %v, want locate_endpoint_by_ip", op["x-permission"])
	}
	schema := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	params := schema["properties"].(map[string]any)["parameters"].(map[string]any)
	if diff := cmp.Diff([]any{"ip"}, params["required"]); diff != "" {
		t.Errorf("openapi locate_endpoint_by_ip required (-want +got):\n%s", diff)
	}
	// Every route of the table but the per-query execute, which is one
	// path per query.
	if want := len(routes.Of(routes.Apiserver)) - 1 + len(query.Builtin()); len(paths) != want {
		t.Errorf("openapi has %d paths, want %d", len(paths), want)
	}
}

func TestPaginationOverHTTP(t *testing.T) {
	f := start(t, options{})
	m := decode(t, f.do(t, "POST", "/queries/all_devices/execute", `{"parameters":{"limit":4}}`))
	if m["row_count"] != 4.0 || m["truncated"] != true || m["total_rows"] != 6.0 {
		t.Fatalf("page 1 = %v, want 4 of 6 rows, truncated", m)
	}
	cur := m["next_cursor"].(string)
	m = decode(t, f.do(t, "POST", "/queries/all_devices/execute", `{"parameters":{"limit":4,"cursor":"`+cur+`"}}`))
	if m["row_count"] != 2.0 || m["truncated"] != false || m["next_cursor"] != nil {
		t.Errorf("page 2 = %v, want the last 2 rows", m)
	}
	// A change to the graph makes the old cursor a conflict.
	f.do(t, "POST", "/graph/ingest", `{"schema":"meshq.facts/v1","devices":[{"hostname":"new1"}]}`)
	wantError(t, "stale cursor", f.do(t, "POST", "/queries/all_devices/execute", `{"parameters":{"limit":4,"cursor":"`+cur+`"}}`),
		409, "conflict", "request the first page again")
}

func TestIngest(t *testing.T) {
	f := start(t, options{maxBody: 4096})
	r := f.do(t, "POST", "/graph/ingest?mode=merge", `{"schema":"meshq.facts/v1","devices":[{"hostname":"edge9","role":"access",
		"interfaces":[{"name":"Gi1","mac":"AABB.CC00.0A0A"}],"neighbors":[{"local_interface":"Gi1","remote_hostname":"core1","remote_interface":"Gi9"}]}]}`)
	m := decode(t, r)
	if r.status != 200 || m["graph_version"] != 2.0 || m["ingested_devices"] != 1.0 || m["graph"].(map[string]any)["devices"] != 7.0 {
		t.Fatalf("merge ingest = %d %s, want version 2 with 7 devices", r.status, r.body)
	}
	// core1 has no Gi9, nor a record back to edge9: accepted, with the
	// link's far port unknown, and said so.
	wantWarnings := []any{map[string]any{"path": "devices[0].neighbors[0].remote_interface",
		"message": `core1 has no interface "Gi9" (by name, description, MAC or ifindex), and no neighbor record back to edge9 Gi1: the link is kept with the remote port unknown`}}
	if diff := cmp.Diff(wantWarnings, m["warnings"]); diff != "" {
		t.Errorf("merge ingest warnings (-want +got):\n%s", diff)
	}
	if got := f.eng.Graph().Device("edge9").Ifaces[0].MAC; got != "aa:bb:cc:00:0a:0a" {
		t.Errorf("ingested MAC = %q, want the canonical aa:bb:cc:00:0a:0a", got)
	}
	e := wantError(t, "bad facts", f.do(t, "POST", "/graph/ingest", `{"schema":"meshq.facts/v1","devices":[{"hostname":"a"},{"hostname":"b","interfaces":[{"name":"x","ips":["10.0.0.1/24","nope"]}]}]}`),
		400, "bad_request", "devices[1].interfaces[0].ips[1]")
	if ps, _ := e["problems"].([]any); len(ps) != 1 {
		t.Errorf("bad facts problems = %v, want one", e["problems"])
	}
	wantError(t, "malformed facts", f.do(t, "POST", "/graph/ingest", `{"schema":`), 400, "bad_request", "")
	wantError(t, "bad mode", f.do(t, "POST", "/graph/ingest?mode=upsert", `{}`), 400, "bad_request", `parameter "mode": expected merge or replace, got "upsert"`)
	wantError(t, "too large", f.do(t, "POST", "/graph/ingest", `{"schema":"meshq.facts/v1","devices":[`+strings.Repeat(`{"hostname":"x"},`, 400)+`]}`),
		413, "payload_too_large", "limit of 4096 bytes")
	if v := f.eng.Graph().Version; v != 2 {
		t.Errorf("graph version after rejected ingests = %d, want 2 (nothing applied)", v)
	}
	// A failing store applies nothing and says so.
	f.store.Fail = errors.New("disk full")
	wantError(t, "store down", f.do(t, "POST", "/graph/ingest?mode=replace", `{"schema":"meshq.facts/v1","devices":[{"hostname":"only"}]}`),
		503, "unavailable", "nothing was applied")
	if n := f.eng.Graph().Stats().Devices; n != 7 {
		t.Errorf("devices after failed ingest = %d, want 7", n)
	}
	// Queries go on from memory: ready, degraded, with the reason.
	if r := f.do(t, "GET", "/health/ready", ""); r.status != 200 || !strings.Contains(string(r.body), `"status":"degraded"`) ||
		!strings.Contains(string(r.body), "the graph store is unreachable") || strings.Contains(string(r.body), "disk full") {
		t.Errorf("ready with store down = %d %s, want 200 degraded with the reason and no driver error", r.status, r.body)
	}
	f.store.Fail = nil
	r = f.do(t, "POST", "/graph/ingest?mode=replace", `{"schema":"meshq.facts/v1","devices":[{"hostname":"only"}]}`)
	if r.status != 200 || f.eng.Graph().Stats().Devices != 1 {
		t.Errorf("replace ingest = %d %s, want 200 leaving 1 device", r.status, r.body)
	}
}

// TestReloadFailureIsToldTruthfully: a write that is durable but that this
// replica cannot load is not reported as "nothing was applied".
func TestReloadFailureIsToldTruthfully(t *testing.T) {
	f := start(t, options{})
	// Another replica writes version 2, so this one must reload after its
	// own write, and the reload fails.
	if _, err := f.store.Ingest(context.Background(), "merge", []facts.Device{{Hostname: "other"}}); err != nil {
		t.Fatal(err)
	}
	f.store.FailLoad = errors.New("disk read error")
	wantError(t, "ingest with the reload failing", f.do(t, "POST", "/graph/ingest?mode=merge", `{"schema":"meshq.facts/v1","devices":[{"hostname":"mine"}]}`),
		503, "unavailable", "the change was stored as version 3, but this replica failed to reload the graph; it answers from version 1 until it reloads")
	wantError(t, "metadata with the reload failing", f.do(t, "POST", "/queries/update_device_metadata/execute", `{"parameters":{"hostname":"core2","metadata":{"rack":"C1"}}}`),
		503, "unavailable", "the change was stored as version 4, but this replica failed to reload the graph")
}

// TestQueryBodyLimit: a query's body is small (1 MiB), whatever
// MAX_BODY_BYTES allows an ingest.
func TestQueryBodyLimit(t *testing.T) {
	f := start(t, options{maxBody: 4 << 20})
	big := `{"parameters":{"q":"` + strings.Repeat("a", 1<<20) + `"}}`
	wantError(t, "query body over 1 MiB", f.do(t, "POST", "/queries/devices_search/execute", big),
		413, "payload_too_large", "request body is larger than the limit of 1048576 bytes for a query")
	r := f.do(t, "POST", "/graph/ingest", `{"schema":"meshq.facts/v1","devices":[{"hostname":"x","description":"`+strings.Repeat("a", 2<<20)+`"}]}`)
	if r.status == 413 {
		t.Errorf("2 MiB ingest under MAX_BODY_BYTES=4MiB = 413 %s, want it read", r.body)
	}
	r = f.do(t, "POST", "/queries/devices_search/execute", `{"parameters":{"q":"core"}}`)
	if r.status != 200 {
		t.Errorf("small query after a refused one = %d %s, want 200", r.status, r.body)
	}
}

func TestUpdateMetadataOverHTTP(t *testing.T) {
	f := start(t, options{})
	r := f.do(t, "POST", "/queries/update_device_metadata/execute", `{"parameters":{"hostname":"core2","metadata":{"rack":"B7"}}}`)
	if r.status != 200 {
		t.Fatalf("update_device_metadata = %d %s", r.status, r.body)
	}
	m := decode(t, f.do(t, "POST", "/queries/devices_detail/execute", `{"parameters":{"hostname":"core2"}}`))
	row := m["rows"].([]any)[0].(map[string]any)
	if diff := cmp.Diff(map[string]any{"rack": "B7"}, row["metadata"]); diff != "" || m["graph_version"] != 2.0 {
		t.Errorf("devices_detail after update: metadata diff %s, version %v (want 2)", diff, m["graph_version"])
	}
	f.store.Fail = errors.New("disk full")
	wantError(t, "write with store down", f.do(t, "POST", "/queries/update_device_metadata/execute", `{"parameters":{"hostname":"core2","metadata":{"rack":"C1"}}}`),
		503, "unavailable", "could not complete the write")
}

func TestHealth(t *testing.T) {
	f := start(t, options{})
	if m := decode(t, f.do(t, "GET", "/health/ready", "")); m["status"] != "ready" || m["devices"] != 6.0 {
		t.Errorf("ready = %v, want ready with 6 devices", m)
	}
	f.ready.Store(false)
	wantError(t, "ready while loading", f.do(t, "GET", "/health/ready", ""), 503, "unavailable", "still loading")
	if m := decode(t, f.do(t, "GET", "/health/redis", "")); m["mode"] != "single-process" {
		t.Errorf("redis without REDIS_URL = %v, want single-process", m)
	}
	if m := decode(t, f.do(t, "GET", "/health/license", "")); m["plan"] != "open" || m["demo_mode"] != true {
		t.Errorf("license without a key = %v, want plan open in demo mode", m)
	}
}

func TestHealthRedis(t *testing.T) {
	rd := testenv.StartRedis(t)
	bc, err := broadcast.New(rd.URL(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	f := start(t, options{redisPing: bc.Ping})
	if m := decode(t, f.do(t, "GET", "/health/redis", "")); m["mode"] != "redis" || m["status"] != "ok" {
		t.Errorf("redis up = %v, want ok", m)
	}
	rd.Stop()
	wantError(t, "redis down", f.do(t, "GET", "/health/redis", ""), 503, "unavailable", "redis is unreachable")
}

func TestMetrics(t *testing.T) {
	f := start(t, options{})
	f.do(t, "POST", "/queries/locate_endpoint_by_ip/execute", `{"parameters":{"ip":"10.1.10.11"}}`)
	f.do(t, "POST", "/queries/locate_endpoint_by_ip/execute", `{"parameters":{"ip":"x"}}`)
	body := string(f.do(t, "GET", "/metrics", "").body)
	for _, want := range []string{
		`meshq_query_requests_total{code="200",query="locate_endpoint_by_ip"} 1`,
		`meshq_query_requests_total{code="400",query="locate_endpoint_by_ip"} 1`,
		`meshq_query_duration_seconds_count{query="locate_endpoint_by_ip"} 2`,
		`meshq_http_requests_total{code="200",method="POST",route="/queries/{name}/execute"} 1`,
		"meshq_graph_version 1",
		"meshq_graph_devices 6",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	problems, err := obs.Lint([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s", p)
	}
}

// Under a licence, a query of a plan it does not include answers 403
// plan_required, and says which plan it needs.
func TestPlanTier(t *testing.T) {
	f := start(t, options{license: &license.License{Payload: license.Payload{Plan: license.Community}}, extra: &query.Definition{Name: "gpu_capacity_forecast", Description: "x", Tier: query.TierEnterprise, Columns: []string{"x"},
		Run: func(context.Context, *query.Env, query.Args) (*query.Result, error) { return &query.Result{}, nil }}})
	r := f.do(t, "POST", "/queries/gpu_capacity_forecast/execute", "")
	wantError(t, "enterprise query", r, 403, "plan_required", "needs the enterprise plan; this server runs the community plan")
	if got := r.header.Get("X-Plan-Tier"); got != "enterprise" {
		t.Errorf("X-Plan-Tier = %q, want enterprise", got)
	}
}

// TestLargeHeaders: headers the sidecar forwards (up to its 64 KiB default)
// are accepted; past the limit the answer is a 431 envelope.
func TestLargeHeaders(t *testing.T) {
	f := start(t, options{})
	for _, size := range []int{8 << 10, 60 << 10} {
		r := f.do(t, "GET", "/health", "", "Cookie", "session="+strings.Repeat("c", size))
		if r.status != 200 {
			t.Errorf("GET /health with a %d-byte Cookie = %d %s, want 200", size, r.status, r.body)
		}
	}
	r := f.do(t, "GET", "/health", "", "Authorization", "Bearer "+strings.Repeat("j", 80<<10))
	wantError(t, "GET /health with an 80 KiB header", r, 431, "bad_request", "MAX_HEADER_BYTES")

	small := start(t, options{maxHeader: 16 << 10})
	r = small.do(t, "GET", "/health", "", "Cookie", "session="+strings.Repeat("c", 20<<10))
	wantError(t, "GET /health with a 20 KiB Cookie, 16 KiB limit", r, 431, "bad_request", "16384 bytes")
}

// exampleSLOs are the SLOs the OpenAPI examples name.
func exampleSLOs(t *testing.T) []spans.SLO {
	t.Helper()
	slos, err := spans.ParseSLOs(`[{"name": "chat-latency", "service": "inference-*", "span_name": "POST /v1/chat/*", "latency_ms": 500}]`)
	if err != nil {
		t.Fatal(err)
	}
	return slos
}
