package demo

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"

	"github.com/meshoptixiq/mesh/common/facts"
)

// FirewallZone is one zone of a generated firewall: the interfaces bound to
// it and the subnets that sit behind it (so that rules can name real
// addresses and path analysis has something to find).
type FirewallZone struct {
	Name       string
	Interfaces []string
	Subnets    []netip.Prefix
}

// firewallZone is the generator's name for FirewallZone.
type firewallZone = FirewallZone

// ShowcaseRules is how many rules FirewallPolicy writes before the bulk
// ones; a policy asked for fewer rules gets these anyway.
const ShowcaseRules = 12

// firewallPolicy builds the demo policy of a firewall: the showcase rules
// only (see FirewallPolicy).
func firewallPolicy(rng *rand.Rand, hostname string, zones []firewallZone) *facts.Firewall {
	return FirewallPolicy(rng, hostname, zones, ShowcaseRules)
}

// FirewallPolicy builds the security policy of the firewall called
// hostname, with its zones, and about rules rules: first the showcase that
// exercises every firewall query (issue 3 item 4), then random bulk rules
// in the shape real policies have (zone pairs, object and group references,
// service objects, mostly permits, some overlapping or shadowed). It is
// deterministic for a given rng state.
//
// With zones A and B (the first two; A is also used intra-zone):
//
//	10  permit A→B  A-nets      → web-farm (group: web-servers range + web-vip host)  web (group)
//	20  permit A→B  any         → B-nets (group of groups)                             https
//	30  deny   A→B  any         → lower half of B's first subnet                       ssh
//	40  deny   A→B  any         → upper half of B's first subnet                       ssh
//	50  permit A→B  A-nets      → B's first subnet    ssh   shadowed by 30+40 together (different action)
//	60  permit A→A  any         → any                 any   intra-zone flow
//	70  permit A→any any        → cdn-hosts (fqdn)    https unknown for https from A that 10-60 do not decide
//	80  permit any→any admins   → all-internal (nested) mgmt (group)
//	90  permit A→B  A-nets      → web-servers         alt-web   overlaps 10, not shadowed
//	100 permit B→A  any         → A-nets              dns  (disabled)
//	110 deny   A→B  any         → web-vip             https  shadowed by 10 and 20 (20 alone would do)
//	120 permit any→B any        → B-nets              icmp
//
// default action deny; "legacy-*" objects are referenced by nothing.
func FirewallPolicy(rng *rand.Rand, hostname string, zones []FirewallZone, rules int) *facts.Firewall {
	fw := &facts.Firewall{DefaultAction: facts.ActionDeny}
	for _, z := range zones {
		fw.Zones = append(fw.Zones, facts.Zone{Name: z.Name, Interfaces: z.Interfaces})
	}
	if len(zones) < 2 {
		return fw
	}
	g := &policyGen{rng: rng, fw: fw, order: 10}
	var zoneGroups []string
	for _, z := range zones {
		var members []string
		for i, p := range z.Subnets {
			name := z.Name + "-net-" + strconv.Itoa(i)
			g.addr(name, facts.AddrNetwork, p.String())
			members = append(members, name)
		}
		if len(members) > 0 {
			g.group(z.Name+"-nets", members...)
			zoneGroups = append(zoneGroups, z.Name+"-nets")
		}
	}
	a, b := zones[0], zones[1]
	bNet := firstV4(b.Subnets)
	aNets := "any"
	if len(a.Subnets) > 0 {
		aNets = a.Name + "-nets"
	}
	bNets := "any"
	if len(b.Subnets) > 0 {
		bNets = b.Name + "-nets"
	}
	g.group("all-internal", zoneGroups...)
	g.addr("admins", facts.AddrHost, hostIn(bNet, 250))
	g.addr("web-servers", facts.AddrRange, hostIn(bNet, 10)+"-"+hostIn(bNet, 50))
	g.addr("web-vip", facts.AddrHost, hostIn(bNet, 100))
	g.group("web-farm", "web-servers", "web-vip")
	g.addr("cdn-hosts", facts.AddrFQDN, "cdn.example.com")
	lo, hi := halves(bNet)
	g.addr("b-lower", facts.AddrNetwork, lo.String())
	g.addr("b-upper", facts.AddrNetwork, hi.String())
	g.addr("legacy-server", facts.AddrHost, hostIn(bNet, 200))
	g.group("legacy-servers", "legacy-server")

	g.svc("https", "tcp", "443")
	g.svc("http", "tcp", "80")
	g.svc("ssh", "tcp", "22")
	g.svc("dns", "udp", "53")
	g.svc("snmp", "udp", "161")
	g.svc("alt-web", "tcp", "8000-8080")
	g.svc("legacy-telnet", "tcp", "23")
	fw.ServiceObjects = append(fw.ServiceObjects,
		facts.ServiceObject{Name: "web", Members: []string{"http", "https"}},
		facts.ServiceObject{Name: "mgmt", Members: []string{"ssh", "snmp"}},
	)

	g.rule("web-farm", facts.ActionPermit, a.Name, b.Name, aNets, "web-farm", "web")
	g.rule("b-https", facts.ActionPermit, a.Name, b.Name, "any", bNets, "https")
	g.rule("no-ssh-lower", facts.ActionDeny, a.Name, b.Name, "any", "b-lower", "ssh")
	g.rule("no-ssh-upper", facts.ActionDeny, a.Name, b.Name, "any", "b-upper", "ssh")
	g.rule("ssh-to-b", facts.ActionPermit, a.Name, b.Name, aNets, b.Name+"-net-0", "ssh")
	g.rule("intra-"+a.Name, facts.ActionPermit, a.Name, a.Name, "any", "any", "any")
	g.rule("cdn", facts.ActionPermit, a.Name, "any", "any", "cdn-hosts", "https")
	g.rule("admin-mgmt", facts.ActionPermit, "any", "any", "admins", "all-internal", "mgmt")
	g.rule("alt-web", facts.ActionPermit, a.Name, b.Name, aNets, "web-servers", "alt-web")
	g.rule("dns-back", facts.ActionPermit, b.Name, a.Name, "any", aNets, "dns").Enabled = new(bool)
	g.rule("deny-vip-https", facts.ActionDeny, a.Name, b.Name, "any", "web-vip", "https")
	g.rule("icmp-to-b", facts.ActionPermit, "any", b.Name, "any", bNets, "icmp")

	g.bulk(zones, rules-ShowcaseRules)
	return fw
}

type policyGen struct {
	rng   *rand.Rand
	fw    *facts.Firewall
	order int
}

func (g *policyGen) addr(name, typ, value string) {
	g.fw.AddressObjects = append(g.fw.AddressObjects, facts.AddressObject{Name: name, Type: typ, Value: value})
}

func (g *policyGen) group(name string, members ...string) {
	if len(members) == 0 {
		return
	}
	g.fw.AddressObjects = append(g.fw.AddressObjects, facts.AddressObject{Name: name, Type: facts.AddrGroup, Members: members})
}

func (g *policyGen) svc(name, proto, ports string) {
	g.fw.ServiceObjects = append(g.fw.ServiceObjects, facts.ServiceObject{Name: name, Protocol: proto, DestPorts: ports})
}

// rule appends a rule with a hit count: mostly busy, some never hit.
func (g *policyGen) rule(name, action, src, dst, srcAddr, dstAddr string, services ...string) *facts.Rule {
	hits := g.rng.Int64N(100000)
	if g.rng.IntN(8) == 0 {
		hits = 0
	}
	g.fw.Rules = append(g.fw.Rules, facts.Rule{
		RuleID: strconv.Itoa(g.order), RuleName: name, RuleOrder: g.order, Action: action,
		SrcZones: []string{src}, DstZones: []string{dst},
		SrcAddresses: []string{srcAddr}, DstAddresses: []string{dstAddr},
		Services: services, HitCount: &hits,
	})
	g.order += 10
	return &g.fw.Rules[len(g.fw.Rules)-1]
}

// bulk appends n random rules over the zones' subnets: per zone a pool of
// host and network objects carved from its subnets and groups of them, a
// pool of service objects and groups, then rules between random zone
// pairs naming one to three of those (or any).
func (g *policyGen) bulk(zones []FirewallZone, n int) {
	if n <= 0 {
		return
	}
	rng := g.rng
	pools := make([][]string, len(zones))
	objects := max(8, n/10)
	for zi, z := range zones {
		if len(z.Subnets) == 0 {
			continue
		}
		var names []string
		for i := range objects / len(zones) {
			p := z.Subnets[rng.IntN(len(z.Subnets))]
			name := fmt.Sprintf("%s-o%d", z.Name, i)
			switch rng.IntN(3) {
			case 0:
				g.addr(name, facts.AddrHost, randomHost(rng, p))
			default:
				g.addr(name, facts.AddrNetwork, randomSubnet(rng, p).String())
			}
			names = append(names, name)
		}
		for i := range len(names) / 5 {
			k := 2 + rng.IntN(4)
			var members []string
			for range k {
				members = append(members, names[rng.IntN(len(names))])
			}
			name := fmt.Sprintf("%s-g%d", z.Name, i)
			g.group(name, dedupe(members)...)
			names = append(names, name)
		}
		pools[zi] = names
	}
	var svcs []string
	for i := range max(10, n/50) {
		name := fmt.Sprintf("svc-%d", i)
		proto := "tcp"
		if rng.IntN(4) == 0 {
			proto = "udp"
		}
		lo := 1 + rng.IntN(20000)
		ports := strconv.Itoa(lo)
		if rng.IntN(4) == 0 {
			ports += "-" + strconv.Itoa(lo+rng.IntN(100))
		}
		g.svc(name, proto, ports)
		svcs = append(svcs, name)
	}
	refs := func(pool []string) []string {
		if len(pool) == 0 || rng.IntN(12) == 0 {
			return []string{"any"}
		}
		var out []string
		for range 1 + rng.IntN(3) {
			out = append(out, pool[rng.IntN(len(pool))])
		}
		return dedupe(out)
	}
	for range n {
		si, di := rng.IntN(len(zones)), rng.IntN(len(zones))
		if si == di && rng.IntN(4) != 0 {
			di = (si + 1) % len(zones)
		}
		action := facts.ActionPermit
		if rng.IntN(5) == 0 {
			action = []string{facts.ActionDeny, facts.ActionDrop, facts.ActionReject}[rng.IntN(3)]
		}
		services := []string{"any"}
		if rng.IntN(25) != 0 {
			services = nil
			for range 1 + rng.IntN(3) {
				services = append(services, svcs[rng.IntN(len(svcs))])
			}
			services = dedupe(services)
		}
		r := g.rule(fmt.Sprintf("bulk-%d", g.order), action, zones[si].Name, zones[di].Name, "any", "any")
		r.SrcAddresses, r.DstAddresses, r.Services = refs(pools[si]), refs(pools[di]), services
		switch rng.IntN(20) {
		case 0:
			r.HitCount = nil // counters not collected
		case 1:
			r.Enabled = new(bool)
		}
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func firstV4(ps []netip.Prefix) netip.Prefix {
	for _, p := range ps {
		if p.Addr().Is4() && p.Bits() <= 29 {
			return p
		}
	}
	return netip.MustParsePrefix("10.255.0.0/24")
}

// hostIn returns the n-th address of p (wrapping inside it).
func hostIn(p netip.Prefix, n int) string {
	size := 1 << (32 - p.Bits())
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n % size)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// halves splits p into its two halves.
func halves(p netip.Prefix) (netip.Prefix, netip.Prefix) {
	lo := netip.PrefixFrom(p.Masked().Addr(), p.Bits()+1)
	hi := netip.PrefixFrom(netip.MustParseAddr(hostIn(p, 1<<(31-p.Bits()))), p.Bits()+1)
	return lo, hi
}

func randomHost(rng *rand.Rand, p netip.Prefix) string {
	if !p.Addr().Is4() {
		return p.Masked().Addr().Next().String()
	}
	return hostIn(p, 1+rng.IntN(1<<(32-p.Bits())-1))
}

func randomSubnet(rng *rand.Rand, p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4() || p.Bits() >= 30 {
		return p.Masked()
	}
	lo := max(p.Bits()+1, 16)
	bits := lo + rng.IntN(30-lo)
	a, _ := netip.ParseAddr(hostIn(p, rng.IntN(1<<(32-p.Bits()))))
	q, _ := a.Prefix(bits)
	return q
}

// The demo's route-less segment: quarantined hosts and the remediation
// servers they may reach, in a VRF of their own on the DC firewall.
var (
	quarantineSubnet  = netip.MustParsePrefix("10.249.0.0/24")
	remediationSubnet = netip.MustParsePrefix("10.249.1.0/24")
)

// quarantine gives the firewall fw (after its policy is built) the demo's
// route-less segment: two interfaces in their own VRF "quarantine" (hosts
// on one, remediation servers on the other, all known by ARP) with no
// route in that VRF but the connected ones, both in zone quarantine.
//
//   - 10.249.0.10 → 10.249.1.10 tcp/8443 is an intra-zone flow (quarantine →
//     quarantine) permitted by quarantine-remediation; other ports are
//     dropped by quarantine-isolate.
//   - From the quarantine hosts to anything else: "no route to … on
//     fw-dc-01 (vrf quarantine)".
//   - Towards them from the campus: nothing routes 10.249/16 in the default
//     VRF, so the path follows the default route out of the network: "no
//     route to …: it is in 10.249.0.0/24 (fw-dc-01), but the path leaves
//     the known network at …".
func (g *gen) quarantine(fw *facts.Device) {
	p := fw.Firewall
	var ifaces []string
	for i, sub := range []netip.Prefix{quarantineSubnet, remediationSubnet} {
		name := fmt.Sprintf("ethernet1/%d", 8+i)
		ifaces = append(ifaces, name)
		fw.Interfaces = append(fw.Interfaces, facts.Interface{
			Name: name, Description: "quarantine (isolated VRF, no routes)", AdminUp: yes(), OperUp: yes(), SpeedMbps: 1000,
			MTU: edgeMTU, Mode: facts.ModeRouted, VRF: "quarantine", Zone: "quarantine", MAC: g.mac(fw.Vendor),
			IPs: []string{withLen(host(sub, 1), sub.Bits())},
		})
		fw.Routes = append(fw.Routes, facts.Route{VRF: "quarantine", Prefix: sub.String(), Interface: name, Protocol: "connected"})
		for k := range 2 {
			fw.ARP = append(fw.ARP, facts.ARPEntry{IP: host(sub, 10+k).String(), MAC: g.endpointMAC("52:54:00"), Interface: name, VRF: "quarantine"})
		}
	}
	p.Zones = append(p.Zones, facts.Zone{Name: "quarantine", Interfaces: ifaces})
	p.AddressObjects = append(p.AddressObjects,
		facts.AddressObject{Name: "quarantine-hosts", Type: facts.AddrNetwork, Value: quarantineSubnet.String()},
		facts.AddressObject{Name: "remediation-servers", Type: facts.AddrRange, Value: host(remediationSubnet, 10).String() + "-" + host(remediationSubnet, 19).String()},
	)
	p.ServiceObjects = append(p.ServiceObjects, facts.ServiceObject{Name: "remediation", Protocol: "tcp", DestPorts: "8443"})
	last := 0
	for _, r := range p.Rules {
		last = max(last, r.RuleOrder)
	}
	add := func(name, action, dstZone, src, dst, svc string, hits int64) {
		last += 10
		p.Rules = append(p.Rules, facts.Rule{
			RuleID: strconv.Itoa(last), RuleName: name, RuleOrder: last, Action: action,
			SrcZones: []string{"quarantine"}, DstZones: []string{dstZone}, SrcAddresses: []string{src},
			DstAddresses: []string{dst}, Services: []string{svc}, HitCount: &hits,
		})
	}
	add("quarantine-remediation", facts.ActionPermit, "quarantine", "quarantine-hosts", "remediation-servers", "remediation", 412)
	add("quarantine-isolate", facts.ActionDrop, "any", "quarantine-hosts", "any", "any", 9031)
}
