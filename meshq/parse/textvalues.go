package parse

import (
	"math/bits"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Values as screen text writes them, shared by the text platforms.

// maskBits reads a dotted netmask (255.255.255.0) as a prefix length; a
// mask whose ones are not contiguous is not one.
func maskBits(mask string) (int, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(mask))
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := bits.LeadingZeros32(^v)
	if v<<n != 0 {
		return 0, false
	}
	return n, true
}

// ifaceAddr joins an address and a dotted mask or a length into an
// interface address.
func ifaceAddr(addr, maskOrLen string) (netip.Prefix, bool) {
	n, err := strconv.Atoi(maskOrLen)
	if err != nil {
		var ok bool
		if n, ok = maskBits(maskOrLen); !ok {
			return netip.Prefix{}, false
		}
	}
	return ipLen(addr, n)
}

// network joins a network address and a dotted mask or a length into a
// prefix (host bits cleared).
func network(addr, maskOrLen string) (netip.Prefix, bool) {
	a, err := facts.ParseAddr(strings.TrimSpace(addr))
	if err != nil {
		return netip.Prefix{}, false
	}
	n, err := strconv.Atoi(maskOrLen)
	if err != nil {
		var ok bool
		if n, ok = maskBits(maskOrLen); !ok {
			return netip.Prefix{}, false
		}
	}
	p := netip.PrefixFrom(a, n)
	if !p.IsValid() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// asn reads an AS number, asplain (65001) or asdot (1.10).
func asn(s string) (int64, bool) {
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		return int64(h<<16 | l), true
	}
	v, err := strconv.ParseUint(s, 10, 32)
	return int64(v), err == nil
}

// rate matches a speed written with its unit: "1000Mb/s", "10Gb/s",
// "1000 Mbps", "100Mbps", "1000M", "10G", "1000000 Kbit".
var rate = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*([KMG])(?:b/s|bps|bit(?:/sec)?|b)?$`)

// speedMbps reads a speed with its unit in Mbit/s; "auto", "unknown"
// and bare numbers are not speeds.
func speedMbps(s string) (int64, bool) {
	m := rate.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	switch m[2] {
	case "K":
		v /= 1000
	case "G":
		v *= 1000
	}
	if v < 1 {
		return 0, false
	}
	return int64(v), true
}

// atoi reads a whole number, false when absent or not one.
func atoi(s string) (int, bool) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	return v, err == nil
}

// addr reads an IP address, canonical.
func addr(s string) (string, bool) {
	a, err := facts.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return "", false
	}
	return a.String(), true
}

// mac reads a MAC address in any notation, canonical.
func mac(s string) (string, bool) {
	return facts.CanonicalMAC(strings.TrimSpace(s))
}

// sections splits screen text at the lines heading matches (its first
// group naming the section); text before the first heading is dropped.
// Without any heading the whole text is one section named "".
func sections(data []byte, heading *regexp.Regexp) []section {
	lines := strings.SplitAfter(string(data), "\n")
	var out []section
	for _, l := range lines {
		if m := heading.FindStringSubmatch(strings.TrimRight(l, "\r\n")); m != nil {
			out = append(out, section{name: m[1]})
		}
		if len(out) > 0 {
			out[len(out)-1].text = append(out[len(out)-1].text, l...)
		}
	}
	if len(out) == 0 {
		return []section{{text: data}}
	}
	return out
}

type section struct {
	name string
	text []byte
}

// typeByName gives an interface's type from its name's prefix, for the
// platforms whose interface lists do not say it.
func typeByName(name string, prefixes []typePrefix) string {
	lower := strings.ToLower(name)
	for _, p := range prefixes {
		if strings.HasPrefix(lower, p.prefix) {
			// Gi0/1.10, Po1.13: a VLAN subinterface of a port or bundle.
			if (p.typ == facts.TypePhysical || p.typ == facts.TypeLAG) && strings.Contains(name, ".") {
				return facts.TypeSubinterface
			}
			return p.typ
		}
	}
	return ""
}

type typePrefix struct{ prefix, typ string }

// arpRow reads the IP_ADDRESS, MAC_ADDRESS and INTERFACE columns every
// ARP template of ntc-templates has into an entry: a hardware address of
// "incomplete" is an entry without a MAC; port names the interface (nil:
// as printed). An entry it cannot read is skipped, saying why.
func arpRow(b *builder, r record, port func(string) string) (facts.ARPEntry, bool) {
	ip, ok := addr(r.str("IP_ADDRESS"))
	if !ok {
		b.skip("ARP entry %q: not an IP address", r.str("IP_ADDRESS"))
		return facts.ARPEntry{}, false
	}
	e := facts.ARPEntry{IP: ip}
	if ifn := r.str("INTERFACE"); ifn != "" {
		e.Interface = ifn
		if port != nil {
			e.Interface = port(ifn)
		}
	}
	switch hw := r.str("MAC_ADDRESS"); {
	case strings.EqualFold(hw, "incomplete"):
		e.State = facts.NeighborIncomplete
	default:
		m, ok := mac(hw)
		if !ok {
			b.skip("ARP %s: hardware address %q is not a MAC address", ip, hw)
			return facts.ARPEntry{}, false
		}
		e.MAC = m
	}
	return e, true
}
