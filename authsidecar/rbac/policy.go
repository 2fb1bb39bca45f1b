// Package rbac parses the seeds' RBAC policy (roles with fnmatch allow
// patterns, groups mapped to roles), precompiles it, and decides whether a
// set of groups may use a permission. It also maps every HTTP request to its
// permission name (permission.go).
package rbac

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/meshoptixiq/mesh/common/routes"
	"math/bits"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxRoles bounds the number of roles so a role set fits in a fixed bitset
// and a decision never allocates.
const MaxRoles = 256

// RoleSet is a set of role indexes in one policy.
type RoleSet [MaxRoles / 64]uint64

func (s *RoleSet) add(i int)      { s[i/64] |= 1 << (uint(i) % 64) }
func (s *RoleSet) has(i int) bool { return s[i/64]&(1<<(uint(i)%64)) != 0 }

type role struct {
	name     string
	patterns []glob
	exact    map[string]int // exact patterns → index in patterns, for cache warming
	full     bool           // has "*"
	grants   string         // comma-joined allow patterns
}

// Policy is an immutable, compiled policy. The zero of Unrestricted (no
// policy configured) grants every authenticated user everything.
type Policy struct {
	// Version is the content hash ("sha256:" + 12 hex) recorded in every
	// audit record, so an auditor knows which rules decided.
	Version      string
	Unrestricted bool
	roles        []role
	roleIndex    map[string]int
	groups       map[string]int
	source       string
	fullRoles    RoleSet // roles granted "*"
	cache        *permCache
}

// Unrestricted is the policy in force when neither RBAC_POLICY nor
// RBAC_POLICY_FILE is set: every authenticated user has full access.
func Unrestricted() *Policy {
	return &Policy{Version: "none", Unrestricted: true, source: "none"}
}

// Source says where the policy came from (file path, "inline", "none").
func (p *Policy) Source() string { return p.source }

// Roles lists the role names in policy order.
func (p *Policy) Roles() []string {
	out := make([]string, len(p.roles))
	for i, r := range p.roles {
		out[i] = r.name
	}
	return out
}

// Version computes the policy version of content.
func Version(content []byte) string {
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:])[:12]
}

// Parse validates and compiles a policy document. Every problem is reported
// with its line, all at once.
func Parse(content []byte, source string) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: policy is empty", source)
	}
	p := &Policy{Version: Version(content), roleIndex: map[string]int{}, groups: map[string]int{}, source: source}
	var errs []error
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", source, n.Line, fmt.Sprintf(format, args...)))
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		bad(root, "policy must be a mapping with keys roles and groups")
		return nil, errors.Join(errs...)
	}
	var rolesNode, groupsNode *yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if seen[k.Value] {
			bad(k, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		switch k.Value {
		case "roles":
			rolesNode = v
		case "groups":
			groupsNode = v
		default:
			bad(k, "unknown key %q (allowed: roles, groups)", k.Value)
		}
	}
	if rolesNode == nil {
		bad(root, "missing key roles")
	} else if rolesNode.Kind != yaml.MappingNode {
		bad(rolesNode, "roles must be a mapping of role name to {allow: [patterns]}")
	} else {
		for i := 0; i+1 < len(rolesNode.Content); i += 2 {
			k, v := rolesNode.Content[i], rolesNode.Content[i+1]
			p.parseRole(k, v, bad)
		}
		if len(p.roles) > MaxRoles {
			bad(rolesNode, "%d roles; at most %d are supported", len(p.roles), MaxRoles)
		}
	}
	if groupsNode != nil && !(groupsNode.Kind == yaml.ScalarNode && groupsNode.Tag == "!!null") {
		if groupsNode.Kind != yaml.MappingNode {
			bad(groupsNode, "groups must be a mapping of group name to role name")
		} else {
			for i := 0; i+1 < len(groupsNode.Content); i += 2 {
				k, v := groupsNode.Content[i], groupsNode.Content[i+1]
				if k.Kind != yaml.ScalarNode || k.Value == "" {
					bad(k, "group name must be a non-empty string")
					continue
				}
				if _, dup := p.groups[k.Value]; dup {
					bad(k, "group %q is mapped twice", k.Value)
					continue
				}
				if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
					bad(v, "group %q must map to one role name", k.Value)
					continue
				}
				ri, ok := p.roleIndex[v.Value]
				if !ok {
					bad(v, "group %q maps to unknown role %q", k.Value, v.Value)
					continue
				}
				p.groups[k.Value] = ri
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.cache = newPermCache(maxCachedPerms)
	// Warm the cache with every literal name the policy mentions and every
	// fixed permission, so known names never pay for a scan.
	for i := range p.roles {
		for name := range p.roles[i].exact {
			p.cache.put(name, p.evaluate(name))
		}
	}
	for _, r := range routes.All {
		if r.Permission != "" && r.Permission != routes.PerQuery {
			p.cache.put(r.Permission, p.evaluate(r.Permission))
		}
	}
	return p, nil
}

func (p *Policy) parseRole(k, v *yaml.Node, bad func(*yaml.Node, string, ...any)) {
	if k.Kind != yaml.ScalarNode || k.Value == "" {
		bad(k, "role name must be a non-empty string")
		return
	}
	if _, dup := p.roleIndex[k.Value]; dup {
		bad(k, "role %q is defined twice", k.Value)
		return
	}
	if strings.ContainsAny(k.Value, ", \t") {
		bad(k, "role name %q must not contain commas or spaces", k.Value)
		return
	}
	r := role{name: k.Value, exact: map[string]int{}}
	if v.Kind != yaml.MappingNode {
		bad(v, "role %q must be a mapping with key allow", k.Value)
		return
	}
	var allow *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		rk, rv := v.Content[i], v.Content[i+1]
		if rk.Value != "allow" {
			bad(rk, "role %q: unknown key %q (allowed: allow)", k.Value, rk.Value)
			continue
		}
		if allow != nil {
			bad(rk, "role %q: duplicate key allow", k.Value)
			continue
		}
		allow = rv
	}
	if allow == nil {
		bad(v, "role %q has no allow list", k.Value)
		return
	}
	if allow.Kind != yaml.SequenceNode {
		if !(allow.Kind == yaml.ScalarNode && allow.Tag == "!!null") {
			bad(allow, "role %q: allow must be a list of patterns", k.Value)
			return
		}
	}
	var grants []string
	for _, item := range allow.Content {
		if item.Kind != yaml.ScalarNode || item.Tag != "!!str" {
			bad(item, "role %q: pattern must be a string", k.Value)
			continue
		}
		g, err := compileGlob(item.Value)
		if err != nil {
			bad(item, "role %q: %v", k.Value, err)
			continue
		}
		if g.kind == globAll {
			r.full = true
		}
		if g.kind == globExact {
			if _, dup := r.exact[g.lit]; !dup {
				r.exact[g.lit] = len(r.patterns)
			}
		}
		r.patterns = append(r.patterns, g)
		grants = append(grants, item.Value)
	}
	r.grants = strings.Join(grants, ",")
	if r.full {
		p.fullRoles.add(len(p.roles))
	}
	p.roleIndex[r.name] = len(p.roles)
	p.roles = append(p.roles, r)
}

// RolesForGroups returns the set of roles the groups map to (the union).
func (p *Policy) RolesForGroups(groups []string) RoleSet {
	var s RoleSet
	for _, g := range groups {
		if i, ok := p.groups[g]; ok {
			s.add(i)
		}
	}
	return s
}

// RoleSetOf returns the set holding the named role, if the policy has it.
func (p *Policy) RoleSetOf(name string) (RoleSet, bool) {
	var s RoleSet
	i, ok := p.roleIndex[name]
	if ok {
		s.add(i)
	}
	return s, ok
}

// Decision is the outcome of one check.
type Decision struct {
	Allow   bool
	Role    string // the role whose pattern matched
	Pattern string // the matched pattern
}

// Decide reports whether any role in set grants perm. unknown marks a
// request that maps to no permission: only a role granted "*" may use it.
// Each permission name is evaluated against every role once and remembered
// (bounded), so a decision is a map lookup and a bitset test; it never
// allocates.
func (p *Policy) Decide(set *RoleSet, perm string, unknown bool) Decision {
	if p.Unrestricted {
		return Decision{Allow: true, Pattern: "*"}
	}
	if unknown {
		for w := range set {
			if m := set[w] & p.fullRoles[w]; m != 0 {
				return Decision{Allow: true, Role: p.roles[w*64+bits.TrailingZeros64(m)].name, Pattern: "*"}
			}
		}
		return Decision{}
	}
	e := p.cache.get(perm)
	if e == nil {
		e = p.evaluate(perm)
		p.cache.put(perm, e)
	}
	for w := range set {
		if set[w]&e.allowed[w] != 0 {
			for _, h := range e.hits {
				if set.has(int(h.role)) {
					r := &p.roles[h.role]
					return Decision{Allow: true, Role: r.name, Pattern: r.patterns[h.pattern].src}
				}
			}
		}
	}
	return Decision{}
}

// evaluate matches perm against every role: the roles that grant it and,
// for each, the first pattern that does, in policy order.
func (p *Policy) evaluate(perm string) *permEntry {
	e := &permEntry{}
	for i := range p.roles {
		r := &p.roles[i]
		for k := range r.patterns {
			if r.patterns[k].match(perm) {
				e.allowed.add(i)
				e.hits = append(e.hits, hit{role: int32(i), pattern: int32(k)})
				break
			}
		}
	}
	return e
}

// RoleNames returns the names of the roles in set, sorted, comma-joined.
func (p *Policy) RoleNames(set *RoleSet) string {
	var names []string
	for i := range p.roles {
		if set.has(i) {
			names = append(names, p.roles[i].name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// Grants returns the union of the allow patterns of the roles in set,
// comma-joined, for the X-Meshq-Grants header.
func (p *Policy) Grants(set *RoleSet) string {
	if p.Unrestricted {
		return "*"
	}
	var parts []string
	seen := map[string]bool{}
	for i := range p.roles {
		if !set.has(i) {
			continue
		}
		for _, g := range p.roles[i].patterns {
			if !seen[g.src] {
				seen[g.src] = true
				parts = append(parts, g.src)
			}
		}
	}
	return strings.Join(parts, ",")
}
