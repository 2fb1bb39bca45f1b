package parse

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// PAN-OS: the XML configuration (`show config running` with the CLI's
// output format set to XML, or the XML API's <response><result>). Rules,
// objects and zones of the one virtual system the facts can hold, with
// shared objects where the virtual system has none of that name.
func init() {
	firewallFormats = append(firewallFormats, firewallFormat{name: "PAN-OS XML configuration", detect: isPANOSConfig, parse: panosConfig})
}

// isPANOSConfig looks for the <config> root and the <devices> tree that
// every PAN-OS configuration has in its first bytes (the Junos
// configuration root is <configuration>).
func isPANOSConfig(data []byte) bool {
	head := data[:min(len(data), 4096)]
	return (bytes.Contains(head, []byte("<config ")) || bytes.Contains(head, []byte("<config>"))) &&
		(bytes.Contains(data, []byte("<devices>")) || bytes.Contains(data, []byte("<shared>")))
}

// panosActions maps rule actions; the reset actions answer with a TCP
// reset or ICMP unreachable, which the facts call reject.
var panosActions = map[string]string{
	"allow": facts.ActionPermit, "deny": facts.ActionDeny, "drop": facts.ActionDrop,
	"reset-client": facts.ActionReject, "reset-server": facts.ActionReject, "reset-both": facts.ActionReject,
}

// panosPredefined are the services PAN-OS defines itself.
var panosPredefined = map[string]facts.ServiceObject{
	"service-http":  {Name: "service-http", Protocol: "tcp", DestPorts: "80,8080"},
	"service-https": {Name: "service-https", Protocol: "tcp", DestPorts: "443"},
}

func members(n *jnode, name string) []string {
	var out []string
	for _, m := range n.one(name).all("member") {
		if t := strings.TrimSpace(m.text); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func panosConfig(b *builder, data []byte) error {
	root, err := readXMLTree(bytes.TrimSpace(data))
	if err != nil {
		return err
	}
	cfg := root.one("config")
	if resp := root.one("response"); resp != nil {
		if resp.attrs["status"] != "success" {
			return fmt.Errorf("the device answered with an error: %s", strings.TrimSpace(resp.at("msg").textAll()))
		}
		cfg = resp.at("result", "config")
	}
	if cfg == nil {
		return errors.New(`not a PAN-OS configuration: it has no <config>`)
	}
	vsysList := cfg.at("devices", "entry").all("vsys")
	var vsys *jnode
	if len(vsysList) > 0 {
		entries := vsysList[0].all("entry")
		if len(entries) > 0 {
			vsys = entries[0]
		}
		for _, e := range entries[1:] {
			b.skip("vsys %s: the facts hold one policy per device; only %s is read", e.attrs["name"], vsys.attrs["name"])
		}
	}
	shared := cfg.one("shared")
	if vsys == nil && shared == nil {
		return errors.New("not a PAN-OS configuration: it has neither a vsys nor shared objects")
	}
	s := &fwSet{b: b}
	for _, z := range vsys.at("zone").all("entry") {
		zone := facts.Zone{Name: z.attrs["name"]}
		for _, kind := range []string{"layer3", "layer2", "virtual-wire", "tap"} {
			zone.Interfaces = append(zone.Interfaces, members(z.one("network"), kind)...)
		}
		s.zones = append(s.zones, zone)
	}
	// The vsys's objects first: a shared object of the same name is
	// shadowed by it.
	taken := map[string]bool{}
	for _, scope := range []*jnode{vsys, shared} {
		for _, a := range scope.at("address").all("entry") {
			name := a.attrs["name"]
			if taken["a:"+name] {
				continue
			}
			taken["a:"+name] = true
			o, ok := panosAddress(b, a)
			if ok {
				s.addrs = append(s.addrs, o)
			}
		}
		for _, g := range scope.at("address-group").all("entry") {
			name := g.attrs["name"]
			if taken["a:"+name] {
				continue
			}
			taken["a:"+name] = true
			if g.has("dynamic") {
				b.skip("address group %q: a dynamic group (members chosen by tag at run time)", name)
				continue
			}
			s.addrs = append(s.addrs, facts.AddressObject{Name: name, Type: facts.AddrGroup, Members: members(g, "static")})
		}
		for _, v := range scope.at("service").all("entry") {
			name := v.attrs["name"]
			if taken["s:"+name] {
				continue
			}
			taken["s:"+name] = true
			if o, ok := panosService(b, v); ok {
				s.svcs = append(s.svcs, o)
			}
		}
		for _, g := range scope.at("service-group").all("entry") {
			name := g.attrs["name"]
			if taken["s:"+name] {
				continue
			}
			taken["s:"+name] = true
			s.svcs = append(s.svcs, facts.ServiceObject{Name: name, Members: members(g, "members")})
		}
	}
	usePredefined := func(names []string) {
		for _, v := range names {
			if p, ok := panosPredefined[v]; ok && !taken["s:"+v] {
				taken["s:"+v] = true
				s.svcs = append(s.svcs, p)
			}
		}
	}
	for _, o := range s.svcs {
		usePredefined(o.Members)
	}
	for _, r := range vsys.at("rulebase", "security", "rules").all("entry") {
		if rule, ok := panosRule(b, r); ok {
			usePredefined(rule.Services)
			s.rules = append(s.rules, rule)
		}
	}
	s.commit()
	return nil
}

func panosAddress(b *builder, a *jnode) (facts.AddressObject, bool) {
	name := a.attrs["name"]
	switch {
	case a.has("ip-netmask"):
		o, ok := addrValue(a.str("ip-netmask"))
		if !ok {
			b.skip("address %q: ip-netmask %q is not an address or prefix", name, a.str("ip-netmask"))
			return o, false
		}
		o.Name = name
		return o, true
	case a.has("ip-range"):
		return facts.AddressObject{Name: name, Type: facts.AddrRange, Value: a.str("ip-range")}, true
	case a.has("fqdn"):
		return facts.AddressObject{Name: name, Type: facts.AddrFQDN, Value: a.str("fqdn")}, true
	}
	b.skip("address %q: a type the facts cannot hold (only ip-netmask, ip-range and fqdn)", name)
	return facts.AddressObject{}, false
}

func panosService(b *builder, v *jnode) (facts.ServiceObject, bool) {
	name := v.attrs["name"]
	for _, proto := range []string{"tcp", "udp"} {
		p := v.at("protocol", proto)
		if p == nil {
			continue
		}
		if p.str("source-port") != "" {
			b.skip("service %q: it matches source ports, which the facts cannot hold", name)
			return facts.ServiceObject{}, false
		}
		return facts.ServiceObject{Name: name, Protocol: proto, DestPorts: p.str("port")}, true
	}
	b.skip("service %q: a protocol the facts cannot hold (only tcp and udp)", name)
	return facts.ServiceObject{}, false
}

func panosRule(b *builder, r *jnode) (facts.Rule, bool) {
	name := r.attrs["name"]
	action, ok := panosActions[r.str("action")]
	if !ok {
		b.skip("rule %q: action %q is not one the facts can hold", name, r.str("action"))
		return facts.Rule{}, false
	}
	// Matches the facts cannot express would make the rule broader than
	// it is: leave it out and say why.
	for _, f := range []string{"negate-source", "negate-destination"} {
		if r.str(f) == "yes" {
			b.skip("rule %q: %s, which the facts cannot hold", name, f)
			return facts.Rule{}, false
		}
	}
	for _, f := range []string{"application", "source-user", "category"} {
		if m := members(r, f); len(m) > 0 && !(len(m) == 1 && m[0] == "any") {
			b.skip("rule %q: it matches %s %s, which the facts cannot hold", name, f, strings.Join(m, ", "))
			return facts.Rule{}, false
		}
	}
	services := members(r, "service")
	for _, v := range services {
		if v == "application-default" {
			b.skip("rule %q: service application-default (the applications' own ports), which the facts cannot hold", name)
			return facts.Rule{}, false
		}
	}
	rule := facts.Rule{RuleID: name, RuleName: name, Action: action,
		SrcZones: members(r, "from"), DstZones: members(r, "to"),
		SrcAddresses: members(r, "source"), DstAddresses: members(r, "destination"), Services: services}
	if r.str("disabled") == "yes" {
		rule.Enabled = boolp(false)
	}
	return rule, true
}
