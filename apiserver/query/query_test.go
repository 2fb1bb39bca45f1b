package query_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

func campus(t *testing.T) *graph.Graph {
	t.Helper()
	doc := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatalf("Normalize(Campus) = %v, want nil", err)
	}
	return graph.Build(7, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
}

func params(t *testing.T, js string) map[string]query.RawValue {
	t.Helper()
	if js == "" {
		return nil
	}
	var m map[string]query.RawValue
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("bad test params %s: %v", js, err)
	}
	return m
}

func run(t *testing.T, g *graph.Graph, name, js string) *query.Response {
	t.Helper()
	resp, err := runErr(t, g, name, js)
	if err != nil {
		t.Fatalf("%s(%s) error = %v, want nil", name, js, err)
	}
	return resp
}

func runErr(t *testing.T, g *graph.Graph, name, js string) (*query.Response, error) {
	t.Helper()
	reg := query.NewBuiltin()
	d, ok := reg.Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) not found", name)
	}
	return reg.Execute(context.Background(), d, &query.Env{Graph: g}, params(t, js))
}

func checkRows(t *testing.T, g *graph.Graph, name, js string, want [][]any) {
	t.Helper()
	resp := run(t, g, name, js)
	if diff := cmp.Diff(want, resp.Rows); diff != "" {
		t.Errorf("%s(%s) rows mismatch (-want +got):\n%s", name, js, diff)
	}
	if resp.GraphVersion != g.Version {
		t.Errorf("%s graph_version = %d, want %d", name, resp.GraphVersion, g.Version)
	}
}

func TestSummaries(t *testing.T) {
	g := campus(t)
	// 17 interfaces; 11 distinct IPs (9 on interfaces, plus endpoint IPs
	// 10.1.20.12 and 10.1.10.13; 10.1.10.11 is on both); 5 subnets; VLANs
	// 10, 20 and 30 (carried by acc1's trunk); 5 links.
	checkRows(t, g, "summary_stats", "", [][]any{{6, 17, 3, 11, 5, 3, 5, 0}})
	checkRows(t, g, "summary_by_vendor", "", [][]any{{"arista", 1}, {"cisco", 4}, {"juniper", 1}})
	checkRows(t, g, "summary_by_site", "", [][]any{{"branch", 1}, {"hq", 4}, {"lab", 1}})
	checkRows(t, g, "summary_by_role", "", [][]any{{"access", 3}, {"core", 2}, {"distribution", 1}})
}

func hostnames(resp *query.Response) []string {
	var out []string
	for _, r := range resp.Rows {
		out = append(out, r[0].(string))
	}
	return out
}

func TestDeviceLists(t *testing.T) {
	g := campus(t)
	for _, tc := range []struct {
		name, params string
		want         []string
	}{
		{"all_devices", "", []string{"acc1", "acc2", "core1", "core2", "dist1", "orphan1"}},
		{"all_devices", `{"vendor":"cisco"}`, []string{"acc1", "acc2", "core1", "core2"}},
		{"all_devices", `{"role":"ACCESS","site":"hq"}`, []string{"acc1"}},
		{"devices_by_site", `{"site":"hq"}`, []string{"acc1", "core1", "core2", "dist1"}},
		{"devices_by_vendor", `{"vendor":"juniper"}`, []string{"orphan1"}},
		{"devices_by_role", `{"role":"core"}`, []string{"core1", "core2"}},
		{"devices_search", `{"q":"fxs"}`, []string{"core1", "core2"}},
		{"devices_search", `{"q":"192.168.0.1"}`, []string{"acc1", "acc2", "core1"}},
		{"devices_search", `{"q":"c9300"}`, []string{"acc1"}},
		{"hygiene_orphan_devices", "", []string{"orphan1"}},
	} {
		if got := hostnames(run(t, g, tc.name, tc.params)); !cmp.Equal(got, tc.want) {
			t.Errorf("%s(%s) hostnames = %v, want %v", tc.name, tc.params, got, tc.want)
		}
	}
	checkRows(t, g, "all_devices", `{"site":"lab"}`, [][]any{{"orphan1", "192.168.0.99", "juniper", nil, "EX2300", "JN099", nil, "access", "lab", map[string]any{}}})
}

func TestDeviceDetail(t *testing.T) {
	g := campus(t)
	checkRows(t, g, "devices_detail", `{"hostname":"core1"}`, [][]any{{
		"core1", "192.168.0.1", "cisco", "ios-xe", "C9500", "FXS001", nil, "core", "hq", map[string]any{},
		4, 4, 2, 2, 0, 2, 1, 0,
	}})
	// Escaped JSON strings decode like plain ones.
	if got := run(t, g, "devices_detail", `{"hostname":"co\u0072e1"}`).Rows[0][0]; got != "core1" {
		t.Errorf("devices_detail(escaped core1) hostname = %v, want core1", got)
	}
	_, err := runErr(t, g, "devices_detail", `{"hostname":"nope"}`)
	wantQueryError(t, err, 404, `no device named "nope"`)
}

type writer struct {
	store *graphtest.MemStore
	opts  graph.Options
}

func (w writer) UpdateMetadata(ctx context.Context, host string, patch map[string]any) (*graph.Graph, error) {
	if _, _, err := w.store.UpdateMetadata(ctx, host, patch); err != nil {
		return nil, err
	}
	v, devs, err := w.store.Load(ctx)
	if err != nil {
		return nil, err
	}
	return graph.Build(v, devs, w.opts), nil
}

func TestUpdateDeviceMetadata(t *testing.T) {
	g := campus(t)
	st := graphtest.NewMemStore()
	var devs []facts.Device
	for _, d := range g.Devices {
		devs = append(devs, d.Device)
	}
	if _, err := st.Ingest(context.Background(), "replace", devs); err != nil {
		t.Fatal(err)
	}
	reg := query.NewBuiltin()
	d, _ := reg.Lookup("update_device_metadata")
	env := &query.Env{Graph: g, Writer: writer{st, graph.Options{}}}
	resp, err := reg.Execute(context.Background(), d, env, params(t, `{"hostname":"acc1","metadata":{"rack":"r12","owner":"noc"}}`))
	if err != nil {
		t.Fatalf("update_device_metadata error = %v", err)
	}
	if got, want := resp.Rows[0][9], map[string]any{"rack": "r12", "owner": "noc"}; !cmp.Equal(got, want) {
		t.Errorf("update_device_metadata metadata = %v, want %v", got, want)
	}
	if resp.GraphVersion != 2 {
		t.Errorf("update_device_metadata graph_version = %d, want 2 (the store's new version)", resp.GraphVersion)
	}
	resp, err = reg.Execute(context.Background(), d, env, params(t, `{"hostname":"acc1","metadata":{"rack":null}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Rows[0][9], map[string]any{"owner": "noc"}; !cmp.Equal(got, want) {
		t.Errorf("update_device_metadata(rack: null) metadata = %v, want %v", got, want)
	}
	_, err = reg.Execute(context.Background(), d, env, params(t, `{"hostname":"ghost","metadata":{}}`))
	wantQueryError(t, err, 404, `no device named "ghost"`)
	_, err = reg.Execute(context.Background(), d, env, params(t, `{"hostname":"acc1","metadata":["x"]}`))
	wantQueryError(t, err, 400, `parameter "metadata": expected a JSON object, got an array`)
	_, err = reg.Execute(context.Background(), d, &query.Env{Graph: g}, params(t, `{"hostname":"acc1","metadata":{}}`))
	wantQueryError(t, err, 503, "writes are not available")
}

func TestInterfaces(t *testing.T) {
	g := campus(t)
	checkRows(t, g, "interfaces_by_device", `{"hostname":"acc2"}`, [][]any{
		{"acc2", "Gi1/0/1", "desk", true, true, 1000, nil, "access", 10, nil, nil, nil, nil, []string{}},
		{"acc2", "Gi1/0/48", "uplink", true, true, 1000, 1500, "access", 10, nil, nil, nil, nil, []string{}},
	})
	checkRows(t, g, "interfaces_down", "", [][]any{
		{"acc1", "Gi1/0/3", "printer", true, false, nil, nil, "access", 10, nil, nil, nil, nil, []string{}},
	})
	pairs := func(resp *query.Response) [][2]string {
		var out [][2]string
		for _, r := range resp.Rows {
			out = append(out, [2]string{r[0].(string), r[1].(string)})
		}
		return out
	}
	if got, want := pairs(run(t, g, "interfaces_by_vlan", `{"vlan":20}`)), [][2]string{{"acc1", "Gi1/0/2"}, {"acc1", "Gi1/0/48"}, {"dist1", "Gi0/3"}}; !cmp.Equal(got, want) {
		t.Errorf("interfaces_by_vlan(20) = %v, want %v", got, want)
	}
	if got, want := pairs(run(t, g, "interfaces_by_vlan", `{"vlan":30}`)), [][2]string{{"acc1", "Gi1/0/48"}}; !cmp.Equal(got, want) {
		t.Errorf("interfaces_by_vlan(30) = %v, want %v", got, want)
	}
	if got, want := pairs(run(t, g, "hygiene_interfaces_no_description", "")), [][2]string{{"acc1", "Gi1/0/1"}}; !cmp.Equal(got, want) {
		t.Errorf("hygiene_interfaces_no_description = %v, want %v", got, want)
	}
	resp := run(t, g, "interfaces_by_device", `{"hostname":"dist1"}`)
	if got, want := resp.Rows[2][9], []int{10, 20}; !cmp.Equal(got, want) {
		t.Errorf("interfaces_by_device(dist1) Gi0/3 trunk_vlans = %v, want %v", got, want)
	}
	if got, want := resp.Rows[0][13], []string{"10.0.0.2/30"}; !cmp.Equal(got, want) {
		t.Errorf("interfaces_by_device(dist1) Gi0/1 ips = %v, want %v", got, want)
	}
}

func TestTopology(t *testing.T) {
	g := campus(t)
	checkRows(t, g, "device_neighbors", `{"hostname":"dist1"}`, [][]any{
		{"Gi0/1", "core1", "Gi0/1", "lldp"},
		{"Gi0/2", "core2", "Gi0/1", "lldp"},
		{"Gi0/3", "acc1", "Gi1/0/48", "lldp"}, // reported only by acc1
		{"Gi0/4", "acc2", "Gi1/0/48", "cdp"},
	})
	all := [][]any{
		{"acc1", "Gi1/0/48", "dist1", "Gi0/3", "lldp", "up"},
		{"acc2", "Gi1/0/48", "dist1", "Gi0/4", "cdp", "up"},
		{"core1", "Gi0/1", "dist1", "Gi0/1", "lldp", "up"},
		{"core1", "Te1/1/1", "core2", "Te1/1/1", "lldp", "up"},
		{"core2", "Gi0/1", "dist1", "Gi0/2", "lldp", "up"},
	}
	checkRows(t, g, "topology_full", "", all)
	checkRows(t, g, "topology_site", `{"site":"branch"}`, [][]any{all[1]})
	checkRows(t, g, "topology_vlan", `{"vlan":10}`, [][]any{all[0], all[1]})
	checkRows(t, g, "topology_shortest_path", `{"src_hostname":"acc1","dst_hostname":"core2"}`, [][]any{
		{0, "acc1", nil, "Gi1/0/48"},
		{1, "dist1", "Gi0/3", "Gi0/2"},
		{2, "core2", "Gi0/1", nil},
	})
	checkRows(t, g, "topology_shortest_path", `{"src_hostname":"acc1","dst_hostname":"orphan1"}`, [][]any{})
	_, err := runErr(t, g, "topology_shortest_path", `{"src_hostname":"acc1","dst_hostname":"x"}`)
	wantQueryError(t, err, 404, `no device named "x"`)
}

func TestEndpoints(t *testing.T) {
	g := campus(t)
	a := []any{"10.1.10.11", "aa:bb:cc:00:00:01", "acc1", "Gi1/0/1", 10, "default"}
	b := []any{"10.1.20.12", "aa:bb:cc:00:00:02", "acc1", "Gi1/0/2", 20, "default"}
	c := []any{"10.1.10.13", "aa:bb:cc:00:00:03", "acc2", "Gi1/0/1", 10, "default"}
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.10.11"}`, [][]any{a})
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.10.99"}`, [][]any{}) // ARP only, no MAC-table port
	checkRows(t, g, "locate_endpoint_by_ip", `{"ip":"10.1.10.1"}`, [][]any{})  // a router interface, not an endpoint
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"AA-BB-CC-00-00-02"}`, [][]any{b})
	checkRows(t, g, "locate_endpoint_by_mac", `{"mac":"aabb.cc00.0003"}`, [][]any{c})
	checkRows(t, g, "endpoints_by_device", `{"hostname":"acc1"}`, [][]any{a, b})
	checkRows(t, g, "endpoints_by_device", `{"hostname":"dist1"}`, [][]any{}) // A is learned on a linked port there
}

func TestSubnets(t *testing.T) {
	g := campus(t)
	checkRows(t, g, "ips_in_subnet", `{"subnet":"10.1.10.0/24"}`, [][]any{
		{"10.1.10.1", "core1", "Vlan10", "interface", nil, "default"},
		{"10.1.10.11", "orphan1", "mgmt0", "interface", nil, "default"},
		{"10.1.10.11", "acc1", "Gi1/0/1", "endpoint", "aa:bb:cc:00:00:01", "default"},
		{"10.1.10.13", "acc2", "Gi1/0/1", "endpoint", "aa:bb:cc:00:00:03", "default"},
	})
	// Host bits are masked: 10.0.0.5/29 is 10.0.0.0/29.
	checkRows(t, g, "ips_in_subnet", `{"subnet":"10.0.0.5/29"}`, [][]any{
		{"10.0.0.1", "core1", "Gi0/1", "interface", nil, "default"},
		{"10.0.0.2", "dist1", "Gi0/1", "interface", nil, "default"},
		{"10.0.0.5", "core2", "Gi0/1", "interface", nil, "default"},
		{"10.0.0.6", "dist1", "Gi0/2", "interface", nil, "default"},
	})
	checkRows(t, g, "ips_in_subnet", `{"subnet":"2001:db8::/32"}`, [][]any{})
	checkRows(t, g, "subnets_all", "", [][]any{
		{"10.0.0.0/30", "default", 2, []string{"core1", "dist1"}},
		{"10.0.0.4/30", "default", 2, []string{"core2", "dist1"}},
		{"10.0.0.8/30", "default", 2, []string{"core1", "core2"}},
		// 10.1.10.1, 10.1.10.11 (orphan1 and endpoint A: one address held
		// twice), 10.1.10.13.
		{"10.1.10.0/24", "default", 3, []string{"core1", "orphan1"}},
		{"10.1.20.0/24", "default", 2, []string{"core1"}},
	})
}

func TestRoutingQueries(t *testing.T) {
	g := campus(t)
	checkRows(t, g, "routes_by_device", `{"hostname":"core1"}`, [][]any{
		{"core1", "default", "0.0.0.0/0", "10.0.0.10", "Te1/1/1", "static", 0, nil, nil, nil, []map[string]any{{"ip": "10.0.0.10", "interface": "Te1/1/1", "vrf": nil}}},
		{"core1", "default", "10.1.10.0/24", nil, "Vlan10", "connected", 0, nil, nil, nil, []map[string]any{{"ip": nil, "interface": "Vlan10", "vrf": nil}}},
	})
	checkRows(t, g, "bgp_peers_by_device", `{"hostname":"core2"}`, [][]any{
		{"core2", "10.0.0.9", "core1", int64(65001), int64(65001), "established", "default", nil, []map[string]any{}},
		{"core2", "10.0.0.6", "dist1", int64(65010), int64(65001), "idle", "default", nil, []map[string]any{}},
	})
	checkRows(t, g, "bgp_sessions_down", "", [][]any{
		{"core2", "10.0.0.6", "dist1", int64(65010), int64(65001), "idle", "default", nil, []map[string]any{}},
		{"dist1", "10.0.0.5", "core2", int64(65001), int64(65010), "active", "default", nil, []map[string]any{}},
	})
}

func TestHygiene(t *testing.T) {
	g := campus(t)
	checkRows(t, g, "hygiene_duplicate_ips", "", [][]any{
		{"10.1.10.11", "default", []string{"orphan1 mgmt0", "aa:bb:cc:00:00:01 (acc1 Gi1/0/1)"}},
	})
	checkRows(t, g, "hygiene_mtu_mismatch", "", [][]any{{"core2", "Gi0/1", 9000, "dist1", "Gi0/2", 1500}})
	checkRows(t, g, "hygiene_speed_mismatch", "", [][]any{{"core1", "Gi0/1", int64(10000), "dist1", "Gi0/1", int64(1000)}})
	checkRows(t, g, "hygiene_vlan_mismatch", "", [][]any{{"acc1", "Gi1/0/48", "trunk 10,20,30", "dist1", "Gi0/3", "trunk 10,20"}})
}

func blastSummary(t *testing.T, resp *query.Response) map[string]any {
	t.Helper()
	return resp.Extra["summary"].(map[string]any)
}

func TestBlastRadius(t *testing.T) {
	g := campus(t)
	epA := []any{"endpoint", "acc1", "access", "hq", "Gi1/0/1", "aa:bb:cc:00:00:01", "10.1.10.11", []string{"10.1.10.11"}, 10}
	epB := []any{"endpoint", "acc1", "access", "hq", "Gi1/0/2", "aa:bb:cc:00:00:02", "10.1.20.12", []string{"10.1.20.12"}, 20}
	epC := []any{"endpoint", "acc2", "access", "branch", "Gi1/0/1", "aa:bb:cc:00:00:03", "10.1.10.13", []string{"10.1.10.13"}, 10}
	acc1 := []any{"device", "acc1", "access", "hq", nil, nil, nil, nil, nil}
	acc2 := []any{"device", "acc2", "access", "branch", nil, nil, nil, nil, nil}
	dist1 := []any{"device", "dist1", "distribution", "hq", nil, nil, nil, nil, nil}

	// dist1 is the only way up for both access switches.
	resp := run(t, g, "blast_radius_from_device", `{"hostname":"dist1"}`)
	if diff := cmp.Diff([][]any{acc1, acc2, epA, epB, epC}, resp.Rows); diff != "" {
		t.Errorf("blast_radius_from_device(dist1) rows (-want +got):\n%s", diff)
	}
	wantSummary := map[string]any{"failed": "device dist1", "devices": 2, "endpoints": 3,
		"by_vlan": []map[string]any{{"vlan": 10, "endpoints": 2}, {"vlan": 20, "endpoints": 1}}}
	if diff := cmp.Diff(wantSummary, blastSummary(t, resp)); diff != "" {
		t.Errorf("blast_radius_from_device(dist1) summary (-want +got):\n%s", diff)
	}
	// Pages split the rows; the summary describes the whole answer.
	page := run(t, g, "blast_radius_from_device", `{"hostname":"dist1","limit":2}`)
	if diff := cmp.Diff([][]any{acc1, acc2}, page.Rows); diff != "" || !page.Truncated || page.TotalRows != 5 || blastSummary(t, page)["endpoints"] != 3 {
		t.Errorf("blast_radius_from_device(dist1, limit 2) = truncated %v total %d summary %v, rows diff:\n%s", page.Truncated, page.TotalRows, blastSummary(t, page), diff)
	}
	// Redundancy: dist1 keeps core2 when core1 fails; orphan1 never had a
	// path, so it did not lose one.
	checkRows(t, g, "blast_radius_from_device", `{"hostname":"core1"}`, [][]any{})
	// The failed device's own endpoints are affected.
	checkRows(t, g, "blast_radius_from_device", `{"hostname":"acc1"}`, [][]any{epA, epB})
	checkRows(t, g, "blast_radius_interface", `{"hostname":"dist1","interface":"Gi0/3"}`, [][]any{acc1, epA, epB})
	checkRows(t, g, "blast_radius_interface", `{"hostname":"dist1","interface":"Gi0/1"}`, [][]any{})
	checkRows(t, g, "blast_radius_interface", `{"hostname":"acc1","interface":"Gi1/0/2"}`, [][]any{epB})
	_, err := runErr(t, g, "blast_radius_interface", `{"hostname":"acc1","interface":"Gi9/9"}`)
	wantQueryError(t, err, 404, `device "acc1" has no interface "Gi9/9"`)
	// VLAN 10: acc2's only uplink carries VLAN 10 alone; acc1's trunk
	// carries 20 and 30 too, so acc1 stays up; VLAN 10's endpoints go.
	checkRows(t, g, "blast_radius_vlan", `{"vlan":10}`, [][]any{acc2, epA, epC})
	// One routed uplink of dist1 fails: redundancy. Both: everything below.
	checkRows(t, g, "blast_radius_subnet", `{"subnet":"10.0.0.0/30"}`, [][]any{})
	checkRows(t, g, "blast_radius_subnet", `{"subnet":"10.0.0.0/29"}`, [][]any{acc1, acc2, dist1, epA, epB, epC})
	checkRows(t, g, "blast_radius_subnet", `{"subnet":"10.1.20.0/24"}`, [][]any{epB})
}

func TestBlastRadiusWithoutRoots(t *testing.T) {
	doc := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	// No device has a root role: the largest remaining component (core1,
	// core2) stands in for the core.
	g := graph.Build(1, doc.Devices, graph.Options{RootRoles: []string{"border"}})
	var got []string
	for _, r := range run(t, g, "blast_radius_from_device", `{"hostname":"dist1"}`).Rows {
		if r[0] == "device" {
			got = append(got, r[1].(string))
		}
	}
	if want := []string{"acc1", "acc2"}; !cmp.Equal(got, want) {
		t.Errorf("blast_radius_from_device(dist1) without roots devices = %v, want %v", got, want)
	}
	// The only root failing cuts off everything that reached it.
	g = graph.Build(1, doc.Devices, graph.Options{RootRoles: []string{"distribution"}})
	resp := run(t, g, "blast_radius_from_device", `{"hostname":"dist1"}`)
	if got, want := blastSummary(t, resp)["devices"], 4; got != want {
		t.Errorf("blast_radius_from_device(only root) devices = %v, want %v", got, want)
	}
}

func wantQueryError(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var qe *query.Error
	if !errors.As(err, &qe) {
		t.Fatalf("error = %v, want a *query.Error with status %d", err, status)
	}
	if qe.Status != status || !strings.Contains(qe.Message, msg) {
		t.Errorf("error = %d %q, want %d containing %q", qe.Status, qe.Message, status, msg)
	}
}

func TestParameterErrors(t *testing.T) {
	g := campus(t)
	for _, tc := range []struct {
		name, params string
		msg          string
	}{
		{"locate_endpoint_by_ip", `{"ip":"10.1.10"}`, `parameter "ip": expected an IP address such as 10.1.2.3 or 2001:db8::1, got "10.1.10"`},
		{"locate_endpoint_by_ip", `{"ip":42}`, `parameter "ip": expected an IP address such as 10.1.2.3 or 2001:db8::1, got the number 42`},
		{"locate_endpoint_by_ip", ``, `parameter "ip": required`},
		{"locate_endpoint_by_ip", `{"ip":null}`, `parameter "ip": expected an IP address such as 10.1.2.3 or 2001:db8::1, got null`},
		{"all_devices", `{"limit":null}`, `parameter "limit": expected an integer, got null`},
		{"all_devices", `{"limit":"10"}`, `parameter "limit": expected an integer, got the string "10"`},
		{"interfaces_by_vlan", `{"vlan":"10"}`, `parameter "vlan": expected an integer, got the string "10"`},
		{"all_devices", `{"vendor":null}`, `parameter "vendor": expected a string, got null`},
		{"locate_endpoint_by_ip", `{"ip":"10.1.10.11","vrf":"x"}`, `parameter "vrf": unknown parameter: locate_endpoint_by_ip takes ip`},
		{"summary_stats", `{"x":1}`, `parameter "x": unknown parameter: summary_stats takes no parameters`},
		{"locate_endpoint_by_mac", `{"mac":"aa:bb"}`, `parameter "mac": expected a MAC address`},
		{"ips_in_subnet", `{"subnet":"10.0.0.0/33"}`, `parameter "subnet": expected an IP prefix`},
		{"interfaces_by_vlan", `{"vlan":5000}`, `parameter "vlan": expected an integer from 1 to 4094, got 5000`},
		{"interfaces_by_vlan", `{"vlan":"ten"}`, `parameter "vlan": expected an integer, got the string "ten"`},
		{"interfaces_by_vlan", `{"vlan":1.5}`, `parameter "vlan": expected an integer, got the number 1.5`},
		{"devices_detail", `{"hostname":["a"]}`, `parameter "hostname": expected a string, got an array`},
		{"all_devices", `{"limit":0}`, `parameter "limit": expected an integer from 1 to 10000, got 0`},
		{"all_devices", `{"limit":10001}`, `parameter "limit": expected an integer from 1 to 10000, got 10001`},
		{"all_devices", `{"cursor":"!!"}`, `parameter "cursor": not a cursor issued by this server`},
		{"devices_search", `{"q":"` + strings.Repeat("a", 4097) + `"}`, `parameter "q": longer than 4096 bytes`},
		{"devices_search", `{"q":"` + strings.Repeat(`\u00e9`, 2049) + `"}`, `parameter "q": longer than 4096 bytes`},
	} {
		_, err := runErr(t, g, tc.name, tc.params)
		wantQueryError(t, err, 400, tc.msg)
	}
}

func TestPagination(t *testing.T) {
	g := campus(t)
	reg := query.NewBuiltin()
	d, _ := reg.Lookup("all_devices")
	page := func(g *graph.Graph, js string) (*query.Response, error) {
		return reg.Execute(context.Background(), d, &query.Env{Graph: g}, params(t, js))
	}
	var got []string
	cursor := ""
	for i := 0; ; i++ {
		js := `{"limit":4}`
		if cursor != "" {
			js = `{"limit":4,"cursor":"` + cursor + `"}`
		}
		resp, err := page(g, js)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if resp.TotalRows != 6 {
			t.Errorf("page %d total_rows = %d, want 6", i, resp.TotalRows)
		}
		got = append(got, hostnames(resp)...)
		if resp.Truncated != (resp.NextCursor != "") {
			t.Errorf("page %d truncated = %v with next_cursor %q", i, resp.Truncated, resp.NextCursor)
		}
		if resp.NextCursor == "" {
			break
		}
		cursor = resp.NextCursor
		if i > 3 {
			t.Fatal("pagination does not end")
		}
	}
	if want := []string{"acc1", "acc2", "core1", "core2", "dist1", "orphan1"}; !cmp.Equal(got, want) {
		t.Errorf("paged all_devices = %v, want %v", got, want)
	}
	first, _ := page(g, `{"limit":2}`)
	// Another question cannot reuse the cursor.
	_, err := page(g, `{"limit":2,"vendor":"cisco","cursor":"`+first.NextCursor+`"}`)
	wantQueryError(t, err, 400, "different query or different parameters")
	// A new graph version invalidates it with a conflict.
	var devs []facts.Device
	for _, dv := range g.Devices {
		devs = append(devs, dv.Device)
	}
	g2 := graph.Build(g.Version+1, devs, graph.Options{})
	_, err = page(g2, `{"limit":2,"cursor":"`+first.NextCursor+`"}`)
	wantQueryError(t, err, 409, "cursor is for version 7, graph is at 8")
}

func TestRegistry(t *testing.T) {
	reg := query.NewBuiltin()
	// Every query this package owns is registered.
	want := strings.Fields(`summary_stats summary_by_vendor summary_by_site summary_by_role all_devices devices_detail
		devices_by_site devices_by_vendor devices_by_role devices_search update_device_metadata interfaces_by_device
		interfaces_down interfaces_by_vlan device_neighbors topology_full topology_site topology_vlan topology_shortest_path
		locate_endpoint_by_ip locate_endpoint_by_mac endpoints_by_device ips_in_subnet subnets_all blast_radius_from_device
		blast_radius_interface blast_radius_vlan blast_radius_subnet routes_by_device bgp_peers_by_device bgp_sessions_down
		hygiene_duplicate_ips hygiene_orphan_devices hygiene_mtu_mismatch hygiene_speed_mismatch hygiene_vlan_mismatch
		hygiene_interfaces_no_description arp_entries_by_device mac_entries_by_device mac_owners interfaces_search`)
	for _, n := range want {
		d, ok := reg.Lookup(n)
		if !ok {
			t.Errorf("Lookup(%q) missing", n)
			continue
		}
		if d.Permission() != n || d.Tier != query.TierCommunity || d.Description == "" {
			t.Errorf("%s: permission %q tier %q description %q", n, d.Permission(), d.Tier, d.Description)
		}
	}
	if got := len(reg.All()); got != len(want) {
		t.Errorf("len(All()) = %d, want %d", got, len(want))
	}
	err := reg.Register(query.Definition{Name: "summary_stats", Columns: []string{"x"},
		Run: func(context.Context, *query.Env, query.Args) (*query.Result, error) { return nil, nil }})
	if err == nil || !strings.Contains(err.Error(), "already registered") {
		t.Errorf("Register(duplicate) = %v, want an already-registered error", err)
	}
	err = reg.Register(query.Definition{Name: "x_paged", Columns: []string{"x"}, Params: []query.Param{{Name: "limit", Type: query.TypeInt}},
		Run: func(context.Context, *query.Env, query.Args) (*query.Result, error) { return nil, nil }})
	if err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("Register(param limit) = %v, want a reserved-parameter error", err)
	}
}

// A Junos edge: lo0 at MTU 65536 (as Junos reports it) and an uplink whose
// MTU and speed the collector could not read (null). The document is
// accepted, and an unknown end is never a mismatch; the one known
// mismatch (1514 against 9192) is still found.
func TestJunosEdgeUnknownsAreNotMismatches(t *testing.T) {
	doc, err := facts.Parse([]byte(`{"schema": "meshq.facts/v1", "devices": [
	  {"hostname": "edge1", "vendor": "juniper", "os": "junos", "interfaces": [
	    {"name": "lo0", "mtu": 65536, "speed_mbps": null, "ips": ["192.0.2.1/32"]},
	    {"name": "xe-0/0/0", "mtu": null, "speed_mbps": null, "oper_up": null, "ips": ["198.51.100.0/31"]},
	    {"name": "xe-0/0/1", "mtu": 1514, "speed_mbps": 10000, "ips": ["198.51.100.2/31"]}],
	   "neighbors": [
	    {"local_interface": "xe-0/0/0", "remote_hostname": "core1", "remote_interface": "Ethernet1"},
	    {"local_interface": "xe-0/0/1", "remote_hostname": "core1", "remote_interface": "Ethernet2"}]},
	  {"hostname": "core1", "vendor": "arista", "os": "eos", "interfaces": [
	    {"name": "Ethernet1", "mtu": 9192, "speed_mbps": 10000, "ips": ["198.51.100.1/31"]},
	    {"name": "Ethernet2", "mtu": 9192, "speed_mbps": 10000, "ips": ["198.51.100.3/31"]}]}]}`))
	if err != nil {
		t.Fatalf("Parse(junos edge) = %v, want nil", err)
	}
	g := graph.Build(1, doc.Devices, graph.Options{RootRoles: graph.DefaultRootRoles()})
	resp := run(t, g, "hygiene_mtu_mismatch", "")
	if len(resp.Rows) != 1 {
		t.Fatalf("hygiene_mtu_mismatch rows = %v, want only the xe-0/0/1 link", resp.Rows)
	}
	row := resp.Rows[0]
	ends := []any{row[0], row[1], row[2], row[3], row[4], row[5]}
	if !cmp.Equal(ends, []any{"core1", "Ethernet2", 9192, "edge1", "xe-0/0/1", 1514}) && !cmp.Equal(ends, []any{"edge1", "xe-0/0/1", 1514, "core1", "Ethernet2", 9192}) {
		t.Errorf("hygiene_mtu_mismatch = %v, want the xe-0/0/1 (1514) / Ethernet2 (9192) link", row)
	}
	checkRows(t, g, "hygiene_speed_mismatch", "", [][]any{})
}
