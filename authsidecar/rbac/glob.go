package rbac

import (
	"fmt"
	"strings"
)

// glob is a precompiled Python fnmatchcase pattern: '*' any run, '?' one
// byte, '[seq]' / '[!seq]' a class with ranges. Patterns without metacharacters,
// "prefix*", "*suffix" and "*" take fast paths; the rest run a backtracking
// matcher over precompiled tokens. Matching never allocates.
type glob struct {
	src    string
	kind   globKind
	lit    string // exact / prefix / suffix text
	tokens []token
}

type globKind uint8

const (
	globExact globKind = iota
	globAll
	globPrefix
	globSuffix
	globGeneral
)

type tokenKind uint8

const (
	tokLit   tokenKind = iota
	tokAny             // ?
	tokStar            // *
	tokClass           // [...]
)

type token struct {
	kind   tokenKind
	lit    string
	negate bool
	ranges []byteRange
}

type byteRange struct{ lo, hi byte }

// compileGlob compiles pattern, rejecting what Python would accept but is
// almost certainly a mistake in a policy: empty patterns, whitespace or
// control characters, an unclosed '[' and an empty or reversed range.
func compileGlob(pattern string) (glob, error) {
	g := glob{src: pattern}
	if pattern == "" {
		return g, fmt.Errorf("empty pattern")
	}
	for i := 0; i < len(pattern); i++ {
		if c := pattern[i]; c <= ' ' || c == 0x7f {
			return g, fmt.Errorf("pattern %q contains whitespace or a control character", pattern)
		}
	}
	var toks []token
	for i := 0; i < len(pattern); {
		switch c := pattern[i]; c {
		case '*':
			if len(toks) == 0 || toks[len(toks)-1].kind != tokStar {
				toks = append(toks, token{kind: tokStar})
			}
			i++
		case '?':
			toks = append(toks, token{kind: tokAny})
			i++
		case '[':
			t, n, err := parseClass(pattern, i)
			if err != nil {
				return g, err
			}
			toks = append(toks, t)
			i += n
		default:
			j := i
			for j < len(pattern) && !strings.ContainsRune("*?[", rune(pattern[j])) {
				j++
			}
			toks = append(toks, token{kind: tokLit, lit: pattern[i:j]})
			i = j
		}
	}
	switch {
	case len(toks) == 1 && toks[0].kind == tokLit:
		g.kind, g.lit = globExact, toks[0].lit
	case len(toks) == 1 && toks[0].kind == tokStar:
		g.kind = globAll
	case len(toks) == 2 && toks[0].kind == tokLit && toks[1].kind == tokStar:
		g.kind, g.lit = globPrefix, toks[0].lit
	case len(toks) == 2 && toks[0].kind == tokStar && toks[1].kind == tokLit:
		g.kind, g.lit = globSuffix, toks[1].lit
	default:
		g.kind, g.tokens = globGeneral, toks
	}
	return g, nil
}

// parseClass parses the class starting at pattern[i] == '['. As in Python,
// '!' right after '[' negates and a ']' right after that is a member.
func parseClass(pattern string, i int) (token, int, error) {
	j := i + 1
	t := token{kind: tokClass}
	if j < len(pattern) && pattern[j] == '!' {
		t.negate = true
		j++
	}
	first := true
	for {
		if j >= len(pattern) {
			return t, 0, fmt.Errorf("pattern %q has an unclosed '['", pattern)
		}
		c := pattern[j]
		if c == ']' && !first {
			j++
			break
		}
		first = false
		if j+2 < len(pattern) && pattern[j+1] == '-' && pattern[j+2] != ']' {
			lo, hi := c, pattern[j+2]
			if lo > hi {
				return t, 0, fmt.Errorf("pattern %q has a reversed range %c-%c", pattern, lo, hi)
			}
			t.ranges = append(t.ranges, byteRange{lo, hi})
			j += 3
			continue
		}
		t.ranges = append(t.ranges, byteRange{c, c})
		j++
	}
	return t, j - i, nil
}

// match reports whether s matches the whole pattern.
func (g *glob) match(s string) bool {
	switch g.kind {
	case globExact:
		return s == g.lit
	case globAll:
		return true
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	}
	return matchTokens(g.tokens, s)
}

// matchTokens is the classic single-backtrack-point wildcard matcher: on a
// mismatch, retry from the last '*' consuming one more byte. Linear in
// practice, never exponential.
func matchTokens(toks []token, s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				continue
			case tokLit:
				if strings.HasPrefix(s[si:], t.lit) {
					ti++
					si += len(t.lit)
					continue
				}
			case tokAny:
				if si < len(s) {
					ti++
					si++
					continue
				}
			case tokClass:
				if si < len(s) && t.classMatch(s[si]) {
					ti++
					si++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		starSi++
		ti, si = starTi+1, starSi
	}
}

func (t *token) classMatch(c byte) bool {
	in := false
	for _, r := range t.ranges {
		if r.lo <= c && c <= r.hi {
			in = true
			break
		}
	}
	return in != t.negate
}

// Glob is a compiled fnmatch pattern for other packages (SOAR rules use
// the same syntax as the policy).
type Glob struct{ g glob }

// CompileGlob compiles an fnmatch pattern with the policy's validation.
func CompileGlob(pattern string) (Glob, error) {
	g, err := compileGlob(pattern)
	return Glob{g}, err
}

// Match reports whether s matches the whole pattern.
func (g *Glob) Match(s string) bool { return g.g.match(s) }
