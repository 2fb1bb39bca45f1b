package firewall

import (
	"slices"
)

// Shadow is a rule that can never match: the enabled rules before it
// together take every packet of its match space.
type Shadow struct {
	Rule *Rule
	// By lists, in rule order, the earlier rules that take some of its
	// packets; together they cover all of them.
	By []*Rule
	// DifferentAction is set when one of them has another action: the
	// shadowed rule's intent is silently overridden.
	DifferentAction bool
}

// ShadowStats counts what a scan did.
type ShadowStats struct {
	Rules     int // enabled rules examined
	Shadowed  int
	Undecided int // rules whose space fragmented past the piece cap: reported not shadowed
}

// maxPieces bounds the disjoint boxes one rule's remaining space may split
// into. A rule that passes it is reported as not shadowed (never a false
// positive) and counted in ShadowStats.Undecided.
const maxPieces = 1 << 16

// dims: source zone, destination zone, source atoms, destination atoms,
// services.
const nDims = 5

type box [nDims]Ranges

// shadowRule is a rule's space twice: the most it could match (unresolvable
// parts as "any": used when asking whether it is covered) and the least it
// surely matches (unresolvable parts as nothing: used when it covers others).
type shadowRule struct {
	r        *Rule
	most     box
	least    box
	leastOK  bool // least is non-empty in every dimension
	mostBBox [nDims]Span
	// zonePairs has bit s*z+d set for every (source zone s, destination
	// zone d) the rule applies to, where there are z ≤ 8 zones; all ones
	// otherwise. Two rules whose masks do not meet cannot intersect: one
	// AND rejects most pairs of rules of a zoned policy.
	zonePairs uint64
}

// Shadowed returns the policy's shadowed rules in rule order. The answer is
// exact for every rule whose addresses and services resolve; a rule naming
// an unresolvable object counts it as "any" when it might be shadowed, and
// as nothing when it might shadow, so no rule is called shadowed wrongly.
func (p *Policy) Shadowed() ([]Shadow, ShadowStats) {
	var st ShadowStats
	rules := p.atomize()
	st.Rules = len(rules)
	var out []Shadow
	var cands []int
	for i := range rules {
		ri := &rules[i]
		cands = cands[:0]
		for j := range i {
			rj := &rules[j]
			if rj.zonePairs&ri.zonePairs != 0 && rj.leastOK && boxIntersects(&ri.mostBBox, &ri.most, &rj.least) {
				cands = append(cands, j)
			}
		}
		if len(cands) == 0 || !projectionsCovered(ri, rules, cands) || uncoveredCorner(ri, rules, cands) {
			continue
		}
		by, ok, undecided := coverBy(ri, rules, cands)
		if undecided {
			st.Undecided++
		}
		if !ok {
			continue
		}
		sh := Shadow{Rule: ri.r}
		for _, j := range by {
			sh.By = append(sh.By, rules[j].r)
			if rules[j].r.Action != ri.r.Action {
				sh.DifferentAction = true
			}
		}
		out = append(out, sh)
	}
	st.Shadowed = len(out)
	return out, st
}

func boxIntersects(bb *[nDims]Span, a, b *box) bool {
	for d := range nDims {
		bd := b[d]
		if len(bd) == 0 || bd[0].Lo > bb[d].Hi || bd[len(bd)-1].Hi < bb[d].Lo {
			return false
		}
	}
	for d := range nDims {
		if !a[d].Intersects(b[d]) {
			return false
		}
	}
	return true
}

// projectionsCovered is a cheap necessary condition: in every dimension,
// the candidates together must cover the rule's set.
func projectionsCovered(ri *shadowRule, rules []shadowRule, cands []int) bool {
	for d := range nDims {
		left := ri.most[d]
		for _, j := range cands {
			if !rules[j].least[d].Intersects(left) {
				continue
			}
			left = left.Subtract(rules[j].least[d])
			if left.Empty() {
				break
			}
		}
		if !left.Empty() {
			return false
		}
	}
	return true
}

// coverBy subtracts the candidates' boxes from the rule's box in rule order
// and reports the candidates that took a non-empty share.
func coverBy(ri *shadowRule, rules []shadowRule, cands []int) (by []int, covered, undecided bool) {
	pieces := []box{ri.most}
	var next []box
	for _, j := range cands {
		c := &rules[j].least
		took := false
		next = next[:0]
		for pi := range pieces {
			pc := &pieces[pi]
			if !boxesIntersect(pc, c) {
				next = append(next, *pc)
				continue
			}
			took = true
			if !boxCovers(c, pc) {
				next = subtractBox(next, pc, c)
			}
		}
		if took {
			by = append(by, j)
		}
		pieces, next = next, pieces
		if len(pieces) == 0 {
			return by, true, false
		}
		if len(pieces) > maxPieces {
			return nil, false, true
		}
	}
	return nil, false, false
}

func boxesIntersect(a, b *box) bool {
	for d := range nDims {
		if !a[d].Intersects(b[d]) {
			return false
		}
	}
	return true
}

// subtractBox appends the disjoint boxes of a \ b (which intersect) to out:
// for each dimension d, the part of a that agrees with b on the dimensions
// before d and lies outside b on d. Dimensions b covers add nothing and
// cost no allocation.
func subtractBox(out []box, a, b *box) []box {
	cur := *a
	for d := range nDims {
		if b[d].Covers(cur[d]) {
			continue
		}
		piece := cur
		piece[d] = cur[d].Subtract(b[d])
		out = append(out, piece)
		cur[d] = cur[d].Intersect(b[d])
	}
	return out
}

// boxCovers reports whether b ⊇ a.
func boxCovers(b, a *box) bool {
	for d := range nDims {
		if !b[d].Covers(a[d]) {
			return false
		}
	}
	return true
}

// uncoveredCorner looks for a witness that the rule is not shadowed: a
// corner of its box (lowest or highest key in each dimension) that no
// candidate surely matches. It is a cheap exit for the common case before
// the exact box subtraction.
func uncoveredCorner(ri *shadowRule, rules []shadowRule, cands []int) bool {
	var pt [nDims]uint32
	for mask := range 1 << nDims {
		for d := range nDims {
			m := ri.most[d]
			if mask&(1<<d) == 0 {
				pt[d] = m[0].Lo
			} else {
				pt[d] = m[len(m)-1].Hi
			}
		}
		covered := false
		for _, j := range cands {
			c := &rules[j].least
			in := true
			for d := range nDims {
				if !c[d].Contains(pt[d]) {
					in = false
					break
				}
			}
			if in {
				covered = true
				break
			}
		}
		if !covered {
			return true
		}
	}
	return false
}

// atomize maps every enabled rule to boxes over uint32 keys: addresses
// become indices of elementary intervals (atoms) cut at every boundary any
// rule's address set has, so that 128-bit intervals shrink to small ints
// without changing which sets cover which.
func (p *Policy) atomize() []shadowRule {
	var enabled []*Rule
	for _, r := range p.Rules {
		if r.Enabled {
			enabled = append(enabled, r)
		}
	}
	srcAtoms := newAtoms(enabled, func(r *Rule) IPSet { return r.Src.Set })
	dstAtoms := newAtoms(enabled, func(r *Rule) IPSet { return r.Dst.Set })
	out := make([]shadowRule, len(enabled))
	nz := uint32(len(p.zones))
	for i, r := range enabled {
		sr := &out[i]
		sr.zonePairs = ^uint64(0)
		if nz <= 8 {
			sr.zonePairs = 0
			for _, s := range r.SrcZoneSet {
				for z := s.Lo; z <= s.Hi; z++ {
					for _, d := range r.DstZoneSet {
						for y := d.Lo; y <= d.Hi; y++ {
							sr.zonePairs |= 1 << (z*nz + y)
						}
					}
				}
			}
		}
		sr.r = r
		sr.least = box{r.SrcZoneSet, r.DstZoneSet, srcAtoms.set(r.Src.Set), dstAtoms.set(r.Dst.Set), r.Svc.Set}
		sr.most = sr.least
		if len(r.Src.Unknown) > 0 {
			sr.most[2] = srcAtoms.all()
		}
		if len(r.Dst.Unknown) > 0 {
			sr.most[3] = dstAtoms.all()
		}
		if len(r.Svc.Unknown) > 0 {
			sr.most[4] = allServices
		}
		sr.leastOK = true
		for d := range nDims {
			if sr.least[d].Empty() {
				sr.leastOK = false
			}
			if m := sr.most[d]; !m.Empty() {
				sr.mostBBox[d] = Span{m[0].Lo, m[len(m)-1].Hi}
			}
		}
	}
	return out
}

type atoms struct{ bounds []Key } // sorted starts of atoms; bounds[0] is zero

func newAtoms(rules []*Rule, set func(*Rule) IPSet) atoms {
	b := []Key{{}}
	for _, r := range rules {
		for _, iv := range set(r) {
			b = append(b, iv.Lo)
			if n, overflow := iv.Hi.next(); !overflow {
				b = append(b, n)
			}
		}
	}
	slices.SortFunc(b, func(x, y Key) int { return x.cmp(y) })
	return atoms{slices.Compact(b)}
}

func (a atoms) index(k Key) uint32 {
	i, found := slices.BinarySearchFunc(a.bounds, k, func(x, y Key) int { return x.cmp(y) })
	if !found {
		i--
	}
	return uint32(i)
}

func (a atoms) all() Ranges { return Ranges{{0, uint32(len(a.bounds) - 1)}} }

func (a atoms) set(s IPSet) Ranges {
	out := make(Ranges, 0, len(s))
	for _, iv := range s {
		out = append(out, Span{a.index(iv.Lo), a.index(iv.Hi)})
	}
	return normalize(out)
}
