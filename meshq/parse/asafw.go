package parse

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Cisco ASA (and FTD's LINA) firewall policy from its running
// configuration: "show running-config access-list", "object",
// "object-group" and "access-group", one output each. The four are read
// together (a rule names objects, an access group binds a rule set), so
// each output is kept and the firewall section rebuilt from all of them.
//
// An access list is policy only where an access group binds it: rules
// bound "in interface X" get X (the interface's nameif, its zone) as
// source zone, "out interface X" as destination zone, and "global" rules
// come last, with no zone. What the facts format cannot say (source
// ports, ICMP types, protocols other than tcp, udp, icmp and ip, user and
// security-group matches) leaves the rule, or the object, out, with a
// note; never a broader or narrower stand-in.

func init() {
	firewallFormats = append(firewallFormats, firewallFormat{name: "cisco asa configuration", detect: isASAConfig, parse: asaConfig})
}

// isASAConfig reports whether data is ASA configuration: its first line
// that is not a comment or the "Saved" banner is an access-list, object,
// object-group or access-group command.
func isASAConfig(data []byte) bool {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '!' || line[0] == ':' {
			continue
		}
		for _, p := range []string{"access-list ", "object network ", "object service ", "object-group ", "access-group "} {
			if bytes.HasPrefix(line, []byte(p)) {
				return true
			}
		}
		return false
	}
	return false
}

// asaState is what the firewall outputs read so far gave: each kept
// whole, and the notes already reported. It is never changed in place,
// so a snapshot of the builder keeps it.
type asaState struct {
	outputs map[platform.Kind][]byte
	noted   map[string]bool
}

func asaConfig(b *builder, data []byte) error {
	if line, ok := cliError(data); ok {
		return fmt.Errorf("the device refused the command: %q", clipText(line))
	}
	if !isASAConfig(data) {
		return fmt.Errorf("not ASA configuration: it begins %q", firstLine(data))
	}
	next := &asaState{outputs: map[platform.Kind][]byte{}, noted: map[string]bool{}}
	if b.asa != nil {
		for k, v := range b.asa.outputs {
			next.outputs[k] = v
		}
		for k := range b.asa.noted {
			next.noted[k] = true
		}
	}
	next.outputs[b.kind] = data
	cfg := &asaCfg{}
	for _, k := range []platform.Kind{platform.KindFirewall, platform.KindFWObjects, platform.KindFWServices, platform.KindFWBindings} {
		if d, ok := next.outputs[k]; ok {
			cfg.read(d)
		}
	}
	fw := cfg.build()
	for _, n := range cfg.notes {
		if !next.noted[n] {
			next.noted[n] = true
			b.skip("%s", n)
		}
	}
	b.asa = next
	b.dev.Firewall = fw
	return nil
}

// asaCfg is the configuration read from the outputs.
type asaCfg struct {
	objects  []*asaBlock
	byName   map[string]*asaBlock
	acls     map[string][]asaLine
	aclOrder []string
	bindings []asaBinding
	notes    []string
}

// asaBlock is an object or object group with its lines.
type asaBlock struct {
	kind  string // "network", "service", "group network", "group service", "group protocol", "group icmp-type"
	name  string
	proto string // a service group's tcp, udp or tcp-udp (a port group)
	lines [][]string
}

type asaLine struct {
	n      int // the ASA's line number within its access list (remarks count)
	fields []string
}

type asaBinding struct{ acl, dir, iface string }

func (c *asaCfg) note(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

func (c *asaCfg) read(data []byte) {
	if c.byName == nil {
		c.byName, c.acls = map[string]*asaBlock{}, map[string][]asaLine{}
	}
	var cur *asaBlock
	for _, raw := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
		f := strings.Fields(raw)
		if len(f) == 0 || strings.HasPrefix(f[0], "!") || strings.HasPrefix(f[0], ":") {
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if cur != nil && f[0] != "description" && f[0] != "description:" {
				cur.lines = append(cur.lines, f)
			}
			continue
		}
		cur = nil
		switch {
		case f[0] == "access-list" && len(f) >= 3:
			if _, ok := c.acls[f[1]]; !ok {
				c.aclOrder = append(c.aclOrder, f[1])
			}
			c.acls[f[1]] = append(c.acls[f[1]], asaLine{n: len(c.acls[f[1]]) + 1, fields: f[2:]})
		case f[0] == "object" && len(f) == 3 && (f[1] == "network" || f[1] == "service"):
			cur = &asaBlock{kind: f[1], name: f[2]}
		case f[0] == "object-group" && len(f) >= 3:
			cur = &asaBlock{kind: "group " + f[1], name: f[2]}
			if len(f) > 3 {
				cur.proto = f[3]
			}
		case f[0] == "access-group" && len(f) >= 3:
			switch {
			case len(f) >= 5 && (f[2] == "in" || f[2] == "out") && f[3] == "interface":
				c.bindings = append(c.bindings, asaBinding{acl: f[1], dir: f[2], iface: f[4]})
			case f[2] == "global":
				c.bindings = append(c.bindings, asaBinding{acl: f[1], dir: "global"})
			default:
				c.note("access-group line not understood: %q", raw)
			}
		default:
			c.note("configuration line not understood: %q", clipText(raw))
		}
		if cur != nil {
			if _, dup := c.byName[cur.name]; !dup {
				c.objects = append(c.objects, cur)
				c.byName[cur.name] = cur
			} else {
				c.note("%s %s is defined twice; the first is kept", cur.kind, cur.name)
				cur = nil
			}
		}
	}
}

// asaPorts are the port names the ASA accepts for tcp and udp ports (its
// documented list).
var asaPorts = map[string]int{
	"aol": 5190, "bgp": 179, "biff": 512, "bootpc": 68, "bootps": 67, "chargen": 19, "cifs": 3020, "citrix-ica": 1494,
	"cmd": 514, "ctiqbe": 2748, "daytime": 13, "discard": 9, "dnsix": 195, "domain": 53, "echo": 7, "exec": 512,
	"finger": 79, "ftp": 21, "ftp-data": 20, "gopher": 70, "h323": 1720, "hostname": 101, "http": 80, "https": 443,
	"ident": 113, "imap4": 143, "irc": 194, "isakmp": 500, "kerberos": 88, "klogin": 543, "kshell": 544, "ldap": 389,
	"ldaps": 636, "login": 513, "lotusnotes": 1352, "lpd": 515, "mobile-ip": 434, "nameserver": 42, "netbios-dgm": 138,
	"netbios-ns": 137, "netbios-ssn": 139, "nfs": 2049, "nntp": 119, "ntp": 123, "pcanywhere-data": 5631,
	"pcanywhere-status": 5632, "pim-auto-rp": 496, "pop2": 109, "pop3": 110, "pptp": 1723, "radius": 1645,
	"radius-acct": 1646, "rip": 520, "rsh": 514, "rtsp": 554, "secureid-udp": 5510, "sip": 5060, "smtp": 25,
	"snmp": 161, "snmptrap": 162, "sqlnet": 1521, "ssh": 22, "sunrpc": 111, "syslog": 514, "tacacs": 49, "talk": 517,
	"telnet": 23, "tftp": 69, "time": 37, "uucp": 540, "vxlan": 4789, "who": 513, "whois": 43, "www": 80, "xdmcp": 177,
}

func asaPortNumber(s string) (int, bool) {
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= 65535 {
		return n, true
	}
	n, ok := asaPorts[s]
	return n, ok
}

// portOp reads "eq P", "lt P", "gt P", "neq P" or "range A B" at f[0],
// returning the ports as dest_ports text and how many fields it used.
func portOp(f []string) (string, int, error) {
	if len(f) < 2 {
		return "", 0, fmt.Errorf("port operator without a port")
	}
	p, ok := asaPortNumber(f[1])
	if !ok {
		return "", 0, fmt.Errorf("%q is not a port", f[1])
	}
	switch f[0] {
	case "eq":
		return strconv.Itoa(p), 2, nil
	case "lt":
		if p <= 1 {
			return "", 0, fmt.Errorf("lt %d matches no port", p)
		}
		return fmt.Sprintf("1-%d", p-1), 2, nil
	case "gt":
		if p >= 65535 {
			return "", 0, fmt.Errorf("gt %d matches no port", p)
		}
		return fmt.Sprintf("%d-65535", p+1), 2, nil
	case "neq":
		var parts []string
		if p > 1 {
			parts = append(parts, fmt.Sprintf("1-%d", p-1))
		}
		if p < 65535 {
			parts = append(parts, fmt.Sprintf("%d-65535", p+1))
		}
		return strings.Join(parts, ","), 2, nil
	case "range":
		if len(f) < 3 {
			return "", 0, fmt.Errorf("range without its end")
		}
		q, ok := asaPortNumber(f[2])
		if !ok || q < p {
			return "", 0, fmt.Errorf("range %s %s is not a port range", f[1], f[2])
		}
		return fmt.Sprintf("%d-%d", p, q), 3, nil
	}
	return "", 0, fmt.Errorf("%q is not a port operator", f[0])
}

func isPortOp(s string) bool {
	switch s {
	case "eq", "lt", "gt", "neq", "range":
		return true
	}
	return false
}

// asaProtocols maps the protocols the facts format has.
var asaProtocols = map[string]string{"tcp": facts.ProtoTCP, "udp": facts.ProtoUDP, "icmp": facts.ProtoICMP, "ip": facts.ProtoAny}

// built is what build makes of the objects: the facts objects and the
// names that could not be made.
type built struct {
	addrs    []facts.AddressObject
	svcs     []facts.ServiceObject
	have     map[string]bool   // objects in the facts, by name
	broken   map[string]string // object name → why it is left out
	ports    map[string][]string
	protos   map[string][]string
	literals map[string]bool
}

func (c *asaCfg) build() *facts.Firewall {
	o := &built{have: map[string]bool{}, broken: map[string]string{}, ports: map[string][]string{}, protos: map[string][]string{}, literals: map[string]bool{}}
	for _, blk := range c.objects {
		switch blk.kind {
		case "network":
			o.network(blk)
		case "service":
			o.service(blk)
		case "group protocol":
			o.protocolGroup(blk)
		case "group service":
			if blk.proto != "" {
				o.portGroup(blk)
			} else {
				o.serviceGroup(blk)
			}
		case "group network":
			o.networkGroup(blk)
		case "group icmp-type":
			o.broken[blk.name] = "ICMP types are not in the facts format"
		default:
			o.broken[blk.name] = blk.kind + " groups are not in the facts format"
		}
	}
	// A group is made only when all its members are: drop, until none is
	// left to drop, the groups that name an object left out.
	for changed := true; changed; {
		changed = false
		o.addrs = dropBroken(o.addrs, o, &changed, func(a facts.AddressObject) (string, []string) { return a.Name, a.Members })
		o.svcs = dropBroken(o.svcs, o, &changed, func(s facts.ServiceObject) (string, []string) { return s.Name, s.Members })
	}
	o.pruneLiterals()
	for _, blk := range c.objects {
		if why, ok := o.broken[blk.name]; ok {
			c.note("%s %s: left out: %s", strings.TrimPrefix(blk.kind, "group "), blk.name, why)
		}
	}

	fw := &facts.Firewall{AddressObjects: o.addrs, ServiceObjects: o.svcs}
	bound := map[string]int{}
	for _, bd := range c.bindings {
		bound[bd.acl]++
	}
	// Interface rule sets first, then the global one, as the ASA
	// evaluates them.
	order := 0
	for _, global := range []bool{false, true} {
		for _, bd := range c.bindings {
			if (bd.dir == "global") != global {
				continue
			}
			lines, ok := c.acls[bd.acl]
			if !ok {
				if len(c.acls) > 0 {
					c.note("access-group binds %s, which is not defined", bd.acl)
				}
				continue
			}
			for _, l := range lines {
				r, ok := c.rule(o, bd, l)
				if !ok {
					continue
				}
				r.RuleID = fmt.Sprintf("%s:%d", bd.acl, l.n)
				if bound[bd.acl] > 1 {
					r.RuleID += "/" + bd.dir
					if bd.iface != "" {
						r.RuleID += "/" + bd.iface
					}
				}
				r.RuleName, r.RuleOrder = bd.acl, order
				order++
				fw.Rules = append(fw.Rules, r)
			}
		}
	}
	if len(c.bindings) > 0 {
		for _, name := range c.aclOrder {
			if bound[name] == 0 && hasExtended(c.acls[name]) {
				c.note("access list %s is bound by no access-group: not interface policy, left out", name)
			}
		}
	}
	if len(fw.AddressObjects) == 0 && len(fw.ServiceObjects) == 0 && len(fw.Rules) == 0 {
		return nil
	}
	return fw
}

// pruneLiterals drops the objects made for literal members of groups
// that were left out.
func (o *built) pruneLiterals() {
	used := map[string]bool{}
	for _, a := range o.addrs {
		for _, m := range a.Members {
			used[m] = true
		}
	}
	for _, s := range o.svcs {
		for _, m := range s.Members {
			used[m] = true
		}
	}
	keep := func(name string) bool {
		if o.literals[name] && !used[name] {
			delete(o.have, name)
			return false
		}
		return true
	}
	addrs := o.addrs[:0]
	for _, a := range o.addrs {
		if keep(a.Name) {
			addrs = append(addrs, a)
		}
	}
	o.addrs = addrs
	svcs := o.svcs[:0]
	for _, s := range o.svcs {
		if keep(s.Name) {
			svcs = append(svcs, s)
		}
	}
	o.svcs = svcs
}

func hasExtended(lines []asaLine) bool {
	for _, l := range lines {
		if l.fields[0] == "extended" || l.fields[0] == "advanced" {
			return true
		}
	}
	return false
}

func dropBroken[T any](list []T, o *built, changed *bool, get func(T) (string, []string)) []T {
	out := list[:0]
	for _, x := range list {
		name, members := get(x)
		bad := ""
		for _, m := range members {
			if !o.have[m] {
				if why, ok := o.broken[m]; ok {
					bad = fmt.Sprintf("member %s is left out (%s)", m, why)
				} else {
					bad = fmt.Sprintf("member %s is not defined", m)
				}
				break
			}
		}
		if bad != "" {
			o.broken[name] = bad
			delete(o.have, name)
			*changed = true
			continue
		}
		out = append(out, x)
	}
	return out
}

// addrSpec reads an address at f[0]: any, any4, any6, host A, A MASK,
// A/len, object N, object-group N. It returns the facts address (an
// object name or a literal) and the fields used.
func (o *built) addrSpec(f []string) (string, int, error) {
	if len(f) == 0 {
		return "", 0, fmt.Errorf("an address is missing")
	}
	need := func(n int) error {
		if len(f) < n {
			return fmt.Errorf("%s without its argument", f[0])
		}
		return nil
	}
	switch f[0] {
	case "any":
		return facts.Any, 1, nil
	case "any4":
		return "0.0.0.0/0", 1, nil
	case "any6":
		return "::/0", 1, nil
	case "host":
		if err := need(2); err != nil {
			return "", 0, err
		}
		a, ok := addr(f[1])
		if !ok {
			return "", 0, fmt.Errorf("host %q is not an IP address", f[1])
		}
		return a, 2, nil
	case "object", "object-group":
		if err := need(2); err != nil {
			return "", 0, err
		}
		if !o.have[f[1]] {
			if why, ok := o.broken[f[1]]; ok {
				return "", 0, fmt.Errorf("object %s is left out (%s)", f[1], why)
			}
			return "", 0, fmt.Errorf("object %s is not defined", f[1])
		}
		return f[1], 2, nil
	case "interface":
		return "", 0, fmt.Errorf("an interface's own address (interface %s) is not in the output", strings.Join(f[1:2], ""))
	case "user", "user-group", "object-group-user", "security-group", "object-group-security":
		return "", 0, fmt.Errorf("%s matches are not in the facts format", f[0])
	}
	if strings.Contains(f[0], "/") {
		p, err := netip.ParsePrefix(f[0])
		if err != nil {
			return "", 0, fmt.Errorf("%q is not a prefix", f[0])
		}
		return p.Masked().String(), 1, nil
	}
	if err := need(2); err != nil {
		return "", 0, fmt.Errorf("%q is not an address", f[0])
	}
	p, ok := network(f[0], f[1])
	if !ok {
		return "", 0, fmt.Errorf("%s %s is not an address and mask", f[0], f[1])
	}
	if p.IsSingleIP() {
		return p.Addr().String(), 2, nil
	}
	return p.String(), 2, nil
}

func (o *built) network(blk *asaBlock) {
	var obj facts.AddressObject
	for _, l := range blk.lines {
		switch {
		case l[0] == "host" && len(l) == 2:
			obj = facts.AddressObject{Name: blk.name, Type: facts.AddrHost, Value: l[1]}
		case l[0] == "subnet" && len(l) == 3:
			if p, ok := network(l[1], l[2]); ok {
				obj = facts.AddressObject{Name: blk.name, Type: facts.AddrNetwork, Value: p.String()}
			}
		case l[0] == "subnet" && len(l) == 2:
			if p, err := netip.ParsePrefix(l[1]); err == nil {
				obj = facts.AddressObject{Name: blk.name, Type: facts.AddrNetwork, Value: p.Masked().String()}
			}
		case l[0] == "range" && len(l) == 3:
			obj = facts.AddressObject{Name: blk.name, Type: facts.AddrRange, Value: l[1] + "-" + l[2]}
		case l[0] == "fqdn" && len(l) >= 2:
			obj = facts.AddressObject{Name: blk.name, Type: facts.AddrFQDN, Value: l[len(l)-1]}
		case l[0] == "nat":
			// NAT rides on the object; it is not its address.
		default:
			o.broken[blk.name] = fmt.Sprintf("line %q not understood", strings.Join(l, " "))
			return
		}
	}
	if obj.Name == "" {
		o.broken[blk.name] = "no address"
		return
	}
	// The facts format has the last word on the value.
	if err := facts.NormalizeDevice(0, &facts.Device{Hostname: "x", Firewall: &facts.Firewall{AddressObjects: []facts.AddressObject{obj}}}); err != nil {
		o.broken[blk.name] = fmt.Sprintf("%s %q is not valid", obj.Type, obj.Value)
		return
	}
	o.addrs = append(o.addrs, obj)
	o.have[blk.name] = true
}

// literalAddr adds the object a group's literal member stands for, named
// by its value.
func (o *built) literalAddr(value, typ string) string {
	if !o.have[value] {
		o.addrs = append(o.addrs, facts.AddressObject{Name: value, Type: typ, Value: value})
		o.have[value], o.literals[value] = true, true
	}
	return value
}

func (o *built) networkGroup(blk *asaBlock) {
	g := facts.AddressObject{Name: blk.name, Type: facts.AddrGroup}
	for _, l := range blk.lines {
		switch {
		case l[0] == "group-object" && len(l) == 2:
			g.Members = append(g.Members, l[1])
		case l[0] == "network-object" && len(l) == 3 && l[1] == "object":
			g.Members = append(g.Members, l[2])
		case l[0] == "network-object":
			v, _, err := o.addrSpec(l[1:])
			if err != nil || v == facts.Any {
				o.broken[blk.name] = fmt.Sprintf("member %q not understood", strings.Join(l[1:], " "))
				return
			}
			typ := facts.AddrNetwork
			if !strings.Contains(v, "/") {
				typ = facts.AddrHost
			}
			g.Members = append(g.Members, o.literalAddr(v, typ))
		default:
			o.broken[blk.name] = fmt.Sprintf("line %q not understood", strings.Join(l, " "))
			return
		}
	}
	if len(g.Members) == 0 {
		o.broken[blk.name] = "no members"
		return
	}
	o.addrs = append(o.addrs, g)
	o.have[blk.name] = true
}

// serviceSpec reads "P [source ...] [destination OP ...]" as a protocol
// and destination ports.
func serviceSpec(f []string) (proto, ports string, err error) {
	proto, ok := asaProtocols[f[0]]
	if !ok {
		return "", "", fmt.Errorf("protocol %s is not tcp, udp, icmp or ip", f[0])
	}
	rest := f[1:]
	if proto == facts.ProtoICMP && len(rest) > 0 {
		return "", "", fmt.Errorf("ICMP types are not in the facts format")
	}
	for len(rest) > 0 {
		switch {
		case rest[0] == "source":
			return "", "", fmt.Errorf("source ports are not in the facts format")
		case rest[0] == "destination" && len(rest) > 1:
			p, n, err := portOp(rest[1:])
			if err != nil {
				return "", "", err
			}
			ports, rest = p, rest[1+n:]
		case isPortOp(rest[0]):
			// service-object tcp eq ssh: the destination, as older
			// releases write it.
			p, n, err := portOp(rest)
			if err != nil {
				return "", "", err
			}
			ports, rest = p, rest[n:]
		default:
			return "", "", fmt.Errorf("%q not understood", strings.Join(rest, " "))
		}
	}
	if ports != "" && proto != facts.ProtoTCP && proto != facts.ProtoUDP {
		return "", "", fmt.Errorf("ports need tcp or udp")
	}
	return proto, ports, nil
}

func (o *built) service(blk *asaBlock) {
	if len(blk.lines) != 1 || blk.lines[0][0] != "service" || len(blk.lines[0]) < 2 {
		o.broken[blk.name] = "no single service line"
		return
	}
	proto, ports, err := serviceSpec(blk.lines[0][1:])
	if err != nil {
		o.broken[blk.name] = err.Error()
		return
	}
	o.svcs = append(o.svcs, facts.ServiceObject{Name: blk.name, Protocol: proto, DestPorts: ports})
	o.have[blk.name] = true
}

func literalService(proto, ports string) string {
	if ports == "" {
		return proto
	}
	return proto + "/" + ports
}

func (o *built) serviceGroup(blk *asaBlock) {
	g := facts.ServiceObject{Name: blk.name}
	for _, l := range blk.lines {
		switch {
		case l[0] == "group-object" && len(l) == 2:
			g.Members = append(g.Members, l[1])
		case l[0] == "service-object" && len(l) == 3 && l[1] == "object":
			g.Members = append(g.Members, l[2])
		case l[0] == "service-object" && len(l) >= 2:
			proto, ports, err := serviceSpec(l[1:])
			if err != nil {
				o.broken[blk.name] = fmt.Sprintf("member %q: %v", strings.Join(l[1:], " "), err)
				return
			}
			name := literalService(proto, ports)
			if proto == facts.ProtoAny {
				name = "ip" // "any" is the wildcard, not a name
			}
			if !o.have[name] {
				o.svcs = append(o.svcs, facts.ServiceObject{Name: name, Protocol: proto, DestPorts: ports})
				o.have[name], o.literals[name] = true, true
			}
			g.Members = append(g.Members, name)
		default:
			o.broken[blk.name] = fmt.Sprintf("line %q not understood", strings.Join(l, " "))
			return
		}
	}
	if len(g.Members) == 0 {
		o.broken[blk.name] = "no members"
		return
	}
	o.svcs = append(o.svcs, g)
	o.have[blk.name] = true
}

// portGroup reads "object-group service N tcp|udp|tcp-udp": ports for a
// rule's port position, expanded into the rule.
func (o *built) portGroup(blk *asaBlock) {
	switch blk.proto {
	case "tcp", "udp", "tcp-udp":
	default:
		o.broken[blk.name] = fmt.Sprintf("port group of %q", blk.proto)
		return
	}
	var ports []string
	for _, l := range blk.lines {
		switch {
		case l[0] == "port-object" && len(l) >= 3:
			p, _, err := portOp(l[1:])
			if err != nil {
				o.broken[blk.name] = err.Error()
				return
			}
			ports = append(ports, p)
		case l[0] == "group-object" && len(l) == 2:
			inner, ok := o.ports[l[1]]
			if !ok {
				o.broken[blk.name] = fmt.Sprintf("member %s is not a port group defined before it", l[1])
				return
			}
			ports = append(ports, inner...)
		default:
			o.broken[blk.name] = fmt.Sprintf("line %q not understood", strings.Join(l, " "))
			return
		}
	}
	o.ports[blk.name] = ports
}

func (o *built) protocolGroup(blk *asaBlock) {
	var protos []string
	for _, l := range blk.lines {
		if l[0] != "protocol-object" || len(l) != 2 {
			o.broken[blk.name] = fmt.Sprintf("line %q not understood", strings.Join(l, " "))
			return
		}
		p, ok := asaProtocols[l[1]]
		if !ok {
			o.broken[blk.name] = fmt.Sprintf("protocol %s is not tcp, udp, icmp or ip", l[1])
			return
		}
		protos = append(protos, p)
	}
	o.protos[blk.name] = protos
}

// rule reads one access-list line as a rule of the binding; false with a
// note when it cannot be one.
func (c *asaCfg) rule(o *built, bd asaBinding, l asaLine) (facts.Rule, bool) {
	f := l.fields
	if f[0] == "remark" {
		return facts.Rule{}, false
	}
	where := fmt.Sprintf("access list %s line %d", bd.acl, l.n)
	fail := func(format string, args ...any) (facts.Rule, bool) {
		c.note("%s: left out: %s", where, fmt.Sprintf(format, args...))
		return facts.Rule{}, false
	}
	if f[0] != "extended" && f[0] != "advanced" {
		return fail("a %s entry in an access group", f[0])
	}
	f = f[1:]
	if len(f) < 2 {
		return fail("too short")
	}
	r := facts.Rule{}
	switch f[0] {
	case "permit", "deny":
		r.Action = f[0]
	default:
		return fail("action %q", f[0])
	}
	f = f[1:]
	// Protocol: a word, a protocol group, a service object or group.
	var protos, services []string
	portsAllowed := false
	switch {
	case (f[0] == "object" || f[0] == "object-group") && len(f) > 1:
		name := f[1]
		if p, ok := o.protos[name]; ok && f[0] == "object-group" {
			protos, portsAllowed = p, true
			for _, x := range p {
				portsAllowed = portsAllowed && (x == facts.ProtoTCP || x == facts.ProtoUDP)
			}
		} else if o.have[name] {
			services = []string{name}
		} else if why, ok := o.broken[name]; ok {
			return fail("object %s is left out (%s)", name, why)
		} else {
			return fail("object %s is not defined", name)
		}
		f = f[2:]
	default:
		p, ok := asaProtocols[f[0]]
		if !ok {
			return fail("protocol %s is not tcp, udp, icmp or ip", f[0])
		}
		protos, portsAllowed = []string{p}, p == facts.ProtoTCP || p == facts.ProtoUDP
		f = f[1:]
	}
	src, n, err := o.addrSpec(f)
	if err != nil {
		return fail("source: %v", err)
	}
	f = f[n:]
	// Port names and address names share one namespace, so a port group
	// after the source is the source's ports.
	if len(f) > 0 && (isPortOp(f[0]) || (f[0] == "object-group" && len(f) > 1 && o.ports[f[1]] != nil)) {
		return fail("source ports are not in the facts format")
	}
	dst, n, err := o.addrSpec(f)
	if err != nil {
		return fail("destination: %v", err)
	}
	f = f[n:]
	var ports []string
	switch {
	case len(f) > 0 && isPortOp(f[0]):
		if !portsAllowed {
			return fail("ports need tcp or udp")
		}
		p, n, err := portOp(f)
		if err != nil {
			return fail("%v", err)
		}
		ports, f = []string{p}, f[n:]
	case len(f) > 1 && f[0] == "object-group" && o.ports[f[1]] != nil:
		if !portsAllowed {
			return fail("a port group needs tcp or udp")
		}
		ports, f = o.ports[f[1]], f[2:]
	case len(f) > 0 && protos != nil && protos[0] == facts.ProtoICMP && !isTrailer(f[0]):
		return fail("ICMP types are not in the facts format")
	}
	for len(f) > 0 {
		switch f[0] {
		case "log":
			// "log [level] [interval secs] | disable | default": skip its
			// arguments up to the next keyword.
			f = f[1:]
			for len(f) > 0 && !isTrailer(f[0]) {
				f = f[1:]
			}
		case "inactive":
			r.Enabled = boolp(false)
			f = f[1:]
		case "time-range":
			c.note("%s: kept, but only active in time range %s, which the facts format does not say", where, strings.Join(f[1:2], ""))
			f = f[min(2, len(f)):]
		case "rule-id", "event-log":
			// FTD's rule id and logging.
			f = f[min(2, len(f)):]
		default:
			return fail("%q not understood", strings.Join(f, " "))
		}
	}
	if services == nil {
		for _, p := range protos {
			if len(ports) == 0 {
				services = append(services, p)
				continue
			}
			for _, pr := range ports {
				services = append(services, literalService(p, pr))
			}
		}
	}
	r.SrcAddresses, r.DstAddresses, r.Services = []string{src}, []string{dst}, services
	switch bd.dir {
	case "in":
		r.SrcZones = []string{bd.iface}
	case "out":
		r.DstZones = []string{bd.iface}
	}
	return r, true
}

func isTrailer(s string) bool {
	switch s {
	case "log", "inactive", "time-range", "rule-id", "event-log":
		return true
	}
	return false
}
