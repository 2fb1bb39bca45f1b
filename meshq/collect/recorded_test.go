package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/meshq/collect/fakedevice"
	"github.com/meshoptixiq/mesh/meshq/parse"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// recorded answers the platform's commands with the recorded outputs in
// dir (meshq/parse/testdata/<device_type>/…, one <kind>.<ext> per
// command); the other commands are unknown to the device.
func recorded(t *testing.T, deviceType, dir string) map[string]string {
	t.Helper()
	p, err := platform.Lookup(deviceType)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "parse", "testdata", deviceType, dir, "*.*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recordings in %s: %v", dir, err)
	}
	out := map[string]string{}
	for _, f := range files {
		kind := platform.Kind(strings.TrimSuffix(filepath.Base(f), filepath.Ext(f)))
		c, ok := p.Command(kind)
		if !ok {
			t.Fatalf("%s: %s has no %s command", f, deviceType, kind)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Command] = string(data)
	}
	return out
}

// TestCollectThenParseRecorded collects from fake Junos, PAN-OS and
// FortiOS devices answering with recorded outputs, and parses the cache:
// the facts are those the recordings hold, through SSH, paging and the
// cache.
func TestCollectThenParseRecorded(t *testing.T) {
	devs := []struct{ host, deviceType, dir string }{
		{"pe1", "juniper_junos", "lab-pe1"},
		{"pa1", "paloalto_panos", "iron-skillet"},
		{"fg1", "fortinet", "batfish-policy"},
	}
	var keys []string
	var entries []entry
	for _, d := range devs {
		outputs := recorded(t, d.deviceType, d.dir)
		s := fake(t, d.host, d.deviceType, func(fd *fakedevice.Device) { fd.Outputs = outputs })
		keys = append(keys, s.KnownHostsLine())
		entries = append(entries, entry{host: d.host, deviceType: d.deviceType, addr: s.Addr})
	}
	cache, results := runCollect(t, load(t, keys, "", entries), 3, 0)
	for _, d := range devs {
		if r := results[d.host]; r.Collected == 0 {
			t.Fatalf("%s: nothing collected: %+v", d.host, r)
		}
	}
	doc, rep, err := parse.Cache(cache)
	if err != nil {
		t.Fatal(err)
	}
	byHost := map[string]int{}
	for i, d := range doc.Devices {
		byHost[d.Hostname] = i
	}
	for _, d := range devs {
		if _, ok := byHost[d.host]; !ok {
			t.Fatalf("%s not in the document; report %+v", d.host, rep)
		}
	}
	pe1 := doc.Devices[byHost["pe1"]]
	if pe1.Model != "vmx" || pe1.Version != "25.4R1.12" || len(pe1.Routes) != 15 || len(pe1.BGPPeers) != 1 || pe1.BGPPeers[0].PeerIP != "10.255.0.2" {
		t.Errorf("pe1: model %q version %q, %d routes, bgp %+v", pe1.Model, pe1.Version, len(pe1.Routes), pe1.BGPPeers)
	}
	pa1 := doc.Devices[byHost["pa1"]]
	if pa1.Firewall == nil || len(pa1.Firewall.Rules) != 1 || pa1.Firewall.Rules[0].RuleID != "DNS Sinkhole Block" || pa1.Firewall.Rules[0].Action != "deny" {
		t.Errorf("pa1 firewall = %+v", pa1.Firewall)
	}
	fg1 := doc.Devices[byHost["fg1"]]
	var ids []string
	if fg1.Firewall != nil {
		for _, r := range fg1.Firewall.Rules {
			ids = append(ids, r.RuleID+":"+r.Action)
		}
	}
	if strings.Join(ids, " ") != "0:deny 2:permit 3:permit" {
		t.Errorf("fg1 rules = %v, want 0:deny 2:permit 3:permit", ids)
	}
	// The commands without recordings were refused by the fakes and are
	// reported per device, not guessed.
	for _, dr := range rep.Devices {
		if dr.Hostname == "pe1" {
			found := false
			for _, p := range dr.Problems {
				found = found || (p.Kind == platform.KindARP && p.Whole)
			}
			if !found {
				t.Errorf("pe1: the refused show arp is not reported: %+v", dr.Problems)
			}
		}
	}
}
