package firewall

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/meshoptixiq/mesh/common/facts"
)

// FuzzPolicy compiles arbitrary firewall documents (valid or not: Compile
// must cope with what Normalize would reject) and runs every analysis on
// them: nothing may panic, and evaluating a flow must always answer.
func FuzzPolicy(f *testing.F) {
	for _, seed := range []string{
		`{"default_action":"deny","rules":[{"rule_id":"1","rule_order":1,"action":"permit"}]}`,
		`{"address_objects":[{"name":"g","type":"group","members":["g","h"]},{"name":"h","type":"range","value":"10.0.0.9-10.0.0.1"}],
		  "rules":[{"rule_id":"1","action":"deny","src_addresses":["g"],"dst_addresses":["2001:db8::/33"],"services":["tcp/1-2,5"]}]}`,
		`{"zones":[{"name":"a","interfaces":["e1"]}],"service_objects":[{"name":"s","protocol":"udp","dest_ports":"70000"},{"name":"t","members":["s","t"]}],
		  "rules":[{"rule_id":"1","src_zones":["a"],"dst_zones":["b"],"services":["s","t","icmp","x/y"],"action":"reject"}]}`,
		`{"address_objects":[{"name":"e","type":"group"},{"name":"f","type":"fqdn","value":"x.example"}],
		  "rules":[{"rule_id":"1","action":"permit","src_addresses":["e"]},{"rule_id":"2","action":"permit","dst_addresses":["f","::ffff:10.0.0.0/104"]}]}`,
	} {
		f.Add([]byte(seed), "10.0.0.1", "2001:db8::1", uint16(443))
	}
	f.Fuzz(func(t *testing.T, doc []byte, src, dst string, port uint16) {
		var fw facts.Firewall
		if json.Unmarshal(doc, &fw) != nil {
			return
		}
		p := Compile("fw", &fw, []facts.Interface{{Name: "e1", Zone: "a"}})
		p.Shadowed()
		p.UnusedObjects()
		s, err1 := netip.ParseAddr(src)
		d, err2 := netip.ParseAddr(dst)
		if err1 != nil || err2 != nil {
			return
		}
		for _, zone := range []string{"", "a", "nowhere"} {
			dec := p.Evaluate(Flow{Src: s, Dst: d, Services: ServiceSet(ProtoTCP, []Span{{Lo: uint32(port), Hi: uint32(port)}}), InZone: zone, OutZone: "a"})
			if dec.Verdict != VerdictPermit && dec.Verdict != VerdictDeny && dec.Verdict != VerdictUnknown {
				t.Fatalf("Evaluate = verdict %q, want permit, deny or unknown", dec.Verdict)
			}
		}
	})
}
