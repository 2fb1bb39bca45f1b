package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/tracing"
)

// Load returns the version and every device, sorted by hostname (byte
// order, as the embedded store), with its metadata, from one snapshot.
func (s *Store) Load(ctx context.Context) (_ uint64, _ []facts.Device, err error) {
	ctx, span := s.span(ctx, "Load", -1)
	defer func() { tracing.End(span, err) }()
	var ver uint64
	var devices []facts.Device
	err = s.withTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var v int64
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM meshq.graph_versions").Scan(&v); err != nil {
			return err
		}
		ver = uint64(v)
		var err error
		devices, err = load(ctx, tx, "")
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("loading from PostgreSQL: %w", err)
	}
	span.SetAttributes(tracing.DeviceCount.Int(len(devices)))
	return ver, devices, nil
}

// Version returns the graph version without loading devices.
func (s *Store) Version(ctx context.Context) (_ uint64, err error) {
	ctx, span := s.span(ctx, "Version", -1)
	defer func() { tracing.End(span, err) }()
	if err := s.ensureMigrated(ctx); err != nil {
		return 0, err
	}
	var v int64
	if err := s.pool.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM meshq.graph_versions").Scan(&v); err != nil {
		return 0, classify(err)
	}
	return uint64(v), nil
}

// loader assembles devices from the tables.
type loader struct {
	tx      pgx.Tx
	where   string // "" or a filter on hostname ($1)
	args    []any
	devices []facts.Device
	index   map[string]int
}

// load reads every device, or the one named by hostname when it is not
// empty.
func load(ctx context.Context, tx pgx.Tx, hostname string) ([]facts.Device, error) {
	l := &loader{tx: tx, index: map[string]int{}}
	if hostname != "" {
		l.where, l.args = " WHERE hostname = $1", []any{hostname}
	}
	if err := l.run(ctx); err != nil {
		return nil, err
	}
	return l.devices, nil
}

// each runs the query (its FROM clause gets the hostname filter) and calls
// f for each row with the row's device. Rows come in no order: f puts each
// entry at its position (put), which spares the server a sort of every
// table.
func (l *loader) each(ctx context.Context, table, cols string, dest []any, f func(d *facts.Device)) error {
	var h string
	rows, err := l.tx.Query(ctx, "SELECT hostname, "+cols+" FROM meshq."+table+l.where, l.args...)
	if err != nil {
		return fmt.Errorf("reading meshq.%s: %w", table, err)
	}
	_, err = pgx.ForEachRow(rows, append([]any{&h}, dest...), func() error {
		i, ok := l.index[h]
		if !ok {
			return fmt.Errorf("meshq.%s has a row for unknown device %q", table, h)
		}
		f(&l.devices[i])
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading meshq.%s: %w", table, err)
	}
	return nil
}

// put sets s[p] = x, growing s as needed: positions are 0..n-1 per list.
func put[T any](s []T, p int, x T) []T {
	if p < len(s) {
		s[p] = x
		return s
	}
	if p < cap(s) {
		s = s[:p+1]
	} else {
		s = append(s, make([]T, p+1-len(s))...)
	}
	s[p] = x
	return s
}

func (l *loader) run(ctx context.Context) error {
	var d facts.Device
	rows, err := l.tx.Query(ctx, `SELECT hostname, coalesce(mgmt_ip, ''), coalesce(vendor, ''), coalesce(os, ''), coalesce(model, ''),
  coalesce(serial, ''), coalesce(version, ''), coalesce(role, ''), coalesce(site, ''), metadata, vxlan
FROM meshq.devices`+l.where+` ORDER BY hostname COLLATE "C"`, l.args...)
	if err != nil {
		return fmt.Errorf("reading meshq.devices: %w", err)
	}
	_, err = pgx.ForEachRow(rows, []any{&d.Hostname, &d.MgmtIP, &d.Vendor, &d.OS, &d.Model, &d.Serial, &d.Version, &d.Role, &d.Site, &d.Metadata, &d.VXLAN}, func() error {
		l.index[d.Hostname] = len(l.devices)
		l.devices = append(l.devices, d)
		d.Metadata, d.VXLAN = nil, nil
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading meshq.devices: %w", err)
	}
	if len(l.devices) == 0 {
		return nil
	}

	type ifKey struct {
		dev  *facts.Device
		name string
	}
	ifIndex := map[ifKey]int{}
	var p int
	var f facts.Interface
	err = l.each(ctx, "interfaces", `position, name, coalesce(description, ''), coalesce(type, ''), coalesce(lag, ''), mlag_peer_link,
  coalesce(mac, ''), coalesce(ifindex, 0), admin_up, oper_up, coalesce(speed_mbps, 0), coalesce(mtu, 0), coalesce(mode, ''),
  coalesce(access_vlan, 0), trunk_vlans, coalesce(vrf, ''), coalesce(zone, '')`,
		[]any{&p, &f.Name, &f.Description, &f.Type, &f.LAG, &f.MLAGPeerLink, &f.MAC, &f.IfIndex, &f.AdminUp, &f.OperUp,
			&f.SpeedMbps, &f.MTU, &f.Mode, &f.AccessVLAN, &f.TrunkVLANs, &f.VRF, &f.Zone},
		func(d *facts.Device) {
			ifIndex[ifKey{d, f.Name}] = p
			d.Interfaces = put(d.Interfaces, p, f)
			f = facts.Interface{}
		})
	if err != nil {
		return err
	}
	var ifName, addr, role string
	var missing error
	onInterface := func(d *facts.Device, g func(*facts.Interface)) {
		i, ok := ifIndex[ifKey{d, ifName}]
		if !ok {
			missing = fmt.Errorf("an address of %q names interface %q it does not have", d.Hostname, ifName)
			return
		}
		g(&d.Interfaces[i])
	}
	err = l.each(ctx, "ip_addresses", "position, interface, address", []any{&p, &ifName, &addr}, func(d *facts.Device) {
		onInterface(d, func(f *facts.Interface) { f.IPs = put(f.IPs, p, addr) })
	})
	if err != nil {
		return err
	}
	err = l.each(ctx, "address_roles", "position, interface, ip, coalesce(role, '')", []any{&p, &ifName, &addr, &role}, func(d *facts.Device) {
		onInterface(d, func(f *facts.Interface) { f.Addresses = put(f.Addresses, p, facts.Address{IP: addr, Role: role}) })
	})
	if err != nil {
		return err
	}
	if missing != nil {
		return missing
	}

	var v facts.VLAN
	if err := l.each(ctx, "vlans", "position, vlan_id, coalesce(name, '')", []any{&p, &v.ID, &v.Name},
		func(d *facts.Device) { d.VLANs = put(d.VLANs, p, v) }); err != nil {
		return err
	}
	var n facts.Neighbor
	if err := l.each(ctx, "links", "position, local_interface, remote_hostname, coalesce(remote_interface, ''), coalesce(protocol, '')",
		[]any{&p, &n.LocalInterface, &n.RemoteHostname, &n.RemoteInterface, &n.Protocol},
		func(d *facts.Device) { d.Neighbors = put(d.Neighbors, p, n) }); err != nil {
		return err
	}
	var a facts.ARPEntry
	if err := l.each(ctx, "arp_entries", "position, ip, coalesce(mac, ''), coalesce(interface, ''), coalesce(vrf, ''), coalesce(state, ''), remote",
		[]any{&p, &a.IP, &a.MAC, &a.Interface, &a.VRF, &a.State, &a.Remote},
		func(d *facts.Device) { d.ARP = put(d.ARP, p, a) }); err != nil {
		return err
	}
	var m facts.MACEntry
	if err := l.each(ctx, "mac_entries", "position, mac, coalesce(vlan, 0), interface, flags, coalesce(remote_vtep, '')",
		[]any{&p, &m.MAC, &m.VLAN, &m.Interface, &m.Flags, &m.RemoteVTEP},
		func(d *facts.Device) { d.MACTable = put(d.MACTable, p, m); m = facts.MACEntry{} }); err != nil {
		return err
	}
	var r facts.Route
	// Each row scans into a fresh entry: jsonb unmarshals into the slice it
	// is given, which would otherwise be the previous row's.
	if err := l.each(ctx, "routes", `position, coalesce(vrf, ''), prefix, coalesce(next_hop, ''), coalesce(interface, ''), coalesce(protocol, ''),
  coalesce(metric, 0), coalesce(next_hop_vrf, ''), next_hops, admin_distance, coalesce(action, '')`,
		[]any{&p, &r.VRF, &r.Prefix, &r.NextHop, &r.Interface, &r.Protocol, &r.Metric, &r.NextHopVRF, &r.NextHops, &r.AdminDistance, &r.Action},
		func(d *facts.Device) { d.Routes = put(d.Routes, p, r); r = facts.Route{} }); err != nil {
		return err
	}
	var b facts.BGPPeer
	if err := l.each(ctx, "bgp_peers", `position, coalesce(peer_ip, ''), coalesce(remote_as, 0), coalesce(local_as, 0), coalesce(state, ''),
  coalesce(vrf, ''), coalesce(peer_interface, ''), afi_safi`,
		[]any{&p, &b.PeerIP, &b.RemoteAS, &b.LocalAS, &b.State, &b.VRF, &b.PeerInterface, &b.AFISafi},
		func(d *facts.Device) { d.BGPPeers = put(d.BGPPeers, p, b); b = facts.BGPPeer{} }); err != nil {
		return err
	}
	return l.firewalls(ctx)
}

func (l *loader) firewalls(ctx context.Context) error {
	var action string
	if err := l.each(ctx, "firewalls", "coalesce(default_action, '')", []any{&action},
		func(d *facts.Device) { d.Firewall = &facts.Firewall{DefaultAction: action} }); err != nil {
		return err
	}
	var orphan error
	fw := func(d *facts.Device) *facts.Firewall {
		if d.Firewall == nil {
			// Only a row written outside the store gets here; it is an
			// error, not a panic.
			orphan = fmt.Errorf("device %q has firewall rows but no meshq.firewalls row", d.Hostname)
			d.Firewall = &facts.Firewall{}
		}
		return d.Firewall
	}
	var p int
	var z facts.Zone
	if err := l.each(ctx, "firewall_zones", "position, name, interfaces", []any{&p, &z.Name, &z.Interfaces},
		func(d *facts.Device) { f := fw(d); f.Zones = put(f.Zones, p, z); z = facts.Zone{} }); err != nil {
		return err
	}
	var o facts.AddressObject
	if err := l.each(ctx, "firewall_address_objects", "position, name, type, coalesce(value, ''), members",
		[]any{&p, &o.Name, &o.Type, &o.Value, &o.Members},
		func(d *facts.Device) {
			f := fw(d)
			f.AddressObjects = put(f.AddressObjects, p, o)
			o = facts.AddressObject{}
		}); err != nil {
		return err
	}
	var so facts.ServiceObject
	if err := l.each(ctx, "firewall_service_objects", "position, name, coalesce(protocol, ''), coalesce(dest_ports, ''), members",
		[]any{&p, &so.Name, &so.Protocol, &so.DestPorts, &so.Members},
		func(d *facts.Device) {
			f := fw(d)
			f.ServiceObjects = put(f.ServiceObjects, p, so)
			so = facts.ServiceObject{}
		}); err != nil {
		return err
	}
	var r facts.Rule
	if err := l.each(ctx, "firewall_rules", `position, rule_id, coalesce(rule_name, ''), rule_order, action, src_zones, dst_zones,
  src_addresses, dst_addresses, services, enabled, hit_count`,
		[]any{&p, &r.RuleID, &r.RuleName, &r.RuleOrder, &r.Action, &r.SrcZones, &r.DstZones, &r.SrcAddresses, &r.DstAddresses, &r.Services, &r.Enabled, &r.HitCount},
		func(d *facts.Device) { f := fw(d); f.Rules = put(f.Rules, p, r); r = facts.Rule{} }); err != nil {
		return err
	}
	return orphan
}
