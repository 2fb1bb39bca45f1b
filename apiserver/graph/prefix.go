package graph

import (
	"net/netip"
	"slices"
)

// PrefixTable answers longest-prefix-match lookups. It keeps one hash map
// per prefix length present, so a lookup costs one map probe per distinct
// length (a handful in real networks) rather than a walk of every prefix.
type PrefixTable[V any] struct {
	v4, v6 lpmFamily[V]
}

type lpmFamily[V any] struct {
	byLen map[int]map[netip.Prefix]V
	lens  []int // descending
}

// NewPrefixTable returns an empty table.
func NewPrefixTable[V any]() *PrefixTable[V] { return &PrefixTable[V]{} }

func (t *PrefixTable[V]) family(a netip.Addr) *lpmFamily[V] {
	if a.Is4() {
		return &t.v4
	}
	return &t.v6
}

// Insert sets the value for p (masked), replacing any earlier one.
func (t *PrefixTable[V]) Insert(p netip.Prefix, v V) {
	p = p.Masked()
	f := t.family(p.Addr())
	if f.byLen == nil {
		f.byLen = map[int]map[netip.Prefix]V{}
	}
	m := f.byLen[p.Bits()]
	if m == nil {
		m = map[netip.Prefix]V{}
		f.byLen[p.Bits()] = m
		f.lens = append(f.lens, p.Bits())
		slices.SortFunc(f.lens, func(a, b int) int { return b - a })
	}
	m[p] = v
}

// Exact returns the value stored for exactly p.
func (t *PrefixTable[V]) Exact(p netip.Prefix) (V, bool) {
	p = p.Masked()
	v, ok := t.family(p.Addr()).byLen[p.Bits()][p]
	return v, ok
}

// Lookup returns the longest prefix containing a and its value.
func (t *PrefixTable[V]) Lookup(a netip.Addr) (netip.Prefix, V, bool) {
	a = a.Unmap()
	f := t.family(a)
	for _, n := range f.lens {
		p, _ := a.Prefix(n)
		if v, ok := f.byLen[n][p]; ok {
			return p, v, true
		}
	}
	var zero V
	return netip.Prefix{}, zero, false
}

// Len returns the number of prefixes stored.
func (t *PrefixTable[V]) Len() int {
	n := 0
	for _, m := range t.v4.byLen {
		n += len(m)
	}
	for _, m := range t.v6.byLen {
		n += len(m)
	}
	return n
}
