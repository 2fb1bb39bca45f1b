package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/netbox"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// campusEngine is an engine over the hand-built campus (core1, core2 →
// dist1 → acc1, acc2) kept in store.
func campusEngine(t *testing.T, store *graphtest.MemStore) *engine.Engine {
	t.Helper()
	eng := engine.New(store, graph.Options{RootRoles: graph.DefaultRootRoles()}, quiet())
	doc := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices); err != nil {
		t.Fatal(err)
	}
	return eng
}

type replica struct {
	url string
	svc *Service
	eng *engine.Engine
}

// startReplica serves the real HTTP API (every route of the table) with a
// chaos service whose workers run until the test ends.
func startReplica(t *testing.T, eng *engine.Engine, opt Options) *replica {
	t.Helper()
	svc := New(eng, quiet(), opt)
	handlers := telemetry.New(quiet(), telemetry.Options{}).Handlers()
	maps.Copy(handlers, svc.Handlers())
	nb, err := netbox.New(netbox.Config{}, eng, quiet()) // unconfigured: every route needs its handler
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(handlers, nb.Handlers())
	reg := query.NewBuiltin()
	maps.Copy(handlers, conversation.New(reg, eng, quiet(), conversation.Options{}).Handlers())
	maps.Copy(handlers, spans.New(quiet(), spans.Options{}).Handlers())
	api, err := httpapi.New(httpapi.Options{Engine: eng, Registry: reg, Log: quiet(), Metrics: prometheus.NewRegistry(),
		MaxBodyBytes: 1 << 20, Handlers: handlers})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	ln, err := lifecycle.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.Server()
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown below
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; _ = srv.Shutdown() })
	return &replica{url: "http://" + ln.Addr().String(), svc: svc, eng: eng}
}

func call(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: body %q is not JSON", method, url, b)
	}
	return resp.StatusCode, m
}

// submit posts a scenario and checks the 202.
func submit(t *testing.T, r *replica, body string) string {
	t.Helper()
	status, m := call(t, "POST", r.url+"/graph/chaos-simulate", body)
	if status != http.StatusAccepted || m["status"] != StatusPending {
		t.Fatalf("POST /graph/chaos-simulate = %d %v, want 202 pending", status, m)
	}
	return m["id"].(string)
}

// await polls a run until it is done or failed and decodes it.
func await(t *testing.T, r *replica, id string) Record {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(r.url + "/graph/chaos-results/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var rec Record
		err = json.NewDecoder(resp.Body).Decode(&rec)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("GET chaos-results/%s = %d, %v", id, resp.StatusCode, err)
		}
		switch rec.Status {
		case StatusDone, StatusFailed:
			return rec
		case StatusPending, StatusRunning:
		default:
			t.Fatalf("status %q is not one of pending, running, done, failed", rec.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s still %s after 20s", id, rec.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func names[T any](xs []T, f func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// TestDistributionSwitchFails: dist1 carries both access switches, so
// failing it cuts them, their endpoints, the GPU nodes behind them and the
// job spread over those; the cores lose a link each and keep each other.
func TestDistributionSwitchFails(t *testing.T) {
	r := startReplica(t, campusEngine(t, graphtest.NewMemStore()), Options{})
	id := submit(t, r, `{"devices":["dist1"],
		"pairs":[{"src":"10.1.10.13","dst":"10.1.20.12"}],
		"gpu_nodes":["aa-bb-cc-00-00-01","core2"],
		"jobs":[{"name":"train","nodes":["10.1.10.13","AABB.CC00.0001"]},{"name":"cores","nodes":["core1","core2"]}]}`)
	rec := await(t, r, id)
	if rec.Status != StatusDone || rec.Result == nil {
		t.Fatalf("run = %s %q, want done", rec.Status, rec.Error)
	}
	res := rec.Result
	if got, want := names(res.AffectedDevices, func(d DeviceOut) string { return d.Hostname }), []string{"acc1", "acc2"}; !cmp.Equal(got, want) {
		t.Errorf("affected devices = %v, want %v", got, want)
	}
	if got, want := names(res.Endpoints, func(e EndpointOut) string { return e.Hostname + " " + e.MAC }),
		[]string{"acc1 aa:bb:cc:00:00:01", "acc1 aa:bb:cc:00:00:02", "acc2 aa:bb:cc:00:00:03"}; !cmp.Equal(got, want) {
		t.Errorf("endpoints = %v, want %v", got, want)
	}
	if want := []VLANCountOut{{10, 2}, {20, 1}}; !cmp.Equal(res.EndpointsByVLAN, want) {
		t.Errorf("endpoints by VLAN = %v, want %v", res.EndpointsByVLAN, want)
	}
	if got, want := names(res.GPUNodes, func(n GPUNodeOut) string { return n.Node + " " + n.AttachedTo + " " + n.Status }),
		[]string{"aa-bb-cc-00-00-01 acc1 cut_off", "core2 core2 ok", "10.1.10.13 acc2 cut_off", "core1 core1 ok"}; !cmp.Equal(got, want) {
		t.Errorf("gpu nodes = %v, want %v", got, want)
	}
	if got, want := names(res.Jobs, func(j JobOut) string { return j.Name + " " + j.Status + " " + strings.Join(j.LostMembers, ",") }),
		[]string{"train member_lost 10.1.10.13,AABB.CC00.0001", "cores unaffected "}; !cmp.Equal(got, want) {
		t.Errorf("jobs = %v, want %v", got, want)
	}
	if len(res.Paths) != 1 || res.Paths[0].Status != PathBroken {
		t.Errorf("paths = %+v, want the one pair broken (its source is behind dist1)", res.Paths)
	}
	if got, want := names(res.Redundancy, func(s RedundancyOut) string { return s.Hostname + " " + strings.Join(s.LostPorts, ",") }),
		[]string{"core1 Gi0/1", "core2 Gi0/1"}; !cmp.Equal(got, want) {
		t.Errorf("redundancy = %v, want %v", got, want)
	}
	want := Summary{AffectedDevices: 2, AffectedEndpoints: 3, BrokenPaths: 1, GPUNodesCutOff: 2, JobsAffected: 1, SavedByRedundancy: 2}
	if res.Summary != want {
		t.Errorf("summary = %+v, want %+v", res.Summary, want)
	}
	if rec.Attempts != 1 || rec.GraphVersion != r.eng.Graph().Version {
		t.Errorf("attempts %d on version %d, want 1 on %d", rec.Attempts, rec.GraphVersion, r.eng.Graph().Version)
	}
}

// TestRedundancySaves: losing dist1's link to core2 and core1's link to
// core2 leaves dist1 on core1 alone: nothing is cut off, the job from acc1
// to core2 is rerouted, and the path that went that way is too.
func TestRedundancySaves(t *testing.T) {
	r := startReplica(t, campusEngine(t, graphtest.NewMemStore()), Options{})
	rec := await(t, r, submit(t, r, `{"links":[{"a":"dist1","b":"core2"}],"interfaces":[{"device":"acc1","interface":"Gi1/0/2"}],
		"jobs":[{"name":"j","nodes":["10.1.10.11","core2"]}]}`))
	if rec.Status != StatusDone {
		t.Fatalf("run = %s %q, want done", rec.Status, rec.Error)
	}
	res := rec.Result
	if len(res.AffectedDevices) != 0 {
		t.Errorf("affected devices = %v, want none", res.AffectedDevices)
	}
	// The phone's port fails: its endpoint alone.
	if got := names(res.Endpoints, func(e EndpointOut) string { return e.MAC }); !cmp.Equal(got, []string{"aa:bb:cc:00:00:02"}) {
		t.Errorf("endpoints = %v, want the phone's", got)
	}
	if got, want := names(res.Jobs, func(j JobOut) string { return j.Name + " " + j.Status }), []string{"j rerouted"}; !cmp.Equal(got, want) {
		t.Errorf("jobs = %v (%+v), want %v", got, res.Jobs, want)
	}
	if got, want := names(res.Redundancy, func(s RedundancyOut) string { return s.Hostname + " " + strings.Join(s.LostPorts, ",") }),
		[]string{"core2 Gi0/1", "dist1 Gi0/2"}; !cmp.Equal(got, want) {
		t.Errorf("redundancy = %v, want %v", got, want)
	}
	if got := res.Failed.Links; len(got) != 1 || !strings.Contains(got[0], "dist1") {
		t.Errorf("failed links = %v, want the dist1-core2 link", got)
	}
}

// TestBadScenario: each mistake is a 400 naming the field; an unknown id
// is a 404.
func TestBadScenario(t *testing.T) {
	r := startReplica(t, campusEngine(t, graphtest.NewMemStore()), Options{})
	for _, tc := range []struct{ body, msg string }{
		{``, "body: is empty"},
		{`{"devices":["dist1"]} {}`, "body: holds more than one"},
		{`{"devices":`, "body:"},
		{`{}`, "devices: the scenario fails nothing"},
		{`{"device":["dist1"]}`, "device: is not a scenario field"},
		{`{"devices":"dist1"}`, "devices: is string"},
		{`{"devices":["dist1","nope"]}`, `devices[1]: device "nope" is not in the graph`},
		{`{"interfaces":[{"device":"dist1","interface":"Gi9"}]}`, `interfaces[0].interface: device dist1 has no interface "Gi9"`},
		{`{"interfaces":[{"device":"","interface":"Gi9"}]}`, `interfaces[0].device: is empty`},
		{`{"links":[{"a":"acc1","b":"core1"}]}`, "links[0]: no working link joins acc1 and core1"},
		{`{"links":[{"a":"acc1","b":"zz"}]}`, `links[0].b: device "zz"`},
		{`{"vlans":[10, 5000]}`, "vlans[1]: 5000 is not a VLAN id"},
		{`{"vlans":["10"]}`, "vlans: is string"},
		{`{"subnets":["10.1.0.0"]}`, `subnets[0]: "10.1.0.0" is not a prefix`},
		{`{"vlans":[10],"pairs":[{"src":"10.1.10.11","dst":"2001:db8::1"}]}`, "pairs[0].dst: 2001:db8::1 and src 10.1.10.11 are of different address families"},
		{`{"vlans":[10],"pairs":[{"src":"x","dst":"10.0.0.1"}]}`, `pairs[0].src: "x" is not an IP address`},
		{`{"vlans":[10],"gpu_nodes":["gpu-99"]}`, `gpu_nodes[0]: "gpu-99" is not a device hostname, IP address or MAC known to the graph`},
		{`{"vlans":[10],"gpu_nodes":["10.9.9.9"]}`, "gpu_nodes[0]: no endpoint or device of the graph has address 10.9.9.9"},
		{`{"vlans":[10],"jobs":[{"name":"a","nodes":["core1","de:ad:be:ef:00:01"]}]}`, "jobs[0].nodes[1]: no endpoint of the graph has MAC de:ad:be:ef:00:01"},
		{`{"vlans":[10],"jobs":[{"name":"a","nodes":[]}]}`, "jobs[0].nodes: is empty"},
		{`{"vlans":[10],"jobs":[{"name":"a","nodes":["core1"]},{"name":"a","nodes":["core1"]}]}`, `jobs[1].name: job "a" is named twice`},
		{`{"vlans":[10],"jobs":[{"nodes":["core1"]}]}`, "jobs[0].name: is empty"},
	} {
		status, m := call(t, "POST", r.url+"/graph/chaos-simulate", tc.body)
		e, _ := m["error"].(map[string]any)
		if status != 400 || e["code"] != "bad_request" || !strings.Contains(e["message"].(string), tc.msg) {
			t.Errorf("POST %s = %d %v, want 400 bad_request containing %q", tc.body, status, m, tc.msg)
		}
	}
	status, m := call(t, "GET", r.url+"/graph/chaos-results/0123456789abcdef", "")
	if e, _ := m["error"].(map[string]any); status != 404 || e["code"] != "not_found" || !strings.Contains(e["message"].(string), "id:") {
		t.Errorf("unknown id = %d %v, want 404 not_found naming id", status, m)
	}
}

// changer returns a checkpoint hook that ingests a changed acc2 (a new
// graph version) the first n times it runs.
func changer(t *testing.T, eng *engine.Engine, n int) func() {
	calls := 0
	return func() {
		if calls >= n {
			return
		}
		calls++
		d := graphtest.Campus()[4]
		d.Serial = "changed-" + string(rune('a'+calls))
		doc := facts.Document{Schema: facts.Schema, Devices: []facts.Device{d}}
		if err := facts.Normalize(&doc); err != nil {
			t.Error(err)
			return
		}
		if _, err := eng.Ingest(context.Background(), engine.ModeMerge, doc.Devices); err != nil {
			t.Error(err)
		}
	}
}

// TestGraphChangeMidRun: a run whose graph changes under it starts over on
// the new version; one that never sees a stable graph fails saying why.
func TestGraphChangeMidRun(t *testing.T) {
	eng := campusEngine(t, graphtest.NewMemStore())
	r := startReplica(t, eng, Options{Workers: 1, MaxAttempts: 3})
	r.svc.checkpoint = changer(t, eng, 1)
	rec := await(t, r, submit(t, r, `{"devices":["dist1"]}`))
	if rec.Status != StatusDone || rec.Attempts != 2 || rec.GraphVersion != eng.Graph().Version {
		t.Errorf("one change: %s after %d attempts on version %d (%q), want done after 2 on %d",
			rec.Status, rec.Attempts, rec.GraphVersion, rec.Error, eng.Graph().Version)
	}

	r2 := startReplica(t, eng, Options{Workers: 1, MaxAttempts: 3})
	r2.svc.checkpoint = changer(t, eng, 1000)
	rec = await(t, r2, submit(t, r2, `{"devices":["dist1"]}`))
	if rec.Status != StatusFailed || rec.Result != nil || rec.Attempts != 3 ||
		!strings.Contains(rec.Error, "the graph changed during the run on each of 3 attempts") {
		t.Errorf("changing every time: %s after %d attempts, error %q, want failed after 3 saying the graph changed", rec.Status, rec.Attempts, rec.Error)
	}
}

// TestQueueBounded: with one worker held and a queue of one, a third
// submission is refused with 503 rather than queued without bound.
func TestQueueBounded(t *testing.T) {
	eng := campusEngine(t, graphtest.NewMemStore())
	r := startReplica(t, eng, Options{Workers: 1, Queue: 1})
	hold, started := make(chan struct{}), make(chan struct{}, 1)
	r.svc.checkpoint = func() {
		select {
		case started <- struct{}{}:
		default:
		}
		<-hold
	}
	first := submit(t, r, `{"devices":["dist1"]}`)
	<-started // the worker holds the first run
	second := submit(t, r, `{"devices":["core1"]}`)
	status, m := call(t, "POST", r.url+"/graph/chaos-simulate", `{"devices":["core2"]}`)
	if e, _ := m["error"].(map[string]any); status != 503 || e["code"] != "unavailable" || !strings.Contains(e["message"].(string), "CHAOS_QUEUE") {
		t.Errorf("third submission = %d %v, want 503 naming CHAOS_QUEUE", status, m)
	}
	close(hold)
	for _, id := range []string{first, second} {
		if rec := await(t, r, id); rec.Status != StatusDone {
			t.Errorf("run %s = %s %q, want done", id, rec.Status, rec.Error)
		}
	}
}

// TestTwoReplicasShareResults: a run submitted to one replica is answered
// by the other through Redis, under meshq:chaos:<id> with the TTL.
func TestTwoReplicasShareResults(t *testing.T) {
	rs := testenv.StartRedis(t)
	client := func() *redis.Client {
		opt, err := redis.ParseURL(rs.URL())
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		return c
	}
	store := graphtest.NewMemStore()
	a := startReplica(t, campusEngine(t, store), Options{Redis: client(), TTL: time.Hour})
	b := startReplica(t, engine.New(store, graph.Options{RootRoles: graph.DefaultRootRoles()}, quiet()), Options{Redis: client(), TTL: time.Hour})
	if err := b.eng.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := submit(t, a, `{"devices":["dist1"],"gpu_nodes":["10.1.10.13"]}`)
	rec := await(t, b, id)
	if rec.Status != StatusDone || rec.Result.Summary.AffectedDevices != 2 || rec.Result.Summary.GPUNodesCutOff != 1 {
		t.Errorf("replica b answers %s %+v, want done with 2 devices and 1 GPU node cut off", rec.Status, rec.Result)
	}
	ttl, err := client().TTL(context.Background(), KeyPrefix+id).Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL of %s%s = %v, %v; want within 1h", KeyPrefix, id, ttl, err)
	}
	// Without Redis, a replica knows only its own runs.
	solo := startReplica(t, campusEngine(t, graphtest.NewMemStore()), Options{})
	if status, _ := call(t, "GET", solo.url+"/graph/chaos-results/"+id, ""); status != 404 {
		t.Errorf("a replica without Redis answers %d for another's run, want 404", status)
	}
}

// TestPathsAndPartition: losing the core-to-core link leaves every device
// up; the flows that crossed it are rerouted over dist1, the one on core1
// alone is intact. Losing core1's link to dist1 as well isolates core1:
// a job spanning core1 and acc2 is partitioned, and the flows whose
// gateway is core1 show where their endpoints lost it (the topology still
// joins the endpoints themselves, so they are rerouted).
func TestPathsAndPartition(t *testing.T) {
	r := startReplica(t, campusEngine(t, graphtest.NewMemStore()), Options{})
	pairs := `"pairs":[{"src":"10.1.10.13","dst":"10.0.0.10"},{"src":"10.1.20.12","dst":"10.1.10.13"}],"jobs":[{"name":"p","nodes":["core1","10.1.10.13"]}]`
	status := func(res *Result) []string {
		out := names(res.Paths, func(p PathOut) string {
			return p.Src + ">" + p.Dst + " " + p.Status + " " + strings.Join(p.FailedAt, ",")
		})
		return append(out, names(res.Jobs, func(j JobOut) string { return j.Name + " " + j.Status })...)
	}
	rec := await(t, r, submit(t, r, `{"links":[{"a":"core1","b":"core2"}],`+pairs+`}`))
	want := []string{"10.1.10.13>10.0.0.10 rerouted core1 Te1/1/1,core2 Te1/1/1", "10.1.20.12>10.1.10.13 intact ", "p unaffected"}
	if got := status(rec.Result); !cmp.Equal(got, want) {
		t.Errorf("core1-core2 down: %v, want %v", got, want)
	}
	rec = await(t, r, submit(t, r, `{"links":[{"a":"core1","b":"core2"},{"a":"core1","b":"dist1","a_interface":"Gi0/1"}],`+pairs+`}`))
	want = []string{"10.1.10.13>10.0.0.10 rerouted core1 Te1/1/1,core2 Te1/1/1,acc2 to core1", "10.1.20.12>10.1.10.13 rerouted acc1 to core1,acc2 to core1", "p partitioned"}
	if got := status(rec.Result); !cmp.Equal(got, want) {
		t.Errorf("core1 isolated: %v, want %v", got, want)
	}
	if rec.Result.Summary.BrokenPaths != 0 || rec.Result.Summary.ReroutedPaths != 2 || rec.Result.Summary.JobsAffected != 1 {
		t.Errorf("core1 isolated: summary %+v, want 2 rerouted, 1 job", rec.Result.Summary)
	}
	// With dist1 gone too, acc1 and acc2 are cut off: both flows break.
	rec = await(t, r, submit(t, r, `{"devices":["dist1"],"links":[{"a":"core1","b":"core2"}],`+pairs+`}`))
	want = []string{"10.1.10.13>10.0.0.10 broken core1 Te1/1/1,core2 Te1/1/1,acc2 to core1", "10.1.20.12>10.1.10.13 broken acc1 to core1,acc2 to core1", "p member_lost"}
	if got := status(rec.Result); !cmp.Equal(got, want) {
		t.Errorf("dist1 and core1-core2 down: %v, want %v", got, want)
	}
}

// agentReport is a node agent's report: one connection from addr, and
// the NCCL ranks of comms (comm id → rank/nranks) it sees.
func agentReport(node, addr string, comms ...string) string {
	ev := ""
	if addr != "" {
		ev = fmt.Sprintf(`{"time":%q,"kind":"close","src":"%s:50000","dst":"10.0.0.10:443","remote":"10.0.0.10"}`, time.Now().UTC().Format(time.RFC3339Nano), addr)
	}
	return fmt.Sprintf(`{"version":"meshq.telemetry/v1","node":%q,"time":%q,"seq":1,"boot_id":"b","status":{},"tcp":{},
		"events":[%s],"gpu":{"status":"ok","gpus":[]},"nccl":{"communicators":[%s]}}`, node, time.Now().UTC().Format(time.RFC3339), ev, strings.Join(comms, ","))
}

// TestJobsReportedByNodeAgents: a scenario naming no jobs runs against
// the NCCL communicators the agents report, each node placed in the graph
// by its name or its addresses. Job c0ffee has ranks on gpu-a (10.1.10.13,
// behind acc2), gpu-b (10.1.10.11, behind acc1) and core2 (a device by
// name), 3 of its 4; job dead has a node the graph lacks and is left out.
// Failing acc2 cuts gpu-a off: c0ffee loses that member.
func TestJobsReportedByNodeAgents(t *testing.T) {
	tel := telemetry.New(quiet(), telemetry.Options{})
	for _, rep := range []string{
		agentReport("gpu-a", "10.1.10.13", `{"comm_id":"c0ffee0000000000aaaa","rank":0,"nranks":4}`),
		agentReport("gpu-b", "10.1.10.11", `{"comm_id":"c0ffee0000000000aaaa","rank":1,"nranks":4}`),
		agentReport("core2", "", `{"comm_id":"c0ffee0000000000aaaa","rank":2,"nranks":4}`),
		agentReport("gpu-x", "10.9.9.9", `{"comm_id":"dead","rank":0,"nranks":1}`),
	} {
		if err := tel.IngestJSON([]byte(rep)); err != nil {
			t.Fatal(err)
		}
	}
	r := startReplica(t, campusEngine(t, graphtest.NewMemStore()), Options{Agents: tel})
	rec := await(t, r, submit(t, r, `{"devices":["acc2"]}`))
	if rec.Status != StatusDone {
		t.Fatalf("run = %s %q, want done", rec.Status, rec.Error)
	}
	if want := []Job{{Name: "nccl-c0ffee0000000000", Nodes: []string{"core2", "10.1.10.13", "10.1.10.11"}}}; !cmp.Equal(rec.ReportedJobs, want) {
		t.Errorf("reported jobs = %+v, want %+v (nodes in the agents' name order)", rec.ReportedJobs, want)
	}
	if want := []string{"job nccl-c0ffee0000000000: 3 of its 4 ranks are reported; members on nodes without an agent are not simulated",
		"job nccl-dead left out: node gpu-x (addresses 10.9.9.9) is not in the graph"}; !cmp.Equal(rec.Notes, want) {
		t.Errorf("notes = %q, want %q", rec.Notes, want)
	}
	if got, want := names(rec.Result.Jobs, func(j JobOut) string {
		return j.Name + " " + j.Source + " " + j.Status + " " + strings.Join(j.LostMembers, ",")
	}),
		[]string{"nccl-c0ffee0000000000 node_agent member_lost 10.1.10.13"}; !cmp.Equal(got, want) {
		t.Errorf("jobs = %v, want %v", got, want)
	}
	// Jobs named in the scenario replace the reported ones.
	rec = await(t, r, submit(t, r, `{"devices":["acc2"],"jobs":[{"name":"mine","nodes":["core1"]}]}`))
	if got := names(rec.Result.Jobs, func(j JobOut) string { return j.Name + " " + j.Source }); len(rec.ReportedJobs) != 0 || !cmp.Equal(got, []string{"mine request"}) {
		t.Errorf("with jobs named: reported %v, jobs %v; want only mine (request)", rec.ReportedJobs, got)
	}
}
