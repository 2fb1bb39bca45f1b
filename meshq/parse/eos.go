package parse

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Arista EOS: the JSON of `show … | json`, which is the eAPI result
// object of the command.
var eosParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    eosVersion,
	platform.KindInterfaces: eosInterfaces,
	platform.KindIPv4:       eosIPv4,
	platform.KindIPv6:       eosIPv6,
	platform.KindARP:        eosARP,
	platform.KindMAC:        eosMAC,
	platform.KindVLANs:      eosVLANs,
	platform.KindLLDP:       eosLLDP,
	platform.KindRoutes:     eosRoutes,
	platform.KindBGP:        eosBGP,
}

// sortedKeys gives a map's keys in order, so that facts come out in the
// same order every time.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func eosVersion(b *builder, data []byte) error {
	var v struct {
		ModelName    *string `json:"modelName"`
		SerialNumber string  `json:"serialNumber"`
		Version      string  `json:"version"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.ModelName == nil {
		return errWrongCommand("show version", "modelName")
	}
	b.dev.Model = strings.TrimSpace(*v.ModelName)
	b.dev.Serial = strings.TrimSpace(v.SerialNumber)
	b.dev.Version = strings.TrimSpace(v.Version)
	return nil
}

type eosIP struct {
	Address string `json:"address"`
	MaskLen int    `json:"maskLen"`
}

type eosIPv4Addr struct {
	PrimaryIP          eosIP   `json:"primaryIp"`
	SecondaryIPsList   []eosIP `json:"secondaryIpsOrderedList"`
	VirtualIP          eosIP   `json:"virtualIp"`
	VirtualSecondaries []eosIP `json:"virtualSecondaryIpsOrderedList"`
}

// add puts the interface's IPv4 addresses on ifc, with their roles.
func (a eosIPv4Addr) add(b *builder, ifc *facts.Interface) {
	if p, ok := ipLen(a.PrimaryIP.Address, a.PrimaryIP.MaskLen); ok {
		addIP(ifc, p)
	}
	for _, s := range a.SecondaryIPsList {
		if p, ok := ipLen(s.Address, s.MaskLen); ok {
			addIP(ifc, p)
			addAddress(ifc, facts.Address{IP: p.String(), Role: facts.RoleSecondary})
		} else {
			b.skip("interface %s: secondary address %s/%d is not an interface address", ifc.Name, s.Address, s.MaskLen)
		}
	}
	for _, v := range append([]eosIP{a.VirtualIP}, a.VirtualSecondaries...) {
		if p, ok := ipLen(v.Address, v.MaskLen); ok {
			addAddress(ifc, facts.Address{IP: p.String(), Role: facts.RoleVirtual})
		}
	}
}

func addAddress(ifc *facts.Interface, a facts.Address) {
	for _, x := range ifc.Addresses {
		if x.IP == a.IP {
			return
		}
	}
	ifc.Addresses = append(ifc.Addresses, a)
}

// eosHardware maps `show interfaces` "hardware" to the facts' types.
var eosHardware = map[string]string{
	"ethernet": facts.TypePhysical, "loopback": facts.TypeLoopback, "vlan": facts.TypeVLAN,
	"portChannel": facts.TypeLAG, "vxlan": facts.TypeVXLAN, "subinterface": facts.TypeSubinterface,
	"tunnel": facts.TypeTunnel,
}

func eosInterfaces(b *builder, data []byte) error {
	var v struct {
		Interfaces *map[string]struct {
			Description          string        `json:"description"`
			InterfaceStatus      string        `json:"interfaceStatus"`
			LineProtocolStatus   string        `json:"lineProtocolStatus"`
			Hardware             string        `json:"hardware"`
			PhysicalAddress      string        `json:"physicalAddress"`
			MTU                  int           `json:"mtu"`
			Bandwidth            int64         `json:"bandwidth"`
			ForwardingModel      string        `json:"forwardingModel"`
			InterfaceMembership  string        `json:"interfaceMembership"`
			InterfaceAddress     []eosIPv4Addr `json:"interfaceAddress"`
			InterfaceAddressIPv6 *struct {
				GlobalUnicast []struct {
					Address string `json:"address"`
					Subnet  string `json:"subnet"`
				} `json:"globalUnicastIp6s"`
			} `json:"interfaceAddressIp6"`
		} `json:"interfaces"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Interfaces == nil {
		return errWrongCommand("show interfaces", "interfaces")
	}
	for _, name := range sortedKeys(*v.Interfaces) {
		i := (*v.Interfaces)[name]
		ifc := b.iface(name)
		ifc.Description = strings.TrimSpace(i.Description)
		if t, ok := eosHardware[i.Hardware]; ok {
			ifc.Type = t
			if t == facts.TypePhysical && strings.HasPrefix(ifc.Name, "Management") {
				ifc.Type = facts.TypeMgmt
			}
		}
		if i.PhysicalAddress != "" {
			if m, ok := facts.CanonicalMAC(i.PhysicalAddress); ok {
				ifc.MAC = m
			} else {
				b.skip("interface %s: physicalAddress %q is not a MAC address", name, i.PhysicalAddress)
			}
		}
		if i.InterfaceStatus != "" {
			ifc.AdminUp = boolp(i.InterfaceStatus != "disabled")
		}
		if i.LineProtocolStatus != "" {
			ifc.OperUp = boolp(i.LineProtocolStatus == "up")
		}
		if i.MTU > 0 {
			ifc.MTU = i.MTU
		}
		if i.Bandwidth > 0 {
			ifc.SpeedMbps = i.Bandwidth / 1_000_000
		}
		if i.ForwardingModel == "routed" {
			ifc.Mode = facts.ModeRouted
		}
		if lag, ok := strings.CutPrefix(i.InterfaceMembership, "Member of "); ok {
			ifc.LAG = b.canon(strings.TrimSpace(lag))
		}
		for _, a := range i.InterfaceAddress {
			a.add(b, ifc)
		}
		if i.InterfaceAddressIPv6 != nil {
			for _, g := range i.InterfaceAddressIPv6.GlobalUnicast {
				eosAddIPv6(b, ifc, g.Address, g.Subnet)
			}
		}
	}
	return nil
}

func eosAddIPv6(b *builder, ifc *facts.Interface, addr, subnet string) {
	bits, ok := lengthOf(subnet)
	p, ok2 := ipLen(addr, bits)
	if !ok || !ok2 {
		b.skip("interface %s: IPv6 address %s (subnet %s) is not an interface address", ifc.Name, addr, subnet)
		return
	}
	addIP(ifc, p)
}

func eosIPv4(b *builder, data []byte) error {
	var v struct {
		Interfaces *map[string]struct {
			VRF              string      `json:"vrf"`
			InterfaceAddress eosIPv4Addr `json:"interfaceAddress"`
		} `json:"interfaces"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Interfaces == nil {
		return errWrongCommand("show ip interface", "interfaces")
	}
	for _, name := range sortedKeys(*v.Interfaces) {
		i := (*v.Interfaces)[name]
		ifc := b.iface(name)
		if i.VRF != "" {
			ifc.VRF = i.VRF
		}
		i.InterfaceAddress.add(b, ifc)
	}
	return nil
}

func eosIPv6(b *builder, data []byte) error {
	var v struct {
		Interfaces *map[string]struct {
			VRF       string `json:"vrf"`
			Addresses []struct {
				Address string `json:"address"`
				Subnet  string `json:"subnet"`
			} `json:"addresses"`
		} `json:"interfaces"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Interfaces == nil {
		return errWrongCommand("show ipv6 interface", "interfaces")
	}
	for _, name := range sortedKeys(*v.Interfaces) {
		i := (*v.Interfaces)[name]
		ifc := b.iface(name)
		if i.VRF != "" && ifc.VRF == "" {
			ifc.VRF = i.VRF
		}
		for _, a := range i.Addresses {
			eosAddIPv6(b, ifc, a.Address, a.Subnet)
		}
	}
	return nil
}

func eosARP(b *builder, data []byte) error {
	var v struct {
		VRFs *map[string]struct {
			Neighbors []struct {
				HWAddress string `json:"hwAddress"`
				Address   string `json:"address"`
				Interface string `json:"interface"`
			} `json:"ipV4Neighbors"`
		} `json:"vrfs"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.VRFs == nil {
		return errWrongCommand("show ip arp vrf all", "vrfs")
	}
	for _, vrf := range sortedKeys(*v.VRFs) {
		for k, n := range (*v.VRFs)[vrf].Neighbors {
			a, err := facts.ParseAddr(n.Address)
			if err != nil {
				b.skip("vrf %s entry %d: address %q is not an IP address", vrf, k, n.Address)
				continue
			}
			mac, ok := facts.CanonicalMAC(n.HWAddress)
			if !ok {
				b.skip("vrf %s entry %s: hwAddress %q is not a MAC address", vrf, n.Address, n.HWAddress)
				continue
			}
			// "Vlan10, Ethernet1": the routed interface, then the port
			// the MAC was learned on.
			ifname, _, _ := strings.Cut(n.Interface, ",")
			b.dev.ARP = append(b.dev.ARP, facts.ARPEntry{IP: a.String(), MAC: mac, Interface: b.canon(ifname), VRF: vrf})
		}
	}
	return nil
}

// eosMACTypes maps `show mac address-table` entry types to flags.
var eosMACTypes = map[string][]string{
	"dynamic": nil, "static": {facts.MACStatic}, "configured": {facts.MACStatic},
	"evpnDynamic": {facts.MACRemote}, "evpnStatic": {facts.MACRemote, facts.MACStatic},
	"router": {facts.MACRouter},
}

func eosMAC(b *builder, data []byte) error {
	var v struct {
		Unicast *struct {
			Entries []struct {
				MAC       string `json:"macAddress"`
				Interface string `json:"interface"`
				EntryType string `json:"entryType"`
				VLAN      int    `json:"vlanId"`
			} `json:"tableEntries"`
		} `json:"unicastTable"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Unicast == nil {
		return errWrongCommand("show mac address-table", "unicastTable")
	}
	for k, e := range v.Unicast.Entries {
		mac, ok := facts.CanonicalMAC(e.MAC)
		if !ok {
			b.skip("entry %d: macAddress %q is not a MAC address", k, e.MAC)
			continue
		}
		flags, ok := eosMACTypes[e.EntryType]
		if !ok {
			b.skip("entry %s vlan %d: unknown entryType %q", mac, e.VLAN, e.EntryType)
			continue
		}
		if e.Interface == "" {
			b.skip("entry %s vlan %d: no interface", mac, e.VLAN)
			continue
		}
		// The switch's own MACs sit on the pseudo-port "Router".
		if e.Interface == "Router" {
			flags = append(append([]string(nil), flags...), facts.MACRouter)
		}
		if e.VLAN < 0 || e.VLAN > 4094 {
			b.skip("entry %s: vlanId %d is not a VLAN", mac, e.VLAN)
			continue
		}
		b.dev.MACTable = append(b.dev.MACTable, facts.MACEntry{MAC: mac, VLAN: e.VLAN, Interface: b.canon(e.Interface), Flags: append([]string(nil), flags...)})
	}
	return nil
}

func eosVLANs(b *builder, data []byte) error {
	var v struct {
		VLANs *map[string]struct {
			Name string `json:"name"`
		} `json:"vlans"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.VLANs == nil {
		return errWrongCommand("show vlan", "vlans")
	}
	ids := make([]int, 0, len(*v.VLANs))
	byID := map[int]string{}
	for key, vl := range *v.VLANs {
		id, err := strconv.Atoi(key)
		if err != nil || id < 1 || id > 4094 {
			b.skip("vlan %q: not a VLAN id", key)
			continue
		}
		ids = append(ids, id)
		byID[id] = strings.TrimSpace(vl.Name)
	}
	sort.Ints(ids)
	for _, id := range ids {
		b.dev.VLANs = append(b.dev.VLANs, facts.VLAN{ID: id, Name: byID[id]})
	}
	return nil
}

func eosLLDP(b *builder, data []byte) error {
	var v struct {
		Neighbors *map[string]struct {
			Info []struct {
				SystemName string `json:"systemName"`
				Port       struct {
					IDType string `json:"interfaceIdType"`
					ID     string `json:"interfaceId"`
				} `json:"neighborInterfaceInfo"`
			} `json:"lldpNeighborInfo"`
		} `json:"lldpNeighbors"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Neighbors == nil {
		return errWrongCommand("show lldp neighbors detail", "lldpNeighbors")
	}
	for _, local := range sortedKeys(*v.Neighbors) {
		for _, n := range (*v.Neighbors)[local].Info {
			name := strings.TrimSpace(n.SystemName)
			if name == "" {
				b.skip("neighbor on %s: it sends no system name", local)
				continue
			}
			remote := ""
			// Only an interface-name port ID names the remote port; a MAC
			// or a local number does not.
			if n.Port.IDType == "interfaceName" {
				remote = strings.Trim(n.Port.ID, `" `)
			}
			b.iface(local) // the port exists even if the interface list was not parsed
			b.dev.Neighbors = append(b.dev.Neighbors, facts.Neighbor{LocalInterface: b.canon(local), RemoteHostname: name, RemoteInterface: remote, Protocol: "lldp"})
		}
	}
	return nil
}

// eosProtocol maps EOS route types to protocol names; the rest are
// lower-cased.
func eosProtocol(t string) string {
	switch {
	case t == "eBGP" || t == "iBGP" || strings.HasPrefix(t, "bgp") || strings.HasPrefix(t, "BGP"):
		return "bgp"
	case strings.HasPrefix(t, "ospf") || strings.HasPrefix(t, "OSPF"):
		return "ospf"
	case strings.HasPrefix(t, "ISIS") || strings.HasPrefix(t, "isis"):
		return "isis"
	}
	return strings.ToLower(t)
}

func eosRoutes(b *builder, data []byte) error {
	var v struct {
		VRFs *map[string]struct {
			Routes map[string]struct {
				RouteType   string `json:"routeType"`
				Preference  *int   `json:"preference"`
				Metric      int    `json:"metric"`
				RouteAction string `json:"routeAction"`
				Vias        []struct {
					NexthopAddr string `json:"nexthopAddr"`
					Interface   string `json:"interface"`
					VTEPAddr    string `json:"vtepAddr"`
					VNI         int    `json:"vni"`
				} `json:"vias"`
			} `json:"routes"`
		} `json:"vrfs"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.VRFs == nil {
		return errWrongCommand("show ip route vrf all", "vrfs")
	}
	for _, vrf := range sortedKeys(*v.VRFs) {
		routes := (*v.VRFs)[vrf].Routes
	route:
		for _, prefix := range sortedKeys(routes) {
			r := routes[prefix]
			p, err := netip.ParsePrefix(prefix)
			if err != nil {
				b.skip("vrf %s route %q: not a prefix", vrf, prefix)
				continue
			}
			fr := facts.Route{VRF: vrf, Prefix: p.Masked().String(), Protocol: eosProtocol(r.RouteType), Metric: r.Metric, AdminDistance: r.Preference}
			switch r.RouteAction {
			case "forward", "":
			case "drop":
				fr.Action = facts.RouteDrop
			default:
				b.skip("vrf %s route %s: unknown routeAction %q", vrf, prefix, r.RouteAction)
				continue
			}
			var hops []facts.NextHop
			for _, via := range r.Vias {
				h := facts.NextHop{Interface: via.Interface}
				ip := via.NexthopAddr
				if via.VTEPAddr != "" {
					ip, h.VNI = via.VTEPAddr, via.VNI
				}
				if ip != "" {
					a, err := facts.ParseAddr(ip)
					if err != nil {
						b.skip("vrf %s route %s: next hop %q is not an IP address", vrf, prefix, ip)
						continue route
					}
					h.IP = a.String()
				}
				if h.Interface != "" {
					h.Interface = b.canon(h.Interface)
				}
				if h.IP != "" || h.Interface != "" {
					hops = append(hops, h)
				}
			}
			switch {
			case len(hops) == 1 && hops[0].VNI == 0:
				fr.NextHop, fr.Interface = hops[0].IP, hops[0].Interface
			case len(hops) > 0:
				fr.NextHops = hops
			}
			b.dev.Routes = append(b.dev.Routes, fr)
		}
	}
	return nil
}

func eosBGP(b *builder, data []byte) error {
	var v struct {
		VRFs *map[string]struct {
			ASN   num `json:"asn"`
			Peers map[string]struct {
				ASN            num    `json:"asn"`
				PeerState      string `json:"peerState"`
				PrefixReceived *int64 `json:"prefixReceived"`
				PrefixAccepted *int64 `json:"prefixAccepted"`
			} `json:"peers"`
		} `json:"vrfs"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.VRFs == nil {
		return errWrongCommand("show ip bgp summary vrf all", "vrfs")
	}
	for _, vrf := range sortedKeys(*v.VRFs) {
		s := (*v.VRFs)[vrf]
		for _, peer := range sortedKeys(s.Peers) {
			p := s.Peers[peer]
			fp := facts.BGPPeer{VRF: vrf, RemoteAS: p.ASN.v, LocalAS: s.ASN.v, State: p.PeerState}
			// An unnumbered session is keyed by the link-local address
			// and the interface: "fe80::1%Ethernet1".
			addr, zone, _ := strings.Cut(peer, "%")
			if zone != "" {
				fp.PeerInterface = b.canon(zone)
			}
			a, err := facts.ParseAddr(addr)
			if err != nil {
				b.skip("vrf %s peer %q: not an IP address", vrf, peer)
				continue
			}
			if zone == "" || !a.IsLinkLocalUnicast() {
				fp.PeerIP = a.String()
			}
			if p.PrefixReceived != nil || p.PrefixAccepted != nil {
				fp.AFISafi = []facts.AFISafi{{Name: facts.FamilyIPv4Unicast, PrefixesReceived: p.PrefixReceived, PrefixesAccepted: p.PrefixAccepted}}
			}
			b.dev.BGPPeers = append(b.dev.BGPPeers, fp)
		}
	}
	return nil
}
