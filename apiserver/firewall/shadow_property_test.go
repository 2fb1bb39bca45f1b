package firewall

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
)

// The property test draws random rule sets over a tiny universe and checks
// the shadowing analysis against brute force over every packet of the
// universe: a rule is shadowed exactly when every packet it could match is
// first taken by an earlier enabled rule, and the shadowing rules are
// exactly those earlier rules that take at least one of its packets.
//
// Universe: zones z0..z2 plus "no zone"; addresses 10.0.0.0-3 plus one
// outside address per family (every address a rule can name is inside, so
// one outside representative per family stands for all the others); tcp
// and udp ports 0-3 plus one outside port each, plus icmp. An fqdn object
// matches nothing surely and anything possibly.

const (
	pZones = 4 // index 0 = no zone
	pAddrs = 7 // 0-3 = 10.0.0.0-3, 4 = 192.0.2.1, 5 = 2001:db8::1, 6 = 2001:db9::1
	pPorts = 5 // 0-3, 4 = 1000
)

var pAddr = []string{"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "192.0.2.1", "2001:db8::1", "2001:db9::1"}

// protoGRE stands for every protocol no rule names.
const protoGRE = 47

type pSvc struct {
	proto uint8
	port  int
}

func pServices() []pSvc {
	var out []pSvc
	for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
		for p := range pPorts {
			out = append(out, pSvc{proto, p})
		}
	}
	return append(out, pSvc{ProtoICMP, 0}, pSvc{protoGRE, 0})
}

// pRule is a random rule in the universe's terms, with its own matcher that
// shares nothing with the compiled policy.
type pRule struct {
	srcZones, dstZones []int // nil = any
	src, dst           pAddrSpec
	svc                []pSvcSpec // nil = any
	enabled            bool
	permit             bool
}

type pAddrSpec struct {
	any  bool
	fqdn bool
	lo   int // range of universe addresses 0..3
	hi   int
	v6   bool // plus 2001:db8::/32
}

type pSvcSpec struct {
	proto  uint8
	lo, hi int // -1 = all ports
}

func (a pAddrSpec) match(i int, most bool) bool {
	switch {
	case a.any:
		return true
	case a.fqdn:
		return most
	case i == 5:
		return a.v6
	case i > 3:
		return false
	}
	return i >= a.lo && i <= a.hi
}

func (r pRule) match(zs, zd, s, d int, sv pSvc, most bool) bool {
	if r.srcZones != nil && !slices.Contains(r.srcZones, zs) || r.dstZones != nil && !slices.Contains(r.dstZones, zd) {
		return false
	}
	if !r.src.match(s, most) || !r.dst.match(d, most) {
		return false
	}
	if r.svc == nil {
		return true
	}
	for _, x := range r.svc {
		if x.proto != sv.proto {
			continue
		}
		if x.lo < 0 || !hasPorts(sv.proto) {
			return true
		}
		port := sv.port
		if port == 4 {
			port = 1000
		}
		if port >= x.lo && port <= x.hi {
			return true
		}
	}
	return false
}

func randAddr(rng *rand.Rand) pAddrSpec {
	switch rng.IntN(8) {
	case 0, 1:
		return pAddrSpec{any: true}
	case 2:
		if rng.IntN(3) == 0 {
			return pAddrSpec{fqdn: true}
		}
	}
	lo := rng.IntN(4)
	hi := lo + rng.IntN(4-lo)
	return pAddrSpec{lo: lo, hi: hi, v6: rng.IntN(5) == 0}
}

func randZones(rng *rand.Rand) []int {
	if rng.IntN(3) == 0 {
		return nil
	}
	var z []int
	for i := 1; i < pZones; i++ {
		if rng.IntN(2) == 0 {
			z = append(z, i)
		}
	}
	if len(z) == 0 {
		z = []int{1 + rng.IntN(pZones-1)}
	}
	return z
}

func randSvc(rng *rand.Rand) []pSvcSpec {
	if rng.IntN(4) == 0 {
		return nil
	}
	var out []pSvcSpec
	for range 1 + rng.IntN(2) {
		switch rng.IntN(5) {
		case 0:
			out = append(out, pSvcSpec{proto: ProtoICMP, lo: -1})
		case 1:
			out = append(out, pSvcSpec{proto: []uint8{ProtoTCP, ProtoUDP}[rng.IntN(2)], lo: -1})
		default:
			lo := rng.IntN(4)
			out = append(out, pSvcSpec{proto: []uint8{ProtoTCP, ProtoUDP}[rng.IntN(2)], lo: lo, hi: lo + rng.IntN(4-lo)})
		}
	}
	return out
}

// toFacts writes the random rules as a firewall document, using objects,
// nested groups and literals at random so that resolution is exercised.
func toFacts(rng *rand.Rand, rules []pRule) *facts.Firewall {
	fw := &facts.Firewall{DefaultAction: "deny"}
	for z := 1; z < pZones; z++ {
		fw.Zones = append(fw.Zones, facts.Zone{Name: "z" + strconv.Itoa(z), Interfaces: []string{"if" + strconv.Itoa(z)}})
	}
	fw.AddressObjects = append(fw.AddressObjects, facts.AddressObject{Name: "cdn", Type: "fqdn", Value: "cdn.example.com"})
	zones := func(z []int) []string {
		if z == nil {
			return []string{"any"}
		}
		var out []string
		for _, i := range z {
			out = append(out, "z"+strconv.Itoa(i))
		}
		return out
	}
	n := 0
	addr := func(a pAddrSpec) []string {
		switch {
		case a.any:
			return []string{"any"}
		case a.fqdn:
			return []string{"cdn"}
		}
		n++
		var refs []string
		// Split the range into single hosts and a range, some behind a
		// nested group.
		mid := a.lo + (a.hi-a.lo)/2
		first := "10.0.0." + strconv.Itoa(a.lo) + "-10.0.0." + strconv.Itoa(mid)
		if a.lo == mid && rng.IntN(2) == 0 {
			first = "10.0.0." + strconv.Itoa(a.lo) + "/32"
		}
		refs = append(refs, first)
		if mid < a.hi {
			name := fmt.Sprintf("obj%d", n)
			fw.AddressObjects = append(fw.AddressObjects, facts.AddressObject{Name: name, Type: "range", Value: fmt.Sprintf("10.0.0.%d-10.0.0.%d", mid+1, a.hi)})
			if rng.IntN(2) == 0 {
				g := fmt.Sprintf("grp%d", n)
				fw.AddressObjects = append(fw.AddressObjects, facts.AddressObject{Name: g, Type: "group", Members: []string{name}})
				name = g
			}
			refs = append(refs, name)
		}
		if a.v6 {
			refs = append(refs, "2001:db8::/32")
		}
		return refs
	}
	svc := func(s []pSvcSpec) []string {
		if s == nil {
			return []string{"any"}
		}
		var out []string
		for _, x := range s {
			lit := ProtocolName(x.proto)
			if x.lo >= 0 {
				lit += fmt.Sprintf("/%d-%d", x.lo, x.hi)
			}
			if rng.IntN(2) == 0 {
				n++
				name := fmt.Sprintf("svc%d", n)
				o := facts.ServiceObject{Name: name, Protocol: ProtocolName(x.proto)}
				if x.lo >= 0 {
					o.DestPorts = fmt.Sprintf("%d-%d", x.lo, x.hi)
				}
				fw.ServiceObjects = append(fw.ServiceObjects, o)
				lit = name
			}
			out = append(out, lit)
		}
		return out
	}
	for i, r := range rules {
		action := "deny"
		if r.permit {
			action = "permit"
		}
		fw.Rules = append(fw.Rules, facts.Rule{
			RuleID: strconv.Itoa(i), RuleOrder: i, Action: action,
			SrcZones: zones(r.srcZones), DstZones: zones(r.dstZones),
			SrcAddresses: addr(r.src), DstAddresses: addr(r.dst), Services: svc(r.svc),
			Enabled: ptr(r.enabled),
		})
	}
	return fw
}

type shadowRow struct {
	ID   string
	By   []string
	Diff bool
}

// bruteShadowed computes the expected rows by enumerating every packet.
func bruteShadowed(rules []pRule) []shadowRow {
	n := len(rules)
	covered := make([]bool, n) // every packet of the rule taken earlier
	nonEmpty := make([]bool, n)
	by := make([]map[int]bool, n)
	for i := range n {
		covered[i] = true
		by[i] = map[int]bool{}
	}
	svcs := pServices()
	for zs := range pZones {
		for zd := range pZones {
			for s := range pAddrs {
				for d := range pAddrs {
					for _, sv := range svcs {
						first := -1 // first enabled rule that surely matches
						for i, r := range rules {
							if !r.enabled {
								continue
							}
							if r.match(zs, zd, s, d, sv, true) {
								nonEmpty[i] = true
								if first < 0 {
									covered[i] = false
								} else {
									by[i][first] = true
								}
							}
							if first < 0 && r.match(zs, zd, s, d, sv, false) {
								first = i
							}
						}
					}
				}
			}
		}
	}
	var out []shadowRow
	for i, r := range rules {
		if !r.enabled || !covered[i] || !nonEmpty[i] {
			continue
		}
		row := shadowRow{ID: strconv.Itoa(i)}
		for j := range i {
			if by[i][j] {
				row.By = append(row.By, strconv.Itoa(j))
				if rules[j].permit != r.permit {
					row.Diff = true
				}
			}
		}
		out = append(out, row)
	}
	return out
}

func TestShadowedProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 11))
	sets, shadowedTotal := 250, 0
	if testing.Short() {
		sets = 100
	}
	for set := range sets {
		rules := make([]pRule, 4+rng.IntN(20))
		for i := range rules {
			rules[i] = pRule{
				srcZones: randZones(rng), dstZones: randZones(rng),
				src: randAddr(rng), dst: randAddr(rng), svc: randSvc(rng),
				enabled: rng.IntN(10) != 0, permit: rng.IntN(2) == 0,
			}
		}
		fw := toFacts(rng, rules)
		var ifaces []facts.Interface
		for z := 1; z < pZones; z++ {
			ifaces = append(ifaces, facts.Interface{Name: "if" + strconv.Itoa(z)})
		}
		p := Compile("fw", fw, ifaces)
		got, st := p.Shadowed()
		var rows []shadowRow
		for _, s := range got {
			r := shadowRow{ID: s.Rule.RuleID, Diff: s.DifferentAction}
			for _, b := range s.By {
				r.By = append(r.By, b.RuleID)
			}
			rows = append(rows, r)
		}
		want := bruteShadowed(rules)
		shadowedTotal += len(want)
		if st.Undecided != 0 {
			t.Fatalf("set %d: Shadowed() left %d rules undecided on a tiny universe", set, st.Undecided)
		}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Fatalf("set %d: Shadowed() (-brute force +got):\n%s\nrules: %+v", set, diff, fw.Rules)
		}
		checkEvaluateAgainstBrute(t, set, p, rules)
	}
	// The generator must actually produce shadowed rules, or the test
	// proves nothing.
	if shadowedTotal < sets/2 {
		t.Errorf("random rule sets had %d shadowed rules in %d sets, want at least %d", shadowedTotal, sets, sets/2)
	}
}

// checkEvaluateAgainstBrute compares Evaluate with first-match over the
// universe for every packet of one zone pair.
func checkEvaluateAgainstBrute(t *testing.T, set int, p *Policy, rules []pRule) {
	t.Helper()
	zoneName := func(z int) string {
		if z == 0 {
			return ""
		}
		return "z" + strconv.Itoa(z)
	}
	for zs := range pZones {
		zd := (zs + 1) % pZones
		for s := range pAddrs {
			for d := range pAddrs {
				for _, sv := range pServices() {
					port := sv.port
					if port == 4 {
						port = 1000
					}
					svc := ServiceSet(sv.proto, []Span{{uint32(port), uint32(port)}})
					dec := p.Evaluate(Flow{Src: netip.MustParseAddr(pAddr[s]), Dst: netip.MustParseAddr(pAddr[d]), Services: svc, InZone: zoneName(zs), OutZone: zoneName(zd)})
					// Expected: first enabled rule that surely matches; unknown
					// when a rule that only possibly matches comes first with
					// a different action.
					want, wantRule, unknown := "deny", "", false
					for i, r := range rules {
						if !r.enabled {
							continue
						}
						if r.match(zs, zd, s, d, sv, false) {
							want, wantRule = "deny", strconv.Itoa(i)
							if r.permit {
								want = "permit"
							}
							break
						}
					}
					for i, r := range rules {
						if strconv.Itoa(i) == wantRule {
							break
						}
						if r.enabled && !r.match(zs, zd, s, d, sv, false) && r.match(zs, zd, s, d, sv, true) && r.permit != (want == "permit") {
							unknown = true
						}
					}
					got := ""
					if dec.Rule != nil {
						got = dec.Rule.RuleID
					}
					switch {
					case unknown && dec.Verdict != "unknown":
						t.Fatalf("set %d: Evaluate(z%d→z%d %s→%s %v) = %s by %q, want unknown", set, zs, zd, pAddr[s], pAddr[d], sv, dec.Verdict, got)
					case !unknown && (dec.Verdict != want || got != wantRule):
						t.Fatalf("set %d: Evaluate(z%d→z%d %s→%s %v) = %s by %q (%s), want %s by %q", set, zs, zd, pAddr[s], pAddr[d], sv, dec.Verdict, got, dec.Reason, want, wantRule)
					}
				}
			}
		}
	}
}
