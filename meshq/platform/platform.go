// Package platform is the contract between `meshq collect` and
// `meshq parse`: for each supported device type (Netmiko's names) it says
// how a CLI session is prepared (paging off, enable), which commands are
// run, what each command's output describes (its Kind) and in which form
// it comes back (JSON, XML or text for TextFSM). Collect runs exactly
// these commands and caches their output under the Kind; parse reads the
// cache by Kind and trusts the Format recorded with it.
package platform

import (
	"fmt"
	"sort"
	"strings"
)

// Kind names what a command's output describes. It is also the file name
// of the output in the raw cache, so it is stable across releases.
type Kind string

// The kinds of output collect gathers. Not every platform has every kind.
const (
	KindVersion      Kind = "version"        // hostname, model, serial, software version
	KindInterfaces   Kind = "interfaces"     // names, state, MAC, MTU, speed, description
	KindIPv4         Kind = "ipv4"           // IPv4 addresses per interface, all VRFs
	KindIPv6         Kind = "ipv6"           // IPv6 addresses per interface, all VRFs
	KindSwitchport   Kind = "switchport"     // access/trunk mode and VLANs per port
	KindLAG          Kind = "lag"            // port-channel / bundle membership
	KindGateway      Kind = "gateway"        // first-hop and anycast gateway addresses (VARP, HSRP, VRRP)
	KindARP          Kind = "arp"            // IPv4 neighbours, all VRFs
	KindND           Kind = "nd"             // IPv6 neighbours, all VRFs
	KindMAC          Kind = "mac_table"      // learned MAC addresses
	KindVLANs        Kind = "vlans"          // VLAN ids and names
	KindLLDP         Kind = "lldp"           // LLDP neighbours
	KindCDP          Kind = "cdp"            // CDP neighbours
	KindRoutes       Kind = "routes"         // routing table, all VRFs
	KindBGP          Kind = "bgp"            // BGP peers, all VRFs
	KindFirewall     Kind = "firewall"       // security policy: rules, zones, objects (one document)
	KindFWObjects    Kind = "fw_objects"     // address objects and groups, where separate from the rules
	KindFWServices   Kind = "fw_services"    // service objects and groups, where separate from the rules
	KindFWBindings   Kind = "fw_bindings"    // which rule set applies where (ASA access-group)
	KindFWAddrGroups Kind = "fw_addr_groups" // address groups, where separate from the address objects
	KindFWSvcGroups  Kind = "fw_svc_groups"  // service groups, where separate from the service objects
)

// Format is the form of a command's output.
type Format string

// The output forms parse understands.
const (
	FormatJSON Format = "json" // the platform's structured JSON (`| json`, `| display json`)
	FormatXML  Format = "xml"  // the platform's XML (`| display xml`, PAN-OS XML)
	FormatText Format = "text" // screen text, parsed with TextFSM templates or a config parser
)

// Command is one command collect runs and parse reads.
type Command struct {
	Kind    Kind
	Command string
	Format  Format
}

// Platform is one device type.
type Platform struct {
	// DeviceType is Netmiko's name for the platform, as inventories give it.
	DeviceType string
	Vendor     string
	OS         string
	// Setup runs once after login, before any command: paging off, output
	// formats. A failure here fails the device.
	Setup []string
	// Enable says the platform has a privileged mode entered with
	// "enable" (and the inventory's secret, or the login password).
	Enable bool
	// Commands, in the order they run.
	Commands []Command
	// Missing says, per kind the platform does not collect, why (shown in
	// the summary and the parse report rather than silently absent).
	Missing map[Kind]string
}

// Command returns the platform's command for kind.
func (p Platform) Command(kind Kind) (Command, bool) {
	for _, c := range p.Commands {
		if c.Kind == kind {
			return c, true
		}
	}
	return Command{}, false
}

// Lookup returns the platform of a device type.
func Lookup(deviceType string) (Platform, error) {
	p, ok := platforms[deviceType]
	if !ok {
		return Platform{}, fmt.Errorf("unknown device_type %q (supported: %s)", deviceType, strings.Join(DeviceTypes(), ", "))
	}
	return p, nil
}

// DeviceTypes lists the supported device types, sorted.
func DeviceTypes() []string {
	out := make([]string, 0, len(platforms))
	for k := range platforms {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func text(kind Kind, cmd string) Command { return Command{kind, cmd, FormatText} }
func jsonCmd(kind Kind, cmd string) Command {
	return Command{kind, cmd, FormatJSON}
}
func xmlCmd(kind Kind, cmd string) Command { return Command{kind, cmd, FormatXML} }

// iosCommands serves IOS and IOS XE, whose show commands match.
var iosCommands = []Command{
	text(KindVersion, "show version"),
	text(KindInterfaces, "show interfaces"),
	text(KindIPv4, "show ip interface"),
	text(KindIPv6, "show ipv6 interface"),
	text(KindSwitchport, "show interfaces switchport"),
	text(KindLAG, "show etherchannel summary"),
	text(KindGateway, "show standby brief"),
	text(KindARP, "show ip arp"),
	text(KindND, "show ipv6 neighbors"),
	text(KindMAC, "show mac address-table"),
	text(KindVLANs, "show vlan"),
	text(KindLLDP, "show lldp neighbors detail"),
	text(KindCDP, "show cdp neighbors detail"),
	text(KindRoutes, "show ip route vrf *"),
	text(KindBGP, "show ip bgp summary"),
}

// asaCommands serves ASA and FTD (whose CLI runs the same LINA commands).
var asaCommands = []Command{
	text(KindVersion, "show version"),
	text(KindInterfaces, "show interface"),
	text(KindIPv4, "show interface ip brief"),
	text(KindARP, "show arp"),
	text(KindRoutes, "show route"),
	text(KindFirewall, "show running-config access-list"),
	text(KindFWObjects, "show running-config object"),
	text(KindFWServices, "show running-config object-group"),
	text(KindFWBindings, "show running-config access-group"),
}

var platforms = map[string]Platform{
	"cisco_ios": {DeviceType: "cisco_ios", Vendor: "cisco", OS: "ios", Enable: true,
		Setup:    []string{"terminal length 0", "terminal width 511"},
		Commands: iosCommands,
		Missing:  map[Kind]string{KindFirewall: "IOS has no zone firewall policy collected"},
	},
	"cisco_xe": {DeviceType: "cisco_xe", Vendor: "cisco", OS: "ios-xe", Enable: true,
		Setup:    []string{"terminal length 0", "terminal width 511"},
		Commands: iosCommands,
		Missing:  map[Kind]string{KindFirewall: "IOS XE zone-based firewall policy is not collected"},
	},
	"cisco_nxos": {DeviceType: "cisco_nxos", Vendor: "cisco", OS: "nx-os",
		Setup: []string{"terminal length 0"},
		Commands: []Command{
			jsonCmd(KindVersion, "show version | json"),
			jsonCmd(KindInterfaces, "show interface | json"),
			jsonCmd(KindIPv4, "show ip interface vrf all | json"),
			jsonCmd(KindIPv6, "show ipv6 interface vrf all | json"),
			jsonCmd(KindSwitchport, "show interface switchport | json"),
			jsonCmd(KindLAG, "show port-channel summary | json"),
			jsonCmd(KindGateway, "show hsrp brief | json"),
			jsonCmd(KindARP, "show ip arp vrf all | json"),
			jsonCmd(KindND, "show ipv6 neighbor vrf all | json"),
			jsonCmd(KindMAC, "show mac address-table | json"),
			jsonCmd(KindVLANs, "show vlan brief | json"),
			jsonCmd(KindLLDP, "show lldp neighbors detail | json"),
			jsonCmd(KindCDP, "show cdp neighbors detail | json"),
			jsonCmd(KindRoutes, "show ip route vrf all | json"),
			jsonCmd(KindBGP, "show bgp vrf all ipv4 unicast summary | json"),
		},
		Missing: map[Kind]string{KindFirewall: "NX-OS has no firewall policy"},
	},
	"arista_eos": {DeviceType: "arista_eos", Vendor: "arista", OS: "eos", Enable: true,
		Setup: []string{"terminal length 0"},
		Commands: []Command{
			jsonCmd(KindVersion, "show version | json"),
			jsonCmd(KindInterfaces, "show interfaces | json"),
			jsonCmd(KindIPv4, "show ip interface vrf all | json"),
			jsonCmd(KindIPv6, "show ipv6 interface vrf all | json"),
			jsonCmd(KindSwitchport, "show interfaces switchport | json"),
			jsonCmd(KindLAG, "show port-channel dense | json"),
			jsonCmd(KindGateway, "show ip virtual-router | json"),
			jsonCmd(KindARP, "show ip arp vrf all | json"),
			jsonCmd(KindND, "show ipv6 neighbors vrf all | json"),
			jsonCmd(KindMAC, "show mac address-table | json"),
			jsonCmd(KindVLANs, "show vlan | json"),
			jsonCmd(KindLLDP, "show lldp neighbors detail | json"),
			jsonCmd(KindRoutes, "show ip route vrf all | json"),
			jsonCmd(KindBGP, "show ip bgp summary vrf all | json"),
		},
		Missing: map[Kind]string{KindCDP: "EOS does not run CDP", KindFirewall: "EOS has no firewall policy"},
	},
	"juniper_junos": {DeviceType: "juniper_junos", Vendor: "juniper", OS: "junos",
		Setup: []string{"set cli screen-length 0", "set cli screen-width 0"},
		// VLANs before the MAC table: the brief MAC table names VLANs,
		// not their ids. Applications before the policies that use them.
		Commands: []Command{
			jsonCmd(KindVersion, "show version | display json"),
			jsonCmd(KindInterfaces, "show interfaces | display json"),
			jsonCmd(KindARP, "show arp no-resolve | display json"),
			jsonCmd(KindND, "show ipv6 neighbors | display json"),
			jsonCmd(KindVLANs, "show vlans | display json"),
			jsonCmd(KindMAC, "show ethernet-switching table | display json"),
			jsonCmd(KindLLDP, "show lldp neighbors | display json"),
			jsonCmd(KindRoutes, "show route | display json"),
			jsonCmd(KindBGP, "show bgp neighbor | display json"),
			xmlCmd(KindFWServices, "show configuration applications | display xml"),
			xmlCmd(KindFirewall, "show configuration security | display xml"),
		},
		Missing: map[Kind]string{KindCDP: "Junos does not run CDP",
			KindIPv4: "addresses come with the interfaces", KindIPv6: "addresses come with the interfaces",
			KindLAG: "bundle membership comes with the interfaces (the aenet family of a member's unit)"},
	},
	"paloalto_panos": {DeviceType: "paloalto_panos", Vendor: "paloalto", OS: "pan-os",
		Setup: []string{"set cli pager off", "set cli config-output-format xml"},
		Commands: []Command{
			text(KindVersion, "show system info"),
			text(KindInterfaces, "show interface all"),
			text(KindARP, "show arp all"),
			text(KindRoutes, "show routing route"),
			xmlCmd(KindFirewall, "show config running"),
		},
		Missing: map[Kind]string{KindLLDP: "LLDP is off by default on PAN-OS and not collected", KindMAC: "a routed firewall has no MAC table"},
	},
	"fortinet": {DeviceType: "fortinet", Vendor: "fortinet", OS: "fortios",
		Setup: []string{"config system console", "set output standard", "end"},
		// Objects and groups before the policies that name them.
		Commands: []Command{
			text(KindVersion, "get system status"),
			text(KindInterfaces, "get system interface"),
			text(KindARP, "get system arp"),
			text(KindRoutes, "get router info routing-table all"),
			text(KindFWObjects, "show firewall address"),
			text(KindFWAddrGroups, "show firewall addrgrp"),
			text(KindFWServices, "show firewall service custom"),
			text(KindFWSvcGroups, "show firewall service group"),
			text(KindFirewall, "show firewall policy"),
		},
	},
	"cisco_asa": {DeviceType: "cisco_asa", Vendor: "cisco", OS: "asa", Enable: true,
		Setup:    []string{"terminal pager 0"},
		Commands: asaCommands,
	},
	"cisco_ftd": {DeviceType: "cisco_ftd", Vendor: "cisco", OS: "ftd",
		Setup:    []string{"terminal pager 0"},
		Commands: asaCommands,
	},
	"aruba_os": {DeviceType: "aruba_os", Vendor: "aruba", OS: "arubaos",
		Setup: []string{"no paging"},
		Commands: []Command{
			text(KindVersion, "show version"),
			text(KindIPv4, "show ip interface brief"),
			text(KindARP, "show arp"),
			text(KindVLANs, "show vlan"),
			text(KindRoutes, "show ip route"),
		},
	},
	"checkpoint_gaia": {DeviceType: "checkpoint_gaia", Vendor: "checkpoint", OS: "gaia",
		Setup: []string{"set clienv rows 0"},
		Commands: []Command{
			text(KindVersion, "show version all"),
			text(KindInterfaces, "show interfaces all"),
			text(KindRoutes, "show route"),
			text(KindARP, "show arp dynamic all"),
		},
		Missing: map[Kind]string{KindFirewall: "a Gaia gateway's policy is managed on the management server, not in its CLI"},
	},
}
