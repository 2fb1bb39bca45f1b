package pathtest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/common/facts"
)

// LargeSpec sizes the generated network.
type LargeSpec struct {
	Sites          int // one firewall per site (at most 200)
	AccessPerSite  int // L2 access switches per site (at most 250)
	RulesPerFW     int
	Seed           uint64
	RouteLessSites int // the last sites' second distribution router gets no routes
}

// Large builds a routed campus of sites behind a core pair, for the
// benchmarks: core-1/core-2 ── fw-sNN (one per site) ── dist-sNN-1/2 ──
// acc-sNN-KKK. Devices: 2 + Sites×(3+AccessPerSite); 50 sites with 197
// access switches each make the 10,000-device network.
//
// Site s holds 10.s.0.0/16: user subnets 10.s.0-19.0/24 on dist 1 and
// 10.s.128-147.0/24 on dist 2, a dmz 10.s.200.0/24 on the firewall, and a
// management subnet 10.s.250.0/24 where the access switches (no routes)
// have their addresses. Cores route each site to its firewall; the
// firewall routes the halves of its site to the two dists and its default
// over both cores (equal cost); dists default to the firewall. Zones:
// inside (the dist links), outside (the core links), dmz.
func Large(spec LargeSpec) *facts.Document {
	rng := rand.New(rand.NewPCG(spec.Seed, 99))
	doc := &facts.Document{Schema: facts.Schema}
	add := func(d facts.Device) { doc.Devices = append(doc.Devices, d) }
	cores := []facts.Device{{Hostname: "core-1", Role: "core"}, {Hostname: "core-2", Role: "core"}}
	for s := 1; s <= spec.Sites; s++ {
		site := fmt.Sprintf("s%02d", s)
		fwName := "fw-" + site
		d1, d2 := "dist-"+site+"-1", "dist-"+site+"-2"
		for ci := range cores {
			c := &cores[ci]
			port := "to-" + fwName
			c.Interfaces = append(c.Interfaces, routed(port, fmt.Sprintf("172.%d.%d.1/30", 16+ci, s)))
			c.Neighbors = append(c.Neighbors, facts.Neighbor{LocalInterface: port, RemoteHostname: fwName, RemoteInterface: fmt.Sprintf("out%d", ci+1), Protocol: "lldp"})
			c.Routes = append(c.Routes, facts.Route{Prefix: fmt.Sprintf("10.%d.0.0/16", s), NextHop: fmt.Sprintf("172.%d.%d.2", 16+ci, s), Protocol: "ospf"})
		}
		zones := []demo.FirewallZone{
			{Name: "inside", Interfaces: []string{"in1", "in2"}, Subnets: []netip.Prefix{
				netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/17", s)), netip.MustParsePrefix(fmt.Sprintf("10.%d.128.0/17", s))}},
			{Name: "outside", Interfaces: []string{"out1", "out2"}, Subnets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
			{Name: "dmz", Interfaces: []string{"dmz"}, Subnets: []netip.Prefix{netip.MustParsePrefix(fmt.Sprintf("10.%d.200.0/24", s))}},
		}
		add(facts.Device{
			Hostname: fwName, Role: "firewall", Site: site, Vendor: "paloalto",
			Interfaces: []facts.Interface{
				routed("out1", fmt.Sprintf("172.16.%d.2/30", s)), routed("out2", fmt.Sprintf("172.17.%d.2/30", s)),
				routed("in1", fmt.Sprintf("172.18.%d.1/30", s)), routed("in2", fmt.Sprintf("172.19.%d.1/30", s)),
				routed("dmz", fmt.Sprintf("10.%d.200.1/24", s)),
			},
			Neighbors: []facts.Neighbor{
				{LocalInterface: "in1", RemoteHostname: d1, RemoteInterface: "up", Protocol: "lldp"},
				{LocalInterface: "in2", RemoteHostname: d2, RemoteInterface: "up", Protocol: "lldp"},
			},
			Routes: []facts.Route{
				{Prefix: fmt.Sprintf("10.%d.0.0/17", s), NextHop: fmt.Sprintf("172.18.%d.2", s), Protocol: "static"},
				{Prefix: fmt.Sprintf("10.%d.250.0/24", s), NextHop: fmt.Sprintf("172.18.%d.2", s), Protocol: "static"},
				{Prefix: fmt.Sprintf("10.%d.128.0/17", s), NextHop: fmt.Sprintf("172.19.%d.2", s), Protocol: "static"},
				{Prefix: "0.0.0.0/0", NextHop: fmt.Sprintf("172.16.%d.1", s), Protocol: "static"},
				{Prefix: "0.0.0.0/0", NextHop: fmt.Sprintf("172.17.%d.1", s), Protocol: "static"},
			},
			Firewall: demo.FirewallPolicy(rng, fwName, zones, spec.RulesPerFW),
		})
		for di, name := range []string{d1, d2} {
			d := facts.Device{Hostname: name, Role: "distribution", Site: site,
				Interfaces: []facts.Interface{routed("up", fmt.Sprintf("172.%d.%d.2/30", 18+di, s))}}
			if di == 0 {
				d.Interfaces = append(d.Interfaces, routed("mgmt", fmt.Sprintf("10.%d.250.1/24", s)))
			}
			for v := range 20 {
				d.Interfaces = append(d.Interfaces, routed(fmt.Sprintf("vlan%d", 100+v), fmt.Sprintf("10.%d.%d.1/24", s, di*128+v)))
			}
			if !(di == 1 && s > spec.Sites-spec.RouteLessSites) {
				d.Routes = []facts.Route{{Prefix: "0.0.0.0/0", NextHop: fmt.Sprintf("172.%d.%d.1", 18+di, s), Protocol: "static"}}
			}
			add(d)
		}
		for k := range spec.AccessPerSite {
			name := fmt.Sprintf("acc-%s-%03d", site, k)
			up := d1
			if k%2 == 1 {
				up = d2
			}
			port := fmt.Sprintf("down%d", k)
			add(facts.Device{
				Hostname: name, Role: "access", Site: site,
				Interfaces: []facts.Interface{{Name: "up", Mode: facts.ModeTrunk}, routed("mgmt", fmt.Sprintf("10.%d.250.%d/24", s, 2+k))},
				Neighbors:  []facts.Neighbor{{LocalInterface: "up", RemoteHostname: up, RemoteInterface: port, Protocol: "lldp"}},
			})
		}
	}
	doc.Devices = append(doc.Devices, cores...)
	return doc
}

func routed(name, ip string) facts.Interface {
	return facts.Interface{Name: name, Mode: facts.ModeRouted, IPs: []string{ip}}
}

// RandomFlow picks a flow between two user hosts of different sites.
func RandomFlow(rng *rand.Rand, sites int) (src, dst netip.Addr, port uint32) {
	host := func() netip.Addr {
		s := 1 + rng.IntN(sites)
		third := rng.IntN(20) + 128*rng.IntN(2)
		return netip.AddrFrom4([4]byte{10, byte(s), byte(third), byte(10 + rng.IntN(200))})
	}
	ports := []uint32{22, 53, 80, 443, 3389, 8080, uint32(1 + rng.IntN(20000))}
	return host(), host(), ports[rng.IntN(len(ports))]
}
