package fwquery

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

// TestDemoNetwork checks that the demo network (`make run`) shows every
// case of issue 3 item 4 through the queries. The answers follow from the
// generator: campus 10.32.0.0/11 behind the cores, fw-edge-01 (inside,
// dmz 172.16.10.0/24, outside) with a default route out, fw-dc-01 (campus,
// dc 10.128.0.0/12, mgmt, quarantine) and the showcase rules of
// demo.FirewallPolicy on both.
func TestDemoNetwork(t *testing.T) {
	doc := demo.Generate(demo.Options{Seed: 1})
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize(demo) = %v", err)
	}
	reg := query.NewRegistry()
	reg.MustRegister(Definitions(pathanalysis.NewCache())...)
	f := fixture{reg: reg, env: &query.Env{Graph: graph.Build(1, doc.Devices, graph.Options{})}}

	paths := []struct {
		params, verdict, reason string
	}{
		// Campus to a DC server: 4 equal-cost paths (2 cores × 2 spines).
		{`{"src_ip":"10.32.1.10","dst_ip":"10.128.4.11","protocol":"tcp","dst_port":443}`, "permit", "permitted by rule 20 on fw-dc-01 (all 4 equal-cost paths agree)"},
		// ssh into the lower half of the DC: the first partial deny.
		{`{"src_ip":"10.32.1.10","dst_ip":"10.128.4.11","protocol":"tcp","dst_port":22}`, "deny", "denied by rule 30 on fw-dc-01"},
		// The web farm range inside a nested group.
		{`{"src_ip":"10.32.1.10","dst_ip":"172.16.10.30","protocol":"tcp","dst_port":80}`, "permit", "permitted by rule 10 on fw-edge-01"},
		{`{"src_ip":"10.32.1.10","dst_ip":"172.16.10.30","protocol":"tcp","dst_port":8443}`, "deny", "denied by the default action (deny) on fw-edge-01"},
		// https to the internet: only the fqdn rule could permit it.
		{`{"src_ip":"10.32.1.10","dst_ip":"8.8.8.8","protocol":"tcp","dst_port":443}`, "unknown", "address object cdn-hosts is an fqdn (rule 70 on fw-edge-01 may match first)"},
		{`{"src_ip":"10.32.1.10","dst_ip":"8.8.8.8","protocol":"udp","dst_port":53}`, "deny", "denied by the default action (deny) on fw-edge-01"},
		// The route-less quarantine VRF: intra-zone inside it, nothing out.
		{`{"src_ip":"10.249.0.10","dst_ip":"10.249.1.10","protocol":"tcp","dst_port":8443}`, "permit", "permitted by rule 130 on fw-dc-01"},
		{`{"src_ip":"10.249.0.10","dst_ip":"10.249.1.10","protocol":"tcp","dst_port":22}`, "deny", "denied by rule 140 on fw-dc-01"},
		{`{"src_ip":"10.249.0.10","dst_ip":"10.128.4.11","protocol":"tcp","dst_port":443}`, "deny", "no route to 10.128.4.11 on fw-dc-01 (vrf quarantine)"},
		// Towards it nothing routes 10.249/16: the cores' default and the
		// edge firewall's 10/8 chase each other (an intra-zone pass through
		// fw-edge-01's inside zone on the way).
		{`{"src_ip":"10.32.1.10","dst_ip":"10.249.0.10","protocol":"tcp","dst_port":443}`, "deny", "routing loop: dist-sw-002 → core-sw-01 → fw-edge-01 → core-sw-01"},
	}
	for _, p := range paths {
		r := f.mustExec(t, "path_analysis", p.params)
		if r.Extra["verdict"] != p.verdict || !strings.Contains(r.Extra["reason"].(string), p.reason) {
			t.Errorf("path_analysis(%s) = %v (%v), want %s (%s)", p.params, r.Extra["verdict"], r.Extra["reason"], p.verdict, p.reason)
		}
	}
	r := f.mustExec(t, "path_analysis", `{"src_ip":"10.32.1.10","dst_ip":"10.249.0.10","protocol":"tcp","dst_port":443}`)
	var zones []string
	for _, row := range r.Rows {
		if row[2] == "fw-edge-01" && row[8] != nil {
			zones = append(zones, fmt.Sprintf("%v→%v %v", row[6], row[7], row[8]))
		}
	}
	if len(zones) == 0 || zones[0] != "inside→inside 60" {
		t.Errorf("path_analysis towards quarantine: fw-edge-01 decisions %v, want the intra-zone rule 60 first", zones)
	}

	shadowed := f.mustExec(t, "hygiene_shadowed_rules", `{}`)
	want := []string{`["30","40"]`, `["10","20"]`, `["30","40"]`, `["10","20"]`}
	if diff := cmp.Diff(want, col(t, shadowed, "shadowed_by")); diff != "" {
		t.Errorf("hygiene_shadowed_rules on the demo shadowed_by (-want +got):\n%s", diff)
	}
	unused := f.mustExec(t, "hygiene_unused_objects", `{}`)
	if diff := cmp.Diff([]string{`"legacy-server"`, `"legacy-servers"`, `"legacy-telnet"`, `"legacy-server"`, `"legacy-servers"`, `"legacy-telnet"`}, col(t, unused, "object")); diff != "" {
		t.Errorf("hygiene_unused_objects on the demo (-want +got):\n%s", diff)
	}
}
