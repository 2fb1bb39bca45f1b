package conversation

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/firewall/fwquery"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

func campus(t testing.TB) *graph.Graph {
	t.Helper()
	doc := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	return graph.Build(1, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
}

func registry(t testing.TB) *query.Registry {
	t.Helper()
	reg := query.NewBuiltin()
	if err := reg.Register(fwquery.Definitions(pathanalysis.NewCache())...); err != nil {
		t.Fatal(err)
	}
	return reg
}

type p = map[string]any

// phrasings maps messages to the query and parameters they must become;
// ctx is what earlier turns left (for follow-ups).
var phrasings = []struct {
	msg    string
	ctx    Context
	query  string
	params p
}{
	{"route lookup for 10.1.10.11 on core1", Context{}, "route_lookup", p{"hostname": "core1", "ip": "10.1.10.11"}},
	{"show the arp table of dist1", Context{}, "arp_entries_by_device", p{"hostname": "dist1"}},
	{"who owns aabb.cc00.0001?", Context{}, "mac_owners", p{"mac": "aa:bb:cc:00:00:01"}},
	{"mac address table of acc1", Context{}, "mac_entries_by_device", p{"hostname": "acc1"}},
	{`find interfaces matching "Gi1/0"`, Context{}, "interfaces_search", p{"q": "Gi1/0"}},
	{"where is 10.1.10.11?", Context{}, "locate_endpoint_by_ip", p{"ip": "10.1.10.11"}},
	{"Locate 10.1.20.12", Context{}, "locate_endpoint_by_ip", p{"ip": "10.1.20.12"}},
	{"who has 10.1.10.13", Context{}, "locate_endpoint_by_ip", p{"ip": "10.1.10.13"}},
	{"find aa:bb:cc:00:00:01", Context{}, "locate_endpoint_by_mac", p{"mac": "aa:bb:cc:00:00:01"}},
	{"where is mac AABB.CC00.0002?", Context{}, "locate_endpoint_by_mac", p{"mac": "aa:bb:cc:00:00:02"}},
	{"locate aa-bb-cc-00-00-03", Context{}, "locate_endpoint_by_mac", p{"mac": "aa:bb:cc:00:00:03"}},
	{"and what breaks if that switch fails?", Context{Hostname: "acc1"}, "blast_radius_from_device", p{"hostname": "acc1"}},
	{"what breaks if dist1 fails?", Context{}, "blast_radius_from_device", p{"hostname": "dist1"}},
	{"blast radius of core1", Context{}, "blast_radius_from_device", p{"hostname": "core1"}},
	{"what is impacted if acc2 goes down", Context{}, "blast_radius_from_device", p{"hostname": "acc2"}},
	{"what if dist1 Gi0/4 fails?", Context{}, "blast_radius_interface", p{"hostname": "dist1", "interface": "Gi0/4"}},
	{"impact of unplugging acc1 gi1/0/48", Context{}, "blast_radius_interface", p{"hostname": "acc1", "interface": "Gi1/0/48"}},
	{"what breaks if vlan 20 fails", Context{}, "blast_radius_vlan", p{"vlan": 20}},
	{"blast radius for VLAN10", Context{}, "blast_radius_vlan", p{"vlan": 10}},
	{"what is affected if 10.1.10.0/24 has an outage", Context{}, "blast_radius_subnet", p{"subnet": "10.1.10.0/24"}},
	{"can 10.1.10.11 reach 10.0.0.10 on tcp/443?", Context{}, "path_analysis", p{"src_ip": "10.1.10.11", "dst_ip": "10.0.0.10", "protocol": "tcp", "dst_port": 443}},
	{"trace the path from 10.1.10.13 to 10.1.20.12", Context{}, "path_analysis", p{"src_ip": "10.1.10.13", "dst_ip": "10.1.20.12"}},
	{"is ssh allowed from 10.1.10.11 to 10.0.0.1", Context{}, "path_analysis", p{"src_ip": "10.1.10.11", "dst_ip": "10.0.0.1", "protocol": "tcp", "dst_port": 22}},
	{"can 10.1.10.11 talk to 10.1.20.12 port 53 udp", Context{}, "path_analysis", p{"src_ip": "10.1.10.11", "dst_ip": "10.1.20.12", "protocol": "udp", "dst_port": 53}},
	{"which firewall rules match 10.1.10.11 to 10.0.0.10 on 443/tcp", Context{}, "firewall_rules_matching", p{"src_ip": "10.1.10.11", "dst_ip": "10.0.0.10", "protocol": "tcp", "dst_port": 443}},
	{"which rules allow traffic to 10.0.0.10", Context{}, "firewall_rules_matching", p{"dst_ip": "10.0.0.10"}},
	{"shortest path between acc1 and acc2", Context{}, "topology_shortest_path", p{"src_hostname": "acc1", "dst_hostname": "acc2"}},
	{"how many hops from core2 to acc1", Context{}, "topology_shortest_path", p{"src_hostname": "core2", "dst_hostname": "acc1"}},
	{"show the neighbors of dist1", Context{}, "device_neighbors", p{"hostname": "dist1"}},
	{"what is connected to core1?", Context{}, "device_neighbors", p{"hostname": "core1"}},
	{"lldp neighbours of that switch", Context{Hostname: "acc2"}, "device_neighbors", p{"hostname": "acc2"}},
	{"interfaces of acc1", Context{}, "interfaces_by_device", p{"hostname": "acc1"}},
	{"list ports on core2", Context{}, "interfaces_by_device", p{"hostname": "core2"}},
	{"which interfaces are down?", Context{}, "interfaces_down", p{}},
	{"ports carrying vlan 20", Context{}, "interfaces_by_vlan", p{"vlan": 20}},
	{"routing table of core1", Context{}, "routes_by_device", p{"hostname": "core1"}},
	{"show routes on it", Context{Hostname: "core2"}, "routes_by_device", p{"hostname": "core2"}},
	{"bgp peers of core2", Context{}, "bgp_peers_by_device", p{"hostname": "core2"}},
	{"which BGP sessions are down?", Context{}, "bgp_sessions_down", p{}},
	{"bgp not established anywhere", Context{}, "bgp_sessions_down", p{}},
	{"firewall rules on core1", Context{}, "firewall_rules_by_device", p{"hostname": "core1"}},
	{"rules from trust to untrust on core1", Context{}, "firewall_rules_by_zone_pair", p{"hostname": "core1", "src_zone": "trust", "dst_zone": "untrust"}},
	{"show permissive rules", Context{}, "firewall_permissive_rules", p{}},
	{"any any rules?", Context{}, "firewall_permissive_rules", p{}},
	{"deny rules summary", Context{}, "deny_rules_summary", p{}},
	{`where is the address object "web-servers" used?`, Context{}, "firewall_address_object_usage", p{"name": "web-servers"}},
	{"find duplicate IPs", Context{}, "hygiene_duplicate_ips", p{}},
	{"interfaces without a description", Context{}, "hygiene_interfaces_no_description", p{}},
	{"mtu mismatches", Context{}, "hygiene_mtu_mismatch", p{}},
	{"speed mismatch on links", Context{}, "hygiene_speed_mismatch", p{}},
	{"vlan mismatch between link ends", Context{}, "hygiene_vlan_mismatch", p{}},
	{"orphan devices", Context{}, "hygiene_orphan_devices", p{}},
	{"shadowed rules on core1", Context{}, "hygiene_shadowed_rules", p{"hostname": "core1"}},
	{"any shadowed rules?", Context{}, "hygiene_shadowed_rules", p{}},
	{"unused address objects", Context{}, "hygiene_unused_objects", p{}},
	{"rules with zero hits", Context{}, "hygiene_unused_rules", p{}},
	{"ips in 10.1.10.0/24", Context{}, "ips_in_subnet", p{"subnet": "10.1.10.0/24"}},
	{"list all subnets", Context{}, "subnets_all", p{}},
	{"endpoints on acc1", Context{}, "endpoints_by_device", p{"hostname": "acc1"}},
	{"what hosts are attached there?", Context{Hostname: "acc2"}, "endpoints_by_device", p{"hostname": "acc2"}},
	{"topology of vlan 10", Context{}, "topology_vlan", p{"vlan": 10}},
	{"map of site hq", Context{}, "topology_site", p{"site": "hq"}},
	{"show the whole network topology", Context{}, "topology_full", p{}},
	{"summary by role", Context{}, "summary_by_role", p{}},
	{"how many devices per site", Context{}, "summary_by_site", p{}},
	{"count by vendor", Context{}, "summary_by_vendor", p{}},
	{"network overview stats", Context{}, "summary_stats", p{}},
	{`search devices matching "core"`, Context{}, "devices_search", p{"q": "core"}},
	{"tell me about dist1", Context{}, "devices_detail", p{"hostname": "dist1"}},
	{"acc2", Context{}, "devices_detail", p{"hostname": "acc2"}},
	{"show its details", Context{Hostname: "core1"}, "devices_detail", p{"hostname": "core1"}},
	{"list all devices", Context{}, "all_devices", p{}},
	{"cisco devices at hq", Context{}, "all_devices", p{"vendor": "cisco", "site": "hq"}},
	{"list the access switches", Context{}, "devices_by_role", p{"role": "access"}},
	{"devices at branch", Context{}, "devices_by_site", p{"site": "branch"}},
	{"arista devices", Context{}, "devices_by_vendor", p{"vendor": "arista"}},
	{"set rack=A1 on core1", Context{}, "update_device_metadata", p{"hostname": "core1", "metadata": p{"rack": "A1"}}},
	{`tag dist1 owner="net team"`, Context{}, "update_device_metadata", p{"hostname": "dist1", "metadata": p{"owner": "net team"}}},
}

func TestPhrasings(t *testing.T) {
	g, reg := campus(t), registry(t)
	known := func(n string) bool { _, ok := reg.Lookup(n); return ok }
	covered := map[string]bool{}
	for _, tc := range phrasings {
		u := Interpret(g, tc.msg, tc.ctx, known)
		if u.Intent == nil {
			t.Errorf("%q: not understood (missing %q for %s), want %s %v", tc.msg, u.Missing, u.MatchedFor, tc.query, tc.params)
			continue
		}
		if u.Intent.Query != tc.query || !cmp.Equal(u.Intent.Params, tc.params) {
			t.Errorf("%q = %s %v, want %s %v", tc.msg, u.Intent.Query, u.Intent.Params, tc.query, tc.params)
		}
		covered[tc.query] = true
	}
	if len(phrasings) < 60 {
		t.Errorf("%d phrasings, want at least 60", len(phrasings))
	}
	for _, d := range reg.All() {
		if !covered[d.Name] {
			t.Errorf("no phrasing reaches query %s", d.Name)
		}
	}
}

// TestNotUnderstood: gibberish and questions lacking what the query needs
// say so, with suggestions, instead of guessing.
func TestNotUnderstood(t *testing.T) {
	g, reg := campus(t), registry(t)
	known := func(n string) bool { _, ok := reg.Lookup(n); return ok }
	if u := Interpret(g, "what breaks if that switch fails?", Context{}, known); u.Missing != "hostname" {
		t.Errorf("a reference with no earlier switch = %+v, want hostname missing", u)
	}
	for _, tc := range []struct{ msg, missing, forQuery string }{
		{"what is the meaning of life", "", ""},
		{"hello there", "", ""},
		{"show neighbors", "hostname", "device_neighbors"},
		{"where is the address object used?", "name (quote the object's name)", "firewall_address_object_usage"},
	} {
		u := Interpret(g, tc.msg, Context{}, known)
		if u.Intent != nil || u.Missing != tc.missing || u.MatchedFor != tc.forQuery || len(u.Suggestions) == 0 {
			t.Errorf("%q = %+v, want not understood (missing %q for %q) with suggestions", tc.msg, u, tc.missing, tc.forQuery)
		}
	}
}

func TestFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		want      bool
	}{
		{"*", "firewall_rules_by_device", true},
		{"locate_*", "locate_endpoint_by_ip", true},
		{"locate_*", "firewall_rules_by_device", false},
		{"*_by_device", "routes_by_device", true},
		{"firewall_*", "firewall_rules_by_device", true},
		{"hygiene_?tu_mismatch", "hygiene_mtu_mismatch", true},
		{"[!f]*", "firewall_rules_by_device", false},
		{"[!f]*", "locate_endpoint_by_ip", true},
		{"[a-l]*", "locate_endpoint_by_ip", true},
		{"[a-l]*", "summary_stats", false},
		{"summary_stats", "summary_stats", true},
		{"summary_stats", "summary_stats_x", false},
		{"[abc", "[abc", true},
	} {
		if got := fnmatch(tc.pat, tc.name); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tc.pat, tc.name, got, tc.want)
		}
	}
}
