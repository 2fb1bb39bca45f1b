// Package facts defines the meshq.facts/v1 document: everything that enters
// the network graph arrives in this shape, from the ingest
// API, the command line, the demo generator and collectors.
package facts

import "time"

// Schema is the only schema value accepted.
const Schema = "meshq.facts/v1"

// Document is one facts document.
type Document struct {
	Schema      string    `json:"schema" jsonschema:"required,enum=meshq.facts/v1"`
	CollectedAt time.Time `json:"collected_at,omitzero"`
	Devices     []Device  `json:"devices"`
}

// Device is one network device and everything collected from it.
type Device struct {
	Hostname   string         `json:"hostname" jsonschema:"required"`
	MgmtIP     string         `json:"mgmt_ip,omitempty"`
	Vendor     string         `json:"vendor,omitempty"`
	OS         string         `json:"os,omitempty"`
	Model      string         `json:"model,omitempty"`
	Serial     string         `json:"serial,omitempty"`
	Version    string         `json:"version,omitempty"`
	Role       string         `json:"role,omitempty"`
	Site       string         `json:"site,omitempty"`
	Metadata   map[string]any `json:"metadata,omitempty"`
	Interfaces []Interface    `json:"interfaces,omitempty"`
	VLANs      []VLAN         `json:"vlans,omitempty"`
	Neighbors  []Neighbor     `json:"neighbors,omitempty"`
	ARP        []ARPEntry     `json:"arp,omitempty"`
	MACTable   []MACEntry     `json:"mac_table,omitempty"`
	Routes     []Route        `json:"routes,omitempty"`
	BGPPeers   []BGPPeer      `json:"bgp_peers,omitempty"`
	Firewall   *Firewall      `json:"firewall,omitempty"`
	// VXLAN is the device's VTEP: its source address and VNI maps.
	VXLAN *VXLAN `json:"vxlan,omitempty"`
}

// Interface modes.
const (
	ModeAccess = "access"
	ModeTrunk  = "trunk"
	ModeRouted = "routed"
)

// Interface types. A type says what a port is where its name does not
// (an "ae0" is a LAG on Junos, a "Vxlan1" a tunnel on EOS).
const (
	TypePhysical     = "physical"
	TypeLAG          = "lag"
	TypeLoopback     = "loopback"
	TypeVLAN         = "vlan"
	TypeTunnel       = "tunnel"
	TypeVXLAN        = "vxlan"
	TypeSubinterface = "subinterface"
	TypeMgmt         = "mgmt"
	TypeVirtual      = "virtual"
)

// Interface is a device port or logical interface. Pointers distinguish
// "not collected" from false/zero.
type Interface struct {
	Name        string `json:"name" jsonschema:"required"`
	Description string `json:"description,omitempty"`
	Type        string `json:"type,omitempty"`
	// LAG names the port-channel (LAG) a member port belongs to.
	LAG string `json:"lag,omitempty"`
	// MLAGPeerLink marks the link between the two switches of an MLAG
	// (vPC) pair: MACs learned on it are the peer's, not endpoints here.
	MLAGPeerLink bool   `json:"mlag_peer_link,omitempty"`
	MAC          string `json:"mac,omitempty"`
	// IfIndex is the SNMP ifIndex, which some LLDP agents send as the
	// port ID.
	IfIndex    int      `json:"ifindex,omitempty"`
	AdminUp    *bool    `json:"admin_up,omitempty"`
	OperUp     *bool    `json:"oper_up,omitempty"`
	SpeedMbps  int64    `json:"speed_mbps,omitempty"`
	MTU        int      `json:"mtu,omitempty"`
	Mode       string   `json:"mode,omitempty"`
	AccessVLAN int      `json:"access_vlan,omitempty"`
	TrunkVLANs []int    `json:"trunk_vlans,omitempty"`
	VRF        string   `json:"vrf,omitempty"`
	Zone       string   `json:"zone,omitempty"`
	IPs        []string `json:"ips,omitempty"` // "addr/len"
	// Addresses says what some of the interface's addresses are for; each
	// is also in IPs once normalized.
	Addresses []Address `json:"addresses,omitempty"`
}

// Address roles. A virtual or anycast address is shared on purpose by
// several devices (or interfaces), so it is not a duplicate.
const (
	RolePrimary   = "primary"
	RoleSecondary = "secondary"
	RoleVirtual   = "virtual" // VRRP, HSRP, CARP, VARP: a first-hop group's address
	RoleAnycast   = "anycast" // the same gateway address on every leaf (EVPN anycast gateway)
)

// Address is an interface address with its role.
type Address struct {
	// IP is "addr/len", or a bare address (as Arista's virtual-router
	// address is configured), which takes the length of the interface's
	// subnet that contains it, else a host length.
	IP   string `json:"ip" jsonschema:"required"`
	Role string `json:"role,omitempty"`
}

// Shared reports whether the role is one shared on purpose.
func (a Address) Shared() bool { return a.Role == RoleVirtual || a.Role == RoleAnycast }

// VLAN is a VLAN defined on a device.
type VLAN struct {
	ID   int    `json:"id" jsonschema:"required,minimum=1,maximum=4094"`
	Name string `json:"name,omitempty"`
}

// Neighbor is an LLDP/CDP adjacency seen from this device.
type Neighbor struct {
	LocalInterface  string `json:"local_interface" jsonschema:"required"`
	RemoteHostname  string `json:"remote_hostname" jsonschema:"required"`
	RemoteInterface string `json:"remote_interface,omitempty"`
	Protocol        string `json:"protocol,omitempty"`
}

// ARPEntry maps an IP to a MAC on an interface: an IPv4 ARP entry or an
// IPv6 neighbour (ND) entry, both in the one list.
type ARPEntry struct {
	IP string `json:"ip" jsonschema:"required"`
	// MAC is required except in the states that have none (incomplete,
	// failed).
	MAC       string `json:"mac,omitempty"`
	Interface string `json:"interface,omitempty"`
	VRF       string `json:"vrf,omitempty"`
	// State is the neighbour state (ARP/ND): one of the Neighbor* states;
	// "" is unknown.
	State string `json:"state,omitempty"`
	// Remote marks an entry learned from another VTEP (an EVPN type-2
	// MAC/IP route) rather than from ARP/ND on a local port.
	Remote bool `json:"remote,omitempty"`
}

// Neighbour (ARP/ND) states.
const (
	NeighborReachable  = "reachable"
	NeighborStale      = "stale"
	NeighborDelay      = "delay"
	NeighborProbe      = "probe"
	NeighborIncomplete = "incomplete"
	NeighborFailed     = "failed"
	NeighborPermanent  = "permanent"
)

// Resolved reports whether the entry binds its IP to a MAC: not an
// incomplete or failed resolution.
func (e *ARPEntry) Resolved() bool {
	return e.MAC != "" && e.State != NeighborIncomplete && e.State != NeighborFailed
}

// MAC-table entry flags.
const (
	MACStatic = "static" // configured, not learned
	MACRemote = "remote" // learned from another VTEP (EVPN, or flood-and-learn over VXLAN)
	MACRouter = "router" // the device's own (router/gateway) MAC
)

// MACEntry is a MAC learned on a port in a VLAN.
type MACEntry struct {
	MAC       string `json:"mac" jsonschema:"required"`
	VLAN      int    `json:"vlan,omitempty"`
	Interface string `json:"interface" jsonschema:"required"`
	// Flags are MACStatic, MACRemote and MACRouter, sorted, once each.
	Flags []string `json:"flags,omitempty"`
	// RemoteVTEP is the VTEP address a remote MAC sits behind; an entry
	// with one is remote whatever its flags say.
	RemoteVTEP string `json:"remote_vtep,omitempty"`
}

// Has reports whether the entry carries flag f.
func (m *MACEntry) Has(f string) bool {
	for _, x := range m.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// IsRemote reports whether the MAC sits behind another VTEP.
func (m *MACEntry) IsRemote() bool { return m.RemoteVTEP != "" || m.Has(MACRemote) }

// Route actions.
const (
	RouteForward = "forward"
	RouteDrop    = "drop"   // discard, Null0, blackhole: silently
	RouteReject  = "reject" // unreachable: dropped with an ICMP error
	RouteLocal   = "local"  // an address of the device itself (receive)
)

// Route is a routing-table entry: a prefix and where the device sends what
// matches it. Equal-cost next hops are one route with next_hops; the single
// next_hop (with interface and next_hop_vrf) is the same as a list of one.
type Route struct {
	VRF       string `json:"vrf,omitempty"`
	Prefix    string `json:"prefix" jsonschema:"required"`
	NextHop   string `json:"next_hop,omitempty"`
	Interface string `json:"interface,omitempty"`
	// NextHopVRF is the VRF the next hop is resolved in where it is not
	// the route's own (a leaked route, or an EVPN type-5 route resolved in
	// the underlay).
	NextHopVRF string `json:"next_hop_vrf,omitempty"`
	// NextHops are the route's equal-cost next hops; give either them or
	// next_hop, not both.
	NextHops []NextHop `json:"next_hops,omitempty"`
	Protocol string    `json:"protocol,omitempty"`
	Metric   int       `json:"metric,omitempty"`
	// AdminDistance is the route's preference (Junos "preference"); nil is
	// unknown. Of several routes to one prefix the lowest wins.
	AdminDistance *int `json:"admin_distance,omitempty"`
	// Action is one of the Route* actions; "" is unknown, taken as forward
	// where there is a next hop or interface.
	Action string `json:"action,omitempty"`
}

// NextHop is one of a route's next hops.
type NextHop struct {
	IP        string `json:"ip,omitempty"`
	Interface string `json:"interface,omitempty"`
	// VRF is where IP is resolved when it is not the route's VRF.
	VRF string `json:"vrf,omitempty"`
	// VNI is the VXLAN network identifier the packet is encapsulated with
	// towards IP, the remote VTEP (an EVPN type-5 route's L3 VNI); 0 is
	// none.
	VNI int `json:"vni,omitempty"`
	// Weight is an unequal-cost share (UCMP); 0 is unknown.
	Weight int `json:"weight,omitempty"`
}

// Hops returns the route's next hops: next_hops, or the single next_hop
// form as a list of one (nil when the route has neither).
func (r *Route) Hops() []NextHop {
	if len(r.NextHops) > 0 {
		return r.NextHops
	}
	if r.NextHop == "" && r.Interface == "" {
		return nil
	}
	return []NextHop{{IP: r.NextHop, Interface: r.Interface, VRF: r.NextHopVRF}}
}

// BGPPeer is a BGP session.
type BGPPeer struct {
	// PeerIP is required unless PeerInterface names an unnumbered session.
	PeerIP   string `json:"peer_ip,omitempty"`
	RemoteAS int64  `json:"remote_as,omitempty"`
	LocalAS  int64  `json:"local_as,omitempty"`
	State    string `json:"state,omitempty"`
	VRF      string `json:"vrf,omitempty"`
	// PeerInterface is the interface of an unnumbered session (BGP over
	// the IPv6 link-local address, RFC 5549): the peer is whatever is
	// linked there.
	PeerInterface string `json:"peer_interface,omitempty"`
	// AFISafi are the address families negotiated or configured, each
	// with its own state and prefix counts.
	AFISafi []AFISafi `json:"afi_safi,omitempty"`
}

// Common address families, canonical names.
const (
	FamilyIPv4Unicast = "ipv4-unicast"
	FamilyIPv6Unicast = "ipv6-unicast"
	FamilyL2VPNEVPN   = "l2vpn-evpn"
	FamilyVPNv4       = "vpnv4-unicast"
	FamilyVPNv6       = "vpnv6-unicast"
)

// AFISafi is one address family of a BGP session.
type AFISafi struct {
	Name string `json:"name"`
	// State is the family's state where the device reports one per family
	// (the session's BGP states); "" is unknown, taken as the session's.
	State string `json:"state,omitempty"`
	// Prefix counts; nil is unknown.
	PrefixesReceived *int64 `json:"prefixes_received,omitempty"`
	PrefixesAccepted *int64 `json:"prefixes_accepted,omitempty"`
	PrefixesSent     *int64 `json:"prefixes_sent,omitempty"`
}

// VXLAN is a device's VTEP.
type VXLAN struct {
	// SourceInterface is the loopback the VTEP address is taken from.
	SourceInterface string `json:"source_interface,omitempty"`
	// SourceIP is the VTEP address; where absent, the source interface's
	// first address. An MLAG pair shares one (mark it anycast on both).
	SourceIP string `json:"source_ip,omitempty"`
	// VNIs map VNIs to VLANs (L2 VNI) and VRFs (L3 VNI).
	VNIs []VNI `json:"vnis,omitempty"`
}

// VNI maps one VXLAN network identifier: to a VLAN (an L2 VNI, the VLAN
// stretched over the overlay), to a VRF (an L3 VNI, routed between VTEPs
// in that VRF), or to both (an L3 VNI with the VLAN NX-OS gives it).
type VNI struct {
	VNI  int    `json:"vni"`
	VLAN int    `json:"vlan,omitempty"`
	VRF  string `json:"vrf,omitempty"`
}

// MaxVNI is the largest VXLAN network identifier (24 bits).
const MaxVNI = 1<<24 - 1

// Firewall is a device's security policy.
type Firewall struct {
	DefaultAction  string          `json:"default_action,omitempty"`
	Zones          []Zone          `json:"zones,omitempty"`
	AddressObjects []AddressObject `json:"address_objects,omitempty"`
	ServiceObjects []ServiceObject `json:"service_objects,omitempty"`
	Rules          []Rule          `json:"rules,omitempty"`
}

// Zone groups interfaces.
type Zone struct {
	Name       string   `json:"name" jsonschema:"required"`
	Interfaces []string `json:"interfaces,omitempty"`
}

// Address object types.
const (
	AddrHost    = "host"
	AddrNetwork = "network"
	AddrRange   = "range"
	AddrFQDN    = "fqdn"
	AddrGroup   = "group"
)

// AddressObject is a named address, network, range, FQDN or group.
type AddressObject struct {
	Name    string   `json:"name" jsonschema:"required"`
	Type    string   `json:"type" jsonschema:"required"`
	Value   string   `json:"value,omitempty"`
	Members []string `json:"members,omitempty"`
}

// ServiceObject is a named protocol and destination-port set; a group of
// services lists Members instead.
type ServiceObject struct {
	Name      string   `json:"name" jsonschema:"required"`
	Protocol  string   `json:"protocol,omitempty"`
	DestPorts string   `json:"dest_ports,omitempty"`
	Members   []string `json:"members,omitempty"`
}

// Rule actions.
const (
	ActionPermit = "permit"
	ActionDeny   = "deny"
	ActionDrop   = "drop"
	ActionReject = "reject"
)

// Rule is one firewall policy rule.
type Rule struct {
	RuleID       string   `json:"rule_id" jsonschema:"required"`
	RuleName     string   `json:"rule_name,omitempty"`
	RuleOrder    int      `json:"rule_order"`
	Action       string   `json:"action" jsonschema:"required"`
	SrcZones     []string `json:"src_zones,omitempty"`
	DstZones     []string `json:"dst_zones,omitempty"`
	SrcAddresses []string `json:"src_addresses,omitempty"`
	DstAddresses []string `json:"dst_addresses,omitempty"`
	Services     []string `json:"services,omitempty"`
	Enabled      *bool    `json:"enabled,omitempty"`
	HitCount     *int64   `json:"hit_count,omitempty"`
}

// IsEnabled treats an absent enabled flag as enabled, as firewalls do.
func (r *Rule) IsEnabled() bool { return r.Enabled == nil || *r.Enabled }
