package facts

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func problemsOf(t *testing.T, err error) []string {
	t.Helper()
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v (%T), want *facts.Error", err, err)
	}
	var out []string
	for _, p := range fe.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "  \n", []string{"empty document"}},
		{"malformed", "{\n  \"schema\": \"meshq.facts/v1\",\n  \"devices\": [}\n", []string{"devices[0]: malformed JSON: invalid character '}' at start of value (line 3, column 15)"}},
		{"truncated", `{"schema": "meshq.facts/v1", "devices": [`, []string{"malformed JSON: unexpected end of input"}},
		{"trailing", `{"schema": "meshq.facts/v1"}` + "\n {}", []string{"malformed JSON: invalid character '{' after top-level value (line 2, column 2)"}},
		{"not an object", `[1, 2]`, []string{"want an object, got an array"}},
		{"unknown fields", `{"schema": "meshq.facts/v1", "devices": [{"hostname": "a", "interfaces": [{"name": "e0", "ip": "10.0.0.1/24"}]}, {"hostname": "b", "colour": "red"}]}`,
			[]string{"devices[0].interfaces[0].ip: unknown field", "devices[1].colour: unknown field"}},
		{"wrong types", `{"schema": "meshq.facts/v1", "collected_at": "yesterday", "devices": [{"hostname": 7, "interfaces": [{"name": "e0", "mtu": "9000", "admin_up": "yes", "ips": "10.0.0.1/24", "trunk_vlans": [1.5]}], "metadata": [], "firewall": {"rules": [{"rule_id": "1", "hit_count": 99999999999999999999}]}}]}`,
			[]string{
				"collected_at: not an RFC 3339 time",
				"devices[0].firewall.rules[0].hit_count: want an integer, got 99999999999999999999",
				"devices[0].hostname: want a string, got the number 7",
				"devices[0].interfaces[0].admin_up: want true or false, got a string",
				"devices[0].interfaces[0].ips: want an array, got a string",
				"devices[0].interfaces[0].mtu: want an integer, got a string",
				"devices[0].interfaces[0].trunk_vlans[0]: want an integer, got 1.5",
				"devices[0].metadata: want an object, got an array",
			}},
		{"duplicate key", `{"schema": "meshq.facts/v1", "devices": [{"hostname": "a", "hostname": "b"}]}`, []string{"devices[0].hostname: malformed JSON: duplicate object member name (line 1, column 60)"}},
		{"case variant", `{"schema": "meshq.facts/v1", "devices": [{"Hostname": "a"}]}`, []string{"devices[0].Hostname: unknown field"}},
		{"invalid utf-8", "{\"schema\": \"meshq.facts/v1\", \"devices\": [{\"hostname\": \"a\xff\"}]}", []string{"devices[0].hostname: malformed JSON: invalid UTF-8 (line 1, column 57)"}},
		{"devices not array", `{"schema": "meshq.facts/v1", "devices": {"hostname": "a"}}`, []string{"devices: want an array, got an object"}},
		{"time wrong type", `{"schema": "meshq.facts/v1", "collected_at": 5}`, []string{"collected_at: want an RFC 3339 time string, got the number 5"}},
		{"values", `{"schema": "meshq.facts/v1", "devices": [{"hostname": "a", "interfaces": [{"name": "e0", "ips": ["10.0.0.1/33"]}]}]}`,
			[]string{"devices[0].interfaces[0].ips[0]: not an IP prefix (want addr/len)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.in))
			if doc != nil {
				t.Errorf("Parse() document = %v, want nil", doc)
			}
			if diff := cmp.Diff(tt.want, problemsOf(t, err)); diff != "" {
				t.Errorf("Parse(%.40q) problems differ (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseAcceptsNullsAndAbsentLists(t *testing.T) {
	doc, err := Parse([]byte(`{"schema": "meshq.facts/v1", "devices": [{"hostname": "a", "interfaces": null, "mgmt_ip": null, "firewall": null}]}`))
	if err != nil {
		t.Fatalf("Parse() = %v, want nil", err)
	}
	if got := len(doc.Devices); got != 1 {
		t.Errorf("Parse() devices = %d, want 1", got)
	}
}

func TestDecode(t *testing.T) {
	doc, err := Decode(strings.NewReader(`{"schema": "meshq.facts/v1", "devices": [{"hostname": "a", "mgmt_ip": "10.0.0.01"}]}`))
	if err == nil {
		t.Fatalf("Decode(leading zero IP) = %v, want an error", doc)
	}
	doc, err = Decode(strings.NewReader(`{"schema": "meshq.facts/v1", "devices": [{"hostname": "a", "mgmt_ip": "2001:DB8::1"}]}`))
	if err != nil {
		t.Fatalf("Decode() = %v, want nil", err)
	}
	if got, want := doc.Devices[0].MgmtIP, "2001:db8::1"; got != want {
		t.Errorf("Decode().mgmt_ip = %q, want %q", got, want)
	}
	if _, err := Decode(failingReader{}); err == nil || !strings.Contains(err.Error(), "reading facts") {
		t.Errorf("Decode(failing reader) = %v, want a reading error", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestCanonicalMAC(t *testing.T) {
	for in, want := range map[string]string{
		"aa:bb:cc:dd:ee:ff": "aa:bb:cc:dd:ee:ff",
		"AA-BB-CC-DD-EE-FF": "aa:bb:cc:dd:ee:ff",
		"aabb.ccdd.eeff":    "aa:bb:cc:dd:ee:ff",
		"AABBCC-DDEEFF":     "aa:bb:cc:dd:ee:ff",
		"aabbccddeeff":      "aa:bb:cc:dd:ee:ff",
		"0:1a:2b:3:4:5":     "00:1a:2b:03:04:05",
	} {
		if got, ok := CanonicalMAC(in); !ok || got != want {
			t.Errorf("CanonicalMAC(%q) = %q, %v, want %q, true", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee:ff:00", "aabb.ccdd.eef", "gg:bb:cc:dd:ee:ff", "aaa:bb:cc:dd:ee:f", "aa:bb-cc:dd:ee:ff", "aabbccddeef", "a:b:c:d:e:", "aabb.ccdd.eeff.0011"} {
		if got, ok := CanonicalMAC(in); ok {
			t.Errorf("CanonicalMAC(%q) = %q, true, want false", in, got)
		}
	}
}

func TestParsePorts(t *testing.T) {
	for in, want := range map[string]string{
		"443": "443", "8000-8080": "8000-8080", "80,443": "80,443", "any": "any", "ANY": "any", "": "any",
		" 80 , 1-65535 ": "80,1-65535", "22-22": "22",
	} {
		r, err := ParsePorts(in)
		if err != nil {
			t.Errorf("ParsePorts(%q) = %v, want nil", in, err)
			continue
		}
		if got := FormatPorts(r); got != want {
			t.Errorf("FormatPorts(ParsePorts(%q)) = %q, want %q", in, got, want)
		}
	}
	for _, in := range []string{"0", "65536", "-5", "80,", "a", "10-5", "1-2-3", "80;443"} {
		if r, err := ParsePorts(in); err == nil {
			t.Errorf("ParsePorts(%q) = %v, nil, want an error", in, r)
		}
	}
}

// FuzzNormalize feeds arbitrary bytes through Parse: it must never panic,
// and whatever it accepts must come back unchanged from a second Parse of
// its own JSON (normalization is idempotent and round-trips).
func FuzzNormalize(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte(`{"schema": "meshq.facts/v1", "devices": []}`))
	f.Add([]byte(`{"schema": "meshq.facts/v1", "devices": [{"hostname": "a", "interfaces": [{"name": "e", "ips": ["::ffff:1.2.3.4/120"], "mac": "0:1:2:3:4:5"}], "neighbors": [{"local_interface": "e", "remote_hostname": "b"}]}]}`))
	f.Add([]byte(`{"schema": "meshq.facts/v1", "devices": [{"hostname": "f", "interfaces": [{"name": "e", "zone": "z"}], "firewall": {"zones": [{"name": "z"}], "address_objects": [{"name": "g", "type": "group", "members": ["g"]}], "service_objects": [{"name": "s", "protocol": "tcp", "dest_ports": "1-2,3"}], "rules": [{"rule_id": "1", "rule_order": 2, "action": "accept", "services": ["udp/5"], "dst_addresses": ["1.2.3.4/8", "1.1.1.1-1.1.1.2"]}]}}]}`))
	f.Add([]byte(`{"devices": [{"hostname": 1}], "x": null}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || len(fe.Problems) == 0 || len(fe.Problems) > MaxProblems {
				t.Fatalf("Parse() error = %v, want an *Error with 1..%d problems", err, MaxProblems)
			}
			return
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("json.Marshal(Parse()) = %v", err)
		}
		doc2, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(canonical %s) = %v, want nil", b, err)
		}
		b2, _ := json.Marshal(doc2)
		if string(b) != string(b2) {
			t.Fatalf("normalizing twice changed the document:\n once %s\ntwice %s", b, b2)
		}
	})
}

// TestParseDesignExample parses the example document of the facts format,
// verbatim: the contract's own example must be accepted.
func TestParseDesignExample(t *testing.T) {
	data, err := os.ReadFile("testdata/design_example.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(the format example) = %v, want nil", err)
	}
	d := doc.Devices[0]
	if d.Hostname != "core-sw-01" || len(d.Interfaces) != 1 || d.Firewall == nil || len(d.Firewall.Rules) != 1 {
		t.Errorf("Parse(the format example) = %+v, want core-sw-01 with its interface and rule", d)
	}
}

// Junos reports MTU 65536 on lo0 and internal interfaces, and collectors
// send null for what they could not read: both are accepted, and the nulls
// stay unknown (zero / nil), never false or a value.
func TestParseJunosLoopbackAndUnknowns(t *testing.T) {
	doc, err := Parse([]byte(`{"schema": "meshq.facts/v1", "devices": [{"hostname": "edge1", "vendor": "juniper", "os": "junos",
	  "interfaces": [
	    {"name": "lo0", "mtu": 65536, "speed_mbps": null, "admin_up": true, "oper_up": null, "ips": ["192.0.2.1/32"]},
	    {"name": "ge-0/0/0", "mtu": null, "speed_mbps": null, "admin_up": null, "oper_up": null, "access_vlan": null}]}]}`))
	if err != nil {
		t.Fatalf("Parse() = %v, want nil", err)
	}
	lo, ge := doc.Devices[0].Interfaces[0], doc.Devices[0].Interfaces[1]
	if lo.MTU != 65536 || lo.SpeedMbps != 0 || lo.OperUp != nil || lo.AdminUp == nil || !*lo.AdminUp {
		t.Errorf("lo0 = mtu %d speed %d oper_up %v admin_up %v, want 65536, 0 (unknown), nil, true", lo.MTU, lo.SpeedMbps, lo.OperUp, lo.AdminUp)
	}
	if ge.MTU != 0 || ge.AdminUp != nil || ge.OperUp != nil || ge.AccessVLAN != 0 {
		t.Errorf("ge-0/0/0 = %+v, want every null unknown", ge)
	}
}

// Every numeric and boolean field a collector may fail to read takes null
// as unknown (the zero value or nil), in every list of the document, the
// fields real networks added included.
func TestParseNullsAreUnknown(t *testing.T) {
	doc, err := Parse([]byte(`{"schema": "meshq.facts/v1", "devices": [{"hostname": "leaf1", "vendor": "arista", "os": "eos",
	  "interfaces": [{"name": "Ethernet1", "ifindex": null, "mlag_peer_link": null, "admin_up": null, "oper_up": null,
	                  "speed_mbps": null, "mtu": null, "access_vlan": null}],
	  "mac_table": [{"mac": "001c.7300.0001", "vlan": null, "interface": "Ethernet1"}],
	  "routes": [{"prefix": "10.0.0.0/8", "next_hop": "10.0.1.0", "metric": null}],
	  "bgp_peers": [{"peer_ip": "10.0.1.0", "remote_as": null, "local_as": null, "state": "established"}],
	  "firewall": {"rules": [{"rule_id": "1", "rule_order": 1, "action": "permit", "enabled": null, "hit_count": null}]}}]}`))
	if err != nil {
		t.Fatalf("Parse(nulls) = %v, want nil", err)
	}
	d := doc.Devices[0]
	ifc := d.Interfaces[0]
	if ifc.IfIndex != 0 || ifc.MLAGPeerLink || ifc.AdminUp != nil || ifc.OperUp != nil || ifc.SpeedMbps != 0 || ifc.MTU != 0 || ifc.AccessVLAN != 0 {
		t.Errorf("Ethernet1 = %+v, want every null unknown", ifc)
	}
	if d.MACTable[0].VLAN != 0 || d.Routes[0].Metric != 0 || d.BGPPeers[0].RemoteAS != 0 || d.BGPPeers[0].LocalAS != 0 {
		t.Errorf("mac vlan %d, metric %d, remote_as %d, local_as %d, want all 0 (unknown)", d.MACTable[0].VLAN, d.Routes[0].Metric, d.BGPPeers[0].RemoteAS, d.BGPPeers[0].LocalAS)
	}
	if r := d.Firewall.Rules[0]; r.Enabled != nil || r.HitCount != nil || !r.IsEnabled() {
		t.Errorf("rule = enabled %v hit_count %v, want nil, nil (an unknown enabled flag counts as enabled)", r.Enabled, r.HitCount)
	}
}
