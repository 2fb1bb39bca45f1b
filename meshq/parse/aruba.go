package parse

import (
	"regexp"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// ArubaOS: screen text through ntc-templates' aruba_os templates.
// ntc-templates has no template for "show ip route" on ArubaOS; the
// lookup reports it.
var arubaParsers = map[platform.Kind]parseFunc{
	platform.KindVersion: textParser(arubaVersion),
	platform.KindIPv4:    textParser(arubaIPBrief),
	platform.KindARP:     textParser(arubaARP),
	platform.KindVLANs:   textParser(arubaVLANs),
	platform.KindRoutes:  textParser(noFacts),
}

// arubaVLANName writes "vlan 93" (show ip interface brief) as "vlan93"
// (show arp), one name for one interface.
var arubaVLANName = regexp.MustCompile(`^(?i)(vlan) +(\d+)$`)

func arubaName(s string) string { return arubaVLANName.ReplaceAllString(s, "$1$2") }

func arubaVersion(b *builder, rows []record) error {
	if len(rows) == 0 || rows[0].str("IMAGE_VERSION") == "" {
		return errWrongCommand(b.command, "IMAGE_VERSION")
	}
	b.dev.Version = rows[0].str("IMAGE_VERSION")
	return nil
}

func arubaIPBrief(b *builder, rows []record) error {
	for _, r := range rows {
		ifc := b.iface(arubaName(r.str("INTERFACE")))
		if a := r.str("ADMIN"); a != "" {
			ifc.AdminUp = boolp(a == "up")
		}
		if p := r.str("PROTOCOL"); p != "" {
			ifc.OperUp = boolp(p == "up")
		}
		if t := typeByName(ifc.Name, []typePrefix{{"vlan", facts.TypeVLAN}, {"loopback", facts.TypeLoopback}, {"tunnel", facts.TypeTunnel}}); t != "" {
			ifc.Type = t
		}
		ip := r.str("IP_ADDRESS")
		if ip == "unassigned" || ip == "" {
			continue
		}
		p, ok := ifaceAddr(ip, r.str("NETMASK"))
		if !ok {
			b.skip("interface %s: address %s / %s is not an interface address", ifc.Name, ip, r.str("NETMASK"))
			continue
		}
		addIP(ifc, p)
	}
	return nil
}

func arubaARP(b *builder, rows []record) error {
	for _, r := range rows {
		if e, ok := arpRow(b, r, arubaName); ok {
			b.dev.ARP = append(b.dev.ARP, e)
		}
	}
	return nil
}

func arubaVLANs(b *builder, rows []record) error { return iosVLANs(b, rows) }
