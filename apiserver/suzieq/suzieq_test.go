package suzieq

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/common/facts"
)

// suzieqSpec is the SuzieQ the test loads exports with; the Makefile's
// SUZIEQ_PY pins the same.
const suzieqSpec = "suzieq==0.25.0"

var (
	ensureOnce sync.Once
	ensureErr  error
	ensureOut  []byte
)

// suzieqPython installs SuzieQ into var/tools/suzieq (a no-op when there)
// and returns that venv's python.
func suzieqPython(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ensureOnce.Do(func() {
		ensureOut, ensureErr = exec.Command(filepath.Join(root, "scripts/pip-ensure.sh"), "--venv", "var/tools/suzieq", suzieqSpec).CombinedOutput()
	})
	if ensureErr != nil {
		t.Fatalf("installing %s with scripts/pip-ensure.sh: %v\n%s", suzieqSpec, ensureErr, ensureOut)
	}
	return filepath.Join(root, "var/tools/suzieq/bin/python")
}

type questions struct {
	Find []string    `json:"find"`
	Path [][2]string `json:"path"`
}

type answers struct {
	Schema []string              `json:"schema"`
	Find   map[string][][]string `json:"find"`
	Path   map[string][][]string `json:"path"`
	Errors map[string]string     `json:"errors"`
}

// askSuzieQ loads dir with SuzieQ's Python API (testdata/sqcheck.py) and
// asks it q.
func askSuzieQ(t *testing.T, dir string, q questions) answers {
	t.Helper()
	in, _ := json.Marshal(q)
	cmd := exec.Command(suzieqPython(t), "testdata/sqcheck.py", dir, DefaultNamespace)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sqcheck.py %s: %v\n%s", dir, err, stderr.Bytes())
	}
	var a answers
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("sqcheck.py printed %q: %v", out, err)
	}
	if len(a.Schema) > 0 {
		t.Errorf("SuzieQ's schema disagrees with the export:\n%v", a.Schema)
	}
	for q, e := range a.Errors {
		t.Errorf("SuzieQ on %s: %s", q, e)
	}
	return a
}

// TestSuzieQFindsEndpoints exports the campus fixture in both layouts and
// asks SuzieQ's `network find` where endpoints are. Worked out from the
// fixture: 10.10.10.11 is in dist1's ARP on Vlan10 with MAC
// 3c52.8200.0011, which dist1 learned on Po11 (members Gi1/0/1-2, whose
// CDP neighbour is acc1), and acc1 on Gi1/0/5; MAC 3c52.8200.0012 is on
// acc1 Gi1/0/6; 10.10.20.21 is behind Po12, acc2, on acc2 Gi1/0/7.
func TestSuzieQFindsEndpoints(t *testing.T) {
	doc := fixture(t, "ios_campus_portchannel.json")
	for _, layout := range []Layout{LayoutPoller, LayoutCoalesced} {
		t.Run(string(layout), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sq")
			if _, err := Export(dir, doc.Devices, Options{Layout: layout, Time: doc.CollectedAt}); err != nil {
				t.Fatal(err)
			}
			a := askSuzieQ(t, dir, questions{
				Find: []string{"10.10.10.11", "3c:52:82:00:00:12", "10.10.20.21"},
				Path: [][2]string{{"10.10.10.11", "10.0.0.1"}},
			})
			want := map[string][][]string{
				"10.10.10.11":       {{"acc1", "GigabitEthernet1/0/5"}},
				"3c:52:82:00:00:12": {{"acc1", "GigabitEthernet1/0/6"}},
				"10.10.20.21":       {{"acc2", "GigabitEthernet1/0/7"}},
			}
			if diff := cmp.Diff(want, a.Find); diff != "" {
				t.Errorf("SuzieQ network find (-want +got):\n%s", diff)
			}
			// SuzieQ starts a path at the first-hop router: dist1's SVI,
			// then its default route to core1 (10.0.0.1 is core1's Po1).
			if diff := cmp.Diff([][]string{{"dist1", "core1"}}, a.Path["10.10.10.11>10.0.0.1"]); diff != "" {
				t.Errorf("SuzieQ path show 10.10.10.11 → 10.0.0.1 (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSuzieQTracesDemoPath exports the smallest demo network and asks
// SuzieQ for paths. Worked out from the generated facts (seed 1, 24
// devices): server 10.128.0.10 is in leaf-0001's ARP on Vlan100 and its
// MAC table on Ethernet1; leaf-0001's default route has two equal-cost
// next hops, spine-01 (10.254.0.16) and spine-02 (10.254.0.18), each of
// which routes 10.128.2.0/23 to leaf-0002, where 10.128.2.10 is a server
// on Vlan100. A campus PC, 10.32.0.10, sits behind dist-sw-001's Vlan10,
// whose default route goes to both core switches; they route the server
// VLANs to fw-dc-01, which routes them to both spines, and so to leaf-0001.
func TestSuzieQTracesDemoPath(t *testing.T) {
	doc := demo.Generate(demo.Options{Seed: 1, Devices: demo.MinDevices})
	if err := facts.Normalize(doc); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "sq")
	if _, err := Export(dir, doc.Devices, Options{Layout: LayoutCoalesced, Time: doc.CollectedAt}); err != nil {
		t.Fatal(err)
	}
	a := askSuzieQ(t, dir, questions{
		Find: []string{"10.128.0.10"},
		Path: [][2]string{{"10.128.0.10", "10.128.2.10"}, {"10.32.0.10", "10.128.0.10"}},
	})
	if diff := cmp.Diff([][]string{{"leaf-0001", "Ethernet1"}}, a.Find["10.128.0.10"]); diff != "" {
		t.Errorf("SuzieQ network find 10.128.0.10 (-want +got):\n%s", diff)
	}
	leafToLeaf := [][]string{{"leaf-0001", "spine-01", "leaf-0002"}, {"leaf-0001", "spine-02", "leaf-0002"}}
	if diff := cmp.Diff(leafToLeaf, a.Path["10.128.0.10>10.128.2.10"]); diff != "" {
		t.Errorf("SuzieQ path show 10.128.0.10 → 10.128.2.10 (-want +got):\n%s", diff)
	}
	var campus [][]string
	for _, core := range []string{"core-sw-01", "core-sw-02"} {
		for _, spine := range []string{"spine-01", "spine-02"} {
			campus = append(campus, []string{"dist-sw-001", core, "fw-dc-01", spine, "leaf-0001"})
		}
	}
	if diff := cmp.Diff(campus, a.Path["10.32.0.10>10.128.0.10"]); diff != "" {
		t.Errorf("SuzieQ path show 10.32.0.10 → 10.128.0.10 (-want +got):\n%s", diff)
	}
}

func fixture(t *testing.T, name string) *facts.Document {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../common/facts/testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := facts.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if doc.CollectedAt.IsZero() {
		doc.CollectedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	return doc
}
