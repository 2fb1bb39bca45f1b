package parse

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// ntcVersion is the ntc-templates release the tests install; the
// Makefile's NTC_TEMPLATES pins the same.
const ntcVersion = "9.3.0"

var (
	ntcOnce sync.Once
	ntcDir  string
	ntcErr  error
)

// ntcTemplates installs ntc-templates with the build's own step
// (scripts/ntc-templates.sh, a no-op when present) and returns its
// templates directory.
func ntcTemplates(t *testing.T) string {
	t.Helper()
	ntcOnce.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			ntcErr = err
			return
		}
		out, err := exec.Command(filepath.Join(root, "scripts/ntc-templates.sh"), ntcVersion).CombinedOutput()
		if err != nil {
			ntcErr = &toolFailure{string(out), err}
			return
		}
		ntcDir = filepath.Join(root, DefaultNTCTemplates)
	})
	if ntcErr != nil {
		t.Fatalf("installing ntc-templates %s with scripts/ntc-templates.sh: %v", ntcVersion, ntcErr)
	}
	return ntcDir
}

type toolFailure struct {
	out string
	err error
}

func (e *toolFailure) Error() string { return e.err.Error() + ": " + e.out }

// parseText parses a cache with the installed templates.
func parseText(t *testing.T, dir string) (*facts.Device, DeviceReport) {
	t.Helper()
	doc, rep, err := CacheWith(dir, Options{NTCTemplates: ntcTemplates(t)})
	if err != nil {
		t.Fatalf("CacheWith: %v", err)
	}
	if len(rep.Devices) != 1 {
		t.Fatalf("report has %d devices, want 1", len(rep.Devices))
	}
	checkDocument(t, doc)
	if len(doc.Devices) == 0 {
		return nil, rep.Devices[0]
	}
	return &doc.Devices[0], rep.Devices[0]
}

// cacheFixtures caches the recorded outputs of one fixture set
// (testdata/<set>/<kind><ext>, ext ".raw" for screen text, ".txt" for
// configuration) as one device of the device type.
func cacheFixtures(t *testing.T, dir, hostname, deviceType, set, ext string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", set, "*"+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s fixtures in testdata/%s (%v)", ext, set, err)
	}
	extra := map[platform.Kind]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		extra[platform.Kind(strings.TrimSuffix(filepath.Base(f), ext))] = string(data)
	}
	cacheDevice(t, dir, hostname, deviceType, "", extra)
}

// cacheRaw caches a set of recorded screen text.
func cacheRaw(t *testing.T, dir, hostname, deviceType, set string) {
	t.Helper()
	cacheFixtures(t, dir, hostname, deviceType, set, ".raw")
}

// cacheConfig caches a set of recorded configuration.
func cacheConfig(t *testing.T, dir, hostname, deviceType, set string) {
	t.Helper()
	cacheFixtures(t, dir, hostname, deviceType, set, ".txt")
}

// Every recorded output kept from ntc-templates' corpus parses, through
// the index and gotextfsm, into exactly the table its maintainers expect
// from Python's TextFSM (the .yml beside it): the Go engine and the index
// lookup agree with the reference on real output.
func TestTemplatesMatchNTCExpectations(t *testing.T) {
	tm := newTemplates(ntcTemplates(t))
	raws, err := filepath.Glob("testdata/*/*/*.raw")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, raw := range raws {
		yml := strings.TrimSuffix(raw, ".raw") + ".yml"
		want, err := os.ReadFile(yml)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(filepath.ToSlash(raw), "/")
		deviceType, kind := parts[1], platform.Kind(strings.TrimSuffix(parts[3], ".raw"))
		p, err := platform.Lookup(deviceType)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := p.Command(kind)
		if !ok {
			t.Fatalf("%s: %s has no %s command", raw, deviceType, kind)
		}
		var expected struct {
			Rows []map[string]any `yaml:"parsed_sample"`
		}
		if err := yaml.Unmarshal(want, &expected); err != nil {
			t.Fatalf("%s: %v", yml, err)
		}
		data, err := os.ReadFile(raw)
		if err != nil {
			t.Fatal(err)
		}
		platforms := templatePlatforms[deviceType]
		if platforms == nil {
			platforms = []string{deviceType}
		}
		file, rows, err := tm.table(platforms, c.Command, data)
		if err != nil {
			t.Errorf("%s: %v", raw, err)
			continue
		}
		got := make([]map[string]any, len(rows))
		for i, r := range rows {
			got[i] = map[string]any{}
			for k, v := range r {
				switch x := v.(type) {
				case nil:
					v = ""
				case []string:
					l := make([]any, len(x))
					for j := range x {
						l[j] = x[j]
					}
					v = l
				}
				got[i][strings.ToLower(k)] = v
			}
		}
		if expected.Rows == nil {
			expected.Rows = []map[string]any{}
		}
		if diff := cmp.Diff(expected.Rows, got); diff != "" {
			t.Errorf("%s with %s (-ntc-templates +gotextfsm):\n%s", raw, file, diff)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no fixture with an expected table")
	}
	t.Logf("%d recorded outputs match ntc-templates' expected tables", checked)
}
