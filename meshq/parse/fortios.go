package parse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// FortiOS: the configuration text `show firewall …` prints, blocks of
// `config <path>` / `edit <name>` / `set <key> <values>` / `next` / `end`.
// Policies match interfaces or zones by name (srcintf, dstintf), which
// become the rule's zones; the zones themselves (`config system zone`)
// are not collected.
func init() {
	firewallFormats = append(firewallFormats, firewallFormat{name: "FortiOS firewall configuration", detect: isFortiOSFirewall, parse: fortiosFirewall})
}

// isFortiOSFirewall looks at the first line that is not a comment.
func isFortiOSFirewall(data []byte) bool {
	for _, line := range bytes.Split(data[:min(len(data), 4096)], []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		return bytes.HasPrefix(line, []byte("config firewall "))
	}
	return false
}

// fortiEntry is one `edit` of a config block.
type fortiEntry struct {
	name string
	set  map[string][]string
	line int
}

// fortiBlock is one `config` block: its path and entries in order.
type fortiBlock struct {
	path    string
	entries []*fortiEntry
}

// fortiWords splits a line into words, honouring double quotes and
// backslash escapes inside them.
func fortiWords(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (c == ' ' || c == '\t'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, errors.New("unterminated quote")
	}
	if have {
		out = append(out, cur.String())
	}
	return out, nil
}

// readFortiOS parses the top-level config blocks. Nested blocks inside an
// entry (`config entries` …) are read past; their settings are not kept.
func readFortiOS(data []byte) ([]*fortiBlock, error) {
	var blocks []*fortiBlock
	var cur *fortiBlock
	var entry *fortiEntry
	depth := 0 // nested config blocks inside an entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w, err := fortiWords(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		switch {
		case w[0] == "config" && cur == nil:
			if len(w) < 2 {
				return nil, fmt.Errorf("line %d: config without a path", n)
			}
			cur = &fortiBlock{path: strings.Join(w[1:], " ")}
		case w[0] == "config":
			if entry == nil {
				return nil, fmt.Errorf("line %d: nested config outside an edit", n)
			}
			depth++
		case depth > 0:
			if w[0] == "end" {
				depth--
			}
		case cur == nil:
			return nil, fmt.Errorf("line %d: %q outside a config block", n, w[0])
		case w[0] == "edit":
			if entry != nil || len(w) != 2 {
				return nil, fmt.Errorf("line %d: edit without a single name, or inside another edit", n)
			}
			entry = &fortiEntry{name: w[1], set: map[string][]string{}, line: n}
		case w[0] == "set" || w[0] == "append":
			if entry == nil || len(w) < 2 {
				return nil, fmt.Errorf("line %d: %s outside an edit", n, w[0])
			}
			if w[0] == "set" {
				entry.set[w[1]] = append([]string(nil), w[2:]...)
			} else {
				entry.set[w[1]] = append(entry.set[w[1]], w[2:]...)
			}
		case w[0] == "unset":
			if entry == nil || len(w) != 2 {
				return nil, fmt.Errorf("line %d: unset outside an edit", n)
			}
			delete(entry.set, w[1])
		case w[0] == "next":
			if entry == nil {
				return nil, fmt.Errorf("line %d: next without an edit", n)
			}
			cur.entries = append(cur.entries, entry)
			entry = nil
		case w[0] == "end":
			if entry != nil {
				return nil, fmt.Errorf("line %d: end inside edit %q (no next)", n, entry.name)
			}
			blocks = append(blocks, cur)
			cur = nil
		default:
			return nil, fmt.Errorf("line %d: unknown statement %q", n, w[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		what := "config " + cur.path
		if entry != nil {
			what = "edit " + entry.name
		}
		return nil, fmt.Errorf("truncated: the output ends inside %s", what)
	}
	if len(blocks) == 0 {
		return nil, errors.New("no config block in the output")
	}
	return blocks, nil
}

func (e *fortiEntry) one(key string) string {
	if v := e.set[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func fortiosFirewall(b *builder, data []byte) error {
	blocks, err := readFortiOS(data)
	if err != nil {
		return err
	}
	s := &fwSet{b: b}
	for _, blk := range blocks {
		switch blk.path {
		case "firewall address":
			for _, e := range blk.entries {
				if o, ok := fortiAddress(b, e); ok {
					s.addrs = append(s.addrs, o)
				}
			}
		case "firewall addrgrp":
			for _, e := range blk.entries {
				if e.one("exclude") == "enable" {
					b.skip("address group %q: it excludes members, which the facts cannot hold", e.name)
					continue
				}
				s.addrs = append(s.addrs, facts.AddressObject{Name: e.name, Type: facts.AddrGroup, Members: e.set["member"]})
			}
		case "firewall service custom":
			for _, e := range blk.entries {
				s.svcs = append(s.svcs, fortiService(b, e)...)
			}
		case "firewall service group":
			for _, e := range blk.entries {
				s.svcs = append(s.svcs, facts.ServiceObject{Name: e.name, Members: e.set["member"]})
			}
		case "firewall policy":
			for _, e := range blk.entries {
				if r, ok := fortiPolicy(b, e); ok {
					s.rules = append(s.rules, r)
				}
			}
		default:
			b.skip("config %s: not a firewall block parse reads", blk.path)
		}
	}
	s.commit()
	return nil
}

func fortiAddress(b *builder, e *fortiEntry) (facts.AddressObject, bool) {
	o := facts.AddressObject{Name: e.name}
	switch t := e.one("type"); t {
	case "", "ipmask":
		// Unset, the subnet is 0.0.0.0 0.0.0.0 (every address).
		v := e.set["subnet"]
		if len(v) == 0 {
			v = []string{"0.0.0.0", "0.0.0.0"}
		}
		p, ok := fortiSubnet(v)
		if !ok {
			b.skip("address %q: subnet %q is not a prefix", e.name, strings.Join(v, " "))
			return o, false
		}
		if p.IsSingleIP() {
			o.Type, o.Value = facts.AddrHost, p.Addr().String()
		} else {
			o.Type, o.Value = facts.AddrNetwork, p.Masked().String()
		}
	case "iprange":
		o.Type, o.Value = facts.AddrRange, e.one("start-ip")+"-"+e.one("end-ip")
	case "fqdn":
		o.Type, o.Value = facts.AddrFQDN, e.one("fqdn")
	default:
		b.skip("address %q: type %s, which the facts cannot hold", e.name, t)
		return o, false
	}
	return o, true
}

// fortiSubnet reads "10.0.1.0 255.255.255.0" or "10.0.1.64/29".
func fortiSubnet(v []string) (netip.Prefix, bool) {
	switch len(v) {
	case 1:
		p, err := facts.ParseInterfaceIP(v[0])
		return p, err == nil
	case 2:
		a, err1 := facts.ParseAddr(v[0])
		m, err2 := netip.ParseAddr(v[1])
		if err1 != nil || err2 != nil || !a.Is4() || !m.Is4() {
			return netip.Prefix{}, false
		}
		mask := m.As4()
		bits, seenZero := 0, false
		for _, byt := range mask {
			for i := 7; i >= 0; i-- {
				if byt&(1<<i) != 0 {
					if seenZero {
						return netip.Prefix{}, false // not a contiguous mask
					}
					bits++
				} else {
					seenZero = true
				}
			}
		}
		return netip.PrefixFrom(a, bits), true
	}
	return netip.Prefix{}, false
}

// fortiService turns a custom service into service objects: one per
// protocol, and a group of them under the service's name when it has
// several (TCP and UDP ranges together).
func fortiService(b *builder, e *fortiEntry) []facts.ServiceObject {
	switch p := strings.ToUpper(e.one("protocol")); p {
	case "IP":
		if n := e.one("protocol-number"); n != "" && n != "0" {
			b.skip("service %q: IP protocol %s, which the facts cannot hold", e.name, n)
			return nil
		}
		return []facts.ServiceObject{{Name: e.name, Protocol: facts.ProtoAny}}
	case "ICMP":
		return []facts.ServiceObject{{Name: e.name, Protocol: facts.ProtoICMP}}
	case "", "TCP/UDP/SCTP":
	default:
		b.skip("service %q: protocol %s, which the facts cannot hold", e.name, p)
		return nil
	}
	if len(e.set["sctp-portrange"]) > 0 {
		b.skip("service %q: SCTP ports, which the facts cannot hold", e.name)
		return nil
	}
	var out []facts.ServiceObject
	for _, proto := range []string{"tcp", "udp"} {
		ranges := e.set[proto+"-portrange"]
		if len(ranges) == 0 {
			continue
		}
		var ports []string
		for _, r := range ranges {
			// "dst[:src]"; a source range cannot be held.
			dst, src, hasSrc := strings.Cut(r, ":")
			if hasSrc && src != "" {
				b.skip("service %q: %s range %s matches source ports, which the facts cannot hold", e.name, proto, r)
				return nil
			}
			if _, err := facts.ParsePorts(dst); err != nil {
				b.skip("service %q: %s range %q is not a port range", e.name, proto, r)
				return nil
			}
			ports = append(ports, dst)
		}
		out = append(out, facts.ServiceObject{Name: e.name, Protocol: proto, DestPorts: strings.Join(ports, ",")})
	}
	switch len(out) {
	case 0:
		b.skip("service %q: no tcp or udp ports", e.name)
		return nil
	case 1:
		return out
	}
	group := facts.ServiceObject{Name: e.name}
	for i := range out {
		out[i].Name = e.name + " (" + out[i].Protocol + ")"
		group.Members = append(group.Members, out[i].Name)
	}
	return append(out, group)
}

func fortiPolicy(b *builder, e *fortiEntry) (facts.Rule, bool) {
	if _, err := strconv.ParseUint(e.name, 10, 32); err != nil {
		b.skip("policy %q: not a policy id", e.name)
		return facts.Rule{}, false
	}
	// FortiOS denies when a policy sets no action.
	action := facts.ActionDeny
	switch a := e.one("action"); a {
	case "", "deny":
	case "accept":
		action = facts.ActionPermit
	default:
		b.skip("policy %s: action %s, which the facts cannot hold", e.name, a)
		return facts.Rule{}, false
	}
	for _, f := range []string{"srcaddr-negate", "dstaddr-negate", "service-negate"} {
		if e.one(f) == "enable" {
			b.skip("policy %s: %s, which the facts cannot hold", e.name, f)
			return facts.Rule{}, false
		}
	}
	for _, f := range []string{"internet-service", "internet-service-src", "groups", "users"} {
		if v := e.one(f); v != "" && v != "disable" {
			b.skip("policy %s: it matches %s, which the facts cannot hold", e.name, f)
			return facts.Rule{}, false
		}
	}
	if len(e.set["srcaddr6"]) > 0 || len(e.set["dstaddr6"]) > 0 {
		b.skip("policy %s: IPv6 addresses (srcaddr6, dstaddr6) are not read", e.name)
		return facts.Rule{}, false
	}
	// An address or service named "all"/"ALL" is an object FortiOS
	// defines in the address and service lists; "any" interfaces match all.
	r := facts.Rule{RuleID: e.name, RuleName: e.one("name"), Action: action,
		SrcZones: e.set["srcintf"], DstZones: e.set["dstintf"],
		SrcAddresses: e.set["srcaddr"], DstAddresses: e.set["dstaddr"], Services: e.set["service"]}
	if e.one("status") == "disable" {
		r.Enabled = boolp(false)
	}
	return r, true
}
