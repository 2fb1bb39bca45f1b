// Package fwquery defines the firewall and path-analysis named queries
// (path_analysis, firewall_*, deny_rules_summary, hygiene_shadowed_rules,
// hygiene_unused_rules, hygiene_unused_objects) for the one query registry.
// They answer from a pathanalysis.Index built once per graph version.
package fwquery

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
)

// Protocols accepted by path_analysis and firewall_rules_matching.
var protocols = []string{"tcp", "udp", "icmp", "any"}

var ruleColumns = []string{"hostname", "rule_id", "rule_name", "rule_order", "action", "enabled",
	"src_zones", "dst_zones", "src_addresses", "dst_addresses", "services", "hit_count"}

func withColumns(extra ...string) []string { return append(slices.Clip(ruleColumns), extra...) }

func ruleRow(host string, r *firewall.Rule, extra ...any) []any {
	var hits any
	if r.HitCount != nil {
		hits = *r.HitCount
	}
	row := []any{host, r.RuleID, r.RuleName, r.RuleOrder, r.Action, r.Enabled,
		list(r.SrcZones), list(r.DstZones), list(r.SrcAddresses), list(r.DstAddresses), list(r.Services), hits}
	return append(row, extra...)
}

// list keeps absent lists as [] rather than null in JSON.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

var hostnameParam = query.Param{Name: "hostname", Type: query.TypeString, Required: true, Description: "firewall hostname", Example: "fw-edge-01"}

// Definitions returns the queries, answering from indexes kept in cache.
// Register them in the registry beside the built-in ones:
//
//	reg.MustRegister(fwquery.Definitions(pathanalysis.NewCache())...)
func Definitions(cache *pathanalysis.Cache) []query.Definition {
	ix := func(env *query.Env) *pathanalysis.Index { return cache.Index(env.Graph) }
	return []query.Definition{
		pathAnalysis(ix),
		routeLookup(ix),
		{
			Name: "firewall_rules_by_device", Description: "A firewall's rules in evaluation order (rule_order), disabled ones included.",
			Params: []query.Param{hostnameParam}, Columns: ruleColumns, Paged: true,
			Run: func(_ context.Context, env *query.Env, a query.Args) (*query.Result, error) {
				fw, err := firewallArg(ix(env), a)
				if err != nil {
					return nil, err
				}
				res := &query.Result{}
				for _, r := range fw.Policy().Rules {
					res.Rows = append(res.Rows, ruleRow(fw.Device.Hostname, r))
				}
				return res, nil
			},
		},
		{
			Name: "firewall_rules_by_zone_pair", Description: "A firewall's rules that apply from src_zone to dst_zone (naming the zones or any), in evaluation order.",
			Params: []query.Param{hostnameParam,
				{Name: "src_zone", Type: query.TypeString, Required: true, Description: "zone the traffic enters by", Example: "inside"},
				{Name: "dst_zone", Type: query.TypeString, Required: true, Description: "zone the traffic leaves by", Example: "dmz"}},
			Columns: ruleColumns, Paged: true,
			Run: func(_ context.Context, env *query.Env, a query.Args) (*query.Result, error) {
				fw, err := firewallArg(ix(env), a)
				if err != nil {
					return nil, err
				}
				zones := fw.Policy().Zones()
				for _, p := range []string{"src_zone", "dst_zone"} {
					if z := a.String(p); !slices.Contains(zones, z) {
						return nil, query.BadParam(p, "no zone %q on %s (zones: %s)", z, fw.Device.Hostname, strings.Join(zones, ", "))
					}
				}
				res := &query.Result{}
				for _, r := range fw.Policy().Rules {
					if fw.Policy().ZonesMatch(r, a.String("src_zone"), a.String("dst_zone")) {
						res.Rows = append(res.Rows, ruleRow(fw.Device.Hostname, r))
					}
				}
				return res, nil
			},
		},
		rulesMatching(ix),
		{
			Name: "firewall_permissive_rules", Memo: true, Description: "Enabled permit rules whose source and destination are any (every IPv4 or every IPv6 address, however written).",
			Columns: withColumns("any_service"), Paged: true,
			Run: func(ctx context.Context, env *query.Env, _ query.Args) (*query.Result, error) {
				res := &query.Result{}
				fws, err := allFirewalls(ctx, ix(env))
				if err != nil {
					return nil, err
				}
				for _, fw := range fws {
					for _, r := range fw.Policy().Rules {
						if r.Enabled && firewall.ActionVerdict(r.Action) == firewall.VerdictPermit && r.Src.IsAny() && r.Dst.IsAny() {
							res.Rows = append(res.Rows, ruleRow(fw.Device.Hostname, r, r.Svc.IsAny()))
						}
					}
				}
				return res, nil
			},
		},
		objectUsage(ix),
		{
			Name: "deny_rules_summary", Memo: true, Description: "Deny, drop and reject rules per firewall with their hit counts; summary totals them per firewall.",
			Columns: withColumns(), Paged: true,
			Run: func(ctx context.Context, env *query.Env, _ query.Args) (*query.Result, error) {
				res := &query.Result{}
				var summary []map[string]any
				fws, err := allFirewalls(ctx, ix(env))
				if err != nil {
					return nil, err
				}
				for _, fw := range fws {
					n, enabled, known := 0, 0, 0
					var hits int64
					for _, r := range fw.Policy().Rules {
						if firewall.ActionVerdict(r.Action) != firewall.VerdictDeny {
							continue
						}
						n++
						if r.Enabled {
							enabled++
						}
						if r.HitCount != nil {
							known++
							hits += *r.HitCount
						}
						res.Rows = append(res.Rows, ruleRow(fw.Device.Hostname, r))
					}
					if n > 0 {
						summary = append(summary, map[string]any{"hostname": fw.Device.Hostname, "deny_rules": n,
							"enabled": enabled, "hit_count": hits, "rules_with_hit_count": known})
					}
				}
				res.Extra = map[string]any{"summary": orEmpty(summary)}
				return res, nil
			},
		},
		shadowed(ix),
		{
			Name: "hygiene_unused_rules", Memo: true, Description: "Rules whose hit count is known and zero.",
			Columns: ruleColumns, Paged: true,
			Run: func(ctx context.Context, env *query.Env, _ query.Args) (*query.Result, error) {
				res := &query.Result{}
				fws, err := allFirewalls(ctx, ix(env))
				if err != nil {
					return nil, err
				}
				for _, fw := range fws {
					for _, r := range fw.Policy().Rules {
						if r.HitCount != nil && *r.HitCount == 0 {
							res.Rows = append(res.Rows, ruleRow(fw.Device.Hostname, r))
						}
					}
				}
				return res, nil
			},
		},
		{
			Name: "hygiene_unused_objects", Memo: true, Description: "Address and service objects that no rule references, directly or through groups (an object only an unused group holds is unused too).",
			Columns: []string{"hostname", "kind", "object", "type", "value"}, Paged: true,
			Run: func(ctx context.Context, env *query.Env, _ query.Args) (*query.Result, error) {
				res := &query.Result{}
				fws, err := allFirewalls(ctx, ix(env))
				if err != nil {
					return nil, err
				}
				for _, fw := range fws {
					for _, o := range fw.Policy().UnusedObjects() {
						res.Rows = append(res.Rows, []any{fw.Device.Hostname, o.Kind, o.Name, o.Type, o.Value})
					}
				}
				return res, nil
			},
		},
	}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// allFirewalls returns every firewall with its policy compiled (those not
// compiled yet, one per CPU).
func allFirewalls(ctx context.Context, ix *pathanalysis.Index) ([]*pathanalysis.Firewall, error) {
	if err := pathanalysis.CompileAll(ctx, ix.Firewalls); err != nil {
		return nil, err
	}
	return ix.Firewalls, nil
}

// firewallArg resolves the hostname parameter to a firewall: 404 for an
// unknown device, 400 for a device without a policy.
func firewallArg(ix *pathanalysis.Index, a query.Args) (*pathanalysis.Firewall, error) {
	h := a.String("hostname")
	d := ix.G.Device(h)
	if d == nil {
		return nil, query.NotFound("no device named %q", h)
	}
	fw := ix.FirewallOf(d)
	if fw == nil {
		return nil, query.BadParam("hostname", "device %q has no firewall policy", h)
	}
	return fw, nil
}

// services turns protocol and dst_port into the flow's service set:
// tcp/udp with a port is that port, without one every port; icmp is all of
// icmp (a port is an error); any with a port is that port on tcp, udp and
// sctp, without one every protocol.
func services(a query.Args) (firewall.Ranges, error) {
	proto := a.String("protocol")
	if proto == "" {
		proto = "any"
	}
	hasPort := a.Has("dst_port")
	port := uint32(a.Int("dst_port"))
	ports := []firewall.Span{{Lo: 0, Hi: 65535}}
	if hasPort {
		ports = []firewall.Span{{Lo: port, Hi: port}}
	}
	switch proto {
	case "icmp":
		if hasPort {
			return nil, query.BadParam("dst_port", "icmp has no ports; leave dst_port out or use tcp or udp")
		}
		return firewall.ServiceSet(firewall.ProtoICMP, nil), nil
	case "any":
		if !hasPort {
			return firewall.AllServices(), nil
		}
		var s firewall.Ranges
		for _, p := range []uint8{firewall.ProtoTCP, firewall.ProtoUDP, firewall.ProtoSCTP} {
			s = s.Union(firewall.ServiceSet(p, ports))
		}
		return s, nil
	}
	pn, _ := firewall.ProtocolNumber(proto)
	return firewall.ServiceSet(pn, ports), nil
}

var flowParams = []query.Param{
	{Name: "protocol", Type: query.TypeString, Enum: protocols, Default: "any", Description: "tcp, udp, icmp or any"},
	{Name: "dst_port", Type: query.TypeInt, Min: 0, Max: 65535, Description: "destination port (0..65535; tcp, udp or any); every port when left out"},
}

func pathAnalysis(ix func(*query.Env) *pathanalysis.Index) query.Definition {
	return query.Definition{
		Name: "path_analysis",
		Description: "Hop-by-hop path of a flow from the source's gateway to the destination (longest-prefix match per VRF, " +
			"equal-cost branches, topology where a device has no routes) with the deciding rule at every firewall, " +
			"and an overall verdict (permit, deny, unknown) with its reason.",
		Params: append([]query.Param{
			{Name: "src_ip", Type: query.TypeIP, Required: true, Description: "source address", Example: "10.32.0.12"},
			{Name: "dst_ip", Type: query.TypeIP, Required: true, Description: "destination address", Example: "10.128.0.10"},
		}, flowParams...),
		Columns: []string{"path", "hop", "hostname", "vrf", "in_interface", "out_interface", "in_zone", "out_zone",
			"rule_id", "rule_name", "rule_order", "action", "next_hop", "note"},
		Run: func(_ context.Context, env *query.Env, a query.Args) (*query.Result, error) {
			src, dst := a.IP("src_ip"), a.IP("dst_ip")
			if src.Unmap().Is4() != dst.Unmap().Is4() {
				return nil, query.BadParam("dst_ip", "%s and src_ip %s are of different address families", dst, src)
			}
			svc, err := services(a)
			if err != nil {
				return nil, err
			}
			r := ix(env).Analyze(pathanalysis.Query{Src: src, Dst: dst, Services: svc})
			res := &query.Result{}
			var paths []map[string]any
			for pi, p := range r.Paths {
				for hi, h := range p.Hops {
					res.Rows = append(res.Rows, hopRow(pi+1, hi+1, h))
				}
				paths = append(paths, map[string]any{"path": pi + 1, "verdict": p.Verdict, "reason": p.Reason, "hops": len(p.Hops)})
			}
			res.Extra = map[string]any{"verdict": r.Verdict, "reason": r.Reason, "paths": orEmpty(paths), "truncated_paths": r.Truncated}
			return res, nil
		},
	}
}

// routeLookup answers with the route path analysis would take: the same
// index, the same choice.
func routeLookup(ix func(*query.Env) *pathanalysis.Index) query.Definition {
	return query.Definition{
		Name: "route_lookup",
		Description: "The route a device uses for an address in a VRF: the longest matching prefix (collected routes and connected subnets), " +
			"lowest administrative distance, then lowest metric, one row per equal-cost next hop; no rows when the device has no route.",
		Params: []query.Param{
			{Name: "hostname", Type: query.TypeString, Required: true, Description: "device hostname", Example: "core-sw-01"},
			{Name: "vrf", Type: query.TypeString, Default: "default", Description: "VRF (default when left out)"},
			{Name: "ip", Type: query.TypeIP, Required: true, Description: "destination address", Example: "10.128.0.10"},
		},
		Columns: []string{"hostname", "vrf", "prefix", "next_hop", "interface", "next_hop_vrf", "vni", "protocol", "admin_distance", "metric", "action"},
		Run: func(_ context.Context, env *query.Env, a query.Args) (*query.Result, error) {
			h := a.String("hostname")
			d := env.Graph.Device(h)
			if d == nil {
				return nil, query.NotFound("no device named %q", h)
			}
			ms, _ := ix(env).RouteLookup(d, a.String("vrf"), a.IP("ip"))
			res := &query.Result{}
			for _, m := range ms {
				var nh, ad, vni any
				if m.NextHop.IsValid() {
					nh = m.NextHop.String()
				}
				if m.AdminDistance != nil {
					ad = *m.AdminDistance
				}
				if m.VNI > 0 {
					vni = m.VNI
				}
				res.Rows = append(res.Rows, []any{d.Hostname, a.String("vrf"), m.Prefix.String(), nh, nullStr(m.Interface), nullStr(m.NextHopVRF), vni,
					nullStr(m.Protocol), ad, m.Metric, m.Action})
			}
			return res, nil
		},
	}
}

func hopRow(path, hop int, h pathanalysis.Hop) []any {
	var nh any
	if h.NextHop.IsValid() {
		nh = h.NextHop.String()
	}
	row := []any{path, hop, h.Device.Hostname, h.VRF, nullStr(h.In), nullStr(h.Out), nil, nil, nil, nil, nil, nil, nh, h.Note}
	if h.Firewall != nil {
		row[6], row[7] = nullStr(h.InZone), nullStr(h.OutZone)
	}
	if d := h.Decision; h.Firewall != nil && d.Verdict != "" {
		if d.Rule != nil {
			row[8], row[9], row[10] = d.Rule.RuleID, d.Rule.RuleName, d.Rule.RuleOrder
		} else if d.Default {
			row[8], row[9] = "default", "default action"
		}
		row[11] = d.Action
		if d.Verdict == firewall.VerdictUnknown {
			row[13] = h.Note + "; unknown: " + d.Reason
		}
	}
	return row
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func rulesMatching(ix func(*query.Env) *pathanalysis.Index) query.Definition {
	return query.Definition{
		Name: "firewall_rules_matching",
		Description: "Enabled rules on every firewall that would match traffic with the given fields (any subset of src_ip, dst_ip, " +
			"protocol, dst_port; zones aside). certain is false where only an fqdn or undefined object could make the rule match.",
		Params: append([]query.Param{
			{Name: "src_ip", Type: query.TypeIP, Description: "source address; any when left out"},
			{Name: "dst_ip", Type: query.TypeIP, Description: "destination address; any when left out"},
		}, flowParams...),
		Columns: withColumns("certain", "reason"), Paged: true,
		Run: func(ctx context.Context, env *query.Env, a query.Args) (*query.Result, error) {
			svc, err := services(a)
			if err != nil {
				return nil, err
			}
			res := &query.Result{}
			fws, err := allFirewalls(ctx, ix(env))
			if err != nil {
				return nil, err
			}
			for _, fw := range fws {
				for _, r := range fw.Policy().Rules {
					if !r.Enabled {
						continue
					}
					certain, reason := true, ""
					ok := true
					for _, c := range []struct {
						param string
						m     *firewall.AddrMatch
					}{{"src_ip", &r.Src}, {"dst_ip", &r.Dst}} {
						if !a.Has(c.param) {
							continue
						}
						sure, possible, why := c.m.Match(a.IP(c.param))
						ok = ok && possible
						if !sure && possible {
							certain, reason = false, cmp.Or(reason, why)
						}
					}
					sure, possible, why := r.Svc.Match(svc)
					ok = ok && possible
					if !sure && possible {
						certain, reason = false, cmp.Or(reason, why)
					}
					if ok {
						res.Rows = append(res.Rows, ruleRow(fw.Device.Hostname, r, certain, nullStr(reason)))
					}
				}
			}
			return res, nil
		},
	}
}

func objectUsage(ix func(*query.Env) *pathanalysis.Index) query.Definition {
	return query.Definition{
		Name:        "firewall_address_object_usage",
		Description: "Rules on every firewall that use the address object, directly or through groups (via is the chain of groups); summary says where it is defined and which groups hold it.",
		Params:      []query.Param{{Name: "name", Type: query.TypeString, Required: true, Description: "address object name", Example: "web-servers"}},
		Columns:     []string{"hostname", "object", "type", "rule_id", "rule_name", "rule_order", "action", "enabled", "field", "via"},
		Paged:       true,
		Run: func(ctx context.Context, env *query.Env, a query.Args) (*query.Result, error) {
			name := a.String("name")
			res := &query.Result{}
			var defined []map[string]any
			fws, err := allFirewalls(ctx, ix(env))
			if err != nil {
				return nil, err
			}
			for _, fw := range fws {
				o, ok := fw.Policy().AddressObject(name)
				if !ok {
					continue
				}
				defined = append(defined, map[string]any{"hostname": fw.Device.Hostname, "type": o.Type, "value": o.Value,
					"member_of": orEmpty(fw.Policy().GroupsContaining(name))})
				for _, u := range fw.Policy().AddressObjectUses(name) {
					res.Rows = append(res.Rows, []any{fw.Device.Hostname, name, o.Type, u.Rule.RuleID, u.Rule.RuleName,
						u.Rule.RuleOrder, u.Rule.Action, u.Rule.Enabled, u.Field, u.Via})
				}
			}
			if len(defined) == 0 {
				return nil, query.NotFound("no firewall has an address object named %q", name)
			}
			res.Extra = map[string]any{"defined_on": defined}
			return res, nil
		},
	}
}

func shadowed(ix func(*query.Env) *pathanalysis.Index) query.Definition {
	return query.Definition{
		Name: "hygiene_shadowed_rules", Memo: true,
		Description: "Enabled rules that can never match because the enabled rules before them together cover their whole " +
			"match space (zones × source × destination × services). shadowed_by lists the earlier rules that take its traffic; " +
			"different_action says whether one of them acts differently. Exact: never a false positive.",
		Params:  []query.Param{{Name: "hostname", Type: query.TypeString, Description: "only this firewall; every firewall when left out"}},
		Columns: []string{"hostname", "rule_id", "rule_name", "rule_order", "action", "shadowed_by", "different_action"},
		Paged:   true,
		Run: func(ctx context.Context, env *query.Env, a query.Args) (*query.Result, error) {
			x := ix(env)
			fws := x.Firewalls
			if a.String("hostname") != "" {
				fw, err := firewallArg(x, a)
				if err != nil {
					return nil, err
				}
				fws = []*pathanalysis.Firewall{fw}
			}
			if err := pathanalysis.ScanShadowed(ctx, fws); err != nil {
				return nil, err
			}
			res := &query.Result{}
			var st firewall.ShadowStats
			for _, fw := range fws {
				sh, s := fw.Shadowed()
				st.Rules += s.Rules
				st.Shadowed += s.Shadowed
				st.Undecided += s.Undecided
				for _, s := range sh {
					by := make([]string, len(s.By))
					for i, b := range s.By {
						by[i] = b.RuleID
					}
					res.Rows = append(res.Rows, []any{fw.Device.Hostname, s.Rule.RuleID, s.Rule.RuleName, s.Rule.RuleOrder,
						s.Rule.Action, by, s.DifferentAction})
				}
			}
			res.Extra = map[string]any{"firewalls": len(fws), "rules_examined": st.Rules, "undecided": st.Undecided}
			return res, nil
		},
	}
}
