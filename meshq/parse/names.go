package parse

import "strings"

// An abbreviation of an interface name and the full name's prefix, as the
// platform's interface list writes it. LLDP, ARP and MAC tables often print
// the short form ("Et1", "Eth1/1", "Po10") of the names the interface
// list gives in full; the facts must use one name for one port.
type abbrev struct{ short, full string }

var eosAbbrevs = []abbrev{
	{"Ethernet", "Ethernet"}, {"Et", "Ethernet"},
	{"Port-Channel", "Port-Channel"}, {"Po", "Port-Channel"},
	{"Management", "Management"}, {"Ma", "Management"},
	{"Loopback", "Loopback"}, {"Lo", "Loopback"},
	{"Vlan", "Vlan"}, {"Vl", "Vlan"},
	{"Vxlan", "Vxlan"}, {"Vx", "Vxlan"},
}

var nxosAbbrevs = []abbrev{
	{"Ethernet", "Ethernet"}, {"Eth", "Ethernet"}, {"Et", "Ethernet"},
	{"port-channel", "port-channel"}, {"Port-channel", "port-channel"}, {"Po", "port-channel"},
	{"loopback", "loopback"}, {"Lo", "loopback"},
	{"Vlan", "Vlan"}, {"Vl", "Vlan"},
	{"mgmt", "mgmt"},
	{"nve", "nve"},
	{"Tunnel", "Tunnel"}, {"Tu", "Tunnel"},
}

// expand writes name in full when it starts with one of the abbreviations
// followed by a digit (so that "Po10" is expanded but a name the table
// does not know is left as the device gave it).
func expand(list []abbrev) func(string) string {
	return func(name string) string {
		name = strings.TrimSpace(name)
		for _, a := range list {
			if len(name) > len(a.short) && strings.EqualFold(name[:len(a.short)], a.short) {
				if c := name[len(a.short)]; c >= '0' && c <= '9' {
					return a.full + name[len(a.short):]
				}
			}
		}
		return name
	}
}

// names holds each platform's interface-name canonicaliser; platforms
// without one keep names as given.
var names = map[string]func(string) string{
	"arista_eos": expand(eosAbbrevs),
	"cisco_nxos": expand(nxosAbbrevs),
	"cisco_ios":  expand(iosAbbrevs),
	"cisco_xe":   expand(iosAbbrevs),
}
