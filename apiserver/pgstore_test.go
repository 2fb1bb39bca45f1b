package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres/pgtest"
	"github.com/meshoptixiq/mesh/apiserver/store/storetest"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/testenv"
)

func normalizedDevices(t *testing.T, devs []facts.Device) []facts.Device {
	t.Helper()
	doc := facts.Document{Schema: facts.Schema, Devices: devs}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatalf("Normalize = %v", err)
	}
	return doc.Devices
}

// paramValues are candidate values for each parameter name, drawn from the
// graph so that queries find something.
func paramValues(g *graph.Graph) map[string][]any {
	v := map[string][]any{}
	add := func(name string, x any) {
		if x == "" || x == 0 || slices.Contains(v[name], x) || len(v[name]) >= 4 {
			return
		}
		v[name] = append(v[name], x)
	}
	devs := g.Facts()
	// A firewall first: firewall queries take a hostname too.
	slices.SortStableFunc(devs, func(a, b facts.Device) int {
		return boolRank(b.Firewall != nil) - boolRank(a.Firewall != nil)
	})
	for i, d := range devs {
		if i%max(1, len(devs)/4) != 0 && d.Firewall == nil {
			continue
		}
		add("hostname", d.Hostname)
		add("vendor", d.Vendor)
		add("site", d.Site)
		add("role", d.Role)
		for _, f := range d.Interfaces {
			add("interface", f.Name)
			add("zone", f.Zone)
			for _, ip := range f.IPs {
				if p, err := netip.ParsePrefix(ip); err == nil {
					add("ip", p.Addr().String())
					add("subnet", p.Masked().String())
				}
			}
		}
		for _, a := range d.ARP {
			add("ip", a.IP)
			add("mac", a.MAC)
		}
		for _, m := range d.MACTable {
			add("mac", m.MAC)
		}
		for _, vl := range d.VLANs {
			add("vlan", vl.ID)
		}
		if d.Firewall != nil {
			for _, z := range d.Firewall.Zones {
				add("zone", z.Name)
			}
			for _, o := range d.Firewall.AddressObjects {
				add("name", o.Name)
			}
		}
	}
	v["hostname"] = append(v["hostname"], "no-such-device")
	v["name"] = append(v["name"], "no-such-object")
	v["zone"] = append(v["zone"], "any")
	v["q"] = []any{"a", "1"}
	for _, alias := range [][2]string{{"src_hostname", "hostname"}, {"dst_hostname", "hostname"}, {"src_ip", "ip"}, {"dst_ip", "ip"}, {"src_zone", "zone"}, {"dst_zone", "zone"}} {
		v[alias[0]] = slices.Clone(v[alias[1]])
	}
	// Pairs differ: the destination is the next candidate.
	for _, k := range []string{"dst_hostname", "dst_ip", "dst_zone"} {
		if len(v[k]) > 1 {
			v[k] = append(v[k][1:], v[k][0])
		}
	}
	return v
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// answers runs every named read query of the registry with parameters
// drawn from values and returns each answer (or error) as text.
func answers(t *testing.T, reg *query.Registry, g *graph.Graph, values map[string][]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	env := &query.Env{Graph: g}
	for _, d := range reg.All() {
		if d.Write {
			continue
		}
		for c := range 4 {
			raw := map[string]query.RawValue{}
			for _, p := range d.Params {
				cands := values[p.Name]
				if len(cands) == 0 {
					if p.Required {
						t.Fatalf("query %s: no candidate values for required parameter %q; teach paramValues about it", d.Name, p.Name)
					}
					continue
				}
				if !p.Required && c%2 == 0 {
					continue
				}
				b, _ := json.Marshal(cands[c%len(cands)])
				raw[p.Name] = b
			}
			key := fmt.Sprintf("%s %s", d.Name, mustJSON(raw))
			resp, err := reg.Execute(context.Background(), d, env, raw)
			if err != nil {
				out[key] = "error: " + err.Error()
				continue
			}
			out[key] = mustJSON(resp)
		}
	}
	return out
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func compareAnswers(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: %d answers, want %d", what, len(got), len(want))
	}
	bad := 0
	for k, w := range want {
		if g := got[k]; g != w {
			if bad++; bad <= 3 {
				t.Errorf("%s: %s\n embedded: %.600s\n postgres: %.600s", what, k, w, g)
			}
		}
	}
	if bad > 3 {
		t.Errorf("%s: %d answers differ in all", what, bad)
	}
}

// TestPostgresParity ingests the same documents (the demo network, the
// firewall and campus fixtures) in merge and replace sequences with
// metadata updates into the embedded and the PostgreSQL store, each under
// its own engine: after every step, every named query with every
// parameter set answers the same, and again after a restart from each
// store.
func TestPostgresParity(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDatabase(t, "parity")
	dir := t.TempDir()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	opts := graph.Options{RootRoles: graph.DefaultRootRoles()}
	reg, err := newRegistry(pathanalysis.NewCache())
	if err != nil {
		t.Fatal(err)
	}
	openBoth := func() (*store.Embedded, *postgres.Store, *engine.Engine, *engine.Engine) {
		emb, err := store.OpenEmbedded(dir)
		if err != nil {
			t.Fatal(err)
		}
		pg, err := postgres.Open(dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		ee, pe := engine.New(emb, opts, log), engine.New(pg, opts, log)
		if err := ee.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if err := pe.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return emb, pg, ee, pe
	}
	emb, pg, ee, pe := openBoth()

	campus := normalizedDevices(t, graphtest.Campus())
	firewall := normalizedDevices(t, pathtest.Document().Devices)
	dc := normalizedDevices(t, demo.Generate(demo.Options{Devices: 60, Seed: 5}).Devices)
	meta := slices.Clone(dc[:3])
	meta[1].Metadata = map[string]any{"owner": "dc-team", "racks": []any{"r1", "r2"}}
	type step struct {
		name string
		mode string
		devs []facts.Device
		meta string // update_device_metadata parameters
	}
	seq := []step{
		{name: "replace demo", mode: engine.ModeReplace, devs: dc},
		{name: "metadata on a demo device", meta: fmt.Sprintf(`{"hostname":%q,"metadata":{"rack":"R7","u":12}}`, dc[0].Hostname)},
		{name: "merge firewall fixture", mode: engine.ModeMerge, devs: firewall},
		{name: "merge demo devices with metadata", mode: engine.ModeMerge, devs: meta},
		{name: "replace campus", mode: engine.ModeReplace, devs: campus},
		{name: "merge firewall again", mode: engine.ModeMerge, devs: firewall},
		{name: "metadata removes and sets", meta: fmt.Sprintf(`{"hostname":%q,"metadata":{"rack":null,"owner":"noc"}}`, campus[0].Hostname)},
		{name: "re-collect campus (metadata kept)", mode: engine.ModeMerge, devs: campus},
	}
	upd, _ := reg.Lookup("update_device_metadata")
	var last map[string]string
	for _, st := range seq {
		for _, e := range []*engine.Engine{ee, pe} {
			if st.meta != "" {
				var raw map[string]query.RawValue
				json.Unmarshal([]byte(st.meta), &raw)
				if _, err := reg.Execute(ctx, upd, &query.Env{Graph: e.Graph(), Writer: e}, raw); err != nil {
					t.Fatalf("%s: update_device_metadata = %v", st.name, err)
				}
				continue
			}
			if _, err := e.Ingest(ctx, st.mode, st.devs); err != nil {
				t.Fatalf("%s: Ingest = %v", st.name, err)
			}
		}
		if ee.Graph().Version != pe.Graph().Version {
			t.Fatalf("%s: graph version embedded %d, postgres %d", st.name, ee.Graph().Version, pe.Graph().Version)
		}
		values := paramValues(ee.Graph())
		last = answers(t, reg, ee.Graph(), values)
		compareAnswers(t, st.name, last, answers(t, reg, pe.Graph(), values))
	}
	// Restart: new engines over reopened stores answer as before.
	values := paramValues(ee.Graph())
	emb.Close()
	pg.Close()
	emb, pg, ee, pe = openBoth()
	defer emb.Close()
	defer pg.Close()
	compareAnswers(t, "embedded after restart", last, answers(t, reg, ee.Graph(), values))
	compareAnswers(t, "postgres after restart", last, answers(t, reg, pe.Graph(), values))
	errs := 0
	for _, a := range last {
		if strings.HasPrefix(a, "error: ") {
			errs++
		}
	}
	// Most answers must be real rows, not parameter errors, or the
	// comparison proves little.
	if len(last) < 100 || errs > len(last)/3 {
		t.Errorf("%d answers compared, %d of them errors; the parameter candidates do not reach the queries", len(last), errs)
	}
}

func TestConfigPostgres(t *testing.T) {
	if _, err := loadConfig(env(map[string]string{"GRAPH_BACKEND": "postgres"})); err == nil || !strings.Contains(err.Error(), "POSTGRES_DSN: must be set") {
		t.Errorf("postgres without POSTGRES_DSN = %v, want an error naming POSTGRES_DSN", err)
	}
	if _, err := loadConfig(env(map[string]string{"GRAPH_BACKEND": "postgres", "POSTGRES_DSN": "postgres://meshq:s3cret@db:5432/meshq?sslmode=maybe"})); err == nil ||
		!strings.Contains(err.Error(), "POSTGRES_DSN:") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("postgres with a bad sslmode = %v, want an error naming POSTGRES_DSN without the password", err)
	}
	c, err := loadConfig(env(map[string]string{"GRAPH_BACKEND": "postgres", "POSTGRES_DSN": "postgres://meshq:s3cret@db:5432/meshq?sslmode=require"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.GraphPoll != 5*time.Second {
		t.Errorf("GRAPH_POLL_INTERVAL default = %v, want 5s", c.GraphPoll)
	}
	if _, err := loadConfig(env(map[string]string{"GRAPH_BACKEND": "postgres", "POSTGRES_DSN": "postgres://db/meshq", "GRAPH_POLL_INTERVAL": "10ms"})); err == nil || !strings.Contains(err.Error(), "GRAPH_POLL_INTERVAL") {
		t.Errorf("GRAPH_POLL_INTERVAL=10ms = %v, want an error naming it", err)
	}
	logged := fmt.Sprint(c.LogValue(), c)
	if strings.Contains(logged, "s3cret") || !strings.Contains(logged, "postgres://[redacted]@db:5432/meshq?sslmode=require") {
		t.Errorf("logged config = %s, want the DSN with its credentials redacted", logged)
	}
}

func graphVersion(t *testing.T, base string) float64 {
	t.Helper()
	_, m := getJSON(t, base+"/health/ready")
	v, _ := m["graph_version"].(float64)
	return v
}

func factsBody(devs ...facts.Device) string {
	return mustJSON(facts.Document{Schema: facts.Schema, Devices: devs})
}

// TestPostgresReplicas runs two apiservers on one database without Redis:
// an ingest on one is served by the other (LISTEN/NOTIFY); concurrent
// ingests on both serialize; with the database down both go on answering
// queries, report degraded and refuse writes with 503, and they write
// again once it is back.
func TestPostgresReplicas(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDatabase(t, "replicas")
	vars := func() map[string]string {
		return map[string]string{"GRAPH_BACKEND": "postgres", "POSTGRES_DSN": dsn, "MESHQ_DATA_DIR": t.TempDir()}
	}
	a, b := serveInProcess(t, vars()), serveInProcess(t, vars())
	if code, body := post(t, a, "/graph/ingest?mode=replace", factsBody(graphtest.Campus()...)); code != 200 {
		t.Fatalf("ingest on a = %d %s", code, body)
	}
	waitVersion := func(base string, want float64) {
		t.Helper()
		start := time.Now()
		for graphVersion(t, base) != want {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s still at graph version %v, want %v", base, graphVersion(t, base), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("%s at graph version %v after %v", base, want, time.Since(start))
	}
	waitVersion(b, 1)
	_, ab := post(t, a, "/queries/summary_stats/execute", "")
	_, bb := post(t, b, "/queries/summary_stats/execute", "")
	if string(ab) != string(bb) {
		t.Errorf("summary_stats: a %s, b %s", ab, bb)
	}

	// Concurrent merges on both replicas, each of its own device.
	const each = 8
	storetest.ConcurrentIngests(t, []string{a, b}, each, 1)
	final := float64(2*each + 1)
	waitVersion(a, final)
	waitVersion(b, final)
	_, ab = post(t, a, "/queries/all_devices/execute", "")
	_, bb = post(t, b, "/queries/all_devices/execute", "")
	if string(ab) != string(bb) || strings.Count(string(ab), `"r0-`) != each || strings.Count(string(ab), `"r1-`) != each {
		t.Errorf("all_devices after concurrent ingests: a %s\nb %s\nwant the same, with every device of both", ab, bb)
	}

	// The database goes away.
	srv.Stop()
	if code, body := post(t, a, "/queries/summary_stats/execute", ""); code != 200 || string(body) == "" {
		t.Errorf("query with the database down = %d %s, want 200 from memory", code, body)
	}
	code, ready := getJSON(t, b+"/health/ready")
	if code != 200 || ready["status"] != "degraded" || !strings.Contains(fmt.Sprint(ready["reason"]), "PostgreSQL") {
		t.Errorf("ready with the database down = %d %v, want 200 degraded with the reason", code, ready)
	}
	code, body := post(t, a, "/graph/ingest", factsBody(facts.Device{Hostname: "late"}))
	if code != 503 || !strings.Contains(string(body), `"code":"unavailable"`) {
		t.Errorf("ingest with the database down = %d %s, want 503 unavailable", code, body)
	}
	for _, leak := range []string{"SQLSTATE", "127.0.0.1", "dial", "pgx", pgtest.Password, "connect:"} {
		if strings.Contains(string(body), leak) || strings.Contains(fmt.Sprint(ready), leak) {
			t.Errorf("a client answer contains the driver's %q: %s / %v", leak, body, ready)
		}
	}
	code, body = post(t, b, "/queries/update_device_metadata/execute", `{"parameters":{"hostname":"acc1","metadata":{"rack":"R1"}}}`)
	if code != 503 {
		t.Errorf("update_device_metadata with the database down = %d %s, want 503", code, body)
	}

	// Back: the replicas reconnect by themselves.
	srv.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body = post(t, a, "/graph/ingest", factsBody(facts.Device{Hostname: "late"}))
		if code == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code != 200 {
		t.Fatalf("ingest after the database returned = %d %s", code, body)
	}
	waitVersion(b, final+1)
	if _, ready := getJSON(t, b+"/health/ready"); ready["status"] != "ready" {
		t.Errorf("ready after the database returned = %v", ready)
	}
}

// TestPostgresBinarySurvivesKill9 drives the real binary on PostgreSQL
// through store/storetest: ingest loops killed with SIGKILL at random
// moments, restarted each time; every acknowledged ingest is in the
// database and none is half-applied.
func TestPostgresBinarySurvivesKill9(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDatabase(t, "crash")
	bin := filepath.Join(t.TempDir(), "apiserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := testenv.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	start := func(t *testing.T) (string, func()) {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "GRAPH_BACKEND=postgres", "POSTGRES_DSN="+dsn, "API_LISTEN=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=ERROR")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		waitReady(t, base, exited)
		return base, func() { cmd.Process.Signal(syscall.SIGKILL); <-exited }
	}
	n := storetest.Kill9(t, storetest.Target{Start: start, MinKill: 100 * time.Millisecond, MaxKill: 800 * time.Millisecond,
		Load: func(ctx context.Context) (uint64, []facts.Device, error) {
			st, err := postgres.Open(dsn, nil)
			if err != nil {
				return 0, nil, err
			}
			defer st.Close()
			return st.Load(ctx)
		}})
	// The restarted server serves what the database holds.
	start(t)
	if v := graphVersion(t, base); int(v) != n {
		t.Errorf("restarted server at graph version %v, want %d", v, n)
	}
}

// TestMigrateCommandAndNewerSchema: apiserver migrate applies the schema
// once; apiserver ingest writes into PostgreSQL; a database migrated by a newer apiserver makes serve refuse to
// start, saying why.
func TestMigrateCommandAndNewerSchema(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	vars := map[string]string{"GRAPH_BACKEND": "postgres", "POSTGRES_DSN": srv.CreateDatabase(t, "mig")}
	ctx := context.Background()
	var out strings.Builder
	if err := run(ctx, []string{"migrate"}, env(vars), &out, io.Discard); err != nil || !strings.Contains(out.String(), fmt.Sprintf("migrated from version 0 to %d", postgres.SchemaVersion())) {
		t.Fatalf("migrate = %v, printed %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"migrate"}, env(vars), &out, io.Discard); err != nil || !strings.Contains(out.String(), "nothing to do") {
		t.Errorf("second migrate = %v, printed %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"ingest", "--mode", "replace", campusFile(t)}, env(vars), &out, io.Discard); err != nil ||
		!strings.Contains(out.String(), "ingested 6 devices") || !strings.Contains(out.String(), "graph version 1") {
		t.Errorf("ingest subcommand into PostgreSQL = %v, printed %q", err, out.String())
	}
	if err := run(ctx, []string{"migrate"}, env(nil), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "only postgres") {
		t.Errorf("migrate on the embedded store = %v, want a refusal", err)
	}
	newer := postgres.SchemaVersion() + 1
	srv.SQL(t, "mig", fmt.Sprintf("INSERT INTO meshq.schema_migrations (version, name) VALUES (%d, 'newer')", newer))
	vars["API_LISTEN"] = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var logs strings.Builder
	err := run(sctx, nil, env(vars), io.Discard, &logs)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("the database schema meshq is at version %d, newer than this apiserver knows (%d)", newer, newer-1)) {
		t.Errorf("serve on a newer schema = %v, want the refusal", err)
	}
	if strings.Contains(logs.String(), pgtest.Password) || !strings.Contains(logs.String(), "postgres://[redacted]@127.0.0.1") || !strings.Contains(logs.String(), "does not require TLS") {
		t.Errorf("serve logged %s, want the DSN redacted and a warning about sslmode=disable", logs.String())
	}
}
