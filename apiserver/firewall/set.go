package firewall

import (
	"math/bits"
	"net/netip"
	"slices"
)

// Span is an inclusive interval of uint32 keys. Ports, protocol×port keys,
// zone indices and (after atomisation) address atoms are all uint32 keys.
type Span struct{ Lo, Hi uint32 }

// Ranges is a set of uint32 keys: sorted, disjoint, non-adjacent spans. The
// zero value is the empty set. Operations never modify their operands.
type Ranges []Span

// normalize sorts and merges spans in place.
func normalize(r Ranges) Ranges {
	if len(r) < 2 {
		return r
	}
	slices.SortFunc(r, func(a, b Span) int {
		switch {
		case a.Lo < b.Lo:
			return -1
		case a.Lo > b.Lo:
			return 1
		}
		return 0
	})
	out := r[:1]
	for _, s := range r[1:] {
		last := &out[len(out)-1]
		if last.Hi == ^uint32(0) || s.Lo <= last.Hi+1 {
			last.Hi = max(last.Hi, s.Hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

// Union returns a ∪ b.
func (a Ranges) Union(b Ranges) Ranges {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make(Ranges, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	return normalize(out)
}

// Intersect returns a ∩ b.
func (a Ranges) Intersect(b Ranges) Ranges {
	var out Ranges
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		lo, hi := max(a[i].Lo, b[j].Lo), min(a[i].Hi, b[j].Hi)
		if lo <= hi {
			out = append(out, Span{lo, hi})
		}
		if a[i].Hi < b[j].Hi {
			i++
		} else {
			j++
		}
	}
	return out
}

// Intersects reports whether a ∩ b is non-empty, without allocating.
func (a Ranges) Intersects(b Ranges) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if max(a[i].Lo, b[j].Lo) <= min(a[i].Hi, b[j].Hi) {
			return true
		}
		if a[i].Hi < b[j].Hi {
			i++
		} else {
			j++
		}
	}
	return false
}

// Subtract returns a \ b.
func (a Ranges) Subtract(b Ranges) Ranges {
	if len(a) == 0 || len(b) == 0 {
		return a
	}
	var out Ranges
	j := 0
	for _, s := range a {
		lo, hi := s.Lo, s.Hi
		for j < len(b) && b[j].Hi < lo {
			j++
		}
		k := j
		alive := true
		for k < len(b) && b[k].Lo <= hi {
			if b[k].Lo > lo {
				out = append(out, Span{lo, b[k].Lo - 1})
			}
			if b[k].Hi >= hi {
				alive = false
				break
			}
			lo = b[k].Hi + 1
			k++
		}
		if alive {
			out = append(out, Span{lo, hi})
		}
	}
	return out
}

// Covers reports whether b ⊆ a.
func (a Ranges) Covers(b Ranges) bool {
	i := 0
	for _, s := range b {
		for i < len(a) && a[i].Hi < s.Lo {
			i++
		}
		if i == len(a) || a[i].Lo > s.Lo || a[i].Hi < s.Hi {
			return false
		}
	}
	return true
}

// Contains reports whether k is in the set.
func (a Ranges) Contains(k uint32) bool {
	i, _ := slices.BinarySearchFunc(a, k, func(s Span, k uint32) int {
		if s.Hi < k {
			return -1
		}
		if s.Lo > k {
			return 1
		}
		return 0
	})
	return i < len(a) && a[i].Lo <= k && k <= a[i].Hi
}

// Empty reports whether the set is empty.
func (a Ranges) Empty() bool { return len(a) == 0 }

// Key is a 128-bit address key. IPv4 addresses are mapped into
// ::ffff:0:0/96 so that one ordered space holds both families.
type Key struct{ Hi, Lo uint64 }

// KeyOf returns the key of an address (IPv4 as IPv4-mapped IPv6).
func KeyOf(a netip.Addr) Key {
	b := a.As16()
	var k Key
	for i := range 8 {
		k.Hi = k.Hi<<8 | uint64(b[i])
		k.Lo = k.Lo<<8 | uint64(b[8+i])
	}
	return k
}

// Less reports k < o.
func (k Key) Less(o Key) bool { return k.Hi < o.Hi || (k.Hi == o.Hi && k.Lo < o.Lo) }

func (k Key) cmp(o Key) int {
	switch {
	case k.Less(o):
		return -1
	case o.Less(k):
		return 1
	}
	return 0
}

// next returns k+1 and whether it overflowed.
func (k Key) next() (Key, bool) {
	lo, c := bits.Add64(k.Lo, 1, 0)
	hi, c2 := bits.Add64(k.Hi, 0, c)
	return Key{hi, lo}, c2 != 0
}

// Interval is an inclusive interval of address keys.
type Interval struct{ Lo, Hi Key }

// IPSet is a set of addresses: sorted, disjoint, non-adjacent intervals.
type IPSet []Interval

// PrefixInterval returns the interval a prefix covers.
func PrefixInterval(p netip.Prefix) Interval {
	p = p.Masked()
	lo := KeyOf(p.Addr())
	bitsLen := p.Bits()
	if p.Addr().Is4() {
		bitsLen += 96
	}
	host := 128 - bitsLen
	hi := lo
	switch {
	case host >= 64:
		hi.Lo = ^uint64(0)
		if host > 64 {
			hi.Hi |= ^uint64(0) >> (128 - host)
		}
	case host > 0:
		hi.Lo |= ^uint64(0) >> (64 - host)
	}
	return Interval{lo, hi}
}

// AllAddresses is every IPv4 and IPv6 address.
var allAddresses = IPSet{{Key{}, Key{^uint64(0), ^uint64(0)}}}

func normalizeIP(s IPSet) IPSet {
	if len(s) < 2 {
		return s
	}
	slices.SortFunc(s, func(a, b Interval) int { return a.Lo.cmp(b.Lo) })
	out := s[:1]
	for _, iv := range s[1:] {
		last := &out[len(out)-1]
		n, overflow := last.Hi.next()
		if overflow || !n.Less(iv.Lo) {
			if last.Hi.Less(iv.Hi) {
				last.Hi = iv.Hi
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// Union returns a ∪ b.
func (a IPSet) Union(b IPSet) IPSet {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make(IPSet, 0, len(a)+len(b))
	return normalizeIP(append(append(out, a...), b...))
}

// Contains reports whether the address key is in the set.
func (a IPSet) Contains(k Key) bool {
	i, _ := slices.BinarySearchFunc(a, k, func(iv Interval, k Key) int {
		if iv.Hi.Less(k) {
			return -1
		}
		if k.Less(iv.Lo) {
			return 1
		}
		return 0
	})
	return i < len(a) && !k.Less(a[i].Lo) && !a[i].Hi.Less(k)
}
