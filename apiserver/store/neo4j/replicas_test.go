package neo4jstore

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/apiserver/store/storetest"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// startBinary runs the real apiserver with env until the test ends and
// waits for it to be ready.
func startBinary(t *testing.T, bin string, env ...string) (*api, *lockedBuffer) {
	t.Helper()
	port := testenv.FreePort(t)
	a := &api{url: "http://127.0.0.1:" + strconv.Itoa(port)}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), "API_LISTEN=127.0.0.1:"+strconv.Itoa(port), "MESHQ_DATA_DIR="+t.TempDir(), "REDIS_URL="), env...)
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		if r, ok := tryGet(a.url + "/health/ready"); ok && r == 200 {
			return a, logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("apiserver on neo4j not ready within 60s; log:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (a *api) graphVersion(t *testing.T) float64 {
	t.Helper()
	var ready struct {
		Version float64 `json:"graph_version"`
	}
	if err := json.Unmarshal(a.do(t, "GET", "/health/ready", "").body, &ready); err != nil {
		t.Fatal(err)
	}
	return ready.Version
}

func factsBody(devs ...facts.Device) string {
	b, _ := json.Marshal(facts.Document{Schema: facts.Schema, Devices: devs})
	return string(b)
}

// TestReplicasOnOneNeo4j runs two apiserver binaries on one database
// without Redis: an ingest on one is served by the other (the version
// poll, GRAPH_POLL_INTERVAL), and concurrent ingests on both serialize:
// every one gets its own graph version, none is lost.
func TestReplicasOnOneNeo4j(t *testing.T) {
	openEmpty(t, server.URI)
	bin := buildAPIServer(t)
	env := []string{"GRAPH_BACKEND=neo4j", "NEO4J_URI=" + server.URI, "GRAPH_POLL_INTERVAL=200ms"}
	a, _ := startBinary(t, bin, env...)
	b, _ := startBinary(t, bin, env...)
	waitVersion := func(r *api, want float64) {
		t.Helper()
		start := time.Now()
		for r.graphVersion(t) != want {
			if time.Since(start) > 20*time.Second {
				t.Fatalf("%s still at graph version %v, want %v", r.url, r.graphVersion(t), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Logf("%s at graph version %v after %v", r.url, want, time.Since(start))
	}
	if r := a.do(t, "POST", "/graph/ingest?mode=replace", factsBody(graphtest.Campus()...)); r.status != 200 {
		t.Fatalf("ingest on a = %d %s", r.status, r.body)
	}
	waitVersion(b, 1)
	if ra, rb := a.do(t, "POST", "/queries/summary_stats/execute", ""), b.do(t, "POST", "/queries/summary_stats/execute", ""); string(ra.body) != string(rb.body) {
		t.Errorf("summary_stats: a %s, b %s", ra.body, rb.body)
	}

	const each = 6
	storetest.ConcurrentIngests(t, []string{a.url, b.url}, each, 1)
	waitVersion(a, 2*each+1)
	waitVersion(b, 2*each+1)
	ra, rb := a.do(t, "POST", "/queries/all_devices/execute", ""), b.do(t, "POST", "/queries/all_devices/execute", "")
	if string(ra.body) != string(rb.body) || strings.Count(string(ra.body), `"r0-`) != each || strings.Count(string(ra.body), `"r1-`) != each {
		t.Errorf("all_devices after concurrent ingests: a %s\nb %s\nwant the same, with every device of both", ra.body, rb.body)
	}
}

// TestBoltTLS runs a second Neo4j that requires TLS on bolt, with a
// certificate no system root signs (the harness's own, self-signed, for
// localhost): bolt+s:// with NEO4J_CA_CERT works, through the store and
// the real binary (which then does not warn); without the CA the
// certificate is refused, plain bolt:// is refused by the server, and a CA
// with a scheme that does not verify is a configuration error.
func TestBoltTLS(t *testing.T) {
	srv, err := testenv.StartNeo4jWith(testenv.Neo4jOptions{TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	caFile := srv.CACert
	secure := "bolt+s://localhost:" + strconv.Itoa(srv.Port)
	ctx := context.Background()

	st, err := Open(ctx, Options{URI: secure, CACertFile: caFile})
	if err != nil {
		t.Fatalf("Open(bolt+s with the CA) = %v\nserver log:\n%s", err, srv.Log())
	}
	campus := normalized(t, graphtest.Campus())
	if _, err := st.Ingest(ctx, store.ModeReplace, campus); err != nil {
		t.Fatalf("Ingest over TLS = %v", err)
	}
	if _, devs, err := st.Load(ctx); err != nil || len(devs) != len(campus) {
		t.Errorf("Load over TLS = %d devices, %v; want %d", len(devs), err, len(campus))
	}
	st.Close()

	for name, c := range map[string]struct {
		opt  Options
		want string
	}{
		"system roots only": {Options{URI: secure}, "certificate"},
		"plain bolt":        {Options{URI: "bolt://127.0.0.1:" + strconv.Itoa(srv.Port)}, ""},
		"CA without +s":     {Options{URI: "bolt://127.0.0.1:" + strconv.Itoa(srv.Port), CACertFile: caFile}, "NEO4J_CA_CERT is set but NEO4J_URI's scheme does not verify"},
		"CA not PEM":        {Options{URI: secure, CACertFile: filepath.Dir(caFile)}, "NEO4J_CA_CERT"},
	} {
		openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s, err := Open(openCtx, c.opt)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded against a server requiring TLS with its own CA", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open = %v, want an error naming %q", name, err, c.want)
		}
	}

	bin := buildAPIServer(t)
	a, logs := startBinary(t, bin, "GRAPH_BACKEND=neo4j", "NEO4J_URI="+secure, "NEO4J_CA_CERT="+caFile)
	if r := a.do(t, "POST", "/queries/locate_endpoint_by_ip/execute", `{"parameters":{"ip":"10.1.10.11"}}`); r.status != 200 || !strings.Contains(string(r.body), "acc1") {
		t.Errorf("locate through the binary on bolt+s = %d %s", r.status, r.body)
	}
	if strings.Contains(logs.String(), "does not use TLS") {
		t.Errorf("the binary on bolt+s warned about clear text:\n%s", logs.String())
	}
}

// TestBinarySurvivesKill9DuringIngests drives the real binary on Neo4j
// through store/storetest: ingest loops killed with SIGKILL at random
// moments, restarted each time; every acknowledged ingest is in the
// database and none is half-applied.
func TestBinarySurvivesKill9DuringIngests(t *testing.T) {
	openEmpty(t, server.URI)
	bin := buildAPIServer(t)
	port := testenv.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	start := func(t *testing.T) (string, func()) {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "GRAPH_BACKEND=neo4j", "NEO4J_URI="+server.URI, "API_LISTEN=127.0.0.1:"+strconv.Itoa(port),
			"MESHQ_DATA_DIR="+t.TempDir(), "REDIS_URL=", "LOG_LEVEL=ERROR")
		logs := &lockedBuffer{}
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		deadline := time.Now().Add(60 * time.Second)
		for {
			if r, ok := tryGet(base + "/health/ready"); ok && r == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("apiserver on neo4j not ready within 60s; log:\n%s", logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return base, func() { _ = cmd.Process.Signal(syscall.SIGKILL); <-exited }
	}
	// Neo4j takes far longer per ingest than PostgreSQL: fewer bulk
	// devices and later kills, so that each round commits some.
	n := storetest.Kill9(t, storetest.Target{Start: start, Bulk: 10, MinKill: time.Second, MaxKill: 6 * time.Second,
		Load: func(ctx context.Context) (uint64, []facts.Device, error) {
			st, err := Open(ctx, Options{URI: server.URI})
			if err != nil {
				return 0, nil, err
			}
			defer st.Close()
			return st.Load(ctx)
		}})
	a := &api{url: base}
	start(t)
	if v := a.graphVersion(t); int(v) != n {
		t.Errorf("restarted server at graph version %v, want %d", v, n)
	}
}
