package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/netbox/netboxfake"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigReportsEveryProblem(t *testing.T) {
	err := run(context.Background(), nil, env(map[string]string{
		"API_LISTEN": "nowhere", "GRAPH_BACKEND": "neo4j", "LOG_LEVEL": "loud", "MAX_BODY_BYTES": "12 apples",
		"REDIS_URL": "http://x", "MESHQ_DEMO": "maybe", "TELEMETRY_NODE_TTL": "10ms", "MAX_HEADER_BYTES": "1KiB",
		"CHAOS_RESULT_TTL": "10s", "CHAOS_WORKERS": "0", "CHAOS_QUEUE": "many", "CONVERSATION_TTL": "5s",
		"LLM_PROVIDER": "openai", "LLM_BASE_URL": "api.example.com",
	}), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("run with bad configuration = nil, want an error")
	}
	for _, want := range []string{
		"API_LISTEN:", "NEO4J_URI: required but not set", "LOG_LEVEL:", "MAX_BODY_BYTES:", "REDIS_URL:", "MESHQ_DEMO:", "TELEMETRY_NODE_TTL:", "MAX_HEADER_BYTES:",
		"CHAOS_RESULT_TTL: 10s is below 1m", "CHAOS_WORKERS:", "CHAOS_QUEUE:", "CONVERSATION_TTL:", "LLM_BASE_URL:", "LLM_MODEL: is empty",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("configuration error %q lacks %q", err, want)
		}
	}
}

func TestConfigNetbox(t *testing.T) {
	_, err := loadConfig(env(map[string]string{"NETBOX_URL": "ftp://netbox", "NETBOX_SYNC_DIRECTION": "sideways", "NETBOX_VERIFY_TLS": "perhaps"}))
	for _, want := range []string{"NETBOX_URL:", "NETBOX_TOKEN: required when NETBOX_URL is set", "NETBOX_SYNC_DIRECTION:", "NETBOX_VERIFY_TLS:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("configuration error %v lacks %q", err, want)
		}
	}
	c, err := loadConfig(env(map[string]string{"NETBOX_URL": "https://netbox.example", "NETBOX_TOKEN": "nb-s3cret-token"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.NetBox.Direction != "pull" || !c.NetBox.VerifyTLS || c.NetBox.DefaultSite != "default" || c.NetBox.DefaultRole != "unknown" {
		t.Errorf("NetBox defaults = %+v", c.NetBox)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "config", c)
	if strings.Contains(buf.String(), "nb-s3cret-token") || !strings.Contains(buf.String(), "NETBOX_TOKEN=[redacted]") {
		t.Errorf("logged config = %s, want the token redacted", buf.String())
	}
}

func TestConfigRedactsRedisPassword(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"REDIS_URL": "redis://user:s3cret@redis:6379/0"}))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fmt.Fprint(&buf, c.LogValue())
	if strings.Contains(buf.String(), "s3cret") || !strings.Contains(buf.String(), "redis://[redacted]@redis:6379/0") {
		t.Errorf("logged config = %s, want the password redacted", buf.String())
	}
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "var/data" || !cmp.Equal(c.RootRoles, []string{"core", "border", "wan", "firewall"}) {
		t.Errorf("defaults = %+v", c)
	}
}

func TestUnknownSubcommand(t *testing.T) {
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, env(nil), io.Discard, &stderr); err == nil || !strings.Contains(stderr.String(), "usage:") {
		t.Errorf("run(frobnicate) = %v with stderr %q, want an error and the usage", err, stderr.String())
	}
}

// campusFile writes the hand-built network as a facts file.
func campusFile(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "campus.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func post(t *testing.T, base, path, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitReady polls /health/ready until it answers 200 (or the process dies).
func waitReady(t *testing.T, base string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatal("the server exited before becoming ready")
		default:
		}
		if resp, err := http.Get(base + "/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the server never became ready")
}

// serveInProcess runs the daemon as main does, until the test ends.
func serveInProcess(t *testing.T, vars map[string]string) string {
	t.Helper()
	port := testenv.FreePort(t)
	vars["API_LISTEN"] = "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = run(ctx, nil, env(vars), io.Discard, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			t.Errorf("run ended with %v, want a clean shutdown", runErr)
		}
	})
	base := "http://" + vars["API_LISTEN"]
	waitReady(t, base, done)
	return base
}

func TestIngestSubcommandThenServe(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"MESHQ_DATA_DIR": dir}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"ingest", "--mode", "replace", campusFile(t)}, env(vars), &out, io.Discard); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	if !strings.Contains(out.String(), "ingested 6 devices") {
		t.Errorf("ingest printed %q", out.String())
	}
	if strings.Contains(out.String(), "warning:") {
		t.Errorf("ingest of the campus printed %q, want no warnings", out.String())
	}
	// A merge whose neighbor names a port core1 does not have is accepted
	// with a warning at the path of the record in the file.
	edge := filepath.Join(t.TempDir(), "edge.json")
	os.WriteFile(edge, []byte(`{"schema":"meshq.facts/v1","devices":[{"hostname":"edge9","interfaces":[{"name":"Gi1"}],
		"neighbors":[{"local_interface":"Gi1","remote_hostname":"core1","remote_interface":"-"}]}]}`), 0o600)
	out.Reset()
	if err := run(context.Background(), []string{"ingest", edge}, env(vars), &out, io.Discard); err != nil {
		t.Fatalf("ingest edge: %v", err)
	}
	if want := `warning: devices[0].neighbors[0].remote_interface: core1 has no interface "-"`; !strings.Contains(out.String(), want) {
		t.Errorf("ingest edge printed %q, want %q", out.String(), want)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"schema":"meshq.facts/v1","devices":[{"hostname":"x","mgmt_ip":"300.1.1.1"}]}`), 0o600)
	if err := run(context.Background(), []string{"ingest", bad}, env(vars), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "devices[0].mgmt_ip") {
		t.Errorf("ingest of bad facts = %v, want an error naming devices[0].mgmt_ip", err)
	}
	base := serveInProcess(t, vars)
	code, body := post(t, base, "/queries/locate_endpoint_by_ip/execute", `{"parameters":{"ip":"10.1.10.13"}}`)
	if code != 200 || !strings.Contains(string(body), `"hostname":"acc2","interface":"Gi1/0/1"`) {
		t.Errorf("locate after offline ingest = %d %s", code, body)
	}
}

func TestDemoAtStartAndDemoCommand(t *testing.T) {
	base := serveInProcess(t, map[string]string{"MESHQ_DATA_DIR": t.TempDir(), "MESHQ_DEMO": "true", "MESHQ_DEMO_DEVICES": "40"})
	code, body := post(t, base, "/queries/summary_stats/execute", "")
	var resp struct {
		Rows []map[string]int `json:"rows"`
	}
	if err := json.Unmarshal(body, &resp); code != 200 || err != nil || resp.Rows[0]["devices"] < 24 || resp.Rows[0]["endpoints"] == 0 {
		t.Errorf("summary_stats of the demo = %d %s, want devices and endpoints", code, body)
	}
	out := filepath.Join(t.TempDir(), "demo.json")
	if err := run(context.Background(), []string{"demo", "--devices", "30", "--seed", "3", "-o", out}, env(nil), io.Discard, io.Discard); err != nil {
		t.Fatalf("demo: %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := facts.Parse(data); err != nil {
		t.Errorf("demo output does not parse as facts: %v", err)
	}
}

// TestBinarySurvivesKill9 drives the real binary: ingest over HTTP, then
// kill -9 and restart on the same data directory; every answer is the same.
func TestBinarySurvivesKill9(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "apiserver")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	port := testenv.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	start := func() (*exec.Cmd, chan struct{}) {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "MESHQ_DATA_DIR="+dir, "API_LISTEN=127.0.0.1:"+strconv.Itoa(port), "LOG_LEVEL=ERROR")
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		waitReady(t, base, exited)
		return cmd, exited
	}
	cmd, exited := start()
	data, _ := os.ReadFile(campusFile(t))
	if code, body := post(t, base, "/graph/ingest?mode=replace", string(data)); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	if code, body := post(t, base, "/queries/update_device_metadata/execute", `{"parameters":{"hostname":"acc1","metadata":{"rack":"R9"}}}`); code != 200 {
		t.Fatalf("update_device_metadata = %d %s", code, body)
	}
	queries := [][2]string{
		{"summary_stats", ""},
		{"locate_endpoint_by_ip", `{"parameters":{"ip":"10.1.10.11"}}`},
		{"devices_detail", `{"parameters":{"hostname":"acc1"}}`},
		{"blast_radius_from_device", `{"parameters":{"hostname":"dist1"}}`},
		{"ips_in_subnet", `{"parameters":{"subnet":"10.1.10.0/24"}}`},
		{"topology_full", ""},
	}
	answers := map[string]string{}
	for _, q := range queries {
		code, body := post(t, base, "/queries/"+q[0]+"/execute", q[1])
		if code != 200 {
			t.Fatalf("%s = %d %s", q[0], code, body)
		}
		answers[q[0]] = string(body)
	}
	if !strings.Contains(answers["devices_detail"], `"metadata":{"rack":"R9"}`) || !strings.Contains(answers["devices_detail"], `"graph_version":2`) {
		t.Errorf("devices_detail = %s, want rack R9 at version 2", answers["devices_detail"])
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	start()
	for _, q := range queries {
		code, body := post(t, base, "/queries/"+q[0]+"/execute", q[1])
		if code != 200 || string(body) != answers[q[0]] {
			t.Errorf("%s after kill -9 and restart = %d %s, want %s", q[0], code, body, answers[q[0]])
		}
	}
}

// In the pod the sidecar reaches the apiserver over a unix socket.
func TestServesOnUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, nil, env(map[string]string{"API_LISTEN": "unix:" + sock, "MESHQ_DATA_DIR": t.TempDir()}), io.Discard, io.Discard)
	}()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get("http://apiserver/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready answer on %s: %v", sock, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The pod's exec probe reaches the same socket.
	probeEnv := env(map[string]string{"API_LISTEN": "unix:" + sock})
	if err := run(context.Background(), []string{"probe"}, probeEnv, io.Discard, io.Discard); err != nil {
		t.Errorf("apiserver probe on a ready server = %v, want nil", err)
	}
	if err := run(context.Background(), []string{"probe", "/no-such-path"}, probeEnv, io.Discard, io.Discard); err == nil {
		t.Error("apiserver probe /no-such-path = nil, want an error for the 404")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run on a unix socket ended with %v, want a clean shutdown", err)
	}
}

// With nothing listening, the probe fails and names the address.
func TestProbeFailsWithoutServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	err := run(context.Background(), []string{"probe"}, env(map[string]string{"API_LISTEN": "unix:" + sock}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Errorf("probe with no server = %v, want an error naming %s", err, sock)
	}
}

// The offline ingest refuses a store a running server holds, instead of
// waiting or corrupting it.
func TestIngestRefusesAStoreInUse(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenEmbedded(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = run(context.Background(), []string{"ingest", campusFile(t)}, env(map[string]string{"MESHQ_DATA_DIR": dir}), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("ingest into a store in use = %v, want an in-use error", err)
	}
}

// TestNetboxSync drives POST /admin/netbox/sync through the daemon as
// configured from the environment: 503 without NETBOX_URL; with it, a pull
// whose NetBox fields devices_detail and all_devices then show.
func TestNetboxSync(t *testing.T) {
	base := serveInProcess(t, map[string]string{"MESHQ_DATA_DIR": t.TempDir()})
	if code, body := post(t, base, "/admin/netbox/sync", `{"direction":"pull"}`); code != 503 || !strings.Contains(string(body), "NETBOX_URL") {
		t.Errorf("sync without NETBOX_URL = %d %s, want 503 naming NETBOX_URL", code, body)
	}

	nb := netboxfake.New("nbtoken")
	srv := httptest.NewServer(nb)
	defer srv.Close()
	site := nb.AddSite("Headquarters", "hq-main")
	mf := nb.AddManufacturer("Cisco", "cisco")
	dt := nb.AddDeviceType(mf.ID, "C9500", "c9500")
	role := nb.AddRole("Core", "core-router")
	name := "core1"
	dev := nb.AddDevice(netboxfake.Device{Name: &name, DeviceType: dt.ID, Role: role.ID, Site: site.ID})
	nb.SetPrimaryIP4(dev.ID, nb.AddIP("192.168.0.1/32", nb.AddInterface(dev.ID, "Loopback0", "virtual").ID).ID)

	base = serveInProcess(t, map[string]string{"MESHQ_DATA_DIR": t.TempDir(), "NETBOX_URL": srv.URL, "NETBOX_TOKEN": "nbtoken"})
	data, _ := os.ReadFile(campusFile(t))
	if code, body := post(t, base, "/graph/ingest?mode=replace", string(data)); code != 200 {
		t.Fatalf("ingest = %d %s", code, body)
	}
	code, body := post(t, base, "/admin/netbox/sync", `{"dry_run":false}`)
	if code != 200 || !strings.Contains(string(body), `"direction":"pull"`) || !strings.Contains(string(body), `"matched":1`) {
		t.Fatalf("sync = %d %s, want a pull (the default) matching core1", code, body)
	}
	want := `"metadata":{"nb_role":"core-router","nb_site":"hq-main"}`
	for _, q := range [][2]string{{"devices_detail", `{"parameters":{"hostname":"core1"}}`}, {"all_devices", `{"parameters":{"role":"core"}}`}} {
		if code, body := post(t, base, "/queries/"+q[0]+"/execute", q[1]); code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s after the pull = %d %s, want %s", q[0], code, body, want)
		}
	}
	if v := nb.Violations(); len(v) != 0 {
		t.Errorf("requests a real NetBox would refuse: %v", v)
	}
}

// With METRICS_LISTEN the apiserver also serves /metrics on that port,
// and only /metrics.
func TestMetricsListen(t *testing.T) {
	mport := strconv.Itoa(testenv.FreePort(t))
	base := serveInProcess(t, map[string]string{"MESHQ_DATA_DIR": t.TempDir(), "METRICS_LISTEN": "127.0.0.1:" + mport})
	post(t, base, "/queries/summary_stats/execute", "")
	resp, err := http.Get("http://127.0.0.1:" + mport + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `meshq_query_requests_total{code="200",query="summary_stats"} 1`) {
		t.Errorf("metrics port = %d %.300s, want the apiserver's metrics with the query just run", resp.StatusCode, b)
	}
	resp, err = http.Get("http://127.0.0.1:" + mport + "/queries/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("metrics port /queries/ = %d, want 404: the API is not served there", resp.StatusCode)
	}
	if _, err := loadConfig(env(map[string]string{"METRICS_LISTEN": "9104"})); err == nil || !strings.Contains(err.Error(), "METRICS_LISTEN") {
		t.Errorf("METRICS_LISTEN=9104 = %v, want an error naming it", err)
	}
}
