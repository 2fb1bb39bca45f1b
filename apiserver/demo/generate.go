package demo

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Sizes the generator accepts.
const (
	// DefaultDevices is the size of the network `make run` loads.
	DefaultDevices = 100
	// MinDevices is the smallest network that still has every part: the
	// fixed devices, one distribution pair with access switches, leaves.
	MinDevices = 24
	// MaxDevices is the largest network generated: the scaling curve's
	// largest size. Up to about 24,000 devices the campus VLANs sit in
	// 10.32.0.0/11, and up to 64,000 the management addresses in
	// 10.255.0.0/16; larger networks continue in further blocks
	// (campusBlocks, mgmtBlocks).
	MaxDevices = 100000
)

// Options says what network to generate. The same Options give the same
// document, byte for byte.
type Options struct {
	Seed int64
	// Devices is the approximate number of network devices (endpoints are
	// not devices); 0 means DefaultDevices, and values are clamped to
	// [MinDevices, MaxDevices].
	Devices int
	// FirewallRules is the number of rules per firewall; 0 gives the
	// showcase policy alone (ShowcaseRules rules).
	FirewallRules int
	// CollectedAt stamps the document; zero gives a fixed time so that the
	// output does not depend on the clock.
	CollectedAt time.Time
}

// Layout constants of the generated network.
const (
	accessPorts     = 38 // user ports per access switch (+2 uplinks +1 mgmt ≈ 40 interfaces)
	maxAccessPerDP  = 20 // access switches per distribution pair
	leafServerPorts = 48
	campusMTU       = 9198
	edgeMTU         = 1500
	asCampus        = 65000
	asSpine         = 65001
	asDCFirewall    = 65010
	asLeafBase      = 4200000000 // private 4-byte ASNs, one per leaf
)

// Campus VLANs, the same at every distribution pair.
var campusVLANs = []struct {
	id     int
	name   string
	weight int    // share of endpoints, out of 20
	oui    string // endpoint MAC prefix
	kind   string // port description prefix
}{
	{10, "users", 10, "f8:bc:12", "pc"},
	{20, "voice", 5, "00:1b:54", "phone"},
	{30, "printers", 2, "3c:d9:2b", "printer"},
	{40, "wifi-aps", 3, "24:de:c6", "ap"},
}

// Server VLANs on every leaf.
var serverVLANs = []struct {
	id   int
	name string
}{{100, "servers"}, {101, "storage"}}

// plan is how many devices of each kind a network of a given size has.
type plan struct {
	pairs  int   // distribution pairs
	access []int // access switches per pair
	leaves int
}

// fixedDevices: 2 core, 2 border, 2 firewalls, 2 spines, the DMZ switch and
// the orphan lab switch.
const fixedDevices = 10

func planFor(n int) plan {
	rest := n - fixedDevices
	leaves := max(2, min(rest/10, 2000))
	campus := rest - leaves
	pairs := max(1, (campus+maxAccessPerDP+1)/(maxAccessPerDP+2))
	access := campus - 2*pairs
	p := plan{pairs: pairs, leaves: leaves, access: make([]int, pairs)}
	for i := range pairs {
		p.access[i] = access / pairs
		if i < access%pairs {
			p.access[i]++
		}
	}
	return p
}

// Generate builds the demo network described by opts: a campus (two core
// switches, distribution pairs, access switches dual-homed to their pair,
// endpoints in four VLANs), a data centre (two spines, dual-homed leaves,
// servers in two VLANs), an edge firewall and a DC firewall with zones and
// policies, two border routers with BGP to two ISPs (one session down), and
// a handful of deliberate hygiene problems (see Problems). Every device
// has LLDP/CDP neighbors on both ends of each link, consistent subnets and
// routes, and some IPv6. The document passes facts.Normalize unchanged.
func Generate(opts Options) *facts.Document {
	n := opts.Devices
	if n == 0 {
		n = DefaultDevices
	}
	n = min(max(n, MinDevices), MaxDevices)
	at := opts.CollectedAt
	if at.IsZero() {
		at = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	}
	g := &gen{seed: uint64(opts.Seed), rules: opts.FirewallRules, plan: planFor(n)}
	g.build()
	doc := &facts.Document{Schema: facts.Schema, CollectedAt: at.UTC(), Devices: make([]facts.Device, len(g.devs))}
	for i, d := range g.devs {
		doc.Devices[i] = *d
	}
	return doc
}

// gen holds the generator's state: the devices built so far and the
// allocators of addresses and MACs.
type gen struct {
	seed  uint64
	rules int
	plan  plan

	devs    []*facts.Device
	byName  map[string]*facts.Device
	nextP2P int    // /31s allocated from 10.254.0.0/16
	nextMAC uint32 // interface MACs
	nextEP  uint32 // endpoint MACs
}

// rng returns a generator for one part of the network, seeded from the
// seed and the part's name, so that a change in one part (a richer
// firewall policy) does not reshuffle every other part.
func (g *gen) rng(part string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(part))
	return rand.New(rand.NewPCG(g.seed, h.Sum64()))
}

func (g *gen) device(hostname, role, site, vendor, os, model string) *facts.Device {
	k := len(g.devs)
	d := &facts.Device{
		Hostname: hostname, Role: role, Site: site, Vendor: vendor, OS: os, Model: model,
		MgmtIP:  mgmtAddr(k).String(),
		Serial:  fmt.Sprintf("%s%07d", serialPrefix[vendor], 1000003*(k+1)%9999991),
		Version: versions[vendor],
	}
	d.Interfaces = append(d.Interfaces, facts.Interface{
		Name: mgmtInterface[vendor], Description: "oob management", AdminUp: yes(), OperUp: yes(),
		SpeedMbps: 1000, MTU: edgeMTU, Mode: facts.ModeRouted, VRF: "mgmt", MAC: g.mac(vendor),
		IPs: []string{d.MgmtIP + "/16"},
	})
	g.devs = append(g.devs, d)
	if g.byName == nil {
		g.byName = make(map[string]*facts.Device)
	}
	g.byName[hostname] = d
	return d
}

// Per-vendor details; read-only tables.
var (
	mgmtInterface = map[string]string{"cisco": "Gi0/0", "arista": "Management1", "aruba": "mgmt", "juniper": "fxp0", "paloaltonetworks": "mgmt"}
	serialPrefix  = map[string]string{"cisco": "FOC", "arista": "JPE", "aruba": "SG", "juniper": "JN", "paloaltonetworks": "PA"}
	versions      = map[string]string{"cisco": "17.9.4", "arista": "4.31.2F", "aruba": "10.13.1000", "juniper": "22.4R3", "paloaltonetworks": "11.1.2"}
	vendorOUI     = map[string][3]byte{"cisco": {0x00, 0x1a, 0x2b}, "arista": {0x44, 0x4c, 0xa8}, "aruba": {0x88, 0x3a, 0x30}, "juniper": {0x3c, 0x61, 0x04}, "paloaltonetworks": {0x00, 0x1b, 0x17}}
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// mac allocates a vendor interface MAC.
func (g *gen) mac(vendor string) string {
	g.nextMAC++
	o := vendorOUI[vendor]
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1], o[2], byte(g.nextMAC>>16), byte(g.nextMAC>>8), byte(g.nextMAC))
}

// endpointMAC allocates an endpoint MAC with the given OUI.
func (g *gen) endpointMAC(oui string) string {
	g.nextEP++
	return fmt.Sprintf("%s:%02x:%02x:%02x", oui, byte(g.nextEP>>16), byte(g.nextEP>>8), byte(g.nextEP))
}

// p2p allocates a /31 and returns its two addresses with length.
func (g *gen) p2p() (a, b string) {
	k := g.nextP2P * 2
	g.nextP2P++
	return fmt.Sprintf("10.254.%d.%d/31", k/256, k%256), fmt.Sprintf("10.254.%d.%d/31", k/256, k%256+1)
}

func addrOf(ipWithLen string) string {
	p := netip.MustParsePrefix(ipWithLen)
	return p.Addr().String()
}

// end is one end of a link being built.
type end struct {
	dev *facts.Device
	ifc facts.Interface
}

// link adds both interfaces and the LLDP/CDP neighbor entries on both ends.
// Interfaces without a description get "to <peer> <port>".
func link(a, b end) {
	if a.ifc.Description == "" {
		a.ifc.Description = "to " + b.dev.Hostname + " " + b.ifc.Name
	}
	if b.ifc.Description == "" {
		b.ifc.Description = "to " + a.dev.Hostname + " " + a.ifc.Name
	}
	proto := "lldp"
	if a.dev.Vendor == "cisco" && b.dev.Vendor == "cisco" {
		proto = "cdp"
	}
	a.dev.Interfaces = append(a.dev.Interfaces, a.ifc)
	b.dev.Interfaces = append(b.dev.Interfaces, b.ifc)
	a.dev.Neighbors = append(a.dev.Neighbors, facts.Neighbor{LocalInterface: a.ifc.Name, RemoteHostname: b.dev.Hostname, RemoteInterface: b.ifc.Name, Protocol: proto})
	b.dev.Neighbors = append(b.dev.Neighbors, facts.Neighbor{LocalInterface: b.ifc.Name, RemoteHostname: a.dev.Hostname, RemoteInterface: a.ifc.Name, Protocol: proto})
}

// routed is an up, routed point-to-point interface.
func (g *gen) routed(d *facts.Device, name string, speed int64, mtu int, ips ...string) facts.Interface {
	return facts.Interface{Name: name, AdminUp: yes(), OperUp: yes(), SpeedMbps: speed, MTU: mtu, Mode: facts.ModeRouted, VRF: "default", MAC: g.mac(d.Vendor), IPs: ips}
}

// p2pLink joins two devices with a routed /31 from 10.254.0.0/16 and
// returns the two addresses.
func (g *gen) p2pLink(a *facts.Device, aIf string, b *facts.Device, bIf string, speed int64, mtu int) (aIP, bIP string) {
	aIP, bIP = g.p2p()
	return g.linkIPs(a, aIf, []string{aIP}, b, bIf, []string{bIP}, speed, mtu)
}

// linkIPs joins two devices with a routed link on the addresses given
// (first IPv4, then any IPv6) and returns the first address of each end.
func (g *gen) linkIPs(a *facts.Device, aIf string, aIPs []string, b *facts.Device, bIf string, bIPs []string, speed int64, mtu int) (aIP, bIP string) {
	link(end{dev: a, ifc: g.routed(a, aIf, speed, mtu, aIPs...)}, end{dev: b, ifc: g.routed(b, bIf, speed, mtu, bIPs...)})
	for _, ip := range aIPs {
		a.Routes = append(a.Routes, connected(ip, aIf))
	}
	for _, ip := range bIPs {
		b.Routes = append(b.Routes, connected(ip, bIf))
	}
	return addrOf(aIPs[0]), addrOf(bIPs[0])
}

func connected(ipWithLen, ifc string) facts.Route {
	p := netip.MustParsePrefix(ipWithLen).Masked()
	return facts.Route{VRF: "default", Prefix: p.String(), Interface: ifc, Protocol: "connected"}
}

func route(prefix, nextHop, ifc, proto string, metric int) facts.Route {
	return facts.Route{VRF: "default", Prefix: prefix, NextHop: nextHop, Interface: ifc, Protocol: proto, Metric: metric}
}

// campusSubnet is VLAN vi's /24 at distribution pair p; the pair's four
// VLANs sit in one /21 (campusSummary). The /24s are taken in order from
// campusBlocks.
func campusSubnet(p, vi int) netip.Prefix {
	k := p*8 + vi
	for _, b := range campusBlocks {
		if n := 1 << (24 - b.Bits()); k >= n {
			k -= n
			continue
		}
		return netip.PrefixFrom(host(b, k*256), 24)
	}
	panic(fmt.Sprintf("demo: no campus address for pair %d (more than MaxDevices)", p))
}

// campusAggregates are the campusBlocks a network with pairs distribution
// pairs uses: what the firewalls' inside zones hold.
func campusAggregates(pairs int) []netip.Prefix {
	var out []netip.Prefix
	for i, left := 0, pairs*8; left > 0 && i < len(campusBlocks); i++ {
		out = append(out, campusBlocks[i])
		left -= 1 << (24 - campusBlocks[i].Bits())
	}
	return out
}

// mgmtAddr is the management address of the k-th device: 250 devices per
// /24 of the first of mgmtBlocks, then of the next.
func mgmtAddr(k int) netip.Addr {
	b := mgmtBlocks[k/64000]
	k %= 64000
	return host(b, k/250*256+k%250+2)
}

// mgmtBlock is the management subnet of the k-th device.
func mgmtBlock(k int) netip.Prefix { return mgmtBlocks[k/64000] }

func campusSummary(p int) netip.Prefix {
	return netip.PrefixFrom(campusSubnet(p, 0).Addr(), 21)
}

// serverSubnet is server VLAN j's /24 on leaf l; a leaf's two sit in one
// /23 (serverSummary).
func serverSubnet(l, j int) netip.Prefix {
	k := l*2 + j
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + k/256), byte(k % 256), 0}), 24)
}

func serverSummary(l int) netip.Prefix { return netip.PrefixFrom(serverSubnet(l, 0).Addr(), 23) }

// host returns the n-th address of an IPv4 prefix.
func host(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) + uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func withLen(a netip.Addr, bits int) string { return a.String() + "/" + strconv.Itoa(bits) }

// Address plan of the fixed parts.
var (
	dcAggregate = netip.MustParsePrefix("10.128.0.0/12")
	dmzSubnet   = netip.MustParsePrefix("172.16.10.0/24")
	jumpSubnet  = netip.MustParsePrefix("10.250.0.0/24")
	// campusBlocks hold the campus VLANs' /24s in turn: the first (1,024
	// distribution pairs) is every network up to about 24,000 devices; the
	// others are free parts of 10/8, 6,144 pairs in all.
	campusBlocks = []netip.Prefix{
		netip.MustParsePrefix("10.32.0.0/11"), netip.MustParsePrefix("10.64.0.0/10"),
		netip.MustParsePrefix("10.144.0.0/12"), netip.MustParsePrefix("10.160.0.0/11"),
		netip.MustParsePrefix("10.192.0.0/11"), netip.MustParsePrefix("10.224.0.0/12"),
	}
	// mgmtBlocks hold 64,000 management addresses each (10.254.0.0/16
	// is the point-to-point links').
	mgmtBlocks = []netip.Prefix{netip.MustParsePrefix("10.255.0.0/16"), netip.MustParsePrefix("10.253.0.0/16")}
)

func (g *gen) build() {
	core1 := g.device("core-sw-01", "core", "hq", "cisco", "ios-xe", "C9500-48Y4C")
	core2 := g.device("core-sw-02", "core", "hq", "cisco", "ios-xe", "C9500-48Y4C")
	cores := []*facts.Device{core1, core2}
	g.p2pLink(core1, "Hu1/0/49", core2, "Hu1/0/49", 100000, campusMTU)
	g.edge(cores)
	g.dataCentre(cores)
	g.campus(cores)
	g.orphan()
	for k, d := range g.devs {
		d.Routes = append(d.Routes, facts.Route{VRF: "mgmt", Prefix: mgmtBlock(k).String(), Interface: mgmtInterface[d.Vendor], Protocol: "connected"})
	}
}

// v6 formats an IPv6 interface address and writes it in canonical form.
func v6(format string, args ...any) string {
	return netip.MustParsePrefix(fmt.Sprintf(format, args...)).String()
}
