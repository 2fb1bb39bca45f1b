package suzieq

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"

	"github.com/meshoptixiq/mesh/common/facts"
)

// readRows reads one table file back.
func readRows[T any](t *testing.T, path string) []T {
	t.Helper()
	rs, err := parquet.ReadFile[T](path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return rs
}

// hostFile is the poller layout's file of table for host.
func hostFile(dir, table, vers, host string) string {
	return filepath.Join(dir, table, "sqvers="+vers, "namespace=meshq", "hostname="+host, "meshq-export-0.parquet")
}

// TestExportCampus checks rows of the campus fixture worked out by hand
// from its facts.
func TestExportCampus(t *testing.T) {
	doc := fixture(t, "ios_campus_portchannel.json")
	dir := filepath.Join(t.TempDir(), "sq")
	st, err := Export(dir, doc.Devices, Options{Time: doc.CollectedAt})
	if err != nil {
		t.Fatal(err)
	}
	ts := doc.CollectedAt.UnixMilli()
	// 4 devices; 3+11+5+4 interfaces; 5 ARP entries; 6+4+2 MACs; 2+6+2+2
	// neighbours; one route each on core1 and dist1; VLANs 10 and 20 on
	// dist1.
	want := map[string]int{"device": 4, "interfaces": 23, "arpnd": 5, "macs": 12, "lldp": 12, "routes": 2, "vlan": 2}
	if diff := cmp.Diff(want, st.Rows); diff != "" {
		t.Errorf("rows written (-want +got):\n%s", diff)
	}

	ifs := map[string]interfaceRow{}
	for _, r := range readRows[interfaceRow](t, hostFile(dir, "interfaces", "4.0", "dist1")) {
		if r.Hostname != "" {
			t.Errorf("interfaces %s: hostname column %q in the poller layout, want it in the directory only", r.IfName, r.Hostname)
		}
		ifs[r.IfName] = r
	}
	check := func(name, typ, master string, vlan int32, ips []string) {
		t.Helper()
		r, ok := ifs[name]
		if !ok {
			t.Errorf("dist1 has no interface row %s", name)
			return
		}
		got := []any{r.Type, r.Master, r.VLAN, r.IPAddressList, r.State, r.Timestamp, r.Active}
		if diff := cmp.Diff([]any{typ, master, vlan, ips, "up", ts, true}, got); diff != "" {
			t.Errorf("dist1 %s [type master vlan ips state timestamp active] (-want +got):\n%s", name, diff)
		}
	}
	check("GigabitEthernet1/0/1", "bond_slave", "Port-channel11", 0, []string{})
	check("Port-channel11", "bond", "bridge", 0, []string{})
	check("Port-channel1", "bond", "", 0, []string{"10.0.0.2/30"})
	check("Vlan10", "vlan", "", 10, []string{"10.10.10.2/24", "10.10.10.1/24"})
	if r := ifs["Vlan10"]; r.MACAddr != "00:a7:42:00:10:01" || r.VLANName != "users" {
		t.Errorf("dist1 Vlan10 macaddr, vlanName = %q, %q, want 00:a7:42:00:10:01, users", r.MACAddr, r.VLANName)
	}

	// The MAC table's Po11 is the interface Port-channel11.
	macs := readRows[macRow](t, hostFile(dir, "macs", "2.0", "dist1"))
	if r := macs[0]; r.MACAddr != "3c:52:82:00:00:11" || r.OIF != "Port-channel11" || r.Flags != "dynamic" || r.MACKey != "10" || r.VLAN != 10 {
		t.Errorf("dist1 first MAC = %+v, want 3c:52:82:00:00:11 on Port-channel11 vlan 10, dynamic, mackey 10", r)
	}
	if r := macs[4]; r.OIF != "Vlan10" || r.Flags != "static" || r.MACKey != "10-Vlan10" {
		t.Errorf("dist1 router MAC = %+v, want on Vlan10, static, mackey 10-Vlan10", r)
	}

	states := map[string]string{}
	for _, r := range readRows[arpndRow](t, hostFile(dir, "arpnd", "2.0", "dist1")) {
		states[r.IPAddress] = r.State
	}
	wantStates := map[string]string{"10.10.10.11": "reachable", "10.10.10.12": "reachable", "10.10.20.21": "reachable",
		"10.10.10.99": "failed", "10.10.10.13": "reachable"}
	if diff := cmp.Diff(wantStates, states); diff != "" {
		t.Errorf("dist1 ARP states (-want +got):\n%s", diff)
	}

	lldp := readRows[lldpRow](t, hostFile(dir, "lldp", "2.0", "dist1"))
	if r := lldp[2]; r.IfName != "GigabitEthernet1/0/1" || r.PeerHostname != "acc1" || r.PeerIfName != "GigabitEthernet1/0/49" {
		t.Errorf("dist1 third neighbour = %+v, want GigabitEthernet1/0/1 → acc1 GigabitEthernet1/0/49", r)
	}

	rt := readRows[routeRow](t, hostFile(dir, "routes", "3.0", "core1"))
	wantRoute := routeRow{Prefix: "10.10.0.0/16", VRF: "default", Protocol: "ospf", Action: "forward", Preference: 110, Metric: 2,
		IPVers: 4, NexthopIPs: []string{"10.0.0.2"}, OIFs: []string{"Port-channel1"}, Weights: []int64{0}, ASPathList: []string{},
		DeviceSession: ts, Timestamp: ts, Active: true}
	if diff := cmp.Diff([]routeRow{wantRoute}, rt); diff != "" {
		t.Errorf("core1 routes (-want +got):\n%s", diff)
	}

	vl := readRows[vlanRow](t, hostFile(dir, "vlan", "3.0", "dist1"))
	if diff := cmp.Diff([]string{"Port-channel11", "Port-channel12"}, vl[0].Interfaces); diff != "" {
		t.Errorf("dist1 VLAN 10 interfaces (-want +got):\n%s", diff)
	}
}

func boolp(b bool) *bool { return &b }
func intp(i int) *int    { return &i }

// TestExportRoutesAndBGP: equal-cost routes for one prefix are one row;
// a worse route for it is not the installed one; BGP rows per family, a
// session that is down without one, the peer named where its address is
// a known interface.
func TestExportRoutesAndBGP(t *testing.T) {
	devs := []facts.Device{{
		Hostname: "r1",
		Interfaces: []facts.Interface{
			{Name: "Ethernet1", IPs: []string{"10.0.0.0/31"}, OperUp: boolp(false)},
			{Name: "Ethernet2", IPs: []string{"10.0.0.2/31"}},
		},
		Routes: []facts.Route{
			{Prefix: "0.0.0.0/0", NextHop: "10.0.0.1", Interface: "Et1", Protocol: "BGP", AdminDistance: intp(20)},
			{Prefix: "0.0.0.0/0", NextHop: "10.9.9.9", Protocol: "static", AdminDistance: intp(200)},
			{Prefix: "0.0.0.0/0", NextHop: "10.0.0.3", Interface: "Ethernet2", Protocol: "bgp", AdminDistance: intp(20)},
			{Prefix: "192.0.2.0/24", Action: facts.RouteReject, Protocol: "static"},
		},
		BGPPeers: []facts.BGPPeer{
			{PeerIP: "10.0.0.3", LocalAS: 65001, RemoteAS: 65002, State: "established"},
			{PeerIP: "10.0.0.1", LocalAS: 65001, RemoteAS: 65003, State: "active",
				AFISafi: []facts.AFISafi{{Name: facts.FamilyL2VPNEVPN}}},
		},
	}, {
		Hostname:   "r2",
		Interfaces: []facts.Interface{{Name: "Ethernet1", IPs: []string{"10.0.0.3/31"}}},
	}}
	dir := filepath.Join(t.TempDir(), "sq")
	when := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	if _, err := Export(dir, devs, Options{Layout: LayoutCoalesced, Time: when}); err != nil {
		t.Fatal(err)
	}
	// The coalescer names its files for the hour they cover, in seconds.
	hour := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC).Unix()
	file := func(table, vers string) string {
		return filepath.Join(dir, "coalesced", table, "sqvers="+vers, "namespace=meshq",
			"sqc-h1-0-"+strconv.FormatInt(hour, 10)+"-"+strconv.FormatInt(hour+3600, 10)+".parquet")
	}
	rt := readRows[routeRow](t, file("routes", "3.0"))
	if len(rt) != 2 {
		t.Fatalf("r1 has %d route rows, want 2 (0.0.0.0/0 and 192.0.2.0/24)", len(rt))
	}
	got := []any{rt[0].Prefix, rt[0].Protocol, rt[0].NexthopIPs, rt[0].OIFs, rt[0].Hostname}
	if diff := cmp.Diff([]any{"0.0.0.0/0", "bgp", []string{"10.0.0.1", "10.0.0.3"}, []string{"Ethernet1", "Ethernet2"}, "r1"}, got); diff != "" {
		t.Errorf("default route [prefix protocol nexthopIps oifs hostname] (-want +got):\n%s", diff)
	}
	if rt[1].Action != "drop" || len(rt[1].NexthopIPs) != 0 {
		t.Errorf("reject route: action %q, nexthopIps %v; want drop, none", rt[1].Action, rt[1].NexthopIPs)
	}
	ifs := readRows[interfaceRow](t, file("interfaces", "4.0"))
	if ifs[0].State != "down" || ifs[0].AdminState != "up" {
		t.Errorf("r1 Ethernet1 state, adminState = %s, %s; want down, up (oper down, admin unknown)", ifs[0].State, ifs[0].AdminState)
	}
	bgp := readRows[bgpRow](t, file("bgp", "3.0"))
	type peer struct{ Peer, AFI, SAFI, State, PeerHostname string }
	var peers []peer
	for _, r := range bgp {
		peers = append(peers, peer{r.Peer, r.AFI, r.SAFI, r.State, r.PeerHostname})
	}
	wantPeers := []peer{{"10.0.0.3", "ipv4", "unicast", "Established", "r2"}, {"10.0.0.1", "", "", "NotEstd", ""}}
	if diff := cmp.Diff(wantPeers, peers); diff != "" {
		t.Errorf("BGP rows (-want +got):\n%s", diff)
	}
}

// TestExportRefuses: what is wrong is named, and nothing is written.
func TestExportRefuses(t *testing.T) {
	devs := []facts.Device{{Hostname: "r1"}}
	parent := t.TempDir()
	full := filepath.Join(parent, "full")
	if err := os.MkdirAll(filepath.Join(full, "device"), 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		dir  string
		opt  Options
		want string
	}{
		{full, Options{Time: now}, "is not empty"},
		{filepath.Join(parent, "a"), Options{Time: now, Namespace: "dc/1"}, `namespace "dc/1"`},
		{filepath.Join(parent, "b"), Options{Time: now, Layout: "flat"}, `layout "flat"`},
		{filepath.Join(parent, "c"), Options{}, "time: required"},
	}
	for _, c := range cases {
		_, err := Export(c.dir, devs, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Export(%s, %+v) = %v, want an error saying %q", filepath.Base(c.dir), c.opt, err, c.want)
		}
	}
	ents, _ := os.ReadDir(parent)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"full"}, names); diff != "" {
		t.Errorf("left beside the refused exports (-want +got):\n%s", diff)
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Errorf("the non-empty directory was changed: %d entries, want 1", len(ents))
	}
}
