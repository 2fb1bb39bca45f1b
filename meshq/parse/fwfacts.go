package parse

import (
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// fwSet collects one output's firewall facts before they join the
// device's: groups and rules may name objects defined later in the same
// output (or in an output parsed earlier), and only what resolves is
// added, each left-out entry noted.
type fwSet struct {
	b      *builder
	zones  []facts.Zone
	addrs  []facts.AddressObject
	svcs   []facts.ServiceObject
	rules  []facts.Rule
	action string
}

// firewall returns the device's firewall section, creating it.
func (b *builder) firewall() *facts.Firewall {
	if b.dev.Firewall == nil {
		b.dev.Firewall = &facts.Firewall{}
	}
	return b.dev.Firewall
}

// commit adds the set to the device: groups whose members all exist
// (transitively), then rules whose every name resolves.
func (s *fwSet) commit() {
	fw := s.b.firewall()
	known := func(list []facts.AddressObject, name string) bool {
		for _, o := range list {
			if o.Name == name {
				return true
			}
		}
		return false
	}
	zoneSeen := map[string]bool{}
	for _, z := range fw.Zones {
		zoneSeen[z.Name] = true
	}
	for _, z := range s.zones {
		if zoneSeen[z.Name] {
			s.b.skip("zone %q: defined twice", z.Name)
			continue
		}
		zoneSeen[z.Name] = true
		fw.Zones = append(fw.Zones, z)
	}
	// Address objects, then groups in rounds until none can be added.
	addAddr := func(o facts.AddressObject) bool {
		if o.Name == facts.Any || known(fw.AddressObjects, o.Name) {
			s.b.skip("address %q: the name is taken", o.Name)
			return true
		}
		if o.Type == facts.AddrGroup {
			for _, m := range o.Members {
				if !known(fw.AddressObjects, m) {
					return false
				}
			}
		}
		fw.AddressObjects = append(fw.AddressObjects, o)
		return true
	}
	pending := s.addrs
	for len(pending) > 0 {
		var next []facts.AddressObject
		for _, o := range pending {
			if !addAddr(o) {
				next = append(next, o)
			}
		}
		if len(next) == len(pending) {
			for _, o := range next {
				s.b.skip("address group %q: a member is not an address the facts hold (%s)", o.Name, strings.Join(missingAddrs(fw, o.Members), ", "))
			}
			break
		}
		pending = next
	}
	svcKnown := func(name string) bool {
		for _, o := range fw.ServiceObjects {
			if o.Name == name {
				return true
			}
		}
		return false
	}
	spending := s.svcs
	for len(spending) > 0 {
		var next []facts.ServiceObject
		for _, o := range spending {
			if o.Name == facts.Any || svcKnown(o.Name) {
				s.b.skip("service %q: the name is taken", o.Name)
				continue
			}
			ok := true
			for _, m := range o.Members {
				ok = ok && svcKnown(m)
			}
			if !ok {
				next = append(next, o)
				continue
			}
			fw.ServiceObjects = append(fw.ServiceObjects, o)
		}
		if len(next) == len(spending) {
			for _, o := range next {
				var miss []string
				for _, m := range o.Members {
					if !svcKnown(m) {
						miss = append(miss, m)
					}
				}
				s.b.skip("service group %q: a member is not a service the facts hold (%s)", o.Name, strings.Join(miss, ", "))
			}
			break
		}
		spending = next
	}
	order := 0
	for _, r := range fw.Rules {
		if r.RuleOrder >= order {
			order = r.RuleOrder + 1
		}
	}
rules:
	for _, r := range s.rules {
		for _, a := range append(append([]string(nil), r.SrcAddresses...), r.DstAddresses...) {
			if !addrResolves(fw, a) {
				s.b.skip("rule %q: address %q is not an address the facts hold", r.RuleID, a)
				continue rules
			}
		}
		for _, v := range r.Services {
			if !strings.EqualFold(v, facts.Any) && !svcKnown(v) {
				if _, _, ok := facts.ParseServiceLiteral(v); !ok {
					s.b.skip("rule %q: service %q is not a service the facts hold", r.RuleID, v)
					continue rules
				}
			}
		}
		r.RuleOrder = order
		order++
		fw.Rules = append(fw.Rules, r)
	}
	if s.action != "" {
		fw.DefaultAction = s.action
	}
}

// addrResolves reports whether a rule's address is an object, any or a
// literal the facts accept.
func addrResolves(fw *facts.Firewall, a string) bool {
	if strings.EqualFold(a, facts.Any) {
		return true
	}
	for _, o := range fw.AddressObjects {
		if o.Name == a {
			return true
		}
	}
	if _, err := facts.ParseAddr(a); err == nil {
		return true
	}
	if _, err := facts.ParseNetwork(a); err == nil {
		return true
	}
	_, _, err := facts.ParseRange(a)
	return err == nil
}

func missingAddrs(fw *facts.Firewall, names []string) []string {
	var out []string
	for _, m := range names {
		found := false
		for _, o := range fw.AddressObjects {
			found = found || o.Name == m
		}
		if !found {
			out = append(out, m)
		}
	}
	return out
}

// addrValue types an address the facts way: a single address is a host,
// a prefix a network.
func addrValue(v string) (facts.AddressObject, bool) {
	if a, err := facts.ParseAddr(v); err == nil {
		return facts.AddressObject{Type: facts.AddrHost, Value: a.String()}, true
	}
	p, err := facts.ParseInterfaceIP(v)
	if err != nil {
		return facts.AddressObject{}, false
	}
	if p.IsSingleIP() {
		return facts.AddressObject{Type: facts.AddrHost, Value: p.Addr().String()}, true
	}
	return facts.AddressObject{Type: facts.AddrNetwork, Value: p.Masked().String()}, true
}
