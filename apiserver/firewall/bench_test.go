package firewall_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/firewall"
	"github.com/meshoptixiq/mesh/common/facts"
)

// benchPolicy is a generated firewall with six zones, each with a few
// subnets, and n rules.
func benchPolicy(b *testing.B, seed uint64, n int) *firewall.Policy {
	b.Helper()
	var zones []demo.FirewallZone
	var ifaces []facts.Interface
	for z := range 6 {
		name := fmt.Sprintf("zone%d", z)
		zone := demo.FirewallZone{Name: name, Interfaces: []string{"eth" + fmt.Sprint(z)}}
		for s := range 4 {
			zone.Subnets = append(zone.Subnets, netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/22", 10+z, s*4)))
		}
		zones = append(zones, zone)
		ifaces = append(ifaces, facts.Interface{Name: "eth" + fmt.Sprint(z)})
	}
	fw := demo.FirewallPolicy(rand.New(rand.NewPCG(seed, 7)), "fw-bench", zones, n)
	return firewall.Compile("fw-bench", fw, ifaces)
}

func BenchmarkShadowed5000(b *testing.B) {
	p := benchPolicy(b, 1, 5000)
	b.ResetTimer()
	var st firewall.ShadowStats
	for b.Loop() {
		_, st = p.Shadowed()
	}
	b.ReportMetric(float64(st.Shadowed), "shadowed")
	b.ReportMetric(float64(st.Undecided), "undecided")
}

func BenchmarkShadowed2000(b *testing.B) {
	p := benchPolicy(b, 1, 2000)
	b.ResetTimer()
	var st firewall.ShadowStats
	for b.Loop() {
		_, st = p.Shadowed()
	}
	b.ReportMetric(float64(st.Shadowed), "shadowed")
	b.ReportMetric(float64(st.Undecided), "undecided")
}
