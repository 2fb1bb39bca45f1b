package neo4jstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// The model a user's Cypher reads: the README's examples, on the campus.
func TestNativeModelAnswersTheReadmeQueries(t *testing.T) {
	ctx := context.Background()
	s := openEmpty(t, server.URI)
	campus := normalized(t, graphtest.Campus())
	if _, err := s.Ingest(ctx, store.ModeReplace, campus); err != nil {
		t.Fatalf("Ingest = %v", err)
	}
	// Locate an IP: endpoint A (10.1.10.11) is learned on acc1 Gi1/0/1.
	rows := cypher(t, `MATCH (ip:IP {address: $ip})<-[:HAS_IP]-(e:Endpoint)-[:SEEN_ON]->(i:Interface)<-[:HAS_INTERFACE]-(d:Device)
		RETURN d.hostname, i.name, e.mac ORDER BY d.hostname, i.name`, map[string]any{"ip": "10.1.10.11"})
	want := [][]any{{"acc1", "Gi1/0/1", "aa:bb:cc:00:00:01"}, {"dist1", "Gi0/3", "aa:bb:cc:00:00:01"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("locate 10.1.10.11 = %v, want %v", rows, want)
	}
	// Neighbours of a device over the links LLDP reported.
	rows = cypher(t, `MATCH (:Device {hostname: $h})-[:HAS_INTERFACE]->(:Interface)-[:CONNECTED_TO]-(:Interface)<-[:HAS_INTERFACE]-(n:Device)
		RETURN DISTINCT n.hostname ORDER BY n.hostname`, map[string]any{"h": "dist1"})
	neighbours := flat(rows)
	if !slices.Equal(neighbours, []string{"acc1", "acc2", "core1", "core2"}) {
		t.Errorf("neighbours of dist1 = %v", neighbours)
	}
	// One CONNECTED_TO per link, however many ends reported it.
	dup := cypher(t, `MATCH (a:Interface)-[r:CONNECTED_TO]-(b:Interface) WITH a, b, count(r) AS n WHERE n > 1 RETURN a.device, a.name`, nil)
	if len(dup) != 0 {
		t.Errorf("links with more than one CONNECTED_TO: %v", dup)
	}
	// Which interfaces hold an address in a subnet.
	rows = cypher(t, `MATCH (s:Subnet {prefix: '10.1.10.0/24'})<-[:IN_SUBNET]-(ip:IP)<-[:HAS_IP]-(i:Interface)
		RETURN i.device + ' ' + i.name + ' ' + ip.address ORDER BY ip.address`, nil)
	if len(rows) == 0 {
		t.Errorf("no interface address in 10.1.10.0/24")
	}
	// The version node counts changes.
	if v := cypher(t, `MATCH (v:GraphVersion) RETURN v.version, v.format`, nil); !slices.Equal(v[0], []any{int64(1), int64(formatVersion)}) {
		t.Errorf("graph version node = %v, want version 1 format %d", v, formatVersion)
	}

	// A replace with one device leaves nothing of the others: no orphaned
	// IP, subnet, endpoint or VLAN, no interface of a removed device.
	core1 := campus[slices.IndexFunc(campus, func(d facts.Device) bool { return d.Hostname == "core1" })]
	core1.Neighbors, core1.ARP, core1.MACTable = nil, nil, nil
	if _, err := s.Ingest(ctx, store.ModeReplace, []facts.Device{core1}); err != nil {
		t.Fatalf("Ingest(replace core1) = %v", err)
	}
	left := cypher(t, `MATCH (n) RETURN labels(n)[0] AS l, count(*) ORDER BY l`, nil)
	for _, r := range left {
		switch r[0] {
		case "Device", "GraphVersion":
			if r[1] != int64(1) {
				t.Errorf("%d %s nodes after replace, want 1", r[1], r[0])
			}
		case "Endpoint":
			t.Errorf("%d Endpoint nodes left after a replace without MAC or ARP tables", r[1])
		}
	}
	stray := cypher(t, `MATCH (i:Interface) WHERE i.device <> 'core1' OR NOT (i)<-[:HAS_INTERFACE]-(:Device) RETURN count(i)`, nil)
	orphanIPs := cypher(t, `MATCH (ip:IP) WHERE NOT (ip)<-[:HAS_IP|PEER_IP]-() RETURN count(ip)`, nil)
	if stray[0][0] != int64(0) || orphanIPs[0][0] != int64(0) {
		t.Errorf("after replace: %v stray interfaces, %v orphaned IPs", stray[0][0], orphanIPs[0][0])
	}
	// Re-ingesting a device replaces its interfaces rather than adding to them.
	if n := cypher(t, `MATCH (i:Interface) RETURN count(i)`, nil); n[0][0] != int64(len(core1.Interfaces)) {
		t.Errorf("%v Interface nodes after re-ingesting core1, want its %d", n[0][0], len(core1.Interfaces))
	}
}

func flat(rows [][]any) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i], _ = r[0].(string)
	}
	return out
}

// An ingest that fails part-way (after its first batch is written) leaves
// the store as it was: version, devices and native nodes.
func TestIngestIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s := openEmpty(t, server.URI)
	campus := normalized(t, graphtest.Campus())
	v1, err := s.Ingest(ctx, store.ModeReplace, campus)
	if err != nil {
		t.Fatalf("Ingest = %v", err)
	}
	_, before, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodes := cypher(t, `MATCH (n) RETURN count(n)`, nil)
	for _, mode := range []string{store.ModeReplace, store.ModeMerge} {
		failAfterBatch = func() error { return errors.New("injected failure") }
		changed := slices.Clone(campus[:1])
		changed[0].Vendor = "changed"
		_, err := s.Ingest(ctx, mode, changed)
		failAfterBatch = nil
		if err == nil || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("%s Ingest with a failing batch = %v, want the injected failure", mode, err)
		}
		v, after, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != v1 {
			t.Errorf("%s: version after a failed ingest = %d, want %d", mode, v, v1)
		}
		a, _ := json.Marshal(after)
		b, _ := json.Marshal(before)
		if string(a) != string(b) {
			t.Errorf("%s: devices changed by a failed ingest", mode)
		}
		if n := cypher(t, `MATCH (n) RETURN count(n)`, nil); n[0][0] != nodes[0][0] {
			t.Errorf("%s: %v nodes after a failed ingest, %v before", mode, n[0][0], nodes[0][0])
		}
	}
}

func TestIngestRefusedForMemoryIsNamedAndChangesNothing(t *testing.T) {
	// A server that lets one transaction use 8 MiB refuses a 100-device
	// replace, as a production server sized for less than its network would.
	small, err := testenv.StartNeo4jWith(testenv.Neo4jOptions{TransactionMax: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(small.Stop)
	ctx := context.Background()
	s := open(t, small.URI)
	campus := normalized(t, graphtest.Campus())
	v1, err := s.Ingest(ctx, store.ModeReplace, campus)
	if err != nil {
		t.Fatalf("Ingest = %v", err)
	}
	const n = 100
	big := demo.Generate(demo.Options{Seed: 3, Devices: n})
	if err := facts.Normalize(big); err != nil {
		t.Fatal(err)
	}
	_, err = s.Ingest(ctx, store.ModeReplace, big.Devices)
	if err == nil || !strings.Contains(err.Error(), "db.memory.transaction.max") || !strings.Contains(err.Error(), fmt.Sprintf("%d devices", n)) {
		t.Fatalf("Ingest beyond the transaction memory = %v, want an error naming the setting and the size", err)
	}
	v, after, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != v1 || len(after) != len(campus) {
		t.Errorf("after the refused ingest: version %d with %d devices, want %d with %d", v, len(after), v1, len(campus))
	}
}

func TestUpdateMetadataOfAnUnknownDevice(t *testing.T) {
	s := openEmpty(t, server.URI)
	_, _, err := s.UpdateMetadata(context.Background(), "nope", map[string]any{"a": 1})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateMetadata(nope) = %v, want ErrNotFound", err)
	}
	if v, _ := s.Version(context.Background()); v != 0 {
		t.Errorf("version after a refused update = %d, want 0", v)
	}
}

func TestOpenRefusesANewerModel(t *testing.T) {
	openEmpty(t, server.URI)
	cypher(t, `MATCH (v:GraphVersion) SET v.format = $f`, map[string]any{"f": formatVersion + 1})
	_, err := Open(context.Background(), Options{URI: server.URI})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary reads") {
		t.Errorf("Open on a newer model = %v, want a refusal", err)
	}
}

func TestValidateURI(t *testing.T) {
	for uri, want := range map[string]string{
		"bolt://db:7687": "", "bolt+s://db": "", "neo4j://db:7687": "", "neo4j+s://db": "",
		"http://db:7474": `scheme "http"`, "bolt://": "no host", "bolt://neo4j:s3cret@db": "carries credentials",
	} {
		err := ValidateURI(uri)
		switch {
		case want == "" && err != nil:
			t.Errorf("ValidateURI(%q) = %v, want nil", uri, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("ValidateURI(%q) = %v, want %q", uri, err, want)
		case err != nil && strings.Contains(err.Error(), "s3cret"):
			t.Errorf("ValidateURI(%q) repeats the password: %v", uri, err)
		}
	}
}

// proxy is a TCP relay to the server that the test can cut and restore:
// Neo4j going away and coming back, as the apiserver sees it.
type proxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listener and every relayed connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listening again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

// With Neo4j unreachable the apiserver keeps answering queries from
// memory, says on /health/ready that it is degraded (store unreachable), refuses writes
// with 503 and a message that tells nothing of the driver, and recovers by
// itself once Neo4j is back.
func TestStoreDownThenBack(t *testing.T) {
	openEmpty(t, server.URI)
	p := startProxy(t, strings.TrimPrefix(server.URI, "bolt://"))
	s := open(t, "bolt://"+p.addr)
	api := startAPI(t, s)
	campus, _ := json.Marshal(facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()})

	if r := api.do(t, "POST", "/graph/ingest?mode=replace", string(campus)); r.status != 200 {
		t.Fatalf("ingest with the store up = %d %s", r.status, r.body)
	}
	if r := api.do(t, "GET", "/health/ready", ""); r.status != 200 {
		t.Fatalf("ready with the store up = %d %s", r.status, r.body)
	}

	p.cut()
	// Degraded, not unready: the replica still answers every query.
	if r := api.do(t, "GET", "/health/ready", ""); r.status != 200 || !strings.Contains(string(r.body), `"status":"degraded"`) || !strings.Contains(string(r.body), "unreachable") {
		t.Errorf("ready with the store down = %d %s, want 200 degraded, store unreachable", r.status, r.body)
	}
	q := api.do(t, "POST", "/queries/locate_endpoint_by_ip/execute", `{"parameters":{"ip":"10.1.10.11"}}`)
	if q.status != 200 || !strings.Contains(string(q.body), "acc1") {
		t.Errorf("query with the store down = %d %s, want the answer from memory", q.status, q.body)
	}
	for _, w := range []struct{ path, body, msg string }{
		{"/graph/ingest?mode=merge", string(campus), "the graph store could not complete the ingest; nothing was applied"},
		{"/queries/update_device_metadata/execute", `{"parameters":{"hostname":"acc1","metadata":{"owner":"x"}}}`, "the graph store could not complete the write"},
	} {
		r := api.do(t, "POST", w.path, w.body)
		if r.status != 503 || !strings.Contains(string(r.body), w.msg) {
			t.Errorf("POST %s with the store down = %d %s, want 503 %q", w.path, r.status, r.body, w.msg)
		}
		for _, leak := range []string{"bolt", "neo4j", "Neo4j", "connect", p.addr} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("POST %s answer %s shows the driver's error (%q)", w.path, r.body, leak)
			}
		}
	}

	p.restore()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := api.do(t, "POST", "/queries/update_device_metadata/execute", `{"parameters":{"hostname":"acc1","metadata":{"owner":"noc"}}}`)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("write 30s after the store came back = %d %s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := api.do(t, "GET", "/health/ready", ""); r.status != 200 {
		t.Errorf("ready after the store came back = %d %s", r.status, r.body)
	}
	// The failed writes applied nothing: one ingest and one update.
	v, devs, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(devs, func(d facts.Device) bool { return d.Hostname == "acc1" })
	if v != 2 || i < 0 || devs[i].Metadata["owner"] != "noc" {
		t.Errorf("store after recovery: version %d, acc1 metadata %v; want version 2 and owner noc", v, devs[i].Metadata)
	}
}

type api struct{ url string }

func startAPI(t *testing.T, st engine.Store) *api {
	t.Helper()
	log := quietLog()
	eng := engine.New(st, graphOpts, log)
	if err := eng.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	ready := &atomic.Bool{}
	ready.Store(true)
	stop := make(chan struct{})
	// Every route needs its handler; the ones this test does not call
	// are unconfigured.
	reg := registry(t)
	handlers := telemetry.New(log, telemetry.Options{}).Handlers()
	nb, err := netbox.New(netbox.Config{}, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(handlers, nb.Handlers())
	maps.Copy(handlers, chaos.New(eng, log, chaos.Options{}).Handlers())
	maps.Copy(handlers, conversation.New(reg, eng, log, conversation.Options{}).Handlers())
	maps.Copy(handlers, spans.New(log, spans.Options{}).Handlers())
	h, err := httpapi.New(httpapi.Options{
		Engine: eng, Registry: reg, Log: log, Metrics: prometheus.NewRegistry(),
		MaxBodyBytes: 8 << 20, Ready: ready.Load, Handlers: handlers, Stop: stop,
	})
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	ln, err := lifecycle.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := h.Server()
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown below
	t.Cleanup(func() { close(stop); _ = srv.Shutdown() })
	return &api{url: "http://" + ln.Addr().String()}
}

type reply struct {
	status int
	body   []byte
}

func (a *api) do(t *testing.T, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b}
}

// Every Cypher example of the READMEs runs on the model (on the campus).
func TestReadmeCypherRuns(t *testing.T) {
	s := openEmpty(t, server.URI)
	if _, err := s.Ingest(context.Background(), store.ModeReplace, normalized(t, graphtest.Campus())); err != nil {
		t.Fatalf("Ingest = %v", err)
	}
	n := 0
	for _, path := range []string{"README.md", "../../README.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, block := range strings.Split(string(b), "```cypher\n")[1:] {
			block, _, _ = strings.Cut(block, "```")
			for _, stmt := range strings.Split(block, ";") {
				var lines []string
				for _, l := range strings.Split(stmt, "\n") {
					if !strings.HasPrefix(strings.TrimSpace(l), "//") {
						lines = append(lines, l)
					}
				}
				if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
					if rows := cypher(t, q, nil); len(rows) == 0 {
						t.Errorf("%s: %q answers nothing on the campus", path, q)
					}
					n++
				}
			}
		}
	}
	if n < 6 {
		t.Errorf("found %d Cypher examples, want at least 6", n)
	}
}
