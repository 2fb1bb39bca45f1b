package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/meshq/collect/fakedevice"
	"github.com/meshoptixiq/mesh/meshq/parse"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// pipelineDevices is one fake device per platform meshq collects from,
// answering with output others recorded (meshq/parse/testdata, each
// directory with its SOURCE); the commands without a recording are
// refused the platform's way.
var pipelineDevices = []struct {
	host, deviceType string
	recordings       []string // directories under meshq/parse/testdata
}{
	{"eos1", "arista_eos", []string{"arista_eos/lab-r1"}},
	{"nxos1", "cisco_nxos", []string{"cisco_nxos/napalm"}},
	{"pe1", "juniper_junos", []string{"juniper_junos/lab-pe1"}},
	{"ios1", "cisco_ios", []string{"cisco_ios/ntc"}},
	{"xe1", "cisco_xe", []string{"cisco_ios/ntc"}},
	{"asa1", "cisco_asa", []string{"cisco_asa/ntc", "cisco_asa/config-guide"}},
	{"ftd1", "cisco_ftd", []string{"cisco_asa/ntc"}},
	{"aruba1", "aruba_os", []string{"aruba_os/ntc"}},
	{"pa1", "paloalto_panos", []string{"paloalto_panos/ntc", "paloalto_panos/iron-skillet"}},
	{"fg1", "fortinet", []string{"fortinet/ntc", "fortinet/batfish-policy"}},
	{"gaia1", "checkpoint_gaia", []string{"checkpoint_gaia/ntc"}},
}

// recordedOutputs maps the platform's commands to the recordings named
// <kind>.<json|xml|raw|txt> in dirs (the .yml beside a .raw is its
// expected table, not an output).
func recordedOutputs(t *testing.T, deviceType string, dirs []string) map[string]string {
	t.Helper()
	p, err := platform.Lookup(deviceType)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join("parse", "testdata", dir, "*.*"))
		for _, f := range files {
			ext := filepath.Ext(f)
			if !slices.Contains([]string{".json", ".xml", ".raw", ".txt"}, ext) {
				continue
			}
			c, ok := p.Command(platform.Kind(strings.TrimSuffix(filepath.Base(f), ext)))
			if !ok {
				t.Fatalf("%s: %s has no command of that kind", f, deviceType)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[c.Command] = string(b)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no recordings in %v", deviceType, dirs)
	}
	return out
}

// buildMeshq builds the real meshq binary.
func buildMeshq(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meshq")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build ./meshq: %v\n%s", err, out)
	}
	return bin
}

// installedTemplates runs the build's own ntc-templates step (a no-op
// when present) and returns the templates directory.
func installedTemplates(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	v := regexp.MustCompile(`(?m)^NTC_TEMPLATES := (\S+)$`).FindSubmatch(mk)
	if v == nil {
		t.Fatal("the Makefile pins no NTC_TEMPLATES")
	}
	if out, err := exec.Command(filepath.Join(root, "scripts", "ntc-templates.sh"), string(v[1])).CombinedOutput(); err != nil {
		t.Fatalf("scripts/ntc-templates.sh: %v\n%s", err, out)
	}
	return filepath.Join(root, parse.DefaultNTCTemplates)
}

// TestPipelineThroughTheBinary runs the real meshq binary's `collect
// --ingest` against fake SSH devices of every platform, into the real
// pod (apiserver and sidecar binaries). The oracle is the same cache
// parsed here: every device that gave facts is in the graph with what the
// parse found (model, version, and its counts of interfaces, routes,
// VLANs, BGP peers and firewall rules); and, worked out from the
// recordings by hand, pe1 holds 15 routes and 1 BGP peer, fg1's policy is
// rules 0 (deny), 2 and 3 (permit), pa1's is the one deny rule iron-skillet
// can hold.
func TestPipelineThroughTheBinary(t *testing.T) {
	const password, secret = "pipeline-pw", "pipeline-enable"
	dir := t.TempDir()
	var inv strings.Builder
	inv.WriteString("known_hosts: known_hosts\ndefaults:\n  username: netops\n  password: \"{{ env.DEV_PASSWORD }}\"\n  secret: \"{{ env.DEV_ENABLE }}\"\n  timeout: 20\ndevices:\n")
	var known []string
	for _, d := range pipelineDevices {
		p, _ := platform.Lookup(d.deviceType)
		fd := fakedevice.Device{Hostname: d.host, DeviceType: d.deviceType, Username: "netops", Password: password,
			EnableSecret: secret, Setup: p.Setup, Outputs: recordedOutputs(t, d.deviceType, d.recordings), PageLines: 20}
		if d.deviceType == "fortinet" {
			fd.Setup = []string{"config system console", "set output standard"} // "end" leaves the sub-mode
		}
		s := fakedevice.Start(t, fd)
		known = append(known, s.KnownHostsLine())
		host, port, _ := net.SplitHostPort(s.Addr)
		fmt.Fprintf(&inv, "  - {hostname: %s, host: %s, port: %s, device_type: %s}\n", d.host, host, port, d.deviceType)
	}
	if err := os.WriteFile(filepath.Join(dir, "known_hosts"), []byte(strings.Join(known, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "inventory.yaml"), []byte(inv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	templates := installedTemplates(t)
	p := startPod(t)
	cache := filepath.Join(dir, "cache")
	cmd := exec.Command(buildMeshq(t), "collect", "--source", filepath.Join(dir, "inventory.yaml"), "--cache", cache, "--workers", "4", "--ingest")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"MESHQ_URL=" + p.URL, "MESHQ_API_KEY=" + testKey, "DEV_PASSWORD=" + password, "DEV_ENABLE=" + secret,
		parse.NTCTemplatesEnv + "=" + templates}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	// Every device logs in and answers; the commands without a recording
	// are refused, so the collection is partial: exit status 1, and the
	// upload happened all the same.
	if code != 1 || !strings.Contains(stdout.String(), "collected facts: 11 devices ingested (merge)") {
		t.Fatalf("meshq collect --ingest = exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), password) || strings.Contains(stdout.String()+stderr.String(), secret) {
		t.Errorf("a device password appears in meshq's output")
	}

	doc, _, err := parse.CacheWith(cache, parse.Options{NTCTemplates: templates})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Devices) != len(pipelineDevices) {
		t.Fatalf("the cache parses to %d devices, want %d", len(doc.Devices), len(pipelineDevices))
	}
	for _, want := range doc.Devices {
		got := detail(t, p.URL, want.Hostname)
		rules := 0
		if want.Firewall != nil {
			rules = len(want.Firewall.Rules)
		}
		for col, n := range map[string]int{"interfaces": len(want.Interfaces), "routes": len(want.Routes), "vlans": len(want.VLANs),
			"bgp_peers": len(want.BGPPeers), "firewall_rules": rules} {
			if got[col] != float64(n) {
				t.Errorf("%s: %s = %v in the graph, %d in the parsed cache", want.Hostname, col, got[col], n)
			}
		}
		if s(got["model"]) != want.Model || s(got["version"]) != want.Version || s(got["vendor"]) != want.Vendor {
			t.Errorf("%s: graph has %v %v %v, the parse %q %q %q", want.Hostname, got["vendor"], got["model"], got["version"], want.Vendor, want.Model, want.Version)
		}
	}
	if pe1 := detail(t, p.URL, "pe1"); pe1["routes"] != 15.0 || pe1["bgp_peers"] != 1.0 {
		t.Errorf("pe1 = %v routes, %v BGP peers; want 15 and 1", pe1["routes"], pe1["bgp_peers"])
	}
	if got := ruleActions(t, p.URL, "fg1"); got != "0:deny 2:permit 3:permit" {
		t.Errorf("fg1 rules = %q, want 0:deny 2:permit 3:permit", got)
	}
	if got := ruleActions(t, p.URL, "pa1"); got != "DNS Sinkhole Block:deny" {
		t.Errorf("pa1 rules = %q, want the DNS sinkhole deny", got)
	}
}

func s(v any) string { str, _ := v.(string); return str }

// query runs a named query through the pod with the API key.
func query(t *testing.T, base, name string, params map[string]any) []map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"parameters": params})
	req, _ := http.NewRequest(http.MethodPost, base+"/queries/"+name+"/execute", strings.NewReader(string(body)))
	req.Header.Set("X-API-Key", testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s %v = %d, %v", name, params, resp.StatusCode, err)
	}
	return res.Rows
}

func detail(t *testing.T, base, host string) map[string]any {
	t.Helper()
	rows := query(t, base, "devices_detail", map[string]any{"hostname": host})
	if len(rows) != 1 {
		t.Fatalf("devices_detail %s = %d rows", host, len(rows))
	}
	return rows[0]
}

// ruleActions lists a firewall's rules as "rule_id:action" in order.
func ruleActions(t *testing.T, base, host string) string {
	t.Helper()
	var out []string
	for _, r := range query(t, base, "firewall_rules_by_device", map[string]any{"hostname": host}) {
		out = append(out, s(r["rule_id"])+":"+s(r["action"]))
	}
	return strings.Join(out, " ")
}
