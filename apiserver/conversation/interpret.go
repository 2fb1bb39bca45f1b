// Package conversation answers questions in plain language by turning each
// message into one named query of the registry (with its parameters),
// running it with the caller's grants exactly as a direct call would be
// checked, and keeping the last turns of a session so that follow-ups
// ("and what breaks if that switch fails?") know what "that" is.
package conversation

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"weak"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// Context is what earlier turns of a session said, for follow-ups.
type Context struct {
	Hostname string `json:"hostname,omitempty"`
	IP       string `json:"ip,omitempty"`
	MAC      string `json:"mac,omitempty"`
	Subnet   string `json:"subnet,omitempty"`
	VLAN     int    `json:"vlan,omitempty"`
}

// Intent is one message understood: a query and its parameters.
type Intent struct {
	Query  string
	Params map[string]any
}

// entities are the values a message names.
type entities struct {
	text     string // lower case, single-spaced
	words    map[string]bool
	ips      []netip.Addr
	macs     []string
	prefixes []netip.Prefix
	hosts    []*graph.Device
	iface    string // an interface of the first host named
	vlan     int
	port     int
	protocol string
	role     string
	site     string
	vendor   string
	quoted   string
	zones    [2]string
	metadata map[string]any
	refers   bool // "that switch", "it", "there": the previous turn's subject
}

var (
	vlanRe   = regexp.MustCompile(`\bvlan[\s#-]*(\d{1,4})\b`)
	portRe   = regexp.MustCompile(`\b(?:port|dport|dst_port)\s+(\d{1,5})\b|\b(tcp|udp)[/ :](\d{1,5})\b|\b(\d{1,5})/(tcp|udp)\b`)
	quotedRe = regexp.MustCompile(`["“']([^"”']+)["”']`)
	zonesRe  = regexp.MustCompile(`\bfrom (?:zone )?([a-z0-9_.-]+) to (?:zone )?([a-z0-9_.-]+)`)
	kvRe     = regexp.MustCompile(`\b([a-z][a-z0-9_]*)\s*=\s*("[^"]*"|[^\s,]+)`)
	referRe  = regexp.MustCompile(`\b(that|this|the same) (switch|device|router|host|firewall|one|box)\b|\bit\b|\bthere\b|\bits\b`)
)

// wellKnownPorts lets "https" or "ssh" stand for a port.
var wellKnownPorts = map[string]struct {
	proto string
	port  int
}{
	"ssh": {"tcp", 22}, "telnet": {"tcp", 23}, "dns": {"udp", 53}, "http": {"tcp", 80}, "https": {"tcp", 443},
	"smtp": {"tcp", 25}, "ntp": {"udp", 123}, "snmp": {"udp", 161}, "rdp": {"tcp", 3389}, "ldap": {"tcp", 389},
}

// vocabulary is the graph's roles, sites and vendors by their lower-case
// spelling.
type vocabulary struct {
	// g is weak so that the cache never keeps a replaced graph alive.
	g                     weak.Pointer[graph.Graph]
	roles, sites, vendors map[string]string
}

// lastVocabulary is the vocabulary of the graph last asked about: built
// once per graph version rather than once per message (a walk over every
// device, most of a message's cost at 10k devices).
var lastVocabulary atomic.Pointer[vocabulary]

func vocabularyOf(g *graph.Graph) *vocabulary {
	if v := lastVocabulary.Load(); v != nil && v.g.Value() == g {
		return v
	}
	v := &vocabulary{g: weak.Make(g), roles: map[string]string{}, sites: map[string]string{}, vendors: map[string]string{}}
	for _, d := range g.Devices {
		v.roles[strings.ToLower(d.Role)] = d.Role
		v.sites[strings.ToLower(d.Site)] = d.Site
		v.vendors[strings.ToLower(d.Vendor)] = d.Vendor
	}
	lastVocabulary.Store(v)
	return v
}

func extract(g *graph.Graph, msg string) *entities {
	e := &entities{words: map[string]bool{}}
	e.text = strings.Join(strings.Fields(strings.ToLower(msg)), " ")
	if m := quotedRe.FindStringSubmatch(msg); m != nil {
		e.quoted = strings.TrimSpace(m[1])
	}
	voc := vocabularyOf(g)
	roles, sites, vendors := voc.roles, voc.sites, voc.vendors
	for _, raw := range strings.Fields(msg) {
		tok := strings.TrimRight(strings.TrimLeft(raw, `("'“`), `?!,;)"'”`)
		tok = strings.TrimSuffix(tok, ".")
		low := strings.ToLower(tok)
		e.words[low] = true
		if strings.HasSuffix(low, "s") {
			e.words[strings.TrimSuffix(low, "s")] = true
		}
		if d := g.Device(tok); d != nil {
			e.hosts = append(e.hosts, d)
			continue
		}
		if d := g.Device(low); d != nil {
			e.hosts = append(e.hosts, d)
			continue
		}
		if p, err := netip.ParsePrefix(tok); err == nil {
			e.prefixes = append(e.prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(tok); err == nil {
			e.ips = append(e.ips, a)
			continue
		}
		if mac, ok := facts.CanonicalMAC(tok); ok && strings.ContainsAny(tok, ":.-") {
			e.macs = append(e.macs, mac)
			continue
		}
		if v, ok := roles[low]; ok && v != "" && e.role == "" {
			e.role = v
		}
		if v, ok := sites[low]; ok && v != "" && e.site == "" {
			e.site = v
		}
		if v, ok := vendors[low]; ok && v != "" && e.vendor == "" {
			e.vendor = v
		}
		if p, ok := wellKnownPorts[low]; ok && e.port == 0 {
			e.protocol, e.port = p.proto, p.port
		}
		if low == "tcp" || low == "udp" || low == "icmp" {
			e.protocol = low
		}
	}
	// Roles are often said in the plural ("access switches", "cores").
	if e.role == "" {
		for w := range e.words {
			if v, ok := roles[w]; ok && v != "" {
				e.role = v
			}
		}
	}
	if len(e.hosts) > 0 {
		for _, raw := range strings.Fields(msg) {
			tok := strings.TrimRight(raw, `?!,;)"'`)
			for _, i := range e.hosts[0].Ifaces {
				if strings.EqualFold(i.Name, tok) {
					e.iface = i.Name
				}
			}
		}
	}
	if m := vlanRe.FindStringSubmatch(e.text); m != nil {
		e.vlan, _ = strconv.Atoi(m[1])
	}
	if m := portRe.FindStringSubmatch(e.text); m != nil {
		switch {
		case m[1] != "":
			e.port, _ = strconv.Atoi(m[1])
		case m[2] != "":
			e.protocol = m[2]
			e.port, _ = strconv.Atoi(m[3])
		default:
			e.port, _ = strconv.Atoi(m[4])
			e.protocol = m[5]
		}
	}
	if m := zonesRe.FindStringSubmatch(e.text); m != nil {
		e.zones = [2]string{m[1], m[2]}
	}
	for _, m := range kvRe.FindAllStringSubmatch(msg, -1) {
		if e.metadata == nil {
			e.metadata = map[string]any{}
		}
		e.metadata[m[1]] = strings.Trim(m[2], `"`)
	}
	e.refers = referRe.MatchString(e.text)
	return e
}

func (e *entities) has(words ...string) bool {
	for _, w := range words {
		if strings.Contains(w, " ") {
			if strings.Contains(e.text, w) {
				return true
			}
		} else if e.words[w] {
			return true
		}
	}
	return false
}

// host is the device the message names, else the one the session last
// spoke of when the message refers back to it ("that switch", "it"): a
// message naming a device the graph lacks must not fall back on the last.
func (e *entities) host(c Context) string {
	if len(e.hosts) > 0 {
		return e.hosts[0].Hostname
	}
	if e.refers {
		return c.Hostname
	}
	return ""
}

// rule maps messages to one query; params returns what it needs, or the
// name of a missing parameter.
type rule struct {
	query  string
	match  func(e *entities) bool
	params func(e *entities, c Context) (map[string]any, string)
}

func needHost(e *entities, c Context) (map[string]any, string) {
	if h := e.host(c); h != "" {
		return map[string]any{"hostname": h}, ""
	}
	return nil, "hostname"
}

func none(*entities, Context) (map[string]any, string) { return map[string]any{}, "" }

func flow(e *entities, c Context, required bool) (map[string]any, string) {
	p := map[string]any{}
	if len(e.ips) >= 2 {
		p["src_ip"], p["dst_ip"] = e.ips[0].String(), e.ips[1].String()
	} else if required {
		return nil, "src_ip and dst_ip"
	} else if len(e.ips) == 1 {
		p["dst_ip"] = e.ips[0].String()
	}
	if e.protocol != "" {
		p["protocol"] = e.protocol
	}
	if e.port != 0 {
		p["dst_port"] = e.port
		if e.protocol == "" {
			p["protocol"] = "tcp"
		}
	}
	return p, ""
}

// rules are tried in order; the first that matches the message and finds
// its parameters answers.
var rules = []rule{
	{"update_device_metadata", func(e *entities) bool {
		return e.metadata != nil && e.has("set", "tag", "label", "metadata", "annotate")
	}, func(e *entities, c Context) (map[string]any, string) {
		p, missing := needHost(e, c)
		if missing != "" {
			return nil, missing
		}
		p["metadata"] = e.metadata
		return p, ""
	}},
	{"firewall_rules_by_zone_pair", func(e *entities) bool { return e.zones[0] != "" && e.has("zone", "zones", "rules", "rule", "policy") },
		func(e *entities, c Context) (map[string]any, string) {
			p, missing := needHost(e, c)
			if missing != "" {
				return nil, missing
			}
			p["src_zone"], p["dst_zone"] = e.zones[0], e.zones[1]
			return p, ""
		}},
	{"hygiene_duplicate_ips", func(e *entities) bool {
		return e.has("duplicate", "duplicated", "conflicting") && e.has("ip", "address", "ips")
	}, none},
	{"hygiene_interfaces_no_description", func(e *entities) bool {
		return e.has("no description", "without description", "without a description", "missing description", "undescribed")
	}, none},
	{"hygiene_mtu_mismatch", func(e *entities) bool { return e.has("mtu") }, none},
	{"hygiene_speed_mismatch", func(e *entities) bool {
		return e.has("speed", "duplex") && e.has("mismatch", "mismatched", "differ", "different")
	}, none},
	{"hygiene_vlan_mismatch", func(e *entities) bool {
		return e.has("vlan mismatch", "vlans mismatch", "mismatched vlan", "native vlan")
	}, none},
	{"hygiene_orphan_devices", func(e *entities) bool { return e.has("orphan", "orphaned", "isolated", "unconnected") }, none},
	{"hygiene_shadowed_rules", func(e *entities) bool { return e.has("shadowed", "shadow", "unreachable rule", "unreachable rules") },
		func(e *entities, c Context) (map[string]any, string) {
			if len(e.hosts) > 0 {
				return map[string]any{"hostname": e.hosts[0].Hostname}, ""
			}
			return map[string]any{}, ""
		}},
	{"hygiene_unused_objects", func(e *entities) bool { return e.has("unused", "unreferenced") && e.has("object", "objects") }, none},
	{"hygiene_unused_rules", func(e *entities) bool {
		return (e.has("unused", "never hit", "zero hits", "no hits", "never matched") && e.has("rule", "rules")) || e.has("never hit", "zero hits")
	}, none},
	{"firewall_permissive_rules", func(e *entities) bool {
		return e.has("permissive", "any any", "any-any", "too open", "overly broad", "wide open")
	}, none},
	{"deny_rules_summary", func(e *entities) bool {
		return e.has("deny", "denied", "blocking", "drop") && e.has("rule", "rules", "summary")
	}, none},
	{"firewall_address_object_usage", func(e *entities) bool {
		return e.has("address object", "object") && (e.quoted != "" || e.has("used", "usage", "uses"))
	},
		func(e *entities, c Context) (map[string]any, string) {
			if e.quoted != "" {
				return map[string]any{"name": e.quoted}, ""
			}
			return nil, "name (quote the object's name)"
		}},
	{"path_analysis", func(e *entities) bool {
		return len(e.ips) >= 2 && e.has("path", "reach", "talk", "trace", "allowed", "get to", "connect", "flow", "traffic")
	}, func(e *entities, c Context) (map[string]any, string) { return flow(e, c, true) }},
	{"firewall_rules_matching", func(e *entities) bool {
		return e.has("firewall", "rule", "rules", "acl", "policy") && (len(e.ips) > 0 || e.port != 0) && e.has("match", "matching", "allow", "allows", "permit", "permits", "which", "hit")
	}, func(e *entities, c Context) (map[string]any, string) { return flow(e, c, false) }},
	{"blast_radius_interface", func(e *entities) bool { return e.iface != "" && isBlast(e) }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"hostname": e.hosts[0].Hostname, "interface": e.iface}, ""
	}},
	{"blast_radius_subnet", func(e *entities) bool { return len(e.prefixes) > 0 && isBlast(e) }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"subnet": e.prefixes[0].String()}, ""
	}},
	{"blast_radius_vlan", func(e *entities) bool { return e.vlan != 0 && isBlast(e) }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"vlan": e.vlan}, ""
	}},
	{"blast_radius_from_device", isBlast, needHost},
	{"topology_shortest_path", func(e *entities) bool {
		return len(e.hosts) >= 2 && e.has("path", "route", "between", "hops", "shortest", "get from", "from")
	}, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"src_hostname": e.hosts[0].Hostname, "dst_hostname": e.hosts[1].Hostname}, ""
	}},
	{"route_lookup", func(e *entities) bool {
		return len(e.ips) > 0 && len(e.hosts) > 0 && e.has("route", "routes", "routing", "lookup", "next hop", "next-hop", "longest")
	}, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"hostname": e.hosts[0].Hostname, "ip": e.ips[0].String()}, ""
	}},
	{"arp_entries_by_device", func(e *entities) bool {
		return e.has("arp", "neighbor table", "neighbour table", "nd table", "ipv6 neighbors")
	}, needHost},
	{"mac_owners", func(e *entities) bool {
		return len(e.macs) > 0 && e.has("owns", "owner", "owners", "whose", "belongs", "belong")
	}, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"mac": e.macs[0]}, ""
	}},
	{"mac_entries_by_device", func(e *entities) bool { return e.has("mac table", "mac address table", "cam table", "fdb") }, needHost},
	{"interfaces_search", func(e *entities) bool {
		return e.quoted != "" && e.has("interface", "interfaces", "port", "ports") && e.has("search", "find", "matching", "containing", "contains", "named")
	}, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"q": e.quoted}, ""
	}},
	{"bgp_sessions_down", func(e *entities) bool {
		return e.has("bgp") && len(e.hosts) == 0 && e.has("down", "idle", "not established", "flapping", "broken", "failed")
	}, none},
	{"bgp_peers_by_device", func(e *entities) bool { return e.has("bgp", "peer", "peers", "peering") }, needHost},
	{"device_neighbors", func(e *entities) bool {
		return e.has("neighbor", "neighbors", "neighbour", "neighbours", "lldp", "cdp", "adjacent", "connected to", "attached to", "plugged into")
	}, needHost},
	{"interfaces_down", func(e *entities) bool {
		return e.has("interface", "interfaces", "port", "ports", "link", "links") && e.has("down", "oper-down", "not up", "dead")
	}, none},
	{"interfaces_by_vlan", func(e *entities) bool {
		return e.vlan != 0 && e.has("interface", "interfaces", "port", "ports", "trunk", "trunks", "carry", "carries")
	},
		func(e *entities, c Context) (map[string]any, string) { return map[string]any{"vlan": e.vlan}, "" }},
	{"interfaces_by_device", func(e *entities) bool { return e.has("interface", "interfaces", "port", "ports") }, needHost},
	{"routes_by_device", func(e *entities) bool { return e.has("route", "routes", "routing", "rib", "next hop", "next-hop") }, needHost},
	{"firewall_rules_by_device", func(e *entities) bool { return e.has("firewall", "rules", "rule", "policy", "policies", "acl", "acls") }, needHost},
	{"ips_in_subnet", func(e *entities) bool { return len(e.prefixes) > 0 }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"subnet": e.prefixes[0].String()}, ""
	}},
	{"subnets_all", func(e *entities) bool { return e.has("subnet", "subnets", "networks", "prefixes") }, none},
	{"locate_endpoint_by_ip", func(e *entities) bool { return len(e.ips) > 0 }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"ip": e.ips[0].String()}, ""
	}},
	{"locate_endpoint_by_mac", func(e *entities) bool { return len(e.macs) > 0 }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"mac": e.macs[0]}, ""
	}},
	{"endpoints_by_device", func(e *entities) bool {
		return e.has("endpoint", "endpoints", "hosts", "clients", "macs", "mac table", "plugged", "learned", "attached")
	}, needHost},
	{"topology_vlan", func(e *entities) bool {
		return e.vlan != 0 && e.has("topology", "map", "diagram", "graph", "span", "spans")
	},
		func(e *entities, c Context) (map[string]any, string) { return map[string]any{"vlan": e.vlan}, "" }},
	{"topology_site", func(e *entities) bool { return e.site != "" && e.has("topology", "map", "diagram", "graph", "links") },
		func(e *entities, c Context) (map[string]any, string) { return map[string]any{"site": e.site}, "" }},
	{"topology_full", func(e *entities) bool {
		return e.has("topology", "map", "diagram", "graph", "all links", "whole network")
	}, none},
	{"summary_by_role", func(e *entities) bool { return e.has("by role", "per role", "each role", "roles") && isSummary(e) }, none},
	{"summary_by_site", func(e *entities) bool { return e.has("by site", "per site", "each site", "sites") && isSummary(e) }, none},
	{"summary_by_vendor", func(e *entities) bool {
		return e.has("by vendor", "per vendor", "each vendor", "vendors") && isSummary(e)
	}, none},
	{"summary_stats", isSummary, none},
	{"devices_search", func(e *entities) bool { return e.has("search", "matching", "named like", "containing", "whose name") },
		func(e *entities, c Context) (map[string]any, string) {
			if e.quoted != "" {
				return map[string]any{"q": e.quoted}, ""
			}
			return nil, "q (quote what to search for)"
		}},
	{"devices_detail", func(e *entities) bool {
		return len(e.hosts) > 0 || (e.refers && e.has("detail", "details", "about", "describe", "serial", "model", "version", "show"))
	}, needHost},
	{"all_devices", func(e *entities) bool {
		n := 0
		for _, s := range []string{e.role, e.site, e.vendor} {
			if s != "" {
				n++
			}
		}
		return n != 1 && e.has("devices", "device", "inventory", "switches", "routers", "everything", "all")
	}, func(e *entities, c Context) (map[string]any, string) {
		p := map[string]any{}
		for k, v := range map[string]string{"role": e.role, "site": e.site, "vendor": e.vendor} {
			if v != "" {
				p[k] = v
			}
		}
		return p, ""
	}},
	{"devices_by_role", func(e *entities) bool { return e.role != "" }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"role": e.role}, ""
	}},
	{"devices_by_site", func(e *entities) bool { return e.site != "" }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"site": e.site}, ""
	}},
	{"devices_by_vendor", func(e *entities) bool { return e.vendor != "" }, func(e *entities, c Context) (map[string]any, string) {
		return map[string]any{"vendor": e.vendor}, ""
	}},
}

func isBlast(e *entities) bool {
	return e.has("blast", "breaks", "break", "impact", "impacted", "affected", "affects", "what if", "fails", "fail", "failure",
		"goes down", "went down", "outage", "lose", "loses", "reboot", "reboots", "unplug", "unplugged")
}

func isSummary(e *entities) bool {
	return e.has("summary", "summarize", "summarise", "stats", "statistics", "how many", "count", "counts", "breakdown", "overview", "totals")
}

// Understood is the interpreter's answer: an intent, or what is missing or
// not understood, with suggestions.
type Understood struct {
	Intent      *Intent
	Missing     string // a parameter the matched query needs and the message lacks
	MatchedFor  string // the query that needed it
	Suggestions []string
}

// Interpret maps one message to a query of the given set (known holds the
// registry's names, so a rule for a query not registered never fires).
func Interpret(g *graph.Graph, msg string, c Context, known func(string) bool) Understood {
	e := extract(g, msg)
	for _, r := range rules {
		if !known(r.query) || !r.match(e) {
			continue
		}
		p, missing := r.params(e, c)
		if missing != "" {
			return Understood{Missing: missing, MatchedFor: r.query, Suggestions: suggestionsFor(r.query)}
		}
		return Understood{Intent: &Intent{Query: r.query, Params: p}}
	}
	return Understood{Suggestions: slices.Clone(defaultSuggestions)}
}

var defaultSuggestions = []string{
	"where is 10.1.2.3?",
	"what breaks if core1 fails?",
	"show the neighbors of dist1",
	"can 10.1.10.11 reach 10.2.0.5 on tcp/443?",
	"list the access switches",
	"summary by site",
	"which BGP sessions are down?",
	"find duplicate IPs",
}

func suggestionsFor(q string) []string {
	switch q {
	case "path_analysis":
		return []string{"can 10.1.10.11 reach 10.2.0.5 on tcp/443?"}
	case "firewall_address_object_usage":
		return []string{`where is the address object "web-servers" used?`}
	case "devices_search":
		return []string{`search devices matching "core"`}
	default:
		return []string{"name the device, e.g. \"… on core1\"", "or ask about an address first: \"where is 10.1.2.3?\""}
	}
}
