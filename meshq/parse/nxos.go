package parse

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/meshq/platform"
)

// Cisco NX-OS: the JSON of `show … | json` (NX-API's body). Its tables
// are TABLE_x objects holding ROW_x, which is an object when the table has
// one row and an array when it has several; values are strings or
// numbers depending on the release.
var nxosParsers = map[platform.Kind]parseFunc{
	platform.KindVersion:    nxosVersion,
	platform.KindInterfaces: nxosInterfaces,
	platform.KindIPv4:       nxosIPv4,
	platform.KindARP:        nxosARP,
	platform.KindMAC:        nxosMAC,
	platform.KindVLANs:      nxosVLANs,
	platform.KindBGP:        nxosBGP,
}

// rows is a ROW_x: one object or an array of them.
type rows[T any] []T

func (r *rows[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var list []T
		if err := json.Unmarshal(b, &list); err != nil {
			return err
		}
		*r = list
		return nil
	}
	var one T
	if err := json.Unmarshal(b, &one); err != nil {
		return err
	}
	*r = rows[T]{one}
	return nil
}

// str is a value NX-OS writes as a string or as a number.
type str string

func (s *str) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = str(strings.TrimSpace(v))
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	*s = str(b)
	return nil
}

func (s str) int() (int64, bool) {
	v, err := strconv.ParseInt(string(s), 10, 64)
	return v, err == nil
}

func nxosVersion(b *builder, data []byte) error {
	var v struct {
		ChassisID  *str `json:"chassis_id"`
		NXOSVer    str  `json:"nxos_ver_str"`
		SysVer     str  `json:"sys_ver_str"`
		ProcBoard  str  `json:"proc_board_id"`
		HostName   str  `json:"host_name"`
		KickVerStr str  `json:"kickstart_ver_str"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.ChassisID == nil {
		return errWrongCommand("show version", "chassis_id")
	}
	// "Nexus9000 C93180YC-FX Chassis": the model is what precedes the word.
	model := strings.TrimSpace(strings.TrimSuffix(strings.TrimSuffix(string(*v.ChassisID), " Chassis"), " chassis"))
	b.dev.Model = model
	b.dev.Serial = string(v.ProcBoard)
	switch {
	case v.NXOSVer != "":
		b.dev.Version = string(v.NXOSVer)
	case v.SysVer != "":
		b.dev.Version = string(v.SysVer)
	default:
		b.dev.Version = string(v.KickVerStr)
	}
	return nil
}

type nxosInterfaceRow struct {
	Interface str `json:"interface"`
	Desc      str `json:"desc"`
	State     str `json:"state"`
	Admin     str `json:"admin_state"`
	HWDesc    str `json:"eth_hw_desc"`
	HWAddr    str `json:"eth_hw_addr"`
	MTU       str `json:"eth_mtu"`
	BW        str `json:"eth_bw"` // Kbit/s
	Mode      str `json:"eth_mode"`
	IPAddr    str `json:"eth_ip_addr"`
	IPMask    str `json:"eth_ip_mask"`
	Bundle    str `json:"eth_bundle"`
	SVIAdmin  str `json:"svi_admin_state"`
	SVIProto  str `json:"svi_line_proto"`
	SVIMAC    str `json:"svi_mac"`
	SVIDesc   str `json:"svi_desc"`
	SVIIP     str `json:"svi_ip_addr"`
	SVIMask   str `json:"svi_ip_mask"`
	SVIMTU    str `json:"svi_mtu"`
	SVIBW     str `json:"svi_bw"`
}

func nxosInterfaces(b *builder, data []byte) error {
	var v struct {
		Table *struct {
			Rows rows[nxosInterfaceRow] `json:"ROW_interface"`
		} `json:"TABLE_interface"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Table == nil {
		return errWrongCommand("show interface", "TABLE_interface")
	}
	for _, r := range v.Table.Rows {
		if r.Interface == "" {
			b.skip("a row without an interface name")
			continue
		}
		ifc := b.iface(string(r.Interface))
		svi := r.SVIAdmin != "" || r.SVIProto != ""
		desc, mac, mtu, bw, ip, mask := r.Desc, r.HWAddr, r.MTU, r.BW, r.IPAddr, r.IPMask
		if svi {
			desc, mac, mtu, bw, ip, mask = r.SVIDesc, r.SVIMAC, r.SVIMTU, r.SVIBW, r.SVIIP, r.SVIMask
			ifc.Type = facts.TypeVLAN
			ifc.AdminUp = boolp(r.SVIAdmin == "up")
			ifc.OperUp = boolp(r.SVIProto == "up")
		} else {
			if r.Admin != "" {
				ifc.AdminUp = boolp(r.Admin == "up")
			}
			if r.State != "" {
				ifc.OperUp = boolp(r.State == "up")
			}
			switch {
			case strings.HasPrefix(ifc.Name, "mgmt"):
				ifc.Type = facts.TypeMgmt
			case strings.HasPrefix(ifc.Name, "port-channel"):
				ifc.Type = facts.TypeLAG
			case strings.HasPrefix(ifc.Name, "loopback"):
				ifc.Type = facts.TypeLoopback
			case strings.HasPrefix(ifc.Name, "Ethernet") && strings.Contains(ifc.Name, "."):
				ifc.Type = facts.TypeSubinterface
			case r.HWDesc != "" && strings.HasPrefix(ifc.Name, "Ethernet"):
				ifc.Type = facts.TypePhysical
			}
		}
		ifc.Description = string(desc)
		if mac != "" {
			if m, ok := facts.CanonicalMAC(string(mac)); ok {
				ifc.MAC = m
			} else {
				b.skip("interface %s: MAC %q is not a MAC address", ifc.Name, mac)
			}
		}
		if n, ok := mtu.int(); ok && n > 0 {
			ifc.MTU = int(n)
		}
		if n, ok := bw.int(); ok && n > 0 {
			ifc.SpeedMbps = n / 1000
		}
		switch r.Mode {
		case "routed":
			ifc.Mode = facts.ModeRouted
		case "access":
			ifc.Mode = facts.ModeAccess
		case "trunk":
			ifc.Mode = facts.ModeTrunk
		}
		if r.Bundle != "" {
			ifc.LAG = b.canon(string(r.Bundle))
		}
		if ip != "" {
			n, _ := mask.int()
			if p, ok := ipLen(string(ip), int(n)); ok {
				addIP(ifc, p)
			} else {
				b.skip("interface %s: address %s/%s is not an interface address", ifc.Name, ip, mask)
			}
		}
	}
	return nil
}

func nxosIPv4(b *builder, data []byte) error {
	type vrfRow struct {
		Name str `json:"vrf-name-out"`
	}
	type intfRow struct {
		Name    str `json:"intf-name"`
		Prefix  str `json:"prefix"`
		MaskLen str `json:"masklen"`
	}
	var v struct {
		VRFs *rows[struct {
			Rows rows[vrfRow] `json:"ROW_vrf"`
		}] `json:"TABLE_vrf"`
		Intfs *rows[struct {
			Rows rows[intfRow] `json:"ROW_intf"`
		}] `json:"TABLE_intf"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Intfs == nil {
		return errWrongCommand("show ip interface vrf all", "TABLE_intf")
	}
	// With "vrf all" the answer is two parallel lists: the n-th TABLE_vrf
	// names the VRF of the n-th TABLE_intf.
	paired := v.VRFs != nil && len(*v.VRFs) == len(*v.Intfs)
	for i, t := range *v.Intfs {
		vrf := ""
		if paired && len((*v.VRFs)[i].Rows) == 1 {
			vrf = string((*v.VRFs)[i].Rows[0].Name)
		}
		for _, r := range t.Rows {
			if r.Name == "" {
				b.skip("a row without an interface name")
				continue
			}
			ifc := b.iface(string(r.Name))
			if vrf != "" {
				ifc.VRF = vrf
			}
			if r.Prefix == "" {
				continue
			}
			n, _ := r.MaskLen.int()
			if p, ok := ipLen(string(r.Prefix), int(n)); ok {
				addIP(ifc, p)
			} else {
				b.skip("interface %s: address %s/%s is not an interface address", ifc.Name, r.Prefix, r.MaskLen)
			}
		}
	}
	return nil
}

func nxosARP(b *builder, data []byte) error {
	type adj struct {
		IP   str `json:"ip-addr-out"`
		MAC  str `json:"mac"`
		Intf str `json:"intf-out"`
	}
	var v struct {
		VRFs *struct {
			Rows rows[struct {
				Name str `json:"vrf-name-out"`
				Adj  *struct {
					Rows rows[adj] `json:"ROW_adj"`
				} `json:"TABLE_adj"`
			}] `json:"ROW_vrf"`
		} `json:"TABLE_vrf"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.VRFs == nil {
		return errWrongCommand("show ip arp vrf all", "TABLE_vrf")
	}
	for _, vr := range v.VRFs.Rows {
		if vr.Adj == nil {
			continue
		}
		for _, e := range vr.Adj.Rows {
			a, err := facts.ParseAddr(string(e.IP))
			if err != nil {
				b.skip("vrf %s: address %q is not an IP address", vr.Name, e.IP)
				continue
			}
			entry := facts.ARPEntry{IP: a.String(), Interface: b.canon(string(e.Intf)), VRF: string(vr.Name)}
			// An unresolved entry prints "INCOMPLETE" for the MAC.
			if strings.EqualFold(string(e.MAC), "incomplete") {
				entry.State = facts.NeighborIncomplete
			} else if m, ok := facts.CanonicalMAC(string(e.MAC)); ok {
				entry.MAC = m
			} else {
				b.skip("vrf %s entry %s: mac %q is not a MAC address", vr.Name, e.IP, e.MAC)
				continue
			}
			b.dev.ARP = append(b.dev.ARP, entry)
		}
	}
	return nil
}

func nxosMAC(b *builder, data []byte) error {
	var v struct {
		Table *struct {
			Rows rows[struct {
				MAC    str `json:"disp_mac_addr"`
				Type   str `json:"disp_type"`
				VLAN   str `json:"disp_vlan"`
				Static str `json:"disp_is_static"`
				Port   str `json:"disp_port"`
			}] `json:"ROW_mac_address"`
		} `json:"TABLE_mac_address"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Table == nil {
		return errWrongCommand("show mac address-table", "TABLE_mac_address")
	}
	for k, r := range v.Table.Rows {
		mac, ok := facts.CanonicalMAC(string(r.MAC))
		if !ok {
			b.skip("entry %d: disp_mac_addr %q is not a MAC address", k, r.MAC)
			continue
		}
		vlan, _ := r.VLAN.int() // "-" for a MAC in no VLAN
		if vlan < 0 || vlan > 4094 {
			b.skip("entry %s: disp_vlan %q is not a VLAN", mac, r.VLAN)
			continue
		}
		port := string(r.Port)
		if port == "" {
			b.skip("entry %s vlan %d: no port", mac, vlan)
			continue
		}
		e := facts.MACEntry{MAC: mac, VLAN: int(vlan)}
		// "(R)" marks a routed (the switch's own) MAC; type G a gateway MAC.
		if p, ok := strings.CutSuffix(port, "(R)"); ok {
			port = p
			e.Flags = append(e.Flags, facts.MACRouter)
		}
		if r.Type == "G" && !e.Has(facts.MACRouter) {
			e.Flags = append(e.Flags, facts.MACRouter)
		}
		if r.Static == "enabled" {
			e.Flags = append(e.Flags, facts.MACStatic)
		}
		e.Interface = b.canon(port)
		b.dev.MACTable = append(b.dev.MACTable, e)
	}
	return nil
}

func nxosVLANs(b *builder, data []byte) error {
	var v struct {
		Table *struct {
			Rows rows[struct {
				ID   str `json:"vlanshowbr-vlanid"`
				Name str `json:"vlanshowbr-vlanname"`
			}] `json:"ROW_vlanbriefxbrief"`
		} `json:"TABLE_vlanbriefxbrief"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.Table == nil {
		return errWrongCommand("show vlan brief", "TABLE_vlanbriefxbrief")
	}
	for _, r := range v.Table.Rows {
		id, ok := r.ID.int()
		if !ok || id < 1 || id > 4094 {
			b.skip("vlan %q: not a VLAN id", r.ID)
			continue
		}
		b.dev.VLANs = append(b.dev.VLANs, facts.VLAN{ID: int(id), Name: string(r.Name)})
	}
	return nil
}

func nxosBGP(b *builder, data []byte) error {
	type neighbor struct {
		ID       str `json:"neighborid"`
		AS       num `json:"neighboras"`
		State    str `json:"state"`
		Received str `json:"prefixreceived"`
	}
	type saf struct {
		Name      str `json:"af-name"`
		Neighbors *struct {
			Rows rows[neighbor] `json:"ROW_neighbor"`
		} `json:"TABLE_neighbor"`
	}
	var v struct {
		VRFs *struct {
			Rows rows[struct {
				Name    str `json:"vrf-name-out"`
				LocalAS num `json:"vrf-local-as"`
				AFs     *struct {
					Rows rows[struct {
						SAFs *struct {
							Rows rows[saf] `json:"ROW_saf"`
						} `json:"TABLE_saf"`
					}] `json:"ROW_af"`
				} `json:"TABLE_af"`
			}] `json:"ROW_vrf"`
		} `json:"TABLE_vrf"`
	}
	if err := decodeJSON(data, &v); err != nil {
		return err
	}
	if v.VRFs == nil {
		return errWrongCommand("show bgp vrf all ipv4 unicast summary", "TABLE_vrf")
	}
	// One session appears once per address family: merge them by VRF and
	// peer, each family with its own state and count.
	type key struct{ vrf, peer string }
	at := map[key]int{}
	for _, vr := range v.VRFs.Rows {
		if vr.AFs == nil {
			continue
		}
		for _, af := range vr.AFs.Rows {
			if af.SAFs == nil {
				continue
			}
			for _, s := range af.SAFs.Rows {
				if s.Neighbors == nil {
					continue
				}
				family, ok := nxosFamily(string(s.Name))
				for _, n := range s.Neighbors.Rows {
					a, err := facts.ParseAddr(string(n.ID))
					if err != nil {
						b.skip("vrf %s: neighbor %q is not an IP address", vr.Name, n.ID)
						continue
					}
					k := key{string(vr.Name), a.String()}
					i, seen := at[k]
					if !seen {
						b.dev.BGPPeers = append(b.dev.BGPPeers, facts.BGPPeer{PeerIP: a.String(), VRF: string(vr.Name), RemoteAS: n.AS.v, LocalAS: vr.LocalAS.v})
						i = len(b.dev.BGPPeers) - 1
						at[k] = i
					}
					p := &b.dev.BGPPeers[i]
					state := string(n.State)
					if p.State == "" || strings.EqualFold(state, "established") {
						p.State = state
					}
					if !ok {
						b.skip("vrf %s neighbor %s: address family %q not known", vr.Name, a, s.Name)
						continue
					}
					f := facts.AFISafi{Name: family, State: state}
					if c, isNum := n.Received.int(); isNum {
						f.PrefixesReceived = int64p(c)
					}
					p.AFISafi = append(p.AFISafi, f)
				}
			}
		}
	}
	return nil
}

// nxosFamily names an NX-OS address family ("IPv4 Unicast", "L2VPN EVPN").
func nxosFamily(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ipv4 unicast":
		return facts.FamilyIPv4Unicast, true
	case "ipv6 unicast":
		return facts.FamilyIPv6Unicast, true
	case "l2vpn evpn":
		return facts.FamilyL2VPNEVPN, true
	case "vpnv4 unicast":
		return facts.FamilyVPNv4, true
	case "vpnv6 unicast":
		return facts.FamilyVPNv6, true
	}
	return "", false
}
