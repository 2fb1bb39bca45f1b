package neo4jstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/neo4j/neo4j-go-driver/v5/neo4j"

	"github.com/meshoptixiq/mesh/common/facts"
)

// batch is up to batchSize devices as the parameter lists of the UNWIND
// statements that write them (README.md: the model).
type batch struct {
	hosts      []string
	devices    []any
	interfaces []any
	ips        []any
	vlans      []any
	routes     []any
	bgpPeers   []any
	rules      []any
	macs       []any
	arps       []any
}

// props builds a property map without the empty values: Neo4j has no
// null properties, and a property that was not collected is absent.
type props map[string]any

func (p props) str(k, v string) {
	if v != "" {
		p[k] = v
	}
}

func (p props) num(k string, v int64) {
	if v != 0 {
		p[k] = v
	}
}

func (p props) flag(k string, v *bool) {
	if v != nil {
		p[k] = *v
	}
}

// encoded is one device as the store keeps it: its facts without metadata
// as JSON, their digest, and its metadata as JSON (nil: none given, keep
// the stored metadata).
type encoded struct {
	facts    string
	digest   string
	metadata any
}

func encode(d *facts.Device) (encoded, error) {
	cp := *d
	cp.Metadata = nil
	raw, err := json.Marshal(&cp)
	if err != nil {
		return encoded{}, fmt.Errorf("encoding device %q: %w", d.Hostname, err)
	}
	e := encoded{facts: string(raw), digest: factsDigest(raw)}
	if len(d.Metadata) > 0 {
		m, err := json.Marshal(d.Metadata)
		if err != nil {
			return encoded{}, fmt.Errorf("encoding metadata of %q: %w", d.Hostname, err)
		}
		e.metadata = string(m)
	}
	return e, nil
}

// factsDigest identifies what a device's native nodes are written from:
// its facts and the model's format. Equal digests mean that rewriting the
// device would write exactly what is there.
func factsDigest(raw []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %d\n", formatVersion)
	h.Write(raw)
	return hex.EncodeToString(h.Sum(nil))
}

// newBatch builds the rows of devs, whose encodings are enc.
func newBatch(devs []*facts.Device, enc []encoded) batch {
	var b batch
	for i, d := range devs {
		e := enc[i]
		dp := props{"hostname": d.Hostname, "facts": e.facts, "facts_digest": e.digest}
		dp.str("mgmt_ip", d.MgmtIP)
		dp.str("vendor", d.Vendor)
		dp.str("os", d.OS)
		dp.str("model", d.Model)
		dp.str("serial", d.Serial)
		dp.str("version", d.Version)
		dp.str("role", d.Role)
		dp.str("site", d.Site)
		if d.Firewall != nil {
			dp.str("firewall_default_action", d.Firewall.DefaultAction)
		}
		b.hosts = append(b.hosts, d.Hostname)
		b.devices = append(b.devices, map[string]any{"hostname": d.Hostname, "props": map[string]any(dp), "metadata": e.metadata})
		b.addInterfaces(d)
		for _, m := range d.MACTable {
			b.macs = append(b.macs, map[string]any{"device": d.Hostname, "interface": m.Interface, "mac": m.MAC, "vlan": int64(m.VLAN)})
		}
		for _, v := range d.VLANs {
			b.vlans = append(b.vlans, map[string]any{"device": d.Hostname, "id": int64(v.ID), "name": v.Name})
		}
		for _, r := range d.Routes {
			p := props{"device": d.Hostname, "prefix": r.Prefix}
			p.str("vrf", r.VRF)
			p.str("next_hop", r.NextHop)
			p.str("interface", r.Interface)
			p.str("protocol", r.Protocol)
			p.num("metric", int64(r.Metric))
			b.routes = append(b.routes, map[string]any{"device": d.Hostname, "props": map[string]any(p)})
		}
		for _, peer := range d.BGPPeers {
			p := props{"device": d.Hostname, "peer_ip": peer.PeerIP}
			p.num("remote_as", peer.RemoteAS)
			p.num("local_as", peer.LocalAS)
			p.str("state", peer.State)
			p.str("vrf", peer.VRF)
			b.bgpPeers = append(b.bgpPeers, map[string]any{"device": d.Hostname, "props": map[string]any(p), "address": bareAddr(peer.PeerIP)})
		}
		if d.Firewall != nil {
			for _, r := range d.Firewall.Rules {
				p := props{"device": d.Hostname, "rule_id": r.RuleID, "rule_order": int64(r.RuleOrder), "action": r.Action,
					"enabled": r.IsEnabled()}
				p.str("rule_name", r.RuleName)
				if r.HitCount != nil {
					p["hit_count"] = *r.HitCount
				}
				for k, l := range map[string][]string{"src_zones": r.SrcZones, "dst_zones": r.DstZones,
					"src_addresses": r.SrcAddresses, "dst_addresses": r.DstAddresses, "services": r.Services} {
					if len(l) > 0 {
						p[k] = l
					}
				}
				b.rules = append(b.rules, map[string]any{"device": d.Hostname, "props": map[string]any(p)})
			}
		}
		for _, a := range d.ARP {
			addr := bareAddr(a.IP)
			if addr == "" || a.MAC == "" {
				continue
			}
			p := props{"device": d.Hostname}
			p.str("interface", a.Interface)
			p.str("vrf", a.VRF)
			b.arps = append(b.arps, map[string]any{"mac": a.MAC, "address": addr, "props": map[string]any(p)})
		}
	}
	return b
}

func (b *batch) addInterfaces(d *facts.Device) {
	neighbor := make(map[string]facts.Neighbor, len(d.Neighbors))
	for _, n := range d.Neighbors {
		if _, ok := neighbor[n.LocalInterface]; !ok {
			neighbor[n.LocalInterface] = n
		}
	}
	for _, ifc := range d.Interfaces {
		p := props{"device": d.Hostname, "name": ifc.Name}
		p.str("description", ifc.Description)
		p.str("type", ifc.Type)
		p.str("lag", ifc.LAG)
		if ifc.MLAGPeerLink {
			p["mlag_peer_link"] = true
		}
		p.str("mac", ifc.MAC)
		p.num("ifindex", int64(ifc.IfIndex))
		p.flag("admin_up", ifc.AdminUp)
		p.flag("oper_up", ifc.OperUp)
		p.num("speed_mbps", ifc.SpeedMbps)
		p.num("mtu", int64(ifc.MTU))
		p.str("mode", ifc.Mode)
		p.num("access_vlan", int64(ifc.AccessVLAN))
		if len(ifc.TrunkVLANs) > 0 {
			vl := make([]int64, len(ifc.TrunkVLANs))
			for i, v := range ifc.TrunkVLANs {
				vl[i] = int64(v)
			}
			p["trunk_vlans"] = vl
		}
		p.str("vrf", ifc.VRF)
		p.str("zone", ifc.Zone)
		if n, ok := neighbor[ifc.Name]; ok {
			p.str("neighbor_hostname", n.RemoteHostname)
			p.str("neighbor_interface", n.RemoteInterface)
			p.str("neighbor_protocol", n.Protocol)
		}
		roles := make(map[string]string, len(ifc.Addresses))
		for _, a := range ifc.Addresses {
			roles[a.IP] = a.Role
			roles[bareAddr(a.IP)] = a.Role
		}
		b.interfaces = append(b.interfaces, map[string]any{"device": d.Hostname, "props": map[string]any(p)})
		for _, s := range ifc.IPs {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				continue // the facts keep it; the native model has no node for it
			}
			role := roles[s]
			if role == "" {
				role = roles[pfx.Addr().String()]
			}
			b.ips = append(b.ips, map[string]any{"device": d.Hostname, "interface": ifc.Name,
				"address": pfx.Addr().String(), "cidr": s, "prefix_len": int64(pfx.Bits()),
				"subnet": pfx.Masked().String(), "role": role})
		}
	}
}

// bareAddr is the address of "a.b.c.d" or "a.b.c.d/len"; "" when it is
// neither.
func bareAddr(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr().String()
	}
	return ""
}

// Owned nodes are those that belong to one device and go with it:
// interfaces (and with them their addresses' HAS_IP, CONNECTED_TO and
// SEEN_ON relationships), routes, BGP peers and firewall rules.
const cypherDropOwned = `UNWIND $hosts AS h
	MATCH (d:Device {hostname: h}) USING INDEX d:Device(hostname)
	MATCH (d)-[:HAS_INTERFACE|HAS_ROUTE|HAS_BGP_PEER|HAS_RULE]->(x)
	DETACH DELETE x`

// What a device asserted about shared nodes: its VLAN definitions and its
// ARP entries.
const cypherDropAsserted = `UNWIND $hosts AS h
	MATCH (d:Device {hostname: h}) USING INDEX d:Device(hostname)
	MATCH (d)-[r:HAS_VLAN]->()
	DELETE r`

const cypherDropARP = `UNWIND $hosts AS h
	MATCH (:Endpoint)-[r:HAS_IP {device: h}]->() USING INDEX r:HAS_IP(device)
	DELETE r`

func (b *batch) write(ctx context.Context, tx neo4j.ManagedTransaction) error {
	steps := []struct {
		what   string
		cypher string
		rows   []any
	}{
		{"devices", `UNWIND $rows AS r
			MERGE (d:Device {hostname: r.hostname})
			WITH d, r, d.metadata AS kept
			SET d = r.props
			SET d.metadata = coalesce(r.metadata, kept)`, b.devices},
		{"interfaces", `UNWIND $rows AS r
			MATCH (d:Device {hostname: r.device}) USING INDEX d:Device(hostname)
			CREATE (d)-[:HAS_INTERFACE]->(i:Interface)
			SET i = r.props
			WITH i, r WHERE r.props.access_vlan IS NOT NULL
			MERGE (v:VLAN {id: r.props.access_vlan})
			CREATE (i)-[:ACCESS_VLAN]->(v)`, b.interfaces},
		{"addresses", `UNWIND $rows AS r
			MATCH (i:Interface {device: r.device, name: r.interface}) USING INDEX i:Interface(device, name)
			MERGE (ip:IP {address: r.address})
			MERGE (s:Subnet {prefix: r.subnet})
			MERGE (ip)-[:IN_SUBNET]->(s)
			CREATE (i)-[h:HAS_IP {cidr: r.cidr, prefix_len: r.prefix_len, subnet: r.subnet}]->(ip)
			SET h.role = CASE WHEN r.role = '' THEN null ELSE r.role END`, b.ips},
		{"VLANs", `UNWIND $rows AS r
			MATCH (d:Device {hostname: r.device}) USING INDEX d:Device(hostname)
			MERGE (v:VLAN {id: r.id})
			CREATE (d)-[h:HAS_VLAN]->(v)
			SET h.name = CASE WHEN r.name = '' THEN null ELSE r.name END`, b.vlans},
		{"routes", `UNWIND $rows AS r
			MATCH (d:Device {hostname: r.device}) USING INDEX d:Device(hostname)
			CREATE (d)-[:HAS_ROUTE]->(x:Route)
			SET x = r.props
			WITH x, r
			MATCH (i:Interface {device: r.device, name: r.props.interface}) USING INDEX i:Interface(device, name)
			CREATE (x)-[:VIA]->(i)`, b.routes},
		{"BGP peers", `UNWIND $rows AS r
			MATCH (d:Device {hostname: r.device}) USING INDEX d:Device(hostname)
			CREATE (d)-[:HAS_BGP_PEER]->(p:BGPPeer)
			SET p = r.props
			WITH p, r WHERE r.address <> ''
			MERGE (ip:IP {address: r.address})
			CREATE (p)-[:PEER_IP]->(ip)`, b.bgpPeers},
		{"firewall rules", `UNWIND $rows AS r
			MATCH (d:Device {hostname: r.device}) USING INDEX d:Device(hostname)
			CREATE (d)-[:HAS_RULE]->(x:FirewallRule)
			SET x = r.props`, b.rules},
		{"MAC table", `UNWIND $rows AS r
			MATCH (i:Interface {device: r.device, name: r.interface}) USING INDEX i:Interface(device, name)
			MERGE (e:Endpoint {mac: r.mac})
			CREATE (e)-[s:SEEN_ON]->(i)
			SET s.vlan = CASE WHEN r.vlan = 0 THEN null ELSE r.vlan END`, b.macs},
		{"ARP", `UNWIND $rows AS r
			MERGE (e:Endpoint {mac: r.mac})
			MERGE (ip:IP {address: r.address})
			CREATE (e)-[h:HAS_IP]->(ip)
			SET h = r.props`, b.arps},
	}
	// The batch's devices lose what they owned before and get it anew.
	for _, stmt := range []string{cypherDropOwned, cypherDropAsserted, cypherDropARP} {
		if err := execute(ctx, tx, stmt, map[string]any{"hosts": b.hosts}); err != nil {
			return fmt.Errorf("clearing the previous facts of the batch's devices: %w", err)
		}
	}
	for _, st := range steps {
		if len(st.rows) == 0 {
			continue
		}
		if err := execute(ctx, tx, st.cypher, map[string]any{"rows": st.rows}); err != nil {
			return fmt.Errorf("writing %s: %w", st.what, err)
		}
	}
	return nil
}

// cypherLinks joins the interfaces of $hosts to those their LLDP/CDP
// neighbours name, in both directions: a device ingested after its
// neighbour is linked to the neighbour's interface then. One relationship
// per link, whichever end reported it.
const cypherLinks = `UNWIND $hosts AS h
	CALL {
		WITH h
		MATCH (a:Interface {device: h}) USING INDEX a:Interface(device, name)
		WHERE a.name IS NOT NULL AND a.neighbor_interface IS NOT NULL
		MATCH (b:Interface {device: a.neighbor_hostname, name: a.neighbor_interface}) USING INDEX b:Interface(device, name)
		RETURN a, b
		UNION
		WITH h
		MATCH (a:Interface {neighbor_hostname: h}) USING INDEX a:Interface(neighbor_hostname)
		WHERE a.neighbor_interface IS NOT NULL
		MATCH (b:Interface {device: h, name: a.neighbor_interface}) USING INDEX b:Interface(device, name)
		RETURN a, b
	}
	WITH DISTINCT a, b
	MERGE (a)-[:CONNECTED_TO]-(b)`

// removeAbsent deletes every device not among hosts, with what it owned.
func removeAbsent(ctx context.Context, tx neo4j.ManagedTransaction, hosts []string) error {
	res, err := tx.Run(ctx, `MATCH (d:Device) WHERE NOT d.hostname IN $hosts RETURN d.hostname`, map[string]any{"hosts": hosts})
	if err != nil {
		return fmt.Errorf("listing devices to remove: %w", err)
	}
	var gone []string
	for res.Next(ctx) {
		h, _ := res.Record().Values[0].(string)
		gone = append(gone, h)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("listing devices to remove: %w", err)
	}
	for lo := 0; lo < len(gone); lo += batchSize {
		p := map[string]any{"hosts": gone[lo:min(lo+batchSize, len(gone))]}
		for _, stmt := range []string{cypherDropOwned, cypherDropARP,
			`UNWIND $hosts AS h MATCH (d:Device {hostname: h}) USING INDEX d:Device(hostname) DETACH DELETE d`} {
			if err := execute(ctx, tx, stmt, p); err != nil {
				return fmt.Errorf("removing devices: %w", err)
			}
		}
	}
	return nil
}

// collectOrphans deletes shared nodes nothing refers to any more, and the
// subnet memberships no interface asserts any more (an address can stay,
// named by an ARP entry or a BGP peer, after the interface holding it
// went). A HAS_IP written before it carried its subnet counts as asserting
// every subnet of its address.
func collectOrphans(ctx context.Context, tx neo4j.ManagedTransaction) error {
	for _, stmt := range []string{
		`MATCH (ip:IP)-[r:IN_SUBNET]->(s:Subnet)
		WHERE NOT EXISTS { MATCH (ip)<-[h:HAS_IP]-(:Interface) WHERE h.subnet IS NULL OR h.subnet = s.prefix }
		DELETE r`,
		`MATCH (n:IP) WHERE NOT (n)<-[:HAS_IP|PEER_IP]-() DETACH DELETE n`,
		`MATCH (n:Subnet) WHERE NOT ()-[:IN_SUBNET]->(n) DELETE n`,
		`MATCH (n:Endpoint) WHERE NOT (n)--() DELETE n`,
		`MATCH (n:VLAN) WHERE NOT (n)--() DELETE n`,
	} {
		if err := execute(ctx, tx, stmt, nil); err != nil {
			return fmt.Errorf("removing orphaned nodes: %w", err)
		}
	}
	return nil
}
