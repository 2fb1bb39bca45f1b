// Package firewall compiles a device's firewall policy (meshq.facts/v1
// address objects, service objects, zones and rules) into exact sets and
// answers questions about it: which rule decides a flow (first match in
// rule_order, else the default action), which rules are shadowed by the
// rules before them together, which rules and objects are unused.
//
// Every answer is exact or says why it cannot be: an fqdn address object,
// an undefined name or a group cycle makes a match "unknown" with that
// reason, never a silent guess.
package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Policy is one firewall's compiled policy. It is immutable after Compile
// and safe for concurrent use.
type Policy struct {
	Hostname      string
	DefaultAction string
	// Rules holds every rule (enabled or not) in evaluation order:
	// rule_order, then position in the document.
	Rules []*Rule
	// Problems lists what could not be resolved (undefined names, group
	// cycles, unparsable values), each once.
	Problems []string

	zones     []string       // zone universe; index 0 is "" (no zone)
	zoneIndex map[string]int // name → index in zones
	ifaceZone map[string]string
	addrObjs  map[string]*facts.AddressObject
	svcObjs   map[string]*facts.ServiceObject

	// Per zone index, the enabled rules (bit i = Rules[i]) that apply to
	// traffic entering or leaving by that zone; anySrc/anyDst for a zone
	// the policy does not know (only rules with any zones).
	srcZoneRules, dstZoneRules [][]uint64
	anySrc, anyDst             []uint64
}

// Rule is one compiled rule.
type Rule struct {
	facts.Rule
	Position   int // index in Policy.Rules
	Enabled    bool
	SrcZoneSet Ranges // zone indices
	DstZoneSet Ranges
	Src, Dst   AddrMatch
	Svc        SvcMatch
}

// AddrMatch is a rule's source or destination: the exact set of addresses
// it names plus the parts that cannot be resolved (fqdn objects, undefined
// names), each with the reason.
type AddrMatch struct {
	Set     IPSet
	Unknown []string
}

// SvcMatch is a rule's service set (protocol×port keys) plus the parts that
// cannot be resolved.
type SvcMatch struct {
	Set     Ranges
	Unknown []string
}

// Protocol numbers used in service keys.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
	ProtoSCTP   = 132
)

// ServiceKey is the uint32 key of protocol proto, port port.
func ServiceKey(proto uint8, port uint16) uint32 { return uint32(proto)<<16 | uint32(port) }

// AllServices is every protocol and port.
var allServices = Ranges{{0, ServiceKey(255, 65535)}}

// AllServices returns the set of every protocol and port.
func AllServices() Ranges { return slices.Clone(allServices) }

// hasPorts reports whether the protocol carries ports; the others match as
// a whole whatever port range an object names.
func hasPorts(proto uint8) bool {
	return proto == ProtoTCP || proto == ProtoUDP || proto == ProtoSCTP
}

// ProtocolNumber parses a protocol name or number ("tcp", "udp", "icmp",
// "icmpv6", "sctp", "0".."255").
func ProtocolNumber(s string) (uint8, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "tcp":
		return ProtoTCP, true
	case "udp":
		return ProtoUDP, true
	case "icmp":
		return ProtoICMP, true
	case "icmpv6", "ipv6-icmp":
		return ProtoICMPv6, true
	case "sctp":
		return ProtoSCTP, true
	}
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err == nil
}

// ProtocolName returns the name of a protocol number.
func ProtocolName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmpv6"
	case ProtoSCTP:
		return "sctp"
	}
	return strconv.Itoa(int(p))
}

// ParsePorts parses "443", "8000-8080", "80,443", "any" or "" (any).
func ParsePorts(s string) ([]Span, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "any") {
		return []Span{{0, 65535}}, nil
	}
	var out []Span
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: not a port number", part)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 16); err != nil || b < a {
				return nil, fmt.Errorf("port range %q: not lo-hi", part)
			}
		}
		out = append(out, Span{uint32(a), uint32(b)})
	}
	return out, nil
}

// ServiceSet returns the keys of protocol proto on the given ports.
func ServiceSet(proto uint8, ports []Span) Ranges {
	if !hasPorts(proto) {
		return Ranges{{ServiceKey(proto, 0), ServiceKey(proto, 65535)}}
	}
	out := make(Ranges, 0, len(ports))
	for _, p := range ports {
		out = append(out, Span{ServiceKey(proto, uint16(p.Lo)), ServiceKey(proto, uint16(p.Hi))})
	}
	return normalize(out)
}

// Compile builds the policy of the firewall on device hostname.
// interfaces supply zones through their zone field where the firewall's zone
// list does not name them.
func Compile(hostname string, fw *facts.Firewall, interfaces []facts.Interface) *Policy {
	p := &Policy{
		Hostname:  hostname,
		zoneIndex: map[string]int{"": 0},
		zones:     []string{""},
		ifaceZone: map[string]string{},
		addrObjs:  map[string]*facts.AddressObject{},
		svcObjs:   map[string]*facts.ServiceObject{},
	}
	if fw == nil {
		fw = &facts.Firewall{}
	}
	p.DefaultAction = strings.ToLower(fw.DefaultAction)
	addZone := func(z string) int {
		if i, ok := p.zoneIndex[z]; ok {
			return i
		}
		p.zoneIndex[z] = len(p.zones)
		p.zones = append(p.zones, z)
		return len(p.zones) - 1
	}
	for _, in := range interfaces {
		if in.Zone != "" {
			p.ifaceZone[in.Name] = in.Zone
			addZone(in.Zone)
		}
	}
	for _, z := range fw.Zones {
		addZone(z.Name)
		for _, in := range z.Interfaces {
			p.ifaceZone[in] = z.Name
		}
	}
	for i := range fw.AddressObjects {
		o := &fw.AddressObjects[i]
		p.addrObjs[o.Name] = o
	}
	for i := range fw.ServiceObjects {
		o := &fw.ServiceObjects[i]
		p.svcObjs[o.Name] = o
	}
	// Zones named only by rules still get an index: they match no
	// interface, which is exactly what such a rule does on the device.
	for _, r := range fw.Rules {
		for _, z := range slices.Concat(r.SrcZones, r.DstZones) {
			if !strings.EqualFold(z, "any") {
				addZone(z)
			}
		}
	}

	res := &resolver{p: p, addr: map[string]*AddrMatch{}, svc: map[string]*SvcMatch{}, seen: map[string]bool{}}
	order := make([]int, len(fw.Rules))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return fw.Rules[a].RuleOrder - fw.Rules[b].RuleOrder })
	for pos, idx := range order {
		fr := fw.Rules[idx]
		r := &Rule{Rule: fr, Position: pos, Enabled: fr.IsEnabled()}
		r.Rule.Action = strings.ToLower(fr.Action)
		r.SrcZoneSet = p.zoneSet(fr.SrcZones)
		r.DstZoneSet = p.zoneSet(fr.DstZones)
		r.Src = res.addrList(fr.SrcAddresses)
		r.Dst = res.addrList(fr.DstAddresses)
		r.Svc = res.svcList(fr.Services)
		p.Rules = append(p.Rules, r)
	}
	p.indexZones()
	return p
}

func (p *Policy) zoneSet(names []string) Ranges {
	if len(names) == 0 || slices.ContainsFunc(names, func(s string) bool { return strings.EqualFold(s, "any") }) {
		return Ranges{{0, uint32(len(p.zones) - 1)}}
	}
	var out Ranges
	for _, n := range names {
		i := uint32(p.zoneIndex[n])
		out = append(out, Span{i, i})
	}
	return normalize(out)
}

// ZoneOf returns the zone of an interface ("" when it is in none).
func (p *Policy) ZoneOf(iface string) string { return p.ifaceZone[iface] }

// Zones returns the zone names the policy knows (interfaces and rules).
func (p *Policy) Zones() []string { return slices.Clone(p.zones[1:]) }

func (p *Policy) zoneIdx(z string) (uint32, bool) {
	i, ok := p.zoneIndex[z]
	return uint32(i), ok
}

// resolver resolves object names once per policy, detecting cycles.
type resolver struct {
	p        *Policy
	addr     map[string]*AddrMatch
	svc      map[string]*SvcMatch
	seen     map[string]bool // problems already recorded
	visiting []string
}

func (r *resolver) problem(s string) string {
	if !r.seen[s] {
		r.seen[s] = true
		r.p.Problems = append(r.p.Problems, s)
	}
	return s
}

func (r *resolver) addrList(names []string) AddrMatch {
	if len(names) == 0 {
		return AddrMatch{Set: allAddresses}
	}
	var m AddrMatch
	for _, n := range names {
		o := r.addrRef(n)
		m.Set = m.Set.Union(o.Set)
		m.Unknown = appendNew(m.Unknown, o.Unknown...)
	}
	return m
}

// addrRef resolves a rule's or group's reference: an object name first,
// then "any", then a literal address, prefix or range.
func (r *resolver) addrRef(name string) AddrMatch {
	if _, ok := r.p.addrObjs[name]; ok {
		return *r.addrObject(name)
	}
	if strings.EqualFold(name, "any") {
		return AddrMatch{Set: allAddresses}
	}
	if iv, ok := parseAddrLiteral(name); ok {
		return AddrMatch{Set: IPSet{iv}}
	}
	return AddrMatch{Unknown: []string{r.problem(fmt.Sprintf("address object %s is not defined", name))}}
}

func (r *resolver) addrObject(name string) *AddrMatch {
	if m, ok := r.addr[name]; ok {
		return m
	}
	if i := slices.Index(r.visiting, name); i >= 0 {
		cycle := strings.Join(append(slices.Clone(r.visiting[i:]), name), " → ")
		return &AddrMatch{Unknown: []string{r.problem(fmt.Sprintf("address group %s has a cycle (%s)", name, cycle))}}
	}
	o := r.p.addrObjs[name]
	m := &AddrMatch{}
	switch strings.ToLower(o.Type) {
	case facts.AddrGroup:
		r.visiting = append(r.visiting, name)
		for _, mem := range o.Members {
			sub := r.addrRef(mem)
			m.Set = m.Set.Union(sub.Set)
			m.Unknown = appendNew(m.Unknown, sub.Unknown...)
		}
		r.visiting = r.visiting[:len(r.visiting)-1]
	case facts.AddrFQDN:
		m.Unknown = []string{r.problem(fmt.Sprintf("address object %s is an fqdn", name))}
	default:
		if iv, ok := parseAddrLiteral(o.Value); ok {
			m.Set = IPSet{iv}
		} else {
			m.Unknown = []string{r.problem(fmt.Sprintf("address object %s has unparsable value %q", name, o.Value))}
		}
	}
	// A member of a cycle is not memoised: its set depends on where the
	// walk entered the cycle, and the cycle reason must reach every rule.
	if len(m.Unknown) == 0 || !strings.Contains(strings.Join(m.Unknown, "\n"), "has a cycle") {
		r.addr[name] = m
	}
	return m
}

// parseAddrLiteral parses an address, a prefix or a range "a-b".
func parseAddrLiteral(s string) (Interval, bool) {
	s = strings.TrimSpace(s)
	if a, b, ok := strings.Cut(s, "-"); ok {
		lo, err1 := netip.ParseAddr(strings.TrimSpace(a))
		hi, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil || lo.Unmap().Is4() != hi.Unmap().Is4() {
			return Interval{}, false
		}
		kl, kh := KeyOf(lo.Unmap()), KeyOf(hi.Unmap())
		if kh.Less(kl) {
			return Interval{}, false
		}
		return Interval{kl, kh}, true
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Interval{}, false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return PrefixInterval(p), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Interval{}, false
	}
	k := KeyOf(a.Unmap())
	return Interval{k, k}, true
}

func (r *resolver) svcList(names []string) SvcMatch {
	if len(names) == 0 {
		return SvcMatch{Set: allServices}
	}
	var m SvcMatch
	for _, n := range names {
		o := r.svcRef(n)
		m.Set = m.Set.Union(o.Set)
		m.Unknown = appendNew(m.Unknown, o.Unknown...)
	}
	return m
}

// svcRef resolves a service reference: an object name first, then "any",
// then a literal "proto", "proto/ports".
func (r *resolver) svcRef(name string) SvcMatch {
	if _, ok := r.p.svcObjs[name]; ok {
		return *r.svcObject(name)
	}
	if strings.EqualFold(name, "any") {
		return SvcMatch{Set: allServices}
	}
	proto, ports, _ := strings.Cut(name, "/")
	if pn, ok := ProtocolNumber(proto); ok && !isDigits(proto) {
		if sp, err := ParsePorts(ports); err == nil {
			return SvcMatch{Set: ServiceSet(pn, sp)}
		}
	}
	return SvcMatch{Unknown: []string{r.problem(fmt.Sprintf("service object %s is not defined", name))}}
}

func (r *resolver) svcObject(name string) *SvcMatch {
	if m, ok := r.svc[name]; ok {
		return m
	}
	if i := slices.Index(r.visiting, "svc:"+name); i >= 0 {
		var path []string
		for _, v := range r.visiting[i:] {
			path = append(path, strings.TrimPrefix(v, "svc:"))
		}
		cycle := strings.Join(append(path, name), " → ")
		return &SvcMatch{Unknown: []string{r.problem(fmt.Sprintf("service group %s has a cycle (%s)", name, cycle))}}
	}
	o := r.p.svcObjs[name]
	m := &SvcMatch{}
	if len(o.Members) > 0 {
		r.visiting = append(r.visiting, "svc:"+name)
		for _, mem := range o.Members {
			sub := r.svcRef(mem)
			m.Set = m.Set.Union(sub.Set)
			m.Unknown = appendNew(m.Unknown, sub.Unknown...)
		}
		r.visiting = r.visiting[:len(r.visiting)-1]
	} else {
		ports, err := ParsePorts(o.DestPorts)
		proto := strings.TrimSpace(o.Protocol)
		switch {
		case err != nil:
			m.Unknown = []string{r.problem(fmt.Sprintf("service object %s: %v", name, err))}
		case proto == "" || strings.EqualFold(proto, "any") || strings.EqualFold(proto, "ip"):
			for _, pn := range []uint8{ProtoTCP, ProtoUDP, ProtoSCTP} {
				m.Set = m.Set.Union(ServiceSet(pn, ports))
			}
			if len(ports) == 1 && ports[0] == (Span{0, 65535}) {
				m.Set = allServices
			}
		default:
			pn, ok := ProtocolNumber(proto)
			if !ok {
				m.Unknown = []string{r.problem(fmt.Sprintf("service object %s has unknown protocol %q", name, proto))}
			} else {
				m.Set = ServiceSet(pn, ports)
			}
		}
	}
	if len(m.Unknown) == 0 || !strings.Contains(strings.Join(m.Unknown, "\n"), "has a cycle") {
		r.svc[name] = m
	}
	return m
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func appendNew(dst []string, src ...string) []string {
	for _, s := range src {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}
