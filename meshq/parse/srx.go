package parse

import (
	"bytes"
	"errors"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Junos SRX: the security configuration as XML (`show configuration
// security | display xml`: zones, their address books, policies) and the
// applications policies name (`show configuration applications | display
// xml`). The predefined junos-* applications live in the junos-defaults
// group, which neither command shows: a policy naming one is left out and
// reported.
func init() {
	firewallFormats = append(firewallFormats, firewallFormat{name: "Junos security configuration XML", detect: isJunosConfig, parse: srxConfig})
}

// isJunosConfig looks for the <configuration> root with a security or
// applications hierarchy (PAN-OS's root is <config>).
func isJunosConfig(data []byte) bool {
	head := data[:min(len(data), 4096)]
	return bytes.Contains(head, []byte("<configuration")) &&
		(bytes.Contains(data, []byte("<security>")) || bytes.Contains(data, []byte("<applications>")))
}

func srxConfig(b *builder, data []byte) error {
	root, err := readJunos(data, "show configuration security", "configuration")
	if err != nil {
		return err
	}
	cfg := root.one("configuration")
	sec, apps := cfg.one("security"), cfg.one("applications")
	if sec == nil && apps == nil {
		return errors.New("not a Junos security configuration: it has neither <security> nor <applications>")
	}
	s := &fwSet{b: b}
	for _, a := range apps.all("application") {
		srxApplication(b, s, a)
	}
	for _, set := range apps.all("application-set") {
		o := facts.ServiceObject{Name: set.str("name")}
		for _, kind := range []string{"application", "application-set"} {
			for _, m := range set.all(kind) {
				o.Members = append(o.Members, m.str("name"))
			}
		}
		s.svcs = append(s.svcs, o)
	}
	// The global address book, then each zone's (names are one namespace
	// in the facts; a name two books give is reported).
	var books []*jnode
	books = append(books, sec.all("address-book")...)
	for _, z := range sec.at("zones").all("security-zone") {
		zone := facts.Zone{Name: z.str("name")}
		for _, i := range z.all("interfaces") {
			zone.Interfaces = append(zone.Interfaces, i.str("name"))
		}
		s.zones = append(s.zones, zone)
		books = append(books, z.all("address-book")...)
	}
	for _, book := range books {
		for _, a := range book.all("address") {
			if o, ok := srxAddress(b, a); ok {
				s.addrs = append(s.addrs, o)
			}
		}
		for _, set := range book.all("address-set") {
			o := facts.AddressObject{Name: set.str("name"), Type: facts.AddrGroup}
			for _, kind := range []string{"address", "address-set"} {
				for _, m := range set.all(kind) {
					o.Members = append(o.Members, m.str("name"))
				}
			}
			s.addrs = append(s.addrs, o)
		}
	}
	if pol := sec.one("policies"); pol != nil {
		for _, pair := range pol.all("policy") {
			from, to := pair.str("from-zone-name"), pair.str("to-zone-name")
			for _, p := range pair.all("policy") {
				if r, ok := srxPolicy(b, p, from, to); ok {
					s.rules = append(s.rules, r)
				}
			}
		}
		// Global policies apply to every zone pair, after its own.
		for _, p := range pol.at("global").all("policy") {
			if r, ok := srxPolicy(b, p, facts.Any, facts.Any); ok {
				s.rules = append(s.rules, r)
			}
		}
		// Junos denies what no policy permits unless told otherwise.
		s.action = facts.ActionDeny
		if pol.at("default-policy", "permit-all") != nil {
			s.action = facts.ActionPermit
		}
	}
	s.commit()
	return nil
}

func srxApplication(b *builder, s *fwSet, a *jnode) {
	name := a.str("name")
	if a.has("term") {
		b.skip("application %q: terms (several protocols) are not held by the facts", name)
		return
	}
	if a.str("source-port") != "" {
		b.skip("application %q: it matches source ports, which the facts cannot hold", name)
		return
	}
	proto, ok := facts.CanonicalProtocol(a.str("protocol"))
	if !ok {
		b.skip("application %q: protocol %q is not one the facts hold", name, a.str("protocol"))
		return
	}
	ports := a.str("destination-port")
	if ports != "" {
		if _, err := facts.ParsePorts(ports); err != nil {
			b.skip("application %q: destination-port %q is not a port or range", name, ports)
			return
		}
	}
	s.svcs = append(s.svcs, facts.ServiceObject{Name: name, Protocol: proto, DestPorts: ports})
}

func srxAddress(b *builder, a *jnode) (facts.AddressObject, bool) {
	name := a.str("name")
	switch {
	case a.has("ip-prefix"):
		o, ok := addrValue(a.str("ip-prefix"))
		if !ok {
			b.skip("address %q: ip-prefix %q is not an address or prefix", name, a.str("ip-prefix"))
			return o, false
		}
		o.Name = name
		return o, true
	case a.has("dns-name"):
		return facts.AddressObject{Name: name, Type: facts.AddrFQDN, Value: a.one("dns-name").str("name")}, true
	case a.has("range-address"):
		r := a.one("range-address")
		return facts.AddressObject{Name: name, Type: facts.AddrRange, Value: r.str("name") + "-" + r.at("to").str("range-high")}, true
	}
	b.skip("address %q: a type the facts cannot hold (only ip-prefix, dns-name and range-address)", name)
	return facts.AddressObject{}, false
}

// srxActions are the policy actions; count and log sit beside them.
var srxActions = []struct{ elem, action string }{
	{"permit", facts.ActionPermit}, {"deny", facts.ActionDeny}, {"reject", facts.ActionReject},
}

func srxPolicy(b *builder, p *jnode, from, to string) (facts.Rule, bool) {
	name := p.str("name")
	id := from + ">" + to + ":" + name
	m := p.one("match")
	for _, f := range []string{"source-address-excluded", "destination-address-excluded"} {
		if m.has(f) {
			b.skip("policy %s: %s (a negated match), which the facts cannot hold", id, f)
			return facts.Rule{}, false
		}
	}
	for _, f := range []string{"source-identity", "url-category", "source-end-user-profile"} {
		if m.has(f) {
			b.skip("policy %s: it matches %s, which the facts cannot hold", id, f)
			return facts.Rule{}, false
		}
	}
	if d := m.str("dynamic-application"); d != "" && d != "any" {
		b.skip("policy %s: it matches dynamic-application %s, which the facts cannot hold", id, d)
		return facts.Rule{}, false
	}
	r := facts.Rule{RuleID: id, RuleName: name, SrcZones: []string{from}, DstZones: []string{to}}
	for _, a := range srxActions {
		if p.one("then").has(a.elem) {
			r.Action = a.action
			break
		}
	}
	if r.Action == "" {
		b.skip("policy %s: no permit, deny or reject", id)
		return facts.Rule{}, false
	}
	for _, x := range m.all("source-address") {
		r.SrcAddresses = append(r.SrcAddresses, strings.TrimSpace(x.text))
	}
	for _, x := range m.all("destination-address") {
		r.DstAddresses = append(r.DstAddresses, strings.TrimSpace(x.text))
	}
	for _, x := range m.all("application") {
		r.Services = append(r.Services, strings.TrimSpace(x.text))
	}
	if p.attrs["inactive"] == "inactive" {
		r.Enabled = boolp(false)
	}
	return r, true
}
