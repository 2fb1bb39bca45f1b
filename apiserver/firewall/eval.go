package firewall

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
)

// Verdicts.
const (
	VerdictPermit  = "permit"
	VerdictDeny    = "deny"
	VerdictUnknown = "unknown"
)

// Flow is what a firewall is asked to decide: one source and destination
// address, a set of services (one port, or all ports of a protocol, or
// everything), and the zones of the interfaces it enters and leaves by.
type Flow struct {
	Src, Dst        netip.Addr
	Services        Ranges
	InZone, OutZone string
}

// Part is the decision for a share of a flow's services: the rule that
// takes it first (nil for the default action) and its action.
type Part struct {
	Rule     *Rule
	Action   string
	Services Ranges
}

// Decision is a firewall's answer for a flow.
type Decision struct {
	Verdict string
	// Rule decides the flow (the first part); nil with Default set means
	// the default action decides.
	Rule    *Rule
	Default bool
	Action  string
	// Reason explains an unknown verdict; empty otherwise.
	Reason string
	// Parts lists every share of the flow's services and who decides it,
	// in rule order (one part when a single rule decides it all).
	Parts []Part
}

// ActionVerdict maps a rule action to a verdict: permit, or deny for deny,
// drop and reject; unknown for anything else.
func ActionVerdict(action string) string {
	switch strings.ToLower(action) {
	case "permit", "allow", "accept":
		return VerdictPermit
	case "deny", "drop", "reject":
		return VerdictDeny
	}
	return VerdictUnknown
}

type tri uint8

const (
	no tri = iota
	maybe
	yes
)

func (m *AddrMatch) match(k Key) (tri, string) {
	if m.Set.Contains(k) {
		return yes, ""
	}
	if len(m.Unknown) > 0 {
		return maybe, m.Unknown[0]
	}
	return no, ""
}

type maybePart struct {
	rule     *Rule
	services Ranges
	reason   string
}

// Evaluate decides a flow: enabled rules in order, first match wins, else
// the default action. The flow's services may be decided by several rules
// (a query for all tcp ports, say); the verdict is permit or deny only when
// every part agrees, and unknown when an unresolvable object (an fqdn, an
// undefined name) could change the answer.
func (p *Policy) Evaluate(f Flow) Decision {
	inZ, inOK := p.zoneIdx(f.InZone)
	outZ, outOK := p.zoneIdx(f.OutZone)
	src, dst := KeyOf(f.Src.Unmap()), KeyOf(f.Dst.Unmap())
	remaining := f.Services
	var parts []Part
	var maybes []maybePart
	// Only the enabled rules of this zone pair: the AND of two bitsets,
	// walked in rule order.
	srcBits, dstBits := p.anySrc, p.anyDst
	if inOK {
		srcBits = p.srcZoneRules[inZ]
	}
	if outOK {
		dstBits = p.dstZoneRules[outZ]
	}
	for w := range srcBits {
		word := srcBits[w] & dstBits[w]
		for word != 0 && !remaining.Empty() {
			r := p.Rules[w*64+bits.TrailingZeros64(word)]
			word &= word - 1
			ms, reasonS := r.Src.match(src)
			if ms == no {
				continue
			}
			md, reasonD := r.Dst.match(dst)
			if md == no {
				continue
			}
			sure := remaining.Intersect(r.Svc.Set)
			if ms == yes && md == yes {
				if !sure.Empty() {
					parts = append(parts, Part{Rule: r, Action: r.Action, Services: sure})
					remaining = remaining.Subtract(sure)
				}
				if len(r.Svc.Unknown) > 0 && !remaining.Empty() {
					maybes = append(maybes, maybePart{r, remaining, r.Svc.Unknown[0]})
				}
				continue
			}
			reason := reasonS
			if reason == "" {
				reason = reasonD
			}
			m := sure
			if len(r.Svc.Unknown) > 0 {
				m = remaining
			}
			if !m.Empty() {
				maybes = append(maybes, maybePart{r, m, reason})
			}
		}
	}
	if !remaining.Empty() {
		parts = append(parts, Part{Action: p.DefaultAction, Services: remaining})
	}
	d := Decision{Parts: parts}
	if len(parts) > 0 {
		d.Rule = parts[0].Rule
		d.Default = parts[0].Rule == nil
		d.Action = parts[0].Action
	}
	for _, m := range maybes {
		for _, pt := range parts {
			if pt.Services.Intersects(m.services) && ActionVerdict(pt.Action) != ActionVerdict(m.rule.Action) {
				d.Verdict = VerdictUnknown
				d.Reason = fmt.Sprintf("%s (rule %s on %s may match first)", m.reason, m.rule.RuleID, p.Hostname)
				return d
			}
		}
	}
	if len(parts) == 0 {
		d.Verdict, d.Reason = VerdictUnknown, "no services to evaluate"
		return d
	}
	v := ActionVerdict(parts[0].Action)
	for _, pt := range parts[1:] {
		if ActionVerdict(pt.Action) != v {
			var sb strings.Builder
			for i, q := range parts {
				if i > 0 {
					sb.WriteString("; ")
				}
				fmt.Fprintf(&sb, "%s %s %s", p.describe(q), q.Action, FormatServices(q.Services))
			}
			d.Verdict = VerdictUnknown
			d.Reason = fmt.Sprintf("the answer depends on the service on %s: %s", p.Hostname, sb.String())
			return d
		}
	}
	d.Verdict = v
	if v == VerdictUnknown {
		if d.Default {
			d.Reason = fmt.Sprintf("%s has no usable default action (%q)", p.Hostname, p.DefaultAction)
		} else {
			d.Reason = fmt.Sprintf("rule %s on %s has unknown action %q", d.Rule.RuleID, p.Hostname, d.Rule.Action)
		}
	}
	return d
}

func (p *Policy) describe(pt Part) string {
	if pt.Rule == nil {
		return "default action"
	}
	return "rule " + pt.Rule.RuleID
}

// indexZones builds, per zone, the bitsets of enabled rules that apply to
// traffic entering (src) or leaving (dst) by it, and those of rules whose
// zones are any (for a zone the policy does not know).
func (p *Policy) indexZones() {
	words := (len(p.Rules) + 63) / 64
	n := len(p.zones)
	p.srcZoneRules = make([][]uint64, n)
	p.dstZoneRules = make([][]uint64, n)
	for z := range n {
		p.srcZoneRules[z] = make([]uint64, words)
		p.dstZoneRules[z] = make([]uint64, words)
	}
	p.anySrc = make([]uint64, words)
	p.anyDst = make([]uint64, words)
	for i, r := range p.Rules {
		if !r.Enabled {
			continue
		}
		for z := range n {
			if r.SrcZoneSet.Contains(uint32(z)) {
				p.srcZoneRules[z][i/64] |= 1 << (i % 64)
			}
			if r.DstZoneSet.Contains(uint32(z)) {
				p.dstZoneRules[z][i/64] |= 1 << (i % 64)
			}
		}
		if zoneMatch(r.SrcZoneSet, 0, false, n) {
			p.anySrc[i/64] |= 1 << (i % 64)
		}
		if zoneMatch(r.DstZoneSet, 0, false, n) {
			p.anyDst[i/64] |= 1 << (i % 64)
		}
	}
}

// zoneMatch: an interface with a zone the policy does not know matches only
// rules whose zones are any (the full range, which never lists it).
func zoneMatch(set Ranges, z uint32, known bool, n int) bool {
	if !known {
		return len(set) == 1 && set[0].Lo == 0 && set[0].Hi == uint32(n-1)
	}
	return set.Contains(z)
}

// FormatServices writes a service set as "tcp/443, udp/53-54, icmp".
func FormatServices(s Ranges) string {
	if len(s) == 1 && s[0] == allServices[0] {
		return "any"
	}
	var out []string
	for _, sp := range s {
		lp, hp := uint8(sp.Lo>>16), uint8(sp.Hi>>16)
		for proto := int(lp); proto <= int(hp); proto++ {
			lo, hi := uint32(0), uint32(65535)
			if proto == int(lp) {
				lo = sp.Lo & 0xffff
			}
			if proto == int(hp) {
				hi = sp.Hi & 0xffff
			}
			name := ProtocolName(uint8(proto))
			switch {
			case !hasPorts(uint8(proto)) || (lo == 0 && hi == 65535):
				out = append(out, name)
			case lo == hi:
				out = append(out, name+"/"+strconv.Itoa(int(lo)))
			default:
				out = append(out, fmt.Sprintf("%s/%d-%d", name, lo, hi))
			}
			if len(out) > 8 {
				return strings.Join(out, ", ") + ", …"
			}
		}
	}
	return strings.Join(out, ", ")
}

// Match says whether address a is in the set: surely, or possibly (an
// unresolvable part, whose reason is given, could hold it), or not at all.
func (m *AddrMatch) Match(a netip.Addr) (sure, possible bool, reason string) {
	t, why := m.match(KeyOf(a.Unmap()))
	return t == yes, t != no, why
}

var (
	allV4 = PrefixInterval(netip.MustParsePrefix("0.0.0.0/0"))
	allV6 = PrefixInterval(netip.MustParsePrefix("::/0"))
)

// IsAny reports whether the set holds every IPv4 or every IPv6 address.
func (m *AddrMatch) IsAny() bool {
	covers := func(iv Interval) bool {
		for _, x := range m.Set {
			if !iv.Lo.Less(x.Lo) && !x.Hi.Less(iv.Hi) {
				return true
			}
		}
		return false
	}
	return covers(allV4) || covers(allV6)
}

// Match says whether the rule's services meet the set s: surely, or
// possibly through an unresolvable service, or not at all.
func (m *SvcMatch) Match(s Ranges) (sure, possible bool, reason string) {
	if m.Set.Intersects(s) {
		return true, true, ""
	}
	if len(m.Unknown) > 0 {
		return false, true, m.Unknown[0]
	}
	return false, false, ""
}

// IsAny reports whether the rule matches every service.
func (m *SvcMatch) IsAny() bool { return m.Set.Covers(allServices) }

// AnyZone reports whether rule r applies whatever zone the flow enters
// (src) and leaves (dst) by.
func (p *Policy) AnyZone(r *Rule) (src, dst bool) {
	n := len(p.zones)
	return zoneMatch(r.SrcZoneSet, 0, false, n), zoneMatch(r.DstZoneSet, 0, false, n)
}

// ZonesMatch reports whether rule r applies to traffic from zone src to
// zone dst (named, or any).
func (p *Policy) ZonesMatch(r *Rule, src, dst string) bool {
	s, sok := p.zoneIdx(src)
	d, dok := p.zoneIdx(dst)
	return zoneMatch(r.SrcZoneSet, s, sok, len(p.zones)) && zoneMatch(r.DstZoneSet, d, dok, len(p.zones))
}
