package firewall

import (
	"slices"
	"strings"
)

// Object kinds.
const (
	KindAddress = "address"
	KindService = "service"
)

// ObjectUse is one way a rule reaches an object: the rule field that names
// it and the chain of references from that name to the object (just the
// object when the rule names it directly).
type ObjectUse struct {
	Rule  *Rule
	Field string // "source", "destination" or "service"
	Via   []string
}

// Object is a named address or service object.
type Object struct {
	Kind  string
	Name  string
	Type  string // host, network, range, fqdn, group; service objects: protocol or "group"
	Value string
}

// AddressObject returns the object named name and whether it exists.
func (p *Policy) AddressObject(name string) (Object, bool) {
	o, ok := p.addrObjs[name]
	if !ok {
		return Object{}, false
	}
	return Object{Kind: KindAddress, Name: o.Name, Type: o.Type, Value: o.Value}, true
}

// AddressObjectUses returns every rule (enabled or not) that reaches the
// address object, directly or through groups, in rule order.
func (p *Policy) AddressObjectUses(name string) []ObjectUse {
	var out []ObjectUse
	for _, r := range p.Rules {
		for _, f := range []struct {
			field string
			refs  []string
		}{{"source", r.SrcAddresses}, {"destination", r.DstAddresses}} {
			for _, ref := range f.refs {
				if via := p.addrPath(ref, name, nil); via != nil {
					out = append(out, ObjectUse{Rule: r, Field: f.field, Via: via})
				}
			}
		}
	}
	return out
}

// addrPath finds the chain of group memberships from ref down to target.
func (p *Policy) addrPath(ref, target string, stack []string) []string {
	if slices.Contains(stack, ref) {
		return nil
	}
	stack = append(stack, ref)
	if ref == target {
		return slices.Clone(stack)
	}
	o, ok := p.addrObjs[ref]
	if !ok || !strings.EqualFold(o.Type, "group") {
		return nil
	}
	for _, m := range o.Members {
		if via := p.addrPath(m, target, stack); via != nil {
			return via
		}
	}
	return nil
}

// GroupsContaining returns the address groups that hold name, directly or
// through other groups, sorted.
func (p *Policy) GroupsContaining(name string) []string {
	var out []string
	for g, o := range p.addrObjs {
		if g == name || !strings.EqualFold(o.Type, "group") {
			continue
		}
		if p.addrPath(g, name, nil) != nil {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// UnusedObjects returns the address and service objects no rule (enabled
// or not) reaches, directly or through groups: an object used only by an
// unused group is unused too. Sorted by kind, then name.
func (p *Policy) UnusedObjects() []Object {
	usedAddr := map[string]bool{}
	usedSvc := map[string]bool{}
	var markAddr, markSvc func(string)
	markAddr = func(n string) {
		o, ok := p.addrObjs[n]
		if !ok || usedAddr[n] {
			return
		}
		usedAddr[n] = true
		for _, m := range o.Members {
			markAddr(m)
		}
	}
	markSvc = func(n string) {
		o, ok := p.svcObjs[n]
		if !ok || usedSvc[n] {
			return
		}
		usedSvc[n] = true
		for _, m := range o.Members {
			markSvc(m)
		}
	}
	for _, r := range p.Rules {
		for _, n := range slices.Concat(r.SrcAddresses, r.DstAddresses) {
			markAddr(n)
		}
		for _, n := range r.Services {
			markSvc(n)
		}
	}
	var out []Object
	for n, o := range p.addrObjs {
		if !usedAddr[n] {
			out = append(out, Object{Kind: KindAddress, Name: n, Type: o.Type, Value: o.Value})
		}
	}
	for n, o := range p.svcObjs {
		if !usedSvc[n] {
			typ, val := o.Protocol, o.DestPorts
			if len(o.Members) > 0 {
				typ, val = "group", strings.Join(o.Members, ",")
			}
			out = append(out, Object{Kind: KindService, Name: n, Type: typ, Value: val})
		}
	}
	slices.SortFunc(out, func(a, b Object) int {
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
