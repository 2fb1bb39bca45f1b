package neo4jstore

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The real binary on GRAPH_BACKEND=neo4j: it loads the demo network into
// the empty database, takes a metadata update, survives SIGKILL, takes an
// offline `apiserver ingest` into the same database, and answers after
// each restart from what Neo4j holds.
func TestBinaryOnNeo4j(t *testing.T) {
	openEmpty(t, server.URI)
	bin := buildAPIServer(t)
	port := testenv.FreePort(t)
	a := &api{url: "http://127.0.0.1:" + strconv.Itoa(port)}
	env := append(os.Environ(), "GRAPH_BACKEND=neo4j", "NEO4J_URI="+server.URI, "MESHQ_DEMO=true",
		"MESHQ_DEMO_DEVICES=24", "API_LISTEN=127.0.0.1:"+strconv.Itoa(port), "MESHQ_DATA_DIR="+t.TempDir())
	var logs lockedBuffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Env = env
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		deadline := time.Now().Add(60 * time.Second)
		for {
			if r, ok := tryGet(a.url + "/health/ready"); ok && r == 200 {
				return cmd
			}
			if time.Now().After(deadline) {
				t.Fatalf("apiserver on neo4j not ready within 60s; log:\n%s", logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var host string
	answers := func() string {
		var out []string
		for _, q := range []string{"summary_stats", "all_devices", "devices_detail?" + host, "topology_full", "hygiene_duplicate_ips"} {
			body := ""
			if name, h, ok := strings.Cut(q, "?"); ok {
				q, body = name, `{"parameters":{"hostname":"`+h+`"}}`
			}
			r := a.do(t, "POST", "/queries/"+q+"/execute", body)
			if r.status != 200 {
				t.Fatalf("%s = %d %s", q, r.status, r.body)
			}
			out = append(out, string(r.body))
		}
		return strings.Join(out, "\n")
	}

	cmd := start()
	var list struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(a.do(t, "POST", "/queries/all_devices/execute", "").body, &list); err != nil || len(list.Rows) < 20 {
		t.Fatalf("all_devices after the demo load = %v (%d rows), want the demo network", err, len(list.Rows))
	}
	host, _ = list.Rows[0]["hostname"].(string)
	if r := a.do(t, "POST", "/queries/update_device_metadata/execute", `{"parameters":{"hostname":"`+host+`","metadata":{"owner":"noc"}}}`); r.status != 200 {
		t.Fatalf("update_device_metadata(%s) = %d %s", host, r.status, r.body)
	}
	before := answers()
	cmd.Process.Kill()
	cmd.Wait()

	cmd = start()
	if after := answers(); after != before {
		t.Errorf("answers after SIGKILL and restart differ:\nbefore %.400s\nafter  %.400s", before, after)
	}
	cmd.Process.Kill()
	cmd.Wait()

	doc, _ := json.Marshal(facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()})
	file := filepath.Join(t.TempDir(), "campus.json")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	ingest := exec.Command(bin, "ingest", "--mode", "merge", file)
	ingest.Env = env
	if out, err := ingest.CombinedOutput(); err != nil || !strings.Contains(string(out), "graph version 3") {
		t.Fatalf("apiserver ingest on neo4j = %v\n%s", err, out)
	}
	start()
	r := a.do(t, "POST", "/queries/locate_endpoint_by_ip/execute", `{"parameters":{"ip":"10.1.10.11"}}`)
	if r.status != 200 || !strings.Contains(string(r.body), "acc1") || !strings.Contains(string(r.body), `"graph_version":3`) {
		t.Errorf("locate after the offline ingest = %d %s", r.status, r.body)
	}
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("the apiserver logged errors:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "NEO4J_URI does not use TLS") {
		t.Errorf("on bolt:// the apiserver did not warn that the connection is in clear:\n%.2000s", logs.String())
	}
}

// buildAPIServer builds the real apiserver binary.
func buildAPIServer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "apiserver")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/meshoptixiq/mesh/apiserver").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func tryGet(url string) (int, bool) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, false
	}
	resp.Body.Close()
	return resp.StatusCode, true
}
