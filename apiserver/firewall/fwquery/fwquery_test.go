package fwquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis/pathtest"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

type fixture struct {
	reg *query.Registry
	env *query.Env
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	doc := pathtest.Document()
	// A second firewall with hit counts and unused objects.
	doc.Devices = append(doc.Devices, facts.Device{
		Hostname:   "fw-2",
		Interfaces: []facts.Interface{{Name: "a", Zone: "in", IPs: []string{"10.20.0.1/24"}}, {Name: "b", Zone: "out", IPs: []string{"10.21.0.1/24"}}},
		Firewall: &facts.Firewall{
			DefaultAction: "drop",
			Zones:         []facts.Zone{{Name: "in"}, {Name: "out"}},
			AddressObjects: []facts.AddressObject{
				{Name: "dc-net", Type: "network", Value: "10.9.0.0/24"},
				{Name: "orphan-grp", Type: "group", Members: []string{"orphan-host"}},
				{Name: "orphan-host", Type: "host", Value: "10.21.0.9"},
				{Name: "all4", Type: "network", Value: "0.0.0.0/0"},
			},
			ServiceObjects: []facts.ServiceObject{{Name: "dns", Protocol: "udp", DestPorts: "53"}, {Name: "unused-svc", Protocol: "tcp", DestPorts: "9999"}},
			Rules: []facts.Rule{
				{RuleID: "1", RuleName: "open", RuleOrder: 1, Action: "permit", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"all4"}, DstAddresses: []string{"any"}, Services: []string{"dns"}, HitCount: ptr(int64(0))},
				{RuleID: "2", RuleName: "dup", RuleOrder: 2, Action: "deny", SrcZones: []string{"in"}, DstZones: []string{"out"}, SrcAddresses: []string{"10.20.0.0/24"}, DstAddresses: []string{"any"}, Services: []string{"udp/53"}, HitCount: ptr(int64(7))},
				{RuleID: "3", RuleName: "dc", RuleOrder: 3, Action: "reject", SrcZones: []string{"any"}, DstZones: []string{"any"}, SrcAddresses: []string{"any"}, DstAddresses: []string{"dc-net"}, Services: []string{"any"}},
			},
		},
	})
	if err := facts.Normalize(doc); err != nil {
		t.Fatalf("Normalize(fixture) = %v", err)
	}
	reg := query.NewRegistry()
	if err := reg.Register(Definitions(pathanalysis.NewCache())...); err != nil {
		t.Fatalf("Register(fwquery.Definitions) = %v", err)
	}
	return fixture{reg: reg, env: &query.Env{Graph: graph.Build(1, doc.Devices, graph.Options{})}}
}

func ptr[T any](v T) *T { return &v }

func (f fixture) exec(t *testing.T, name, params string) (*query.Response, error) {
	t.Helper()
	d, ok := f.reg.Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) = not found", name)
	}
	raw := map[string]query.RawValue{}
	if err := json.Unmarshal([]byte(params), &raw); err != nil {
		t.Fatalf("bad test parameters %s: %v", params, err)
	}
	return f.reg.Execute(context.Background(), d, f.env, raw)
}

func (f fixture) mustExec(t *testing.T, name, params string) *query.Response {
	t.Helper()
	r, err := f.exec(t, name, params)
	if err != nil {
		t.Fatalf("%s(%s) = %v", name, params, err)
	}
	return r
}

// col returns column c of every row, as JSON text, for compact comparison.
func col(t *testing.T, r *query.Response, c string) []string {
	t.Helper()
	i := -1
	for k, name := range r.Columns {
		if name == c {
			i = k
		}
	}
	if i < 0 {
		t.Fatalf("%s has no column %q (columns %v)", r.Query, c, r.Columns)
	}
	var out []string
	for _, row := range r.Rows {
		b, _ := json.Marshal(row[i])
		out = append(out, string(b))
	}
	return out
}

func TestBadParameters(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		query, params string
		status        int
		msg           string
	}{
		{"path_analysis", `{"dst_ip":"10.9.0.7"}`, 400, `parameter "src_ip": required`},
		{"path_analysis", `{"src_ip":"10.1.1.300","dst_ip":"10.9.0.7"}`, 400, `parameter "src_ip": expected an IP address`},
		{"path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"gre"}`, 400, `parameter "protocol": expected one of tcp, udp, icmp, any`},
		{"path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"tcp","dst_port":70000}`, 400, `parameter "dst_port": expected an integer from 0 to 65535`},
		{"path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"tcp","dst_port":"https"}`, 400, `parameter "dst_port": expected an integer`},
		{"path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"icmp","dst_port":8}`, 400, `parameter "dst_port": icmp has no ports`},
		{"path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"2001:db8::1"}`, 400, `parameter "dst_ip": 2001:db8::1 and src_ip 10.1.1.10 are of different address families`},
		{"path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","port":1}`, 400, `parameter "port": unknown parameter`},
		{"firewall_rules_by_device", `{}`, 400, `parameter "hostname": required`},
		{"firewall_rules_by_device", `{"hostname":"nope"}`, 404, `no device named "nope"`},
		{"firewall_rules_by_device", `{"hostname":"gw-a"}`, 400, `parameter "hostname": device "gw-a" has no firewall policy`},
		{"firewall_rules_by_zone_pair", `{"hostname":"fw-1","src_zone":"mars","dst_zone":"trust"}`, 400, `parameter "src_zone": no zone "mars" on fw-1`},
		{"firewall_rules_matching", `{"src_ip":"x"}`, 400, `parameter "src_ip": expected an IP address`},
		{"firewall_address_object_usage", `{"name":"nothing-like-it"}`, 404, `no firewall has an address object named "nothing-like-it"`},
		{"hygiene_shadowed_rules", `{"hostname":"nope"}`, 404, `no device named "nope"`},
		{"hygiene_shadowed_rules", `{"hostname":5}`, 400, `parameter "hostname": expected a string`},
	}
	for _, c := range cases {
		_, err := f.exec(t, c.query, c.params)
		var qe *query.Error
		if !errors.As(err, &qe) || qe.Status != c.status || !strings.Contains(qe.Message, c.msg) {
			t.Errorf("%s(%s) = %v, want %d %q", c.query, c.params, err, c.status, c.msg)
		}
	}
}

func TestPathAnalysisQuery(t *testing.T) {
	f := newFixture(t)
	r := f.mustExec(t, "path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"tcp","dst_port":22}`)
	if r.Extra["verdict"] != "deny" || r.Extra["reason"] != "denied by rule 20 on fw-1" {
		t.Errorf("path_analysis verdict = %v (%v), want deny (denied by rule 20 on fw-1)", r.Extra["verdict"], r.Extra["reason"])
	}
	if diff := cmp.Diff([]string{`"gw-a"`, `"fw-1"`}, col(t, r, "hostname")); diff != "" {
		t.Errorf("path_analysis hostnames (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`null`, `"20"`}, col(t, r, "rule_id")); diff != "" {
		t.Errorf("path_analysis rule_id (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`null`, `"untrust"`}, col(t, r, "in_zone")); diff != "" {
		t.Errorf("path_analysis in_zone (-want +got):\n%s", diff)
	}
	// Default pseudo-rule, protocol defaulting to any with a port.
	r = f.mustExec(t, "path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","dst_port":53}`)
	if r.Extra["verdict"] != "deny" || !strings.Contains(r.Extra["reason"].(string), "default action (deny) on fw-1") {
		t.Errorf("path_analysis any/53 = %v (%v), want deny by the default action", r.Extra["verdict"], r.Extra["reason"])
	}
	if diff := cmp.Diff([]string{`null`, `"default"`}, col(t, r, "rule_id")); diff != "" {
		t.Errorf("path_analysis any/53 rule_id (-want +got):\n%s", diff)
	}
}

func TestFirewallQueries(t *testing.T) {
	f := newFixture(t)
	check := func(name, params, column string, want []string) {
		t.Helper()
		r := f.mustExec(t, name, params)
		if diff := cmp.Diff(want, col(t, r, column)); diff != "" {
			t.Errorf("%s(%s) %s (-want +got):\n%s", name, params, column, diff)
		}
	}
	check("firewall_rules_by_device", `{"hostname":"fw-1"}`, "rule_id", []string{`"10"`, `"20"`, `"30"`, `"40"`, `"50"`, `"60"`})
	check("firewall_rules_by_zone_pair", `{"hostname":"fw-1","src_zone":"untrust","dst_zone":"trust"}`, "rule_id", []string{`"10"`, `"20"`, `"50"`})
	check("firewall_rules_by_zone_pair", `{"hostname":"fw-1","src_zone":"dmz","dst_zone":"dmz"}`, "rule_id", []string{`"40"`})
	// 10.9.0.7 tcp/443: fw-1 rules 10 (dc-servers), 30 only possibly
	// (fqdn), 40 (any), 20 no (ssh); fw-2 rule 3 (reject to dc-net).
	check("firewall_rules_matching", `{"dst_ip":"10.9.0.7","protocol":"tcp","dst_port":443}`, "rule_id", []string{`"10"`, `"30"`, `"40"`, `"3"`})
	check("firewall_rules_matching", `{"dst_ip":"10.9.0.7","protocol":"tcp","dst_port":443}`, "certain", []string{`true`, `false`, `true`, `true`})
	check("firewall_rules_matching", `{"src_ip":"10.20.0.5","protocol":"udp","dst_port":53}`, "rule_id", []string{`"40"`, `"1"`, `"2"`, `"3"`})
	// all4 (0.0.0.0/0) counts as any; fw-1 rule 40 is any → any.
	check("firewall_permissive_rules", `{}`, "rule_id", []string{`"40"`, `"1"`})
	check("firewall_permissive_rules", `{}`, "any_service", []string{`true`, `false`})
	check("firewall_address_object_usage", `{"name":"dc-net"}`, "via", []string{`["dc-servers","dc-inner","dc-net"]`, `["dc-net"]`})
	check("firewall_address_object_usage", `{"name":"dc-net"}`, "hostname", []string{`"fw-1"`, `"fw-2"`})
	check("deny_rules_summary", `{}`, "rule_id", []string{`"20"`, `"2"`, `"3"`})
	check("hygiene_unused_rules", `{}`, "rule_id", []string{`"1"`})
	check("hygiene_unused_objects", `{}`, "object", []string{`"orphan-grp"`, `"orphan-host"`, `"unused-svc"`})
	// fw-2 rule 2 (10.20/24 udp/53 in→out) is covered by rule 1 (0/0 dns).
	check("hygiene_shadowed_rules", `{}`, "rule_id", []string{`"2"`})
	check("hygiene_shadowed_rules", `{"hostname":"fw-2"}`, "shadowed_by", []string{`["1"]`})
	check("hygiene_shadowed_rules", `{"hostname":"fw-2"}`, "different_action", []string{`true`})
	check("hygiene_shadowed_rules", `{"hostname":"fw-1"}`, "rule_id", nil)
}

// TestConcurrentQueries runs queries that share the cached index and the
// once-computed shadow analysis from many goroutines (meaningful under
// -race): every answer must be the same.
func TestConcurrentQueries(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				r, err := f.exec(t, "hygiene_shadowed_rules", `{}`)
				if err != nil || len(r.Rows) != 1 {
					errs <- fmt.Sprintf("hygiene_shadowed_rules = %v rows, %v; want 1 row", r, err)
				}
				r, err = f.exec(t, "path_analysis", `{"src_ip":"10.1.1.10","dst_ip":"10.9.0.7","protocol":"tcp","dst_port":22}`)
				if err != nil || r.Extra["verdict"] != "deny" {
					errs <- fmt.Sprintf("path_analysis = %v, %v; want deny", r, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
