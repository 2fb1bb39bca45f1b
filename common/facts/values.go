package facts

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// CanonicalMAC parses a 48-bit MAC address in any common notation
// (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff, aabbcc-ddeeff,
// aabbccddeeff, and colon groups without leading zeros such as 0:1a:2b:3:4:5)
// and returns it lower-case and colon-separated.
func CanonicalMAC(s string) (string, bool) {
	if isCanonicalMAC(s) {
		return s, true
	}
	var sep byte
	switch {
	case strings.Count(s, ":") == 5:
		sep = ':'
	case strings.Count(s, "-") == 5:
		sep = '-'
	case strings.Count(s, ".") == 2:
		sep = '.'
	case strings.Count(s, "-") == 1:
		sep = '-'
	}
	groups := 1
	if sep != 0 {
		groups = strings.Count(s, string(sep)) + 1
	}
	width := 12 / groups // digits per group: 2, 4, 6 or 12
	var digits [12]byte
	n := 0
	for g := range groups {
		end := len(s)
		if sep != 0 {
			if i := strings.IndexByte(s, sep); i >= 0 && g < groups-1 {
				end = i
			}
		}
		part := s[:end]
		if end < len(s) {
			s = s[end+1:]
		}
		if len(part) == 0 || len(part) > width || (width != 2 && len(part) != width) {
			return "", false
		}
		// Pad short colon/hyphen groups ("3" → "03").
		for k := len(part); k < width; k++ {
			digits[n] = '0'
			n++
		}
		for k := 0; k < len(part); k++ {
			c := part[k]
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'f':
			case c >= 'A' && c <= 'F':
				c += 'a' - 'A'
			default:
				return "", false
			}
			digits[n] = c
			n++
		}
	}
	if n != 12 {
		return "", false
	}
	var b [17]byte
	j := 0
	for i := 0; i < 12; i += 2 {
		if i > 0 {
			b[j] = ':'
			j++
		}
		b[j], b[j+1] = digits[i], digits[i+1]
		j += 2
	}
	return string(b[:]), true
}

// isCanonicalMAC is the allocation-free fast path: already lower-case and
// colon-separated.
func isCanonicalMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// canonAddr returns s when it already is a's text form, and a's text
// form otherwise, so that normalizing canonical input allocates nothing.
func canonAddr(s string, a netip.Addr) string {
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) != s {
		return string(b)
	}
	return s
}

// canonPrefix is canonAddr for prefixes.
func canonPrefix(s string, p netip.Prefix) string {
	var buf [64]byte
	if b := p.AppendTo(buf[:0]); string(b) != s {
		return string(b)
	}
	return s
}

// ParseAddr parses an IP address (IPv4 or IPv6, no zone, no prefix length).
// IPv4-mapped IPv6 addresses are unmapped so that ::ffff:10.0.0.1 and
// 10.0.0.1 are the same address.
func ParseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errors.New("not an IP address")
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New("not an IP address (zones are not allowed)")
	}
	return a.Unmap(), nil
}

// ParseInterfaceIP parses an interface address "addr/len", keeping the host
// bits (10.0.12.1/30 stays 10.0.12.1/30, not 10.0.12.0/30).
func ParseInterfaceIP(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP prefix (want addr/len)")
	}
	return unmapPrefix(p)
}

// ParseNetwork parses a network prefix and clears its host bits
// (10.9.0.5/24 becomes 10.9.0.0/24).
func ParseNetwork(s string) (netip.Prefix, error) {
	p, err := ParseInterfaceIP(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

func unmapPrefix(p netip.Prefix) (netip.Prefix, error) {
	a := p.Addr()
	if !a.Is4In6() {
		return p, nil
	}
	if p.Bits() < 96 {
		return netip.Prefix{}, errors.New("not an IP prefix (IPv4-mapped address with a length under 96)")
	}
	return netip.PrefixFrom(a.Unmap(), p.Bits()-96), nil
}

// ParseRange parses an address range "a-b" (same family, a ≤ b).
func ParseRange(s string) (lo, hi netip.Addr, err error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return lo, hi, errors.New("not an address range (want a-b)")
	}
	lo, err1 := ParseAddr(strings.TrimSpace(from))
	hi, err2 := ParseAddr(strings.TrimSpace(to))
	switch {
	case err1 != nil || err2 != nil:
		return lo, hi, errors.New("not an address range (want a-b)")
	case lo.Is4() != hi.Is4():
		return lo, hi, errors.New("address range mixes IPv4 and IPv6")
	case hi.Less(lo):
		return lo, hi, errors.New("address range ends before it starts")
	}
	return lo, hi, nil
}

// PortRange is an inclusive destination-port range.
type PortRange struct{ Lo, Hi uint16 }

// ParsePorts parses a dest_ports value: "any" (or empty) gives nil, meaning
// every port; otherwise a comma-separated list of ports and lo-hi ranges
// such as "443", "8000-8080" or "80,443,8000-8080". Ports are 1–65535.
func ParsePorts(s string) ([]PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "any") {
		return nil, nil
	}
	var out []PortRange
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		from, to, isRange := strings.Cut(part, "-")
		lo, err := parsePort(strings.TrimSpace(from))
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = parsePort(strings.TrimSpace(to)); err != nil {
				return nil, err
			}
			if hi < lo {
				return nil, errors.New("port range " + part + " ends before it starts")
			}
		}
		out = append(out, PortRange{lo, hi})
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, errors.New("not a port list (want 443, 8000-8080, 80,443 or any; ports 1-65535)")
	}
	return uint16(n), nil
}

// FormatPorts writes port ranges back in the canonical dest_ports form;
// nil is "any".
func FormatPorts(ranges []PortRange) string {
	if len(ranges) == 0 {
		return "any"
	}
	var b strings.Builder
	for i, r := range ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r.Lo)))
		if r.Hi != r.Lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.Hi)))
		}
	}
	return b.String()
}
