package facts

import (
	"fmt"
	"slices"
	"strings"
)

// Any is the wildcard accepted for zones, addresses, services and ports.
const Any = "any"

// Service protocols.
const (
	ProtoTCP  = "tcp"
	ProtoUDP  = "udp"
	ProtoICMP = "icmp"
	ProtoAny  = "any"
)

// CanonicalAction folds an action to permit, deny, drop or reject, taking
// the vendors' allow and accept for permit.
func CanonicalAction(s string) (string, bool) {
	switch a := strings.ToLower(strings.TrimSpace(s)); a {
	case ActionPermit, "allow", "accept":
		return ActionPermit, true
	case ActionDeny, ActionDrop, ActionReject:
		return a, true
	}
	return "", false
}

// CanonicalProtocol folds a service protocol to tcp, udp, icmp or any.
func CanonicalProtocol(s string) (string, bool) {
	switch p := strings.ToLower(strings.TrimSpace(s)); p {
	case ProtoTCP, ProtoUDP, ProtoICMP, ProtoAny:
		return p, true
	}
	return "", false
}

// ParseServiceLiteral parses a service written in a rule instead of an
// object name: "tcp/443", "udp/8000-8080", "tcp/80,443", "icmp", "tcp"
// (every port). It returns the protocol and the ports (nil: every port).
func ParseServiceLiteral(s string) (proto string, ports []PortRange, ok bool) {
	p, portText, hasPorts := strings.Cut(s, "/")
	proto, ok = CanonicalProtocol(p)
	if !ok || proto == ProtoAny {
		return "", nil, false
	}
	if !hasPorts {
		return proto, nil, true
	}
	if proto == ProtoICMP {
		return "", nil, false
	}
	ports, err := ParsePorts(portText)
	if err != nil {
		return "", nil, false
	}
	return proto, ports, true
}

// FormatServiceLiteral is the canonical form of a service literal.
func FormatServiceLiteral(proto string, ports []PortRange) string {
	if len(ports) == 0 {
		return proto
	}
	return proto + "/" + FormatPorts(ports)
}

// canonicalAddressLiteral canonicalises an address written in a rule
// instead of an object name: an IP, a prefix (host bits cleared) or a range.
func canonicalAddressLiteral(s string) (string, bool) {
	if strings.Contains(s, "/") {
		p, err := ParseNetwork(s)
		if err != nil {
			return "", false
		}
		return p.String(), true
	}
	if strings.Contains(s, "-") {
		lo, hi, err := ParseRange(s)
		if err != nil {
			return "", false
		}
		return lo.String() + "-" + hi.String(), true
	}
	a, err := ParseAddr(s)
	if err != nil {
		return "", false
	}
	return a.String(), true
}

// validFQDN accepts DNS names, with an optional leading "*." wildcard.
func validFQDN(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func normFirewall(ps *problems, dp string, d *Device, ifaces map[string]int) {
	fw := d.Firewall
	fp := dp + ".firewall"
	if fw.DefaultAction != "" {
		if a, ok := CanonicalAction(fw.DefaultAction); ok {
			fw.DefaultAction = a
		} else {
			ps.add(fp+".default_action", fmt.Sprintf("unknown action %q (want permit, deny, drop or reject)", clip(fw.DefaultAction)))
		}
	}

	// Zones, and the interface → zone binding they declare.
	zones := make(map[string]int, len(fw.Zones))
	boundTo := make(map[string]string)
	for zi := range fw.Zones {
		z := &fw.Zones[zi]
		checkName(ps, z.Name, true, fp, "zones", zi, "name")
		if z.Name == Any {
			ps.add(at(fp, "zones", zi, "name"), `"any" is reserved`)
		}
		if first, dup := zones[z.Name]; dup {
			ps.add(at(fp, "zones", zi, "name"), fmt.Sprintf("duplicate zone %q (first at zones[%d])", clip(z.Name), first))
		} else if z.Name != "" {
			zones[z.Name] = zi
		}
		inZone := make(map[string]bool, len(z.Interfaces))
		z.Interfaces = slices.DeleteFunc(z.Interfaces, func(n string) bool {
			dup := inZone[n]
			inZone[n] = true
			return dup
		})
		for k, name := range z.Interfaces {
			if _, ok := ifaces[name]; !ok {
				ps.add(at(fp, "zones", zi, "interfaces", k), fmt.Sprintf("no interface %q on this device", clip(name)))
				continue
			}
			if other, ok := boundTo[name]; ok {
				ps.add(at(fp, "zones", zi, "interfaces", k), fmt.Sprintf("interface %q is already in zone %q", clip(name), clip(other)))
				continue
			}
			boundTo[name] = z.Name
		}
	}
	// The interface's own zone field and the zone lists must agree; either
	// may be given, and each is filled in from the other.
	for j := range d.Interfaces {
		ifc := &d.Interfaces[j]
		if bound, ok := boundTo[ifc.Name]; ok {
			if ifc.Zone == "" {
				ifc.Zone = bound
			} else if ifc.Zone != bound {
				ps.add(at(dp, "interfaces", j, "zone"), fmt.Sprintf("zone %q, but firewall.zones puts the interface in %q", clip(ifc.Zone), clip(bound)))
			}
			continue
		}
		if ifc.Zone == "" {
			continue
		}
		if zi, ok := zones[ifc.Zone]; ok {
			fw.Zones[zi].Interfaces = append(fw.Zones[zi].Interfaces, ifc.Name)
			boundTo[ifc.Name] = ifc.Zone
		} else {
			ps.add(at(dp, "interfaces", j, "zone"), fmt.Sprintf("no zone %q in firewall.zones", clip(ifc.Zone)))
		}
	}

	addrs := normAddressObjects(ps, fp, fw)
	svcs := normServiceObjects(ps, fp, fw)
	normRules(ps, fp, fw, zones, addrs, svcs)
}

func normAddressObjects(ps *problems, fp string, fw *Firewall) map[string]int {
	names := make(map[string]int, len(fw.AddressObjects))
	for k := range fw.AddressObjects {
		o := &fw.AddressObjects[k]
		path := func(f string) string { return at(fp, "address_objects", k, f) }
		checkName(ps, o.Name, true, fp, "address_objects", k, "name")
		if o.Name == Any {
			ps.add(path("name"), `"any" is reserved`)
		} else if first, dup := names[o.Name]; dup && o.Name != "" {
			ps.add(path("name"), fmt.Sprintf("duplicate address object %q (first at address_objects[%d])", clip(o.Name), first))
		} else if o.Name != "" {
			names[o.Name] = k
		}
		t := strings.ToLower(o.Type)
		switch t {
		case AddrHost, AddrNetwork, AddrRange, AddrFQDN, AddrGroup:
			o.Type = t
		case "":
			ps.add(path("type"), "required (host, network, range, fqdn or group)")
			continue
		default:
			ps.add(path("type"), fmt.Sprintf("unknown type %q (want host, network, range, fqdn or group)", clip(o.Type)))
			continue
		}
		if t == AddrGroup {
			if o.Value != "" {
				ps.add(path("value"), "a group has members, not a value")
			}
			if len(o.Members) == 0 {
				ps.add(path("members"), "a group needs members")
			}
			continue
		}
		if len(o.Members) > 0 {
			ps.add(path("members"), "only a group has members")
		}
		if o.Value == "" {
			ps.add(path("value"), "required")
			continue
		}
		switch t {
		case AddrHost:
			a, err := ParseAddr(o.Value)
			if err != nil {
				// A full-length prefix (10.0.0.1/32) is a host too.
				if p, perr := ParseInterfaceIP(o.Value); perr == nil && p.IsSingleIP() {
					a, err = p.Addr(), nil
				}
			}
			if err != nil {
				ps.add(path("value"), err.Error())
			} else {
				o.Value = a.String()
			}
		case AddrNetwork:
			if p, err := ParseNetwork(o.Value); err != nil {
				ps.add(path("value"), err.Error())
			} else {
				o.Value = p.String()
			}
		case AddrRange:
			if lo, hi, err := ParseRange(o.Value); err != nil {
				ps.add(path("value"), err.Error())
			} else {
				o.Value = lo.String() + "-" + hi.String()
			}
		case AddrFQDN:
			v := strings.TrimSuffix(strings.ToLower(o.Value), ".")
			if !validFQDN(v) {
				ps.add(path("value"), "not a DNS name")
			} else {
				o.Value = v
			}
		}
	}
	for k := range fw.AddressObjects {
		o := &fw.AddressObjects[k]
		for m, member := range o.Members {
			if _, ok := names[member]; !ok {
				ps.add(at(fp, "address_objects", k, "members", m), fmt.Sprintf("no address object %q", clip(member)))
			}
		}
	}
	checkCycles(ps, fp, "address_objects", len(fw.AddressObjects),
		func(k int) []string { return fw.AddressObjects[k].Members }, names)
	return names
}

func normServiceObjects(ps *problems, fp string, fw *Firewall) map[string]int {
	names := make(map[string]int, len(fw.ServiceObjects))
	for k := range fw.ServiceObjects {
		o := &fw.ServiceObjects[k]
		path := func(f string) string { return at(fp, "service_objects", k, f) }
		checkName(ps, o.Name, true, fp, "service_objects", k, "name")
		if o.Name == Any {
			ps.add(path("name"), `"any" is reserved`)
		} else if first, dup := names[o.Name]; dup && o.Name != "" {
			ps.add(path("name"), fmt.Sprintf("duplicate service object %q (first at service_objects[%d])", clip(o.Name), first))
		} else if o.Name != "" {
			names[o.Name] = k
		}
		if len(o.Members) > 0 {
			if o.Protocol != "" || o.DestPorts != "" {
				ps.add(path("members"), "a group has members, not a protocol or ports")
			}
			continue
		}
		proto, ok := CanonicalProtocol(o.Protocol)
		if !ok {
			if o.Protocol == "" {
				ps.add(path("protocol"), "required (tcp, udp, icmp or any), or members for a group")
			} else {
				ps.add(path("protocol"), fmt.Sprintf("unknown protocol %q (want tcp, udp, icmp or any)", clip(o.Protocol)))
			}
			continue
		}
		o.Protocol = proto
		ports, err := ParsePorts(o.DestPorts)
		if err != nil {
			ps.add(path("dest_ports"), err.Error())
			continue
		}
		if ports != nil && proto != ProtoTCP && proto != ProtoUDP {
			ps.add(path("dest_ports"), "ports need protocol tcp or udp")
			continue
		}
		o.DestPorts = FormatPorts(ports)
	}
	for k := range fw.ServiceObjects {
		for m, member := range fw.ServiceObjects[k].Members {
			if _, ok := names[member]; !ok {
				ps.add(at(fp, "service_objects", k, "members", m), fmt.Sprintf("no service object %q", clip(member)))
			}
		}
	}
	checkCycles(ps, fp, "service_objects", len(fw.ServiceObjects),
		func(k int) []string { return fw.ServiceObjects[k].Members }, names)
	return names
}

// checkCycles reports every group that contains itself, directly or
// through other groups (which would make resolving it loop forever).
func checkCycles(ps *problems, fp, list string, n int, members func(int) []string, names map[string]int) {
	const (
		unvisited = iota
		active
		done
	)
	state := make([]uint8, n)
	var visit func(k int) bool
	visit = func(k int) bool {
		switch state[k] {
		case active:
			return true
		case done:
			return false
		}
		state[k] = active
		cyclic := false
		for _, m := range members(k) {
			if mk, ok := names[m]; ok && visit(mk) {
				cyclic = true
			}
		}
		state[k] = done
		return cyclic
	}
	for k := 0; k < n; k++ {
		if len(members(k)) == 0 || state[k] != unvisited {
			continue
		}
		if visit(k) {
			ps.add(at(fp, list, k, "members"), "group contains itself (a membership cycle)")
		}
	}
}

func normRules(ps *problems, fp string, fw *Firewall, zones, addrs, svcs map[string]int) {
	ids := make(map[string]int, len(fw.Rules))
	orders := make(map[int]int, len(fw.Rules))
	for k := range fw.Rules {
		r := &fw.Rules[k]
		path := func(f string, idx ...int) string {
			if len(idx) > 0 {
				return at(fp, "rules", k, f, idx[0])
			}
			return at(fp, "rules", k, f)
		}
		checkName(ps, r.RuleID, true, fp, "rules", k, "rule_id")
		if first, dup := ids[r.RuleID]; dup && r.RuleID != "" {
			ps.add(path("rule_id"), fmt.Sprintf("duplicate rule_id %q (first at rules[%d])", clip(r.RuleID), first))
		} else if r.RuleID != "" {
			ids[r.RuleID] = k
		}
		checkName(ps, r.RuleName, false, fp, "rules", k, "rule_name")
		if r.RuleOrder < 0 {
			ps.add(path("rule_order"), "negative")
		} else if first, dup := orders[r.RuleOrder]; dup {
			ps.add(path("rule_order"), fmt.Sprintf("duplicate rule_order %d (first at rules[%d]); evaluation order must be total", r.RuleOrder, first))
		} else {
			orders[r.RuleOrder] = k
		}
		if a, ok := CanonicalAction(r.Action); ok {
			r.Action = a
		} else if r.Action == "" {
			ps.add(path("action"), "required (permit, deny, drop or reject)")
		} else {
			ps.add(path("action"), fmt.Sprintf("unknown action %q (want permit, deny, drop or reject)", clip(r.Action)))
		}
		for _, list := range []struct {
			field string
			zs    []string
		}{{"src_zones", r.SrcZones}, {"dst_zones", r.DstZones}} {
			for m, z := range list.zs {
				if _, ok := zones[z]; !ok && z != Any {
					ps.add(path(list.field, m), fmt.Sprintf("no zone %q in firewall.zones", clip(z)))
				}
			}
		}
		for _, list := range []struct {
			field string
			as    []string
		}{{"src_addresses", r.SrcAddresses}, {"dst_addresses", r.DstAddresses}} {
			for m, a := range list.as {
				if _, ok := addrs[a]; ok {
					continue
				}
				if strings.EqualFold(a, Any) {
					list.as[m] = Any
					continue
				}
				if lit, ok := canonicalAddressLiteral(a); ok {
					list.as[m] = lit
					continue
				}
				ps.add(path(list.field, m), fmt.Sprintf("no address object %q, and not an IP, prefix, range or any", clip(a)))
			}
		}
		for m, s := range r.Services {
			if _, ok := svcs[s]; ok {
				continue
			}
			if strings.EqualFold(s, Any) {
				r.Services[m] = Any
				continue
			}
			if proto, ports, ok := ParseServiceLiteral(s); ok {
				r.Services[m] = FormatServiceLiteral(proto, ports)
				continue
			}
			ps.add(path("services", m), fmt.Sprintf("no service object %q, and not a literal such as tcp/443 or any", clip(s)))
		}
		if r.HitCount != nil && *r.HitCount < 0 {
			ps.add(path("hit_count"), "negative")
		}
	}
	if !slices.IsSortedFunc(fw.Rules, cmpRuleOrder) {
		slices.SortStableFunc(fw.Rules, cmpRuleOrder)
	}
}

func cmpRuleOrder(a, b Rule) int { return a.RuleOrder - b.RuleOrder }
