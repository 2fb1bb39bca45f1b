// Package graphtest holds test fixtures for the apiserver: a small
// hand-built campus network whose query answers are worked out by hand in
// the tests, and an in-memory store fake.
package graphtest

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
)

func b(v bool) *bool { return &v }

// Campus is the hand-built network (already in normalized form):
//
//	core1 ══ core2          (core1 Te1/1/1 — core2 Te1/1/1)
//	  │        │
//	 Gi0/1   Gi0/1          routed /30s: 10.0.0.0/30 and 10.0.0.4/30
//	  │        │
//	  └─ dist1 ┘            dual-homed (Gi0/1 to core1, Gi0/2 to core2)
//	   Gi0/3   Gi0/4
//	     │       │          Gi0/3 trunk 10,20 — acc1 Gi1/0/48 trunk 10,20,30
//	   acc1    acc2         Gi0/4 access 10   — acc2 Gi1/0/48 access 10
//
//	orphan1: no neighbors; its mgmt0 10.1.10.11/24 (MAC 2c:6b:f5:00:0f:01)
//	duplicates endpoint A: the MACs differ, so A is another machine.
//
// Endpoints (MAC learned on a port without a link, IP from core1's ARP):
// A aa:bb:cc:00:00:01 10.1.10.11 acc1 Gi1/0/1 vlan 10;
// B aa:bb:cc:00:00:02 10.1.20.12 acc1 Gi1/0/2 vlan 20;
// C aa:bb:cc:00:00:03 10.1.10.13 acc2 Gi1/0/1 vlan 10.
// A is also learned on dist1 Gi0/3 (a linked port: not an endpoint there);
// ARP's 10.1.10.99 (aa:bb:cc:00:00:99) is in no MAC table: no endpoint.
// Hygiene: core1–dist1 speed 10000 vs 1000; core2–dist1 MTU 9000 vs 1500;
// dist1 Gi0/3 vs acc1 Gi1/0/48 trunk lists differ; acc1 Gi1/0/3 admin up,
// oper down; acc1 Gi1/0/1 up without description; dist1–core2 BGP idle.
func Campus() []facts.Device {
	return []facts.Device{
		{
			Hostname: "core1", MgmtIP: "192.168.0.1", Vendor: "cisco", OS: "ios-xe", Model: "C9500", Serial: "FXS001", Role: "core", Site: "hq",
			Interfaces: []facts.Interface{
				{Name: "Gi0/1", Description: "to dist1", AdminUp: b(true), OperUp: b(true), SpeedMbps: 10000, MTU: 9000, Mode: "routed", IPs: []string{"10.0.0.1/30"}},
				{Name: "Te1/1/1", Description: "to core2", AdminUp: b(true), OperUp: b(true), SpeedMbps: 10000, MTU: 9000, Mode: "routed", IPs: []string{"10.0.0.9/30"}},
				{Name: "Vlan10", Description: "users", AdminUp: b(true), OperUp: b(true), IPs: []string{"10.1.10.1/24"}},
				{Name: "Vlan20", Description: "voice", AdminUp: b(true), OperUp: b(true), IPs: []string{"10.1.20.1/24"}},
			},
			VLANs: []facts.VLAN{{ID: 10, Name: "users"}, {ID: 20, Name: "voice"}},
			Neighbors: []facts.Neighbor{
				{LocalInterface: "Gi0/1", RemoteHostname: "dist1", RemoteInterface: "Gi0/1", Protocol: "lldp"},
				{LocalInterface: "Te1/1/1", RemoteHostname: "core2", RemoteInterface: "Te1/1/1", Protocol: "lldp"},
			},
			ARP: []facts.ARPEntry{
				{IP: "10.1.10.11", MAC: "aa:bb:cc:00:00:01", Interface: "Vlan10"},
				{IP: "10.1.20.12", MAC: "aa:bb:cc:00:00:02", Interface: "Vlan20"},
				{IP: "10.1.10.13", MAC: "aa:bb:cc:00:00:03", Interface: "Vlan10"},
				{IP: "10.1.10.99", MAC: "aa:bb:cc:00:00:99", Interface: "Vlan10"},
			},
			Routes: []facts.Route{
				{VRF: "default", Prefix: "0.0.0.0/0", NextHop: "10.0.0.10", Interface: "Te1/1/1", Protocol: "static"},
				{Prefix: "10.1.10.0/24", Interface: "Vlan10", Protocol: "connected"},
			},
			BGPPeers: []facts.BGPPeer{{PeerIP: "10.0.0.10", RemoteAS: 65001, LocalAS: 65001, State: "established"}},
		},
		{
			Hostname: "core2", MgmtIP: "192.168.0.2", Vendor: "cisco", OS: "ios-xe", Model: "C9500", Serial: "FXS002", Role: "core", Site: "hq",
			Interfaces: []facts.Interface{
				{Name: "Gi0/1", Description: "to dist1", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 9000, Mode: "routed", IPs: []string{"10.0.0.5/30"}},
				{Name: "Te1/1/1", Description: "to core1", AdminUp: b(true), OperUp: b(true), SpeedMbps: 10000, MTU: 9000, Mode: "routed", IPs: []string{"10.0.0.10/30"}},
			},
			Neighbors: []facts.Neighbor{
				{LocalInterface: "Te1/1/1", RemoteHostname: "core1", RemoteInterface: "Te1/1/1", Protocol: "lldp"},
				{LocalInterface: "Gi0/1", RemoteHostname: "dist1", RemoteInterface: "Gi0/2", Protocol: "lldp"},
			},
			BGPPeers: []facts.BGPPeer{
				{PeerIP: "10.0.0.9", RemoteAS: 65001, LocalAS: 65001, State: "established"},
				{PeerIP: "10.0.0.6", RemoteAS: 65010, LocalAS: 65001, State: "idle"},
			},
		},
		{
			Hostname: "dist1", MgmtIP: "192.168.0.3", Vendor: "arista", OS: "eos", Model: "7050X", Serial: "JPE003", Role: "distribution", Site: "hq",
			Interfaces: []facts.Interface{
				{Name: "Gi0/1", Description: "to core1", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 9000, Mode: "routed", IPs: []string{"10.0.0.2/30"}},
				{Name: "Gi0/2", Description: "to core2", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 1500, Mode: "routed", IPs: []string{"10.0.0.6/30"}},
				{Name: "Gi0/3", Description: "to acc1", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 1500, Mode: "trunk", TrunkVLANs: []int{10, 20}},
				{Name: "Gi0/4", Description: "to acc2", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 1500, Mode: "access", AccessVLAN: 10},
			},
			VLANs: []facts.VLAN{{ID: 10}, {ID: 20}},
			Neighbors: []facts.Neighbor{
				{LocalInterface: "Gi0/1", RemoteHostname: "core1", RemoteInterface: "Gi0/1", Protocol: "lldp"},
				{LocalInterface: "Gi0/2", RemoteHostname: "core2", RemoteInterface: "Gi0/1", Protocol: "lldp"},
				{LocalInterface: "Gi0/4", RemoteHostname: "acc2", RemoteInterface: "Gi1/0/48", Protocol: "cdp"},
			},
			MACTable: []facts.MACEntry{{MAC: "aa:bb:cc:00:00:01", VLAN: 10, Interface: "Gi0/3"}},
			BGPPeers: []facts.BGPPeer{{PeerIP: "10.0.0.5", RemoteAS: 65001, LocalAS: 65010, State: "active"}},
		},
		{
			Hostname: "acc1", MgmtIP: "192.168.0.11", Vendor: "cisco", OS: "ios", Model: "C9300-48P", Serial: "FOC011", Role: "access", Site: "hq",
			Interfaces: []facts.Interface{
				{Name: "Gi1/0/1", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 1500, Mode: "access", AccessVLAN: 10},
				{Name: "Gi1/0/2", Description: "phone", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 1500, Mode: "access", AccessVLAN: 20},
				{Name: "Gi1/0/3", Description: "printer", AdminUp: b(true), OperUp: b(false), Mode: "access", AccessVLAN: 10},
				{Name: "Gi1/0/48", Description: "uplink", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 1500, Mode: "trunk", TrunkVLANs: []int{10, 20, 30}},
			},
			Neighbors: []facts.Neighbor{{LocalInterface: "Gi1/0/48", RemoteHostname: "dist1", RemoteInterface: "Gi0/3", Protocol: "lldp"}},
			MACTable: []facts.MACEntry{
				{MAC: "aa:bb:cc:00:00:01", VLAN: 10, Interface: "Gi1/0/1"},
				{MAC: "aa:bb:cc:00:00:02", VLAN: 20, Interface: "Gi1/0/2"},
			},
		},
		{
			Hostname: "acc2", MgmtIP: "192.168.0.12", Vendor: "cisco", OS: "ios", Model: "C9200", Serial: "FOC012", Role: "access", Site: "branch",
			Interfaces: []facts.Interface{
				{Name: "Gi1/0/1", Description: "desk", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, Mode: "access", AccessVLAN: 10},
				{Name: "Gi1/0/48", Description: "uplink", AdminUp: b(true), OperUp: b(true), SpeedMbps: 1000, MTU: 1500, Mode: "access", AccessVLAN: 10},
			},
			MACTable: []facts.MACEntry{{MAC: "aa:bb:cc:00:00:03", VLAN: 10, Interface: "Gi1/0/1"}},
		},
		{
			Hostname: "orphan1", MgmtIP: "192.168.0.99", Vendor: "juniper", Model: "EX2300", Serial: "JN099", Role: "access", Site: "lab",
			Interfaces: []facts.Interface{
				{Name: "mgmt0", Description: "oob", MAC: "2c:6b:f5:00:0f:01", AdminUp: b(true), OperUp: b(true), IPs: []string{"10.1.10.11/24"}},
			},
		},
	}
}

// MemStore is an in-memory stand-in for the store: versioned, atomic per
// call, with a switchable failure for error-path tests.
type MemStore struct {
	mu      sync.Mutex
	version uint64
	devices map[string]facts.Device
	// Fail, when set, is returned by every call.
	Fail error
	// FailLoad, when set, is returned by Load only (a write succeeds, the
	// reload after it fails).
	FailLoad error
}

// NewMemStore returns an empty store at version 0.
func NewMemStore() *MemStore { return &MemStore{devices: map[string]facts.Device{}} }

// Load returns every device.
func (s *MemStore) Load(context.Context) (uint64, []facts.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return 0, nil, s.Fail
	}
	if s.FailLoad != nil {
		return 0, nil, s.FailLoad
	}
	out := make([]facts.Device, 0, len(s.devices))
	for _, d := range s.devices {
		out = append(out, d)
	}
	return s.version, out, nil
}

// Ingest applies devices in mode; metadata of re-ingested devices is kept
// when the new facts carry none.
func (s *MemStore) Ingest(_ context.Context, mode string, devices []facts.Device) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return 0, s.Fail
	}
	next := map[string]facts.Device{}
	if mode == "merge" {
		next = maps.Clone(s.devices)
	}
	for _, d := range devices {
		if len(d.Metadata) == 0 {
			d.Metadata = s.devices[d.Hostname].Metadata
		}
		next[d.Hostname] = d
	}
	s.devices = next
	s.version++
	return s.version, nil
}

// UpdateMetadata merges patch (nil values delete keys).
func (s *MemStore) UpdateMetadata(_ context.Context, hostname string, patch map[string]any) (uint64, facts.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Fail != nil {
		return 0, facts.Device{}, s.Fail
	}
	d, ok := s.devices[hostname]
	if !ok {
		return 0, facts.Device{}, fmt.Errorf("updating metadata: %w", store.ErrNotFound)
	}
	meta := maps.Clone(d.Metadata)
	if meta == nil {
		meta = map[string]any{}
	}
	for k, v := range patch {
		if v == nil {
			delete(meta, k)
		} else {
			meta[k] = v
		}
	}
	d.Metadata = meta
	s.devices[hostname] = d
	s.version++
	return s.version, d, nil
}

// Ping reports Fail.
func (s *MemStore) Ping(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Fail
}
