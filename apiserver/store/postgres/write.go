package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/tracing"
)

// childTables are the tables holding what devices reported; a device is
// deleted from each of them and from meshq.devices.
var childTables = []string{
	"ip_addresses", "address_roles", "interfaces", "vlans", "links", "arp_entries", "mac_entries",
	"routes", "bgp_peers", "firewall_rules", "firewall_service_objects", "firewall_address_objects",
	"firewall_zones", "firewalls",
}

// lockVersion takes the store's write lock for the transaction and returns
// the current graph version. EXCLUSIVE conflicts with itself (and with
// every write to the table) but not with readers, so replicas loading the
// graph never wait for a writer.
func lockVersion(ctx context.Context, tx pgx.Tx) (uint64, error) {
	if _, err := tx.Exec(ctx, "LOCK TABLE meshq.graph_versions IN EXCLUSIVE MODE"); err != nil {
		return 0, err
	}
	var v int64
	err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM meshq.graph_versions").Scan(&v)
	return uint64(v), err
}

// commitVersion records version v and announces it on commit.
func commitVersion(ctx context.Context, tx pgx.Tx, v uint64, operation string, devices int) error {
	if _, err := tx.Exec(ctx, "INSERT INTO meshq.graph_versions (version, operation, devices) VALUES ($1, $2, $3)", int64(v), operation, devices); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, strconv.FormatUint(v, 10))
	return err
}

// Ingest writes devices in mode (store.ModeMerge or store.ModeReplace) in
// one transaction and returns the new version: on any error nothing
// changed. A device given with metadata replaces the stored metadata; a
// device given without keeps it.
func (s *Store) Ingest(ctx context.Context, mode string, devices []facts.Device) (_ uint64, err error) {
	ctx, span := s.span(ctx, "Ingest", len(devices))
	defer func() { tracing.End(span, err) }()
	if mode != store.ModeMerge && mode != store.ModeReplace {
		return 0, fmt.Errorf("ingest: mode %q is not %s or %s", mode, store.ModeMerge, store.ModeReplace)
	}
	names := make([]string, len(devices))
	for i, d := range devices {
		if d.Hostname == "" {
			return 0, fmt.Errorf("ingest: devices[%d] has no hostname", i)
		}
		names[i] = d.Hostname
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return 0, fmt.Errorf("ingest: hostname %q given twice", sorted[i])
		}
	}
	var ver uint64
	err = s.withTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		cur, err := lockVersion(ctx, tx)
		if err != nil {
			return err
		}
		ver = cur + 1
		kept, err := keptMetadata(ctx, tx, names)
		if err != nil {
			return err
		}
		for _, t := range append(slices.Clone(childTables), "devices") {
			if mode == store.ModeReplace {
				_, err = tx.Exec(ctx, "DELETE FROM meshq."+t)
			} else {
				_, err = tx.Exec(ctx, "DELETE FROM meshq."+t+" WHERE hostname = ANY($1)", names)
			}
			if err != nil {
				return fmt.Errorf("clearing meshq.%s: %w", t, err)
			}
		}
		if err := copyDevices(ctx, tx, devices, kept, ver); err != nil {
			return err
		}
		return commitVersion(ctx, tx, ver, mode, len(devices))
	})
	if err != nil {
		return 0, fmt.Errorf("ingest into PostgreSQL: %w", err)
	}
	return ver, nil
}

// keptMetadata is the stored metadata (raw JSON) of the devices named.
func keptMetadata(ctx context.Context, tx pgx.Tx, names []string) (map[string][]byte, error) {
	rows, err := tx.Query(ctx, "SELECT hostname, metadata FROM meshq.devices WHERE metadata IS NOT NULL AND hostname = ANY($1)", names)
	if err != nil {
		return nil, err
	}
	kept := map[string][]byte{}
	var h string
	var m []byte
	_, err = pgx.ForEachRow(rows, []any{&h, &m}, func() error {
		kept[h] = slices.Clone(m)
		return nil
	})
	return kept, err
}

// UpdateMetadata merges patch into the device's metadata (a nil value
// removes the key) in one transaction, and returns the new version and the
// device as stored. It returns an error wrapping store.ErrNotFound when the
// store has no such device.
func (s *Store) UpdateMetadata(ctx context.Context, hostname string, patch map[string]any) (_ uint64, _ facts.Device, err error) {
	ctx, span := s.span(ctx, "UpdateMetadata", 1)
	defer func() { tracing.End(span, err) }()
	var ver uint64
	var dev facts.Device
	err = s.withTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		cur, err := lockVersion(ctx, tx)
		if err != nil {
			return err
		}
		ver = cur + 1
		var old map[string]any
		err = tx.QueryRow(ctx, "SELECT metadata FROM meshq.devices WHERE hostname = $1", hostname).Scan(&old)
		if err == pgx.ErrNoRows {
			return fmt.Errorf("%w: %q", store.ErrNotFound, hostname)
		}
		if err != nil {
			return err
		}
		var raw []byte
		if m := store.MergeMetadata(old, patch); m != nil {
			if raw, err = json.Marshal(m); err != nil {
				return fmt.Errorf("encoding metadata: %w", err)
			}
		}
		if _, err := tx.Exec(ctx, "UPDATE meshq.devices SET metadata = $2, graph_version = $3 WHERE hostname = $1", hostname, raw, int64(ver)); err != nil {
			return err
		}
		// The device as it will load after a restart.
		devs, err := load(ctx, tx, hostname)
		if err != nil {
			return err
		}
		dev = devs[0]
		return commitVersion(ctx, tx, ver, "metadata", 1)
	})
	if err != nil {
		return 0, facts.Device{}, fmt.Errorf("updating metadata in PostgreSQL: %w", err)
	}
	return ver, dev, nil
}

// Absent values (empty strings, zero numbers, empty lists) are NULL.
func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func num[T int | int64](v T) any {
	if v == 0 {
		return nil
	}
	return v
}

func list[T any](v []T) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

// jsonList is a nested list as a jsonb value, NULL when it is empty.
func jsonList[T any](v []T) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	return json.Marshal(v)
}

// inet is an interface address as the inet column takes it, NULL when it
// is not addr/len.
func inet(s string) any {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil
	}
	return p
}

// table is one COPY: its columns and rows.
type table struct {
	name string
	cols []string
	rows [][]any
}

func (t *table) add(row ...any) { t.rows = append(t.rows, row) }

// copyDevices writes the devices and everything they hold with one COPY
// per table.
func copyDevices(ctx context.Context, tx pgx.Tx, devices []facts.Device, kept map[string][]byte, ver uint64) error {
	tDev := &table{name: "devices", cols: []string{"hostname", "mgmt_ip", "vendor", "os", "model", "serial", "version", "role", "site", "metadata", "graph_version", "vxlan"}}
	tIf := &table{name: "interfaces", cols: []string{"hostname", "name", "position", "description", "type", "lag", "mlag_peer_link", "mac", "ifindex", "admin_up", "oper_up", "speed_mbps", "mtu", "mode", "access_vlan", "trunk_vlans", "vrf", "zone"}}
	tIP := &table{name: "ip_addresses", cols: []string{"hostname", "interface", "position", "address", "ip"}}
	tRole := &table{name: "address_roles", cols: []string{"hostname", "interface", "position", "ip", "role"}}
	tVLAN := &table{name: "vlans", cols: []string{"hostname", "vlan_id", "position", "name"}}
	tLink := &table{name: "links", cols: []string{"hostname", "position", "local_interface", "remote_hostname", "remote_interface", "protocol"}}
	tARP := &table{name: "arp_entries", cols: []string{"hostname", "position", "ip", "mac", "interface", "vrf", "state", "remote"}}
	tMAC := &table{name: "mac_entries", cols: []string{"hostname", "position", "mac", "vlan", "interface", "flags", "remote_vtep"}}
	tRoute := &table{name: "routes", cols: []string{"hostname", "position", "vrf", "prefix", "next_hop", "interface", "protocol", "metric",
		"next_hop_vrf", "next_hops", "admin_distance", "action"}}
	tBGP := &table{name: "bgp_peers", cols: []string{"hostname", "position", "peer_ip", "remote_as", "local_as", "state", "vrf", "peer_interface", "afi_safi"}}
	tFW := &table{name: "firewalls", cols: []string{"hostname", "default_action"}}
	tZone := &table{name: "firewall_zones", cols: []string{"hostname", "position", "name", "interfaces"}}
	tAddr := &table{name: "firewall_address_objects", cols: []string{"hostname", "position", "name", "type", "value", "members"}}
	tSvc := &table{name: "firewall_service_objects", cols: []string{"hostname", "position", "name", "protocol", "dest_ports", "members"}}
	tRule := &table{name: "firewall_rules", cols: []string{"hostname", "position", "rule_id", "rule_name", "rule_order", "action", "src_zones", "dst_zones", "src_addresses", "dst_addresses", "services", "enabled", "hit_count"}}

	for i := range devices {
		d := &devices[i]
		h := d.Hostname
		var meta any
		if len(d.Metadata) > 0 {
			b, err := json.Marshal(d.Metadata)
			if err != nil {
				return fmt.Errorf("encoding metadata of %q: %w", h, err)
			}
			meta = b
		} else if b, ok := kept[h]; ok {
			meta = b
		}
		var vxlan any
		if d.VXLAN != nil {
			b, err := json.Marshal(d.VXLAN)
			if err != nil {
				return fmt.Errorf("encoding vxlan of %q: %w", h, err)
			}
			vxlan = b
		}
		tDev.add(h, str(d.MgmtIP), str(d.Vendor), str(d.OS), str(d.Model), str(d.Serial), str(d.Version), str(d.Role), str(d.Site), meta, int64(ver), vxlan)
		for p, f := range d.Interfaces {
			tIf.add(h, f.Name, p, str(f.Description), str(f.Type), str(f.LAG), f.MLAGPeerLink, str(f.MAC), num(f.IfIndex),
				f.AdminUp, f.OperUp, num(f.SpeedMbps), num(f.MTU), str(f.Mode), num(f.AccessVLAN), list(f.TrunkVLANs), str(f.VRF), str(f.Zone))
			for q, ip := range f.IPs {
				tIP.add(h, f.Name, q, ip, inet(ip))
			}
			for q, a := range f.Addresses {
				tRole.add(h, f.Name, q, a.IP, str(a.Role))
			}
		}
		for p, v := range d.VLANs {
			tVLAN.add(h, v.ID, p, str(v.Name))
		}
		for p, n := range d.Neighbors {
			tLink.add(h, p, n.LocalInterface, n.RemoteHostname, str(n.RemoteInterface), str(n.Protocol))
		}
		for p, a := range d.ARP {
			tARP.add(h, p, a.IP, str(a.MAC), str(a.Interface), str(a.VRF), str(a.State), a.Remote)
		}
		for p, m := range d.MACTable {
			tMAC.add(h, p, m.MAC, num(m.VLAN), m.Interface, list(m.Flags), str(m.RemoteVTEP))
		}
		for p, r := range d.Routes {
			hops, err := jsonList(r.NextHops)
			if err != nil {
				return fmt.Errorf("encoding next_hops of %q routes[%d]: %w", h, p, err)
			}
			// admin_distance 0 (connected) is a value; only nil is NULL.
			tRoute.add(h, p, str(r.VRF), r.Prefix, str(r.NextHop), str(r.Interface), str(r.Protocol), num(r.Metric),
				str(r.NextHopVRF), hops, r.AdminDistance, str(r.Action))
		}
		for p, b := range d.BGPPeers {
			families, err := jsonList(b.AFISafi)
			if err != nil {
				return fmt.Errorf("encoding afi_safi of %q bgp_peers[%d]: %w", h, p, err)
			}
			tBGP.add(h, p, str(b.PeerIP), num(b.RemoteAS), num(b.LocalAS), str(b.State), str(b.VRF), str(b.PeerInterface), families)
		}
		if fw := d.Firewall; fw != nil {
			tFW.add(h, str(fw.DefaultAction))
			for p, z := range fw.Zones {
				tZone.add(h, p, z.Name, list(z.Interfaces))
			}
			for p, o := range fw.AddressObjects {
				tAddr.add(h, p, o.Name, o.Type, str(o.Value), list(o.Members))
			}
			for p, o := range fw.ServiceObjects {
				tSvc.add(h, p, o.Name, str(o.Protocol), str(o.DestPorts), list(o.Members))
			}
			for p, r := range fw.Rules {
				tRule.add(h, p, r.RuleID, str(r.RuleName), r.RuleOrder, r.Action, list(r.SrcZones), list(r.DstZones),
					list(r.SrcAddresses), list(r.DstAddresses), list(r.Services), r.Enabled, r.HitCount)
			}
		}
	}
	for _, t := range []*table{tDev, tIf, tIP, tRole, tVLAN, tLink, tARP, tMAC, tRoute, tBGP, tFW, tZone, tAddr, tSvc, tRule} {
		if len(t.rows) == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"meshq", t.name}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			return fmt.Errorf("writing meshq.%s: %w", t.name, err)
		}
	}
	return nil
}
