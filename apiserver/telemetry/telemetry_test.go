package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/router"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/testenv"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// afterT0 is a fixed clock an hour after t0, so reports dated t0 are never
// "in the future" whatever the machine's date.
func afterT0() time.Time { return t0.Add(time.Hour) }

// serve starts the service on a loopback port and returns its base URL.
func serve(t *testing.T, s *Service) string {
	t.Helper()
	ln, err := lifecycle.Listen("127.0.0.1:0") // as the daemon listens: lingering close
	if err != nil {
		t.Fatal(err)
	}
	r := router.New()
	s.Mount(r)
	srv := &fasthttp.Server{Handler: r.Handler}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func reportJSON(node string, seq int, ts time.Time, events ...string) string {
	return fmt.Sprintf(`{"version":"meshq.telemetry/v1","node":%q,"time":%q,"seq":%d,
		"status":{"ebpf":"loaded","nvml":"ok","nccl":"ok"},
		"tcp":{"source":"ebpf","retransmits":%d,"rtt_p50_us":24},
		"events":[%s],"dropped_events":0,
		"gpu":{"status":"ok","gpus":[{"index":0,"uuid":"GPU-a","nvlinks":[{"link":0,"active":true,"version":4,"remote_type":"nvswitch","remote_pci_bus_id":"00000000:05:00.0","remote_gpu":-1}]},
		                             {"index":1,"uuid":"GPU-b","nvlinks":[{"link":3,"active":false,"state":"error: ERROR_UNKNOWN","remote_gpu":-1}]}],
		       "matrix":[["X","NV18"],["NV18","X"]],"p2p_read":[["X","OK"],["OK","X"]]},
		"nccl":{"active_operations":[{"kind":"AllReduce","category":"COLL","rank":0,"seq":5,"pid":7,"duration_ns":30000000,"kind_average_ns":2000000,"hang":true},
		                             {"kind":"AllGather","category":"COLL","rank":0,"seq":3,"pid":7,"duration_ns":400000,"kind_average_ns":500000,"hang":false}],
		        "disagreements":[{"kind":"nvlink_count_mismatch","gpu_bus_id":"0000:ab:00.0","target_bus_id":"0000:08:00.0","nvml_links":5,"nccl_links":4}]}}`,
		node, ts.Format(time.RFC3339Nano), seq, seq, strings.Join(events, ","))
}

func eventJSON(kind, remote string, ts time.Time) string {
	return fmt.Sprintf(`{"time":%q,"kind":%q,"src":"10.0.0.1:5000","dst":"%s:443","remote":%q,"pid":42,"comm":"curl"}`,
		ts.Format(time.RFC3339Nano), kind, remote, remote)
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: decoding %s: %v", url, b, err)
		}
	}
	return resp.StatusCode
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type eventsResp struct {
	Events []Event `json:"events"`
	Count  int     `json:"count"`
}

func TestHTTPIngestAndQueries(t *testing.T) {
	s := New(quiet(), Options{Now: afterT0})
	base := serve(t, s)
	r1 := reportJSON("gpu-01", 1, t0, eventJSON("closed", "10.0.0.2", t0), eventJSON("failed", "10.0.0.3", t0.Add(time.Minute)))
	r2 := reportJSON("gpu-02", 1, t0, eventJSON("retransmit", "10.0.0.2", t0.Add(2*time.Minute)))
	for _, r := range []string{r1, r2} {
		if code, body := post(t, base+"/telemetry/report", r); code != http.StatusAccepted {
			t.Fatalf("POST /telemetry/report = %d %s, want 202", code, body)
		}
	}

	var ev eventsResp
	get(t, base+"/ebpf/events", &ev)
	if got := []string{ev.Events[0].Kind, ev.Events[1].Kind, ev.Events[2].Kind}; !cmp.Equal(got, []string{"retransmit", "failed", "closed"}) {
		t.Errorf("GET /ebpf/events kinds = %v, want newest first", got)
	}
	if ev.Events[0].Node != "gpu-02" || ev.Count != 3 {
		t.Errorf("GET /ebpf/events = %+v, want 3 events, newest from gpu-02", ev)
	}
	for query, want := range map[string]int{
		"?node=gpu-01":                 2,
		"?remote=10.0.0.2":             2,
		"?remote=10.0.0.2&node=gpu-01": 1,
		"?since=" + t0.Add(30*time.Second).Format(time.RFC3339): 2,
		"?since=58m30s": 1, // now is t0+1h
		"?limit=1":      1,
		"?node=nobody":  0,
	} {
		var got eventsResp
		if code := get(t, base+"/ebpf/events"+query, &got); code != 200 || got.Count != want {
			t.Errorf("GET /ebpf/events%s = %d, %d events; want 200, %d", query, code, got.Count, want)
		}
	}

	var m struct {
		Nodes []struct {
			Node string          `json:"node"`
			TCP  json.RawMessage `json:"tcp"`
		} `json:"nodes"`
		ReportsReceived int `json:"reports_received"`
	}
	get(t, base+"/ebpf/metrics?node=gpu-01", &m)
	if len(m.Nodes) != 1 || m.Nodes[0].Node != "gpu-01" || !strings.Contains(string(m.Nodes[0].TCP), `"retransmits":1`) || m.ReportsReceived != 2 {
		t.Errorf("GET /ebpf/metrics?node=gpu-01 = %+v", m)
	}

	var topo struct {
		Nodes []struct {
			Node          string          `json:"node"`
			Links         []Link          `json:"links"`
			Matrix        [][]string      `json:"matrix"`
			Disagreements json.RawMessage `json:"disagreements"`
		} `json:"nodes"`
	}
	get(t, base+"/nccl/topology/full", &topo)
	if len(topo.Nodes) != 2 {
		t.Fatalf("GET /nccl/topology/full nodes = %d, want 2", len(topo.Nodes))
	}
	wantLinks := []Link{{GPU: 0, Link: 0, Active: true, Version: 4, RemoteType: "nvswitch", RemotePCIBusID: "00000000:05:00.0", RemoteGPU: -1},
		{GPU: 1, Link: 3, State: "error: ERROR_UNKNOWN", RemoteGPU: -1}}
	if diff := cmp.Diff(wantLinks, topo.Nodes[0].Links); diff != "" {
		t.Errorf("links mismatch (-want +got):\n%s", diff)
	}
	if topo.Nodes[0].Matrix[0][1] != "NV18" || !strings.Contains(string(topo.Nodes[0].Disagreements), "nvlink_count_mismatch") {
		t.Errorf("topology node 0 = %+v", topo.Nodes[0])
	}

	var ops struct {
		Operations []Operation `json:"operations"`
		Count      int         `json:"count"`
		Hung       int         `json:"hung"`
	}
	get(t, base+"/nccl/operations/active?hung=true&node=gpu-01", &ops)
	want := []Operation{{Node: "gpu-01", Kind: "AllReduce", Category: "COLL", Seq: 5, PID: 7, DurationNS: 30000000, AverageNS: 2000000, Hang: true}}
	if diff := cmp.Diff(want, ops.Operations); diff != "" || ops.Hung != 1 {
		t.Errorf("GET /nccl/operations/active?hung=true mismatch (hung %d) (-want +got):\n%s", ops.Hung, diff)
	}
	get(t, base+"/nccl/operations/active", &ops)
	if ops.Count != 4 || ops.Hung != 2 {
		t.Errorf("GET /nccl/operations/active = %d ops, %d hung; want 4 and 2", ops.Count, ops.Hung)
	}
}

func TestHTTPErrors(t *testing.T) {
	s := New(quiet(), Options{MaxBody: 4096, MaxNodes: 1, Now: afterT0})
	base := serve(t, s)
	for name, tc := range map[string]struct {
		body string
		code int
	}{
		"malformed json": {`{"version":`, 400},
		"wrong type":     {`{"version":"meshq.telemetry/v1","node":"n","seq":"one"}`, 400},
		"wrong version":  {`{"version":"v0","node":"n"}`, 400},
		"no node":        {`{"version":"meshq.telemetry/v1"}`, 400},
		"huge body":      {`{"version":"meshq.telemetry/v1","node":"n","pad":"` + strings.Repeat("x", 5000) + `"}`, 413},
	} {
		code, body := post(t, base+"/telemetry/report", tc.body)
		if code != tc.code || !strings.Contains(body, `"error"`) {
			t.Errorf("POST %s = %d %s, want %d with an error envelope", name, code, body, tc.code)
		}
	}
	if code, _ := post(t, base+"/telemetry/report", reportJSON("a", 1, t0)); code != 202 {
		t.Fatalf("first node = %d, want 202", code)
	}
	if code, _ := post(t, base+"/telemetry/report", reportJSON("b", 1, t0)); code != 400 {
		t.Errorf("node past MaxNodes = %d, want 400", code)
	}
	for url, wantParam := range map[string]string{
		"/ebpf/events?since=yesterday":      "since",
		"/ebpf/events?limit=0":              "limit",
		"/ebpf/events?limit=x":              "limit",
		"/ebpf/events?remote=10.0.0.300":    "remote",
		"/nccl/operations/active?hung=okay": "hung",
	} {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if code := get(t, base+url, &e); code != 400 || !strings.Contains(e.Error.Message, wantParam) {
			t.Errorf("GET %s = %d %+v, want 400 naming %s", url, code, e, wantParam)
		}
	}
	for _, url := range []string{"/ebpf/metrics?node=zz", "/nccl/topology/full?node=zz"} {
		if code := get(t, base+url, nil); code != 404 {
			t.Errorf("GET %s = %d, want 404", url, code)
		}
	}
}

func TestEventWindowBounded(t *testing.T) {
	s := New(quiet(), Options{MaxEvents: 3, Now: afterT0})
	base := serve(t, s)
	var evs []string
	for i := range 5 {
		evs = append(evs, eventJSON(fmt.Sprintf("k%d", i), "10.0.0.2", t0.Add(time.Duration(i)*time.Second)))
	}
	if code, _ := post(t, base+"/telemetry/report", reportJSON("n", 1, t0, evs...)); code != 202 {
		t.Fatal(code)
	}
	var got eventsResp
	get(t, base+"/ebpf/events?limit=10", &got)
	var kinds []string
	for _, e := range got.Events {
		kinds = append(kinds, e.Kind)
	}
	if !cmp.Equal(kinds, []string{"k4", "k3", "k2"}) {
		t.Errorf("events kept = %v, want the newest 3: [k4 k3 k2]", kinds)
	}
}

func TestRedisStreams(t *testing.T) {
	rd := testenv.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := New(quiet(), Options{DiscoverEvery: 100 * time.Millisecond, Now: afterT0})
	base := serve(t, s)
	add := func(node string, seq int) {
		t.Helper()
		err := client.XAdd(ctx, &redis.XAddArgs{Stream: StreamPrefix + node, Values: []any{"report",
			reportJSON(node, seq, t0.Add(time.Duration(seq)*time.Second), eventJSON("closed", "10.0.0.9", t0))}}).Err()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Present before the consumer starts: read from the stream's start.
	add("gpu-01", 1)
	if err := client.XAdd(ctx, &redis.XAddArgs{Stream: StreamPrefix + "gpu-01", Values: []any{"other", "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.RunRedis(ctx, client) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunRedis() = %v, want nil after cancel", err)
		}
	}()
	waitEvents := func(node string, want int) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var got eventsResp
			get(t, base+"/ebpf/events?node="+node, &got)
			if got.Count == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("events from %s = %d, want %d", node, got.Count, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitEvents("gpu-01", 1)
	add("gpu-01", 2)
	waitEvents("gpu-01", 2)
	// A new node's stream is discovered.
	add("gpu-02", 1)
	waitEvents("gpu-02", 1)

	// Redis goes away and comes back: the consumer carries on.
	rd.Stop()
	time.Sleep(200 * time.Millisecond)
	rd.Start()
	add("gpu-03", 1)
	waitEvents("gpu-03", 1)
}

// withBoot adds a boot id to a report made by reportJSON.
func withBoot(report, boot string) string {
	return strings.Replace(report, `"seq":`, fmt.Sprintf(`"boot_id":%q,"seq":`, boot), 1)
}

// clock is a settable Now safe to read from the server's goroutines.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func (c *clock) now() time.Time   { return time.Unix(0, c.ns.Load()).UTC() }

func TestReplayFutureAndBootID(t *testing.T) {
	s := New(quiet(), Options{Now: newClock(t0).now})
	base := serve(t, s)
	steps := []struct {
		name string
		body string
		code int
	}{
		{"first", withBoot(reportJSON("n", 5, t0), "boot-a"), 202},
		{"same seq again", withBoot(reportJSON("n", 5, t0), "boot-a"), 409},
		{"older seq, later time", withBoot(reportJSON("n", 4, t0.Add(time.Second)), "boot-a"), 409},
		{"forged far future", withBoot(reportJSON("n", 1<<62, t0.AddDate(74, 0, 0)), "boot-a"), 400},
		{"just past the skew", withBoot(reportJSON("n", 6, t0.Add(5*time.Minute+time.Second)), "boot-a"), 400},
		{"next seq, within skew", withBoot(reportJSON("n", 6, t0.Add(4*time.Minute)), "boot-a"), 202},
		{"agent restarted: new boot id, seq 1", withBoot(reportJSON("n", 1, t0), "boot-b"), 202},
		{"new boot continues", withBoot(reportJSON("n", 2, t0), "boot-b"), 202},
		{"old boot cannot come back at a lower seq", withBoot(reportJSON("n", 1, t0), "boot-b"), 409},
		{"legacy, no boot id", reportJSON("m", 3, t0), 202},
		{"legacy replay", reportJSON("m", 3, t0), 409},
		{"legacy restart: lower seq, later time", reportJSON("m", 1, t0.Add(time.Second)), 202},
	}
	for _, st := range steps {
		code, body := post(t, base+"/telemetry/report", st.body)
		if code != st.code || (code != 202 && !strings.Contains(body, `"error"`)) {
			t.Errorf("POST %s = %d %s, want %d", st.name, code, body, st.code)
		}
		if code == 409 && !strings.Contains(body, "stale report") {
			t.Errorf("POST %s body = %s, want it to say the report is stale", st.name, body)
		}
		if st.name == "forged far future" && !strings.Contains(body, "future") {
			t.Errorf("POST %s body = %s, want it to name the future time", st.name, body)
		}
	}
	var m struct {
		Nodes []struct {
			Node       string    `json:"node"`
			ReportedAt time.Time `json:"reported_at"`
		} `json:"nodes"`
		ReportsStale    int `json:"reports_stale"`
		ReportsRejected int `json:"reports_rejected"`
	}
	get(t, base+"/ebpf/metrics?node=n", &m)
	if m.ReportsStale != 4 || m.ReportsRejected != 2 || len(m.Nodes) != 1 || !m.Nodes[0].ReportedAt.Equal(t0) {
		t.Errorf("GET /ebpf/metrics = %+v, want 4 stale, 2 rejected, node n at the boot-b report's time", m)
	}
}

func TestNodesExpire(t *testing.T) {
	clk := newClock(t0)
	s := New(quiet(), Options{Now: clk.now, MaxNodes: 1, NodeTTL: 10 * time.Minute})
	base := serve(t, s)
	if code, body := post(t, base+"/telemetry/report", reportJSON("dead", 1, t0)); code != 202 {
		t.Fatalf("POST dead = %d %s, want 202", code, body)
	}
	if code, _ := post(t, base+"/telemetry/report", reportJSON("live", 1, t0)); code != 400 {
		t.Errorf("POST past MaxNodes = %d, want 400", code)
	}
	clk.set(t0.Add(9 * time.Minute))
	var ops struct {
		Hung int `json:"hung"`
	}
	if get(t, base+"/nccl/operations/active", &ops); ops.Hung != 1 {
		t.Errorf("hung operations at 9 min = %d, want 1 (node still within its TTL)", ops.Hung)
	}
	clk.set(t0.Add(11 * time.Minute))
	if get(t, base+"/nccl/operations/active", &ops); ops.Hung != 0 {
		t.Errorf("hung operations after the TTL = %d, want 0 (dead node forgotten)", ops.Hung)
	}
	if code := get(t, base+"/ebpf/metrics?node=dead", nil); code != 404 {
		t.Errorf("GET /ebpf/metrics?node=dead after the TTL = %d, want 404", code)
	}
	if code, body := post(t, base+"/telemetry/report", reportJSON("live", 1, t0.Add(11*time.Minute))); code != 202 {
		t.Errorf("POST live after the dead node expired = %d %s, want 202 (slot freed)", code, body)
	}
	var m struct {
		Nodes []struct {
			Node string `json:"node"`
		} `json:"nodes"`
		NodesExpired int `json:"nodes_expired"`
	}
	get(t, base+"/ebpf/metrics", &m)
	if len(m.Nodes) != 1 || m.Nodes[0].Node != "live" || m.NodesExpired != 1 {
		t.Errorf("GET /ebpf/metrics = %+v, want only node live and 1 expired", m)
	}
}
