package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/common/facts"
)

func TestCompactDropsSlack(t *testing.T) {
	ips := make([]string, 1, 8)
	ips[0] = "10.0.0.1/24"
	ifs := make([]facts.Interface, 2, 16)
	ifs[0] = facts.Interface{Name: "Gi0/1", IPs: ips, TrunkVLANs: append(make([]int, 0, 4), 10, 20)}
	ifs[1] = facts.Interface{Name: "Gi0/2"}
	devs := []facts.Device{{Hostname: "a", Interfaces: ifs, Routes: make([]facts.Route, 0, 4)}}
	want := []facts.Device{{Hostname: "a", Interfaces: []facts.Interface{
		{Name: "Gi0/1", IPs: []string{"10.0.0.1/24"}, TrunkVLANs: []int{10, 20}}, {Name: "Gi0/2"},
	}, Routes: []facts.Route{}}}
	compact(devs)
	if diff := cmp.Diff(want, devs); diff != "" {
		t.Errorf("compact changed the devices (-want +got):\n%s", diff)
	}
	d := devs[0]
	for name, c := range map[string][2]int{
		"Interfaces":               {len(d.Interfaces), cap(d.Interfaces)},
		"Interfaces[0].IPs":        {len(d.Interfaces[0].IPs), cap(d.Interfaces[0].IPs)},
		"Interfaces[0].TrunkVLANs": {len(d.Interfaces[0].TrunkVLANs), cap(d.Interfaces[0].TrunkVLANs)},
		"Routes":                   {len(d.Routes), cap(d.Routes)},
	} {
		if c[0] != c[1] {
			t.Errorf("after compact %s has len %d cap %d, want cap = len", name, c[0], c[1])
		}
	}
	if d.Routes == nil {
		t.Errorf("compact made an empty Routes nil, want it empty")
	}
}
