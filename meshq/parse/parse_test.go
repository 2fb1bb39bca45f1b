package parse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
	"github.com/meshoptixiq/mesh/meshq/rawcache"
)

var collected = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// cacheDevice writes one device into the cache dir, as collect does: one
// output per file of src (named <kind>.<ext>), run with the platform's
// command for that kind, plus extra outputs given inline.
func cacheDevice(t *testing.T, dir, hostname, deviceType, src string, extra map[platform.Kind]string) {
	t.Helper()
	p, err := platform.Lookup(deviceType)
	if err != nil {
		t.Fatal(err)
	}
	d := rawcache.Device{Hostname: hostname, Host: "192.0.2.1", DeviceType: deviceType,
		StartedAt: collected.Add(-time.Minute), FinishedAt: collected, Attempts: 1}
	outputs := map[platform.Kind][]byte{}
	add := func(kind platform.Kind, data []byte) {
		c, ok := p.Command(kind)
		if !ok {
			t.Fatalf("%s has no %s command", deviceType, kind)
		}
		d.Outputs = append(d.Outputs, rawcache.Output{Kind: kind, Command: c.Command, Format: c.Format, CollectedAt: collected})
		outputs[kind] = data
	}
	if src != "" {
		files, err := filepath.Glob(filepath.Join(src, "*.*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			base := filepath.Base(f)
			add(platform.Kind(strings.TrimSuffix(base, filepath.Ext(base))), data)
		}
	}
	for k, v := range extra {
		add(k, []byte(v))
	}
	if err := rawcache.Write(dir, d, outputs); err != nil {
		t.Fatal(err)
	}
}

// parseOne parses a cache holding the one device and returns its facts and
// report; the document must pass the facts format's own checks.
func parseOne(t *testing.T, dir string) (*facts.Device, DeviceReport) {
	t.Helper()
	doc, rep, err := Cache(dir)
	if err != nil {
		t.Fatalf("Cache: %v", err)
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

// checkDocument checks the document the way ingest does: written out as
// JSON and read back with the server's own parser.
func checkDocument(t *testing.T, doc *facts.Document) {
	t.Helper()
	raw, err := marshalDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := facts.Parse(raw); err != nil {
		t.Fatalf("facts.Parse refuses the document: %v", err)
	}
}

func findIface(t *testing.T, d *facts.Device, name string) facts.Interface {
	t.Helper()
	for _, i := range d.Interfaces {
		if i.Name == name {
			return i
		}
	}
	t.Fatalf("no interface %q", name)
	return facts.Interface{}
}

func problems(dr DeviceReport) []string {
	var out []string
	for _, p := range dr.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestEOSLabRouter(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "r1", "arista_eos", "testdata/arista_eos/lab-r1", nil)
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	if got := problems(dr); len(got) != 0 {
		t.Errorf("problems = %q, want none", got)
	}
	if diff := cmp.Diff([]platform.Kind{"version", "interfaces", "routes"}, dr.Parsed); diff != "" {
		t.Errorf("parsed kinds (-want +got):\n%s", diff)
	}
	if d.Vendor != "arista" || d.OS != "eos" || d.Model != "cEOSLab" || d.Serial != "117E296A3925C2B53679D6C55C71FD49" ||
		d.Version != "4.36.0.1F-47401373.43601F (engineering build)" || d.MgmtIP != "192.0.2.1" {
		t.Errorf("device = %s %s %s %s %s %s", d.Vendor, d.OS, d.Model, d.Serial, d.Version, d.MgmtIP)
	}
	// From show interfaces: three interfaces, sorted by name.
	wantIfs := []facts.Interface{
		{Name: "Ethernet1", Type: "physical", MAC: "aa:c1:ab:8c:4f:90", AdminUp: boolp(true), OperUp: boolp(true),
			SpeedMbps: 1000, MTU: 1500, Mode: "routed", IPs: []string{"10.0.0.0/31"}},
		{Name: "Loopback0", Type: "loopback", AdminUp: boolp(true), OperUp: boolp(true), MTU: 65535, Mode: "routed", IPs: []string{"1.1.1.1/32"}},
		{Name: "Management0", Type: "mgmt", MAC: "12:0d:02:ad:08:03", AdminUp: boolp(true), OperUp: boolp(true),
			SpeedMbps: 1000, MTU: 1500, Mode: "routed", IPs: []string{"172.20.20.3/24", "3fff:172:20:20::3/64"}},
	}
	if diff := cmp.Diff(wantIfs, d.Interfaces); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	// From show ip route vrf all: four routes in vrf default.
	wantRoutes := []facts.Route{
		{VRF: "default", Prefix: "1.1.1.1/32", Interface: "Loopback0", Protocol: "connected"},
		{VRF: "default", Prefix: "10.0.0.0/31", Interface: "Ethernet1", Protocol: "connected"},
		{VRF: "default", Prefix: "172.20.20.0/24", Interface: "Management0", Protocol: "connected"},
		{VRF: "default", Prefix: "2.2.2.2/32", NextHop: "10.0.0.1", Interface: "Ethernet1", Protocol: "bgp", AdminDistance: intp(200)},
	}
	if diff := cmp.Diff(wantRoutes, d.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if d.Metadata["collected_at"] != "2026-11-20T10:00:00Z" {
		t.Errorf("metadata = %v", d.Metadata)
	}
}

func TestEOSNapalmRecordings(t *testing.T) {
	dir := t.TempDir()
	cacheDevice(t, dir, "sw1", "arista_eos", "testdata/arista_eos/napalm", nil)
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	if len(dr.Parsed) != 9 {
		t.Errorf("parsed %v, want all 9 kinds", dr.Parsed)
	}
	if got := problems(dr); len(got) != 0 {
		t.Errorf("problems = %q, want none", got)
	}
	if d.Model != "cEOSLab" || d.Version != "4.30.0F-31408673.4300F (engineering build)" {
		t.Errorf("model %q version %q", d.Model, d.Version)
	}
	// show interfaces: Management1 routed with 10.0.2.15/24, 1 Gb/s;
	// Ethernet2 bridged (no mode), bandwidth 0 (no speed).
	if diff := cmp.Diff(facts.Interface{Name: "Management1", Type: "mgmt", MAC: "08:00:27:20:b9:04", AdminUp: boolp(true), OperUp: boolp(true),
		SpeedMbps: 1000, MTU: 1500, Mode: "routed", IPs: []string{"10.0.2.15/24"}}, findIface(t, d, "Management1")); diff != "" {
		t.Errorf("Management1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(facts.Interface{Name: "Ethernet5", Type: "physical", MAC: "08:00:27:c6:00:f0", AdminUp: boolp(true), OperUp: boolp(true),
		SpeedMbps: 2, MTU: 9214}, findIface(t, d, "Ethernet5")); diff != "" {
		t.Errorf("Ethernet5 (-want +got):\n%s", diff)
	}
	// show ip interface + show ipv6 interface: Vlan100 has a primary, two
	// secondaries and a global IPv6 address, in vrf default.
	if diff := cmp.Diff(facts.Interface{Name: "Vlan100", VRF: "default",
		IPs:       []string{"192.168.233.1/24", "192.168.234.1/24", "192.168.235.1/24", "2001:db8:85a3:8d3:1319:8a2e:370:7348/64"},
		Addresses: []facts.Address{{IP: "192.168.234.1/24", Role: "secondary"}, {IP: "192.168.235.1/24", Role: "secondary"}}},
		findIface(t, d, "Vlan100")); diff != "" {
		t.Errorf("Vlan100 (-want +got):\n%s", diff)
	}
	// show arp vrf all: two entries, Cisco-dotted MACs canonicalised.
	wantARP := []facts.ARPEntry{
		{IP: "172.17.17.1", MAC: "dc:38:e1:11:97:cf", Interface: "Ethernet45", VRF: "default"},
		{IP: "172.17.17.1", MAC: "90:e2:ba:5c:25:fd", Interface: "Ethernet36", VRF: "default"},
	}
	if diff := cmp.Diff(wantARP, d.ARP); diff != "" {
		t.Errorf("arp (-want +got):\n%s", diff)
	}
	// show mac address-table: 68 unicast entries; the first as recorded,
	// and the switch's own MAC on "Router" (static) flagged as such.
	if len(d.MACTable) != 68 {
		t.Errorf("%d MAC entries, want 68", len(d.MACTable))
	}
	if diff := cmp.Diff(facts.MACEntry{MAC: "00:0f:53:27:0c:21", VLAN: 10, Interface: "Ethernet44"}, d.MACTable[0]); diff != "" {
		t.Errorf("mac_table[0] (-want +got):\n%s", diff)
	}
	routerMACs := 0
	for _, m := range d.MACTable {
		if m.MAC == "44:4c:a8:10:85:23" {
			routerMACs++
			if diff := cmp.Diff([]string{"router", "static"}, m.Flags); diff != "" || m.Interface != "Router" {
				t.Errorf("router MAC %+v", m)
			}
		}
	}
	if routerMACs != 4 {
		t.Errorf("%d router MAC entries, want 4 (VLANs 10, 100, 637, 900)", routerMACs)
	}
	// show vlan: 20 VLANs sorted by id.
	if len(d.VLANs) != 20 || d.VLANs[0] != (facts.VLAN{ID: 1, Name: "default"}) || d.VLANs[19] != (facts.VLAN{ID: 1000, Name: "VLAN1000"}) {
		t.Errorf("vlans = %v", d.VLANs)
	}
	// show lldp neighbors detail: 41 neighbors with a system name, port
	// IDs all MACs or local numbers (no remote interface name given).
	if len(d.Neighbors) != 41 {
		t.Errorf("%d neighbors, want 41", len(d.Neighbors))
	}
	if diff := cmp.Diff(facts.Neighbor{LocalInterface: "Ethernet1", RemoteHostname: "78m1", Protocol: "lldp"}, d.Neighbors[0]); diff != "" {
		t.Errorf("neighbors[0] (-want +got):\n%s", diff)
	}
	// An LLDP port the interface list does not name is added by name.
	if i := findIface(t, d, "Ethernet13"); i.MAC != "" || i.Type != "" {
		t.Errorf("Ethernet13 = %+v, want a bare name", i)
	}
	// show ip bgp summary vrf all: AS numbers given as strings.
	wantBGP := []facts.BGPPeer{
		{PeerIP: "10.0.0.1", RemoteAS: 65002, LocalAS: 65001, State: "established", VRF: "default",
			AFISafi: []facts.AFISafi{{Name: "ipv4-unicast", PrefixesReceived: int64p(3), PrefixesAccepted: int64p(3)}}},
		{PeerIP: "10.0.0.3", RemoteAS: 65003, LocalAS: 65001, State: "active", VRF: "default",
			AFISafi: []facts.AFISafi{{Name: "ipv4-unicast", PrefixesReceived: int64p(0), PrefixesAccepted: int64p(0)}}},
	}
	if diff := cmp.Diff(wantBGP, d.BGPPeers); diff != "" {
		t.Errorf("bgp (-want +got):\n%s", diff)
	}
}

// Each broken output is reported on its own and contributes nothing; the
// device's other outputs still become facts.
func TestBrokenOutputs(t *testing.T) {
	version, err := os.ReadFile("testdata/arista_eos/lab-r1/version.json")
	if err != nil {
		t.Fatal(err)
	}
	ifaces, err := os.ReadFile("testdata/arista_eos/lab-r1/interfaces.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cacheDevice(t, dir, "r1", "arista_eos", "", map[platform.Kind]string{
		platform.KindVersion:    string(version),
		platform.KindInterfaces: string(ifaces[:len(ifaces)/2]),                 // truncated
		platform.KindRoutes:     string(version),                                // another command's output
		platform.KindARP:        "",                                             // empty
		platform.KindVLANs:      "% Invalid input (privileged mode required)\n", // a CLI error
		platform.KindMAC:        `{"unicastTable": {"tableEntries": [{"macAddress": "zz", "interface": "Ethernet1", "entryType": "dynamic", "vlanId": 1}, {"macAddress": "00:1c:73:00:00:01", "interface": "Ethernet1", "entryType": "dynamic", "vlanId": 1}]}}`,
		platform.KindSwitchport: `{"switchports": {}}`, // no parser yet
	})
	d, dr := parseOne(t, dir)
	if d == nil {
		t.Fatalf("no device; report %+v", dr)
	}
	if diff := cmp.Diff([]platform.Kind{"version", "mac_table"}, dr.Parsed); diff != "" {
		t.Errorf("parsed (-want +got):\n%s", diff)
	}
	want := []string{
		`interfaces (show interfaces | json): not parsed: truncated JSON: the output ends after 3720 bytes inside the document`,
		`switchport (show interfaces switchport | json): not parsed: no parser for arista_eos switchport output in json form yet`,
		`arp (show ip arp vrf all | json): not parsed: the output is empty`,
		`mac_table (show mac address-table | json): skipped: entry 0: macAddress "zz" is not a MAC address`,
		`vlans (show vlan | json): not parsed: not JSON: the device answered "% Invalid input (privileged mode required)"`,
		`routes (show ip route vrf all | json): not parsed: not the output of "show ip route vrf all": it has no "vrfs"`,
	}
	if diff := cmp.Diff(want, problems(dr)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if len(d.Interfaces) != 0 || len(d.Routes) != 0 || len(d.ARP) != 0 {
		t.Errorf("broken outputs left facts behind: %+v", d)
	}
	if len(d.MACTable) != 1 || d.MACTable[0].MAC != "00:1c:73:00:00:01" {
		t.Errorf("mac_table = %+v", d.MACTable)
	}
}

// A device whose collection failed before any output is reported and left
// out of the document (an empty device would erase its facts on ingest).
func TestFailedDevice(t *testing.T) {
	dir := t.TempDir()
	fail := rawcache.Device{Hostname: "down1", Host: "192.0.2.9", DeviceType: "arista_eos", StartedAt: collected, FinishedAt: collected,
		Attempts: 3, Error: &rawcache.Failure{Class: rawcache.ClassAuth, Message: "password refused"}}
	if err := rawcache.Write(dir, fail, nil); err != nil {
		t.Fatal(err)
	}
	cacheDevice(t, dir, "r1", "arista_eos", "testdata/arista_eos/lab-r1", nil)
	doc, rep, err := Cache(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkDocument(t, doc)
	if len(doc.Devices) != 1 || doc.Devices[0].Hostname != "r1" {
		t.Fatalf("document devices = %v, want r1 only", doc.Devices)
	}
	if !doc.CollectedAt.Equal(collected) {
		t.Errorf("collected_at = %v", doc.CollectedAt)
	}
	dr := rep.Devices[0]
	if dr.Hostname != "down1" || dr.Included || dr.Error == nil || dr.Error.Class != "auth" {
		t.Errorf("report for down1 = %+v", dr)
	}
	if rep.Clean() {
		t.Error("report is clean with a failed device")
	}
	var b strings.Builder
	WriteReport(&b, rep)
	for _, want := range []string{"down1 (arista_eos): not in the document: auth: password refused", "r1 (arista_eos): 3 outputs parsed"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report text lacks %q:\n%s", want, b.String())
		}
	}
}

func TestUnknownDeviceType(t *testing.T) {
	dir := t.TempDir()
	d := rawcache.Device{Hostname: "x1", DeviceType: "hp_comware", StartedAt: collected, FinishedAt: collected,
		Outputs: []rawcache.Output{{Kind: "version", Command: "display version", Format: "text", CollectedAt: collected}}}
	if err := rawcache.Write(dir, d, map[platform.Kind][]byte{"version": []byte("H3C Comware Software")}); err != nil {
		t.Fatal(err)
	}
	got, dr := parseOne(t, dir)
	if got != nil || dr.Error == nil || !strings.Contains(dr.Error.Message, `unknown device_type "hp_comware"`) {
		t.Errorf("device %v, report %+v", got, dr)
	}
}

func TestCacheMissing(t *testing.T) {
	_, _, err := Cache(filepath.Join(t.TempDir(), "nope"))
	if err == nil || !strings.Contains(err.Error(), "reading cache") {
		t.Errorf("Cache(missing) error = %v", err)
	}
}

func TestInterfaceNames(t *testing.T) {
	eos, nx := names["arista_eos"], names["cisco_nxos"]
	for in, want := range map[string]string{"Et1": "Ethernet1", "Ethernet49/1": "Ethernet49/1", "Po10": "Port-Channel10", "Ma1": "Management1", "Vx1": "Vxlan1", "Router": "Router", "Cpu": "Cpu"} {
		if got := eos(in); got != want {
			t.Errorf("eos(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"Eth1/1": "Ethernet1/1", "Po10": "port-channel10", "Lo0": "loopback0", "mgmt0": "mgmt0", "Vlan10": "Vlan10"} {
		if got := nx(in); got != want {
			t.Errorf("nxos(%q) = %q, want %q", in, got, want)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
