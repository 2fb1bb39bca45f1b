package netboxfake

import (
	"encoding/json"
	"strconv"
	"strings"
	"sync"
)

// The answers, shaped as NetBox 4.6 serializes each model (the full
// serializer for the object itself, the brief one where it is nested).

// labels maps a choice field's values to their labels, read from the
// document's "* `value` - Label" descriptions so they are NetBox's own.
var (
	labelsOnce sync.Once
	labels     map[string]map[string]string
)

func label(schema, field, value string) string {
	labelsOnce.Do(func() {
		labels = map[string]map[string]string{}
		var doc struct {
			Components struct {
				Schemas map[string]struct {
					Properties map[string]struct {
						Properties struct {
							Value struct {
								Description string `json:"description"`
							} `json:"value"`
						} `json:"properties"`
					} `json:"properties"`
				} `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(specJSON, &doc); err != nil {
			return
		}
		for _, sf := range [][2]string{{"Interface", "type"}, {"DeviceWithConfigContext", "status"}, {"IPAddress", "status"}} {
			m := map[string]string{}
			desc := doc.Components.Schemas[sf[0]].Properties[sf[1]].Properties.Value.Description
			for _, line := range strings.Split(desc, "\n") {
				v, l, ok := strings.Cut(strings.TrimPrefix(line, "* `"), "` - ")
				if ok {
					m[v] = l
				}
			}
			labels[sf[0]+"."+sf[1]] = m
		}
	})
	return labels[schema+"."+field][value]
}

func apiURL(base, kind string, id int) string {
	return base + "/api/" + kind + "/" + strconv.Itoa(id) + "/"
}

func uiURL(base, kind string, id int) string {
	return base + "/" + kind + "/" + strconv.Itoa(id) + "/"
}

func common(base, kind string, id int, display string) map[string]any {
	return map[string]any{
		"id": id, "url": apiURL(base, kind, id), "display_url": uiURL(base, kind, id), "display": display,
		"created": Stamp, "last_updated": Stamp, "description": "", "comments": "",
		"tags": []any{}, "custom_fields": map[string]any{}, "owner": nil,
	}
}

func brief(base, kind string, id int, display string, fields map[string]any) map[string]any {
	m := map[string]any{"id": id, "url": apiURL(base, kind, id), "display": display, "description": ""}
	for k, v := range fields {
		m[k] = v
	}
	return m
}

func (s *Server) briefSite(base string, o *Site) map[string]any {
	return brief(base, "dcim/sites", o.ID, o.Name, map[string]any{"name": o.Name, "slug": o.Slug})
}

// Blank choice fields (a device's airflow and face, an interface's mode,
// an address's role) are left out: NetBox answers null for them, which its
// own document declares not nullable, so a client must take both.

func (s *Server) renderSite(base string, o *Site) map[string]any {
	m := common(base, "dcim/sites", o.ID, o.Name)
	n := 0
	for _, d := range s.devices {
		if d.Site == o.ID {
			n++
		}
	}
	for k, v := range map[string]any{
		"name": o.Name, "slug": o.Slug, "status": map[string]any{"value": "active", "label": "Active"},
		"region": nil, "group": nil, "tenant": nil, "facility": "", "time_zone": nil, "physical_address": "",
		"shipping_address": "", "latitude": nil, "longitude": nil, "asns": []any{},
		"circuit_count": 0, "device_count": n, "prefix_count": 0, "rack_count": 0, "virtualmachine_count": 0, "vlan_count": 0,
	} {
		m[k] = v
	}
	return m
}

func (s *Server) briefManufacturer(base string, o *Manufacturer) map[string]any {
	return brief(base, "dcim/manufacturers", o.ID, o.Name, map[string]any{"name": o.Name, "slug": o.Slug})
}

func (s *Server) renderManufacturer(base string, o *Manufacturer) map[string]any {
	m := common(base, "dcim/manufacturers", o.ID, o.Name)
	n := 0
	for _, t := range s.deviceTypes {
		if t.Manufacturer == o.ID {
			n++
		}
	}
	for k, v := range map[string]any{
		"name": o.Name, "slug": o.Slug, "devicetype_count": n, "inventoryitem_count": 0, "moduletype_count": 0, "platform_count": 0,
	} {
		m[k] = v
	}
	delete(m, "comments")
	return m
}

func (s *Server) deviceCount(pred func(*Device) bool) int {
	n := 0
	for _, d := range s.devices {
		if pred(d) {
			n++
		}
	}
	return n
}

func (s *Server) briefDeviceType(base string, o *DeviceType) map[string]any {
	return brief(base, "dcim/device-types", o.ID, o.Model, map[string]any{
		"model": o.Model, "slug": o.Slug, "manufacturer": s.briefManufacturer(base, s.manufacturer(o.Manufacturer)),
		"device_count": s.deviceCount(func(d *Device) bool { return d.DeviceType == o.ID }),
	})
}

func (s *Server) renderDeviceType(base string, o *DeviceType) map[string]any {
	m := common(base, "dcim/device-types", o.ID, o.Model)
	for k, v := range map[string]any{
		"model": o.Model, "slug": o.Slug, "manufacturer": s.briefManufacturer(base, s.manufacturer(o.Manufacturer)),
		"device_count":     s.deviceCount(func(d *Device) bool { return d.DeviceType == o.ID }),
		"default_platform": nil, "part_number": "", "u_height": 1.0, "exclude_from_utilization": false, "is_full_depth": true,
		"subdevice_role": nil, "airflow": nil, "weight": nil, "weight_unit": nil, "front_image": nil, "rear_image": nil,
		"console_port_template_count": 0, "console_server_port_template_count": 0, "power_port_template_count": 0,
		"power_outlet_template_count": 0, "interface_template_count": 0, "front_port_template_count": 0,
		"rear_port_template_count": 0, "device_bay_template_count": 0, "module_bay_template_count": 0,
		"inventory_item_template_count": 0,
	} {
		m[k] = v
	}
	return m
}

func (s *Server) briefRole(base string, o *Role) map[string]any {
	return brief(base, "dcim/device-roles", o.ID, o.Name, map[string]any{
		"name": o.Name, "slug": o.Slug, "_depth": 0, "virtualmachine_count": 0,
		"device_count": s.deviceCount(func(d *Device) bool { return d.Role == o.ID }),
	})
}

func (s *Server) renderRole(base string, o *Role) map[string]any {
	m := common(base, "dcim/device-roles", o.ID, o.Name)
	for k, v := range map[string]any{
		"name": o.Name, "slug": o.Slug, "color": o.Color, "vm_role": true, "config_template": nil, "parent": nil,
		"_depth": 0, "virtualmachine_count": 0, "device_count": s.deviceCount(func(d *Device) bool { return d.Role == o.ID }),
	} {
		m[k] = v
	}
	delete(m, "comments")
	return m
}

func deviceName(d *Device) any {
	if d.Name == nil {
		return nil
	}
	return *d.Name
}

func deviceDisplay(d *Device) string {
	if d.Name == nil || *d.Name == "" {
		return "Unnamed device (" + strconv.Itoa(d.ID) + ")"
	}
	return *d.Name
}

func (s *Server) briefDevice(base string, d *Device) map[string]any {
	return brief(base, "dcim/devices", d.ID, deviceDisplay(d), map[string]any{"name": deviceName(d)})
}

func (s *Server) briefIP(base string, ip *IPAddress) any {
	if ip == nil {
		return nil
	}
	f := family(ip.Address)
	return brief(base, "ipam/ip-addresses", ip.ID, ip.Address, map[string]any{
		"address": ip.Address, "family": map[string]any{"value": f, "label": "IPv" + strconv.Itoa(f)},
		"dns_name": "", "nat_inside": nil, "nat_outside": []any{},
	})
}

func (s *Server) renderDevice(base string, d *Device) map[string]any {
	m := common(base, "dcim/devices", d.ID, deviceDisplay(d))
	var tenant, rack any
	if t := s.tenant(d.Tenant); t != nil {
		tenant = brief(base, "tenancy/tenants", t.ID, t.Name, map[string]any{"name": t.Name, "slug": t.Slug})
	}
	if r := s.rack(d.Rack); r != nil {
		rack = brief(base, "dcim/racks", r.ID, r.Name, map[string]any{"name": r.Name})
	}
	ip4, ip6 := s.briefIP(base, s.ip(d.PrimaryIP4)), s.briefIP(base, s.ip(d.PrimaryIP6))
	// NetBox's PREFER_IPV4 defaults to false: IPv6 wins when both are set.
	primary := ip4
	if ip6 != nil {
		primary = ip6
	}
	ifaces := 0
	for _, i := range s.interfaces {
		if i.Device == d.ID {
			ifaces++
		}
	}
	for k, v := range map[string]any{
		"name": deviceName(d), "device_type": s.briefDeviceType(base, s.deviceType(d.DeviceType)),
		"role": s.briefRole(base, s.role(d.Role)), "site": s.briefSite(base, s.site(d.Site)),
		"tenant": tenant, "rack": rack, "platform": nil, "serial": d.Serial, "asset_tag": nil, "location": nil,
		"position": nil, "latitude": nil, "longitude": nil, "parent_device": nil,
		"status":     map[string]any{"value": d.Status, "label": label("DeviceWithConfigContext", "status", d.Status)},
		"primary_ip": primary, "primary_ip4": ip4, "primary_ip6": ip6, "oob_ip": nil,
		"cluster": nil, "virtual_chassis": nil, "vc_position": nil, "vc_priority": nil, "config_template": nil,
		"config_context": map[string]any{}, "local_context_data": nil,
		"console_port_count": 0, "console_server_port_count": 0, "power_port_count": 0, "power_outlet_count": 0,
		"interface_count": ifaces, "front_port_count": 0, "rear_port_count": 0, "device_bay_count": 0,
		"module_bay_count": 0, "inventory_item_count": 0,
	} {
		m[k] = v
	}
	return m
}

func (s *Server) renderInterface(base string, i *Interface) map[string]any {
	m := common(base, "dcim/interfaces", i.ID, i.Name)
	delete(m, "comments")
	var mtu any
	if i.MTU != 0 {
		mtu = i.MTU
	}
	n := 0
	for _, ip := range s.ips {
		if ip.Interface == i.ID {
			n++
		}
	}
	for k, v := range map[string]any{
		"device": s.briefDevice(base, s.device(i.Device)), "description": i.Description, "vdcs": []any{}, "module": nil, "name": i.Name, "label": "",
		"type":    map[string]any{"value": i.Type, "label": label("Interface", "type", i.Type)},
		"enabled": i.Enabled, "parent": nil, "bridge": nil, "lag": nil, "mtu": mtu, "mac_address": nil,
		"primary_mac_address": nil, "mac_addresses": []any{}, "speed": nil, "duplex": nil, "wwn": nil,
		"mgmt_only":            false,
		"rf_channel_frequency": nil, "rf_channel_width": nil, "tx_power": nil, "untagged_vlan": nil,
		"tagged_vlans": []any{}, "qinq_svlan": nil, "vlan_translation_policy": nil, "mark_connected": false,
		"cable": nil, "cable_end": nil, "wireless_link": nil, "link_peers": []any{}, "link_peers_type": nil,
		"wireless_lans": []any{}, "vrf": nil, "l2vpn_termination": nil, "connected_endpoints": nil,
		"connected_endpoints_type": nil, "connected_endpoints_reachable": false, "count_ipaddresses": n,
		"count_fhrp_groups": 0, "_occupied": false, "bridge_interfaces": []any{}, "child_interfaces": []any{},
		"member_interfaces": []any{},
	} {
		m[k] = v
	}
	return m
}

func (s *Server) renderIP(base string, ip *IPAddress) map[string]any {
	m := common(base, "ipam/ip-addresses", ip.ID, ip.Address)
	f := family(ip.Address)
	var objType, objID, obj any
	if i := s.iface(ip.Interface); i != nil {
		objType, objID = "dcim.interface", i.ID
		obj = map[string]any{
			"id": i.ID, "url": apiURL(base, "dcim/interfaces", i.ID), "display": i.Name, "name": i.Name,
			"description": i.Description, "device": s.briefDevice(base, s.device(i.Device)), "cable": nil, "_occupied": false,
		}
	}
	for k, v := range map[string]any{
		"family":  map[string]any{"value": f, "label": "IPv" + strconv.Itoa(f)},
		"address": ip.Address, "vrf": nil, "tenant": nil,
		"status":               map[string]any{"value": ip.Status, "label": label("IPAddress", "status", ip.Status)},
		"assigned_object_type": objType, "assigned_object_id": objID, "assigned_object": obj,
		"nat_inside": nil, "nat_outside": []any{}, "dns_name": "", "description": ip.Description,
	} {
		m[k] = v
	}
	return m
}
