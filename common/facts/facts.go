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

// ARPEntry maps an IP to a MAC on an interface.
type ARPEntry struct {
	IP        string `json:"ip" jsonschema:"required"`
	MAC       string `json:"mac" jsonschema:"required"`
	Interface string `json:"interface,omitempty"`
	VRF       string `json:"vrf,omitempty"`
}

// MACEntry is a MAC learned on a port in a VLAN.
type MACEntry struct {
	MAC       string `json:"mac" jsonschema:"required"`
	VLAN      int    `json:"vlan,omitempty"`
	Interface string `json:"interface" jsonschema:"required"`
}

// Route is a routing-table entry.
type Route struct {
	VRF       string `json:"vrf,omitempty"`
	Prefix    string `json:"prefix" jsonschema:"required"`
	NextHop   string `json:"next_hop,omitempty"`
	Interface string `json:"interface,omitempty"`
	Protocol  string `json:"protocol,omitempty"`
	Metric    int    `json:"metric,omitempty"`
}

// BGPPeer is a BGP session.
type BGPPeer struct {
	PeerIP   string `json:"peer_ip" jsonschema:"required"`
	RemoteAS int64  `json:"remote_as,omitempty"`
	LocalAS  int64  `json:"local_as,omitempty"`
	State    string `json:"state,omitempty"`
	VRF      string `json:"vrf,omitempty"`
}

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
