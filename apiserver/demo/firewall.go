package demo

import (
	"math/rand/v2"
	"net/netip"
	"strconv"

	"github.com/meshoptixiq/mesh/common/facts"
)

// firewallZone is one zone of a generated firewall: the interfaces bound to
// it and the subnets that sit behind it (so that rules can name real
// addresses and path analysis has something to find).
type firewallZone struct {
	Name       string
	Interfaces []string
	Subnets    []netip.Prefix
}

// firewallPolicy builds the security policy of the firewall called hostname
// whose zones are given. The generator calls it once per firewall with its
// own rng, so the policy is as deterministic as the rest of the network.
func firewallPolicy(rng *rand.Rand, hostname string, zones []firewallZone) *facts.Firewall {
	_ = hostname
	fw := &facts.Firewall{DefaultAction: facts.ActionDeny}
	for _, z := range zones {
		fw.Zones = append(fw.Zones, facts.Zone{Name: z.Name, Interfaces: z.Interfaces})
		for i, p := range z.Subnets {
			fw.AddressObjects = append(fw.AddressObjects, facts.AddressObject{
				Name: z.Name + "-net-" + strconv.Itoa(i), Type: facts.AddrNetwork, Value: p.String(),
			})
		}
	}
	fw.ServiceObjects = []facts.ServiceObject{
		{Name: "https", Protocol: "tcp", DestPorts: "443"},
		{Name: "ssh", Protocol: "tcp", DestPorts: "22"},
	}
	order := 10
	for _, src := range zones {
		for _, dst := range zones {
			if src.Name == dst.Name {
				continue
			}
			hits := rng.Int64N(10000)
			fw.Rules = append(fw.Rules, facts.Rule{
				RuleID: strconv.Itoa(order), RuleName: src.Name + "-to-" + dst.Name + "-https",
				RuleOrder: order, Action: facts.ActionPermit,
				SrcZones: []string{src.Name}, DstZones: []string{dst.Name},
				SrcAddresses: []string{"any"}, DstAddresses: []string{"any"},
				Services: []string{"https"}, HitCount: &hits,
			})
			order += 10
		}
	}
	return fw
}
