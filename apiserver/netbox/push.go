package netbox

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// pending is the id of an object a dry run would create.
const pending = -1

// pusher is one push: the NetBox objects it has looked up or made, by
// kind and slug, so each is read once.
type pusher struct {
	s      *Syncer
	ctx    context.Context
	dry    bool
	rep    *DirectionReport
	cache  map[string]int
	byIP   map[netip.Addr][]*nbDevice
	byName map[string][]*nbDevice // lower-cased name
}

// push makes NetBox hold every graph device, in an order that leaves
// nothing dangling when a step fails: the objects a device needs (site,
// manufacturer, device type, role), then the device, then its interfaces,
// then the management address created already assigned to its interface,
// then the device's primary IP pointing at it. A failed step stops that
// device; the next device goes on.
func (s *Syncer) push(ctx context.Context, dryRun bool) (*DirectionReport, error) {
	devices, err := list[nbDevice](ctx, s.client, "/api/dcim/devices/", nil)
	if err != nil {
		return nil, err
	}
	p := &pusher{s: s, ctx: ctx, dry: dryRun, rep: newDirectionReport(), cache: map[string]int{},
		byIP: map[netip.Addr][]*nbDevice{}, byName: map[string][]*nbDevice{}}
	for i := range devices {
		d := &devices[i]
		for _, a := range d.primaryAddrs() {
			p.byIP[a] = append(p.byIP[a], d)
		}
		if d.Name != nil {
			p.byName[strings.ToLower(*d.Name)] = append(p.byName[strings.ToLower(*d.Name)], d)
		}
	}
	g := s.graph.Graph()
	for _, d := range g.Devices {
		p.device(g, d)
	}
	return p.rep, nil
}

// choice is a value for a NetBox field and whether the device itself gave
// it (facts or metadata) rather than a default: only given values change
// an existing NetBox device.
type choice struct {
	name, slug string
	given      bool
}

func pick(metaSlug any, fact, def string) choice {
	if s, ok := metaSlug.(string); ok && s != "" {
		return choice{name: s, slug: s, given: true}
	}
	if fact != "" {
		return choice{name: fact, slug: Slugify(fact), given: true}
	}
	return choice{name: def, slug: Slugify(def)}
}

// Slugify makes a NetBox slug (^[-a-zA-Z0-9_]+$, at most 100 characters)
// the way NetBox's UI does: lower case, runs of anything else one dash.
func Slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '_' || r == '-' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > 100 {
		out = strings.Trim(out[:100], "-")
	}
	if out == "" {
		out = "x"
	}
	return out
}

func (p *pusher) change(object, action, field string, old, nv any) {
	p.rep.Changes = append(p.rep.Changes, Change{Object: object, Action: action, Field: field, Old: old, New: nv})
}

// ensure finds a site, manufacturer or role by slug, then by name, and
// creates it when NetBox has neither.
func (p *pusher) ensure(kind, path string, c choice) (int, error) {
	key := path + "|" + c.slug
	if id, ok := p.cache[key]; ok {
		return id, nil
	}
	for _, q := range []url.Values{{"slug": {c.slug}}, {"name": {c.name}}} {
		found, err := list[nbRef](p.ctx, p.s.client, path, q)
		if err != nil {
			return 0, err
		}
		if len(found) > 0 {
			p.cache[key] = found[0].ID
			return found[0].ID, nil
		}
	}
	body := map[string]any{"name": c.name, "slug": c.slug}
	object := kind + " " + c.slug
	for _, f := range []string{"name", "slug"} {
		p.change(object, "create", f, nil, body[f])
	}
	if p.dry {
		p.cache[key] = pending
		return pending, nil
	}
	var made nbRef
	if err := p.s.client.do(p.ctx, http.MethodPost, path, body, &made); err != nil {
		return 0, err
	}
	p.cache[key] = made.ID
	return made.ID, nil
}

// deviceType finds or creates the model under its manufacturer.
func (p *pusher) deviceType(mfID int, model string) (int, error) {
	c := choice{name: model, slug: Slugify(model)}
	if mfID == pending {
		key := "dt|pending|" + c.slug
		if _, ok := p.cache[key]; !ok {
			p.cache[key] = pending
			p.change("dcim.device-type "+c.slug, "create", "model", nil, model)
		}
		return pending, nil
	}
	// Device types have a model, not a name; the lookup is by slug, then
	// by model.
	key := "dt|" + strconv.Itoa(mfID) + "|" + c.slug
	if id, ok := p.cache[key]; ok {
		return id, nil
	}
	mf := strconv.Itoa(mfID)
	for _, q := range []url.Values{{"slug": {c.slug}, "manufacturer_id": {mf}}, {"model": {model}, "manufacturer_id": {mf}}} {
		found, err := list[nbDeviceType](p.ctx, p.s.client, "/api/dcim/device-types/", q)
		if err != nil {
			return 0, err
		}
		if len(found) > 0 {
			p.cache[key] = found[0].ID
			return found[0].ID, nil
		}
	}
	p.change("dcim.device-type "+c.slug, "create", "model", nil, model)
	if p.dry {
		p.cache[key] = pending
		return pending, nil
	}
	var made nbRef
	if err := p.s.client.do(p.ctx, http.MethodPost, "/api/dcim/device-types/",
		map[string]any{"manufacturer": mfID, "model": model, "slug": c.slug}, &made); err != nil {
		return 0, err
	}
	p.cache[key] = made.ID
	return made.ID, nil
}

// mgmtPrefix is the device's mgmt_ip with the prefix length of the
// interface holding it, and that interface.
func mgmtPrefix(d *graph.Device) (netip.Prefix, *graph.Interface, bool) {
	a, err := parseHost(d.MgmtIP)
	if err != nil {
		return netip.Prefix{}, nil, false
	}
	for _, ifc := range d.Ifaces {
		for _, pf := range ifc.Prefixes {
			if pf.Addr().Unmap() == a {
				return pf, ifc, true
			}
		}
	}
	return netip.Prefix{}, nil, false
}

// interfaceType maps the collected type onto NetBox's choices; a physical
// port's real media type is not collected, so it is "other".
func interfaceType(i facts.Interface) string {
	switch i.Type {
	case facts.TypeLAG:
		return "lag"
	case facts.TypeLoopback, facts.TypeVLAN, facts.TypeTunnel, facts.TypeVXLAN, facts.TypeSubinterface, facts.TypeVirtual:
		return "virtual"
	}
	return "other"
}

// device pushes one graph device and counts it.
func (p *pusher) device(g *graph.Graph, d *graph.Device) {
	// Each graph device counts once: failed when any of its objects
	// failed, else created, updated or unchanged.
	changesBefore, errorsBefore := len(p.rep.Changes), len(p.rep.Errors)
	created := false
	defer func() {
		switch {
		case len(p.rep.Errors) > errorsBefore:
			p.rep.Failed++
		case created:
			p.rep.Created++
		case len(p.rep.Changes) > changesBefore:
			p.rep.Updated++
		default:
			p.rep.Unchanged++
		}
	}()
	object := "dcim.device " + d.Hostname
	failed := func(err error) { p.rep.fail(object, err) }
	md := g.Metadata(d.Hostname)

	// What NetBox requires of a device, each looked up (or made) only when
	// used: a default is used only to create a device.
	site := pick(md[KeySite], d.Site, p.s.cfg.DefaultSite)
	role := pick(md[KeyRole], d.Role, p.s.cfg.DefaultRole)
	vendor := choice{name: d.Vendor, slug: Slugify(d.Vendor), given: d.Vendor != ""}
	if !vendor.given {
		vendor = choice{name: DefaultManufacturer, slug: Slugify(DefaultManufacturer)}
	}
	model := d.Model
	if model == "" {
		model = DefaultDeviceType
	}
	siteID := func() (int, error) { return p.ensure("dcim.site", "/api/dcim/sites/", site) }
	roleID := func() (int, error) { return p.ensure("dcim.device-role", "/api/dcim/device-roles/", role) }
	typeID := func() (int, error) {
		mfID, err := p.ensure("dcim.manufacturer", "/api/dcim/manufacturers/", vendor)
		if err != nil {
			return 0, err
		}
		return p.deviceType(mfID, model)
	}

	// The NetBox device: by primary IP (pull's rule), else by name (NetBox
	// compares names case-insensitively): the only device of that name, or
	// of several the one in the device's site.
	var nb *nbDevice
	if a, err := parseHost(d.MgmtIP); err == nil && len(p.byIP[a]) == 1 {
		nb = p.byIP[a][0]
	}
	if named := p.byName[strings.ToLower(d.Hostname)]; nb == nil && len(named) == 1 {
		nb = named[0]
	} else if nb == nil && len(named) > 1 {
		id, err := siteID()
		if err != nil {
			failed(err)
			return
		}
		for _, c := range named {
			if c.Site != nil && c.Site.ID == id {
				nb = c
			}
		}
	}

	if nb == nil {
		p.create(d, object, site, role, model, siteID, roleID, typeID, &created)
		return
	}

	p.rep.Matched++
	patch := map[string]any{}
	if nb.Name == nil || *nb.Name != d.Hostname {
		patch["name"] = d.Hostname
		var old any
		if nb.Name != nil {
			old = *nb.Name
		}
		p.change(object, "update", "name", old, d.Hostname)
	}
	for _, f := range []struct {
		field   string
		given   bool
		current *nbRef
		slug    string
		id      func() (int, error)
	}{
		{"site", site.given, nb.Site, site.slug, siteID},
		{"role", role.given, nb.Role, role.slug, roleID},
	} {
		if !f.given {
			continue
		}
		id, err := f.id()
		if err != nil {
			failed(err)
			return
		}
		if f.current == nil || f.current.ID != id {
			patch[f.field] = id
			p.change(object, "update", f.field, slugOf(f.current), f.slug)
		}
	}
	if d.Model != "" {
		id, err := typeID()
		if err != nil {
			failed(err)
			return
		}
		if nb.DeviceType == nil || nb.DeviceType.ID != id {
			var old any
			if nb.DeviceType != nil {
				old = nb.DeviceType.Slug
			}
			patch["device_type"] = id
			p.change(object, "update", "device_type", old, Slugify(model))
		}
	}
	if d.Serial != "" && nb.Serial != d.Serial {
		patch["serial"] = d.Serial
		p.change(object, "update", "serial", nb.Serial, d.Serial)
	}
	if len(patch) > 0 && !p.dry {
		if err := p.s.client.do(p.ctx, http.MethodPatch, "/api/dcim/devices/"+strconv.Itoa(nb.ID)+"/", patch, nil); err != nil {
			failed(err)
			return
		}
	}
	if err := p.interfacesAndIP(d, nb.ID, nb); err != nil {
		failed(err)
	}
}

// create makes a device NetBox does not have: the objects it needs first,
// then the device, then its interfaces and address.
func (p *pusher) create(d *graph.Device, object string, site, role choice, model string,
	siteID, roleID, typeID func() (int, error), created *bool) {
	p.rep.Unmatched++
	p.rep.UnmatchedDevices = append(p.rep.UnmatchedDevices, Unmatched{Name: d.Hostname, PrimaryIP: d.MgmtIP, Reason: "not in NetBox; created"})
	body := map[string]any{"name": d.Hostname, "status": "active"}
	for _, f := range []struct {
		field string
		id    func() (int, error)
	}{{"site", siteID}, {"role", roleID}, {"device_type", typeID}} {
		id, err := f.id()
		if err != nil {
			p.rep.fail(object, err)
			return
		}
		body[f.field] = id
	}
	if d.Serial != "" {
		body["serial"] = d.Serial
	}
	for _, f := range []struct {
		field string
		v     any
	}{{"name", d.Hostname}, {"site", site.slug}, {"role", role.slug}, {"device_type", Slugify(model)}, {"status", "active"}, {"serial", body["serial"]}} {
		if f.v != nil {
			p.change(object, "create", f.field, nil, f.v)
		}
	}
	id := pending
	if !p.dry {
		var made nbDevice
		if err := p.s.client.do(p.ctx, http.MethodPost, "/api/dcim/devices/", body, &made); err != nil {
			p.rep.fail(object, err)
			return
		}
		id = made.ID
	}
	*created = true
	if err := p.interfacesAndIP(d, id, nil); err != nil {
		p.rep.fail(object, err)
	}
}

// maxDescription is NetBox's limit on a description; a longer collected
// one is cut rather than refused.
const maxDescription = 200

func truncateRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

func slugOf(r *nbRef) any {
	if r == nil {
		return nil
	}
	return r.Slug
}

// interfacesAndIP creates or updates the device's interfaces, then its
// management address and primary IP. nb is nil for a device just created
// (or, in a dry run, to be created).
func (p *pusher) interfacesAndIP(d *graph.Device, devID int, nb *nbDevice) error {
	existing := map[string]nbInterface{}
	if devID != pending {
		ifs, err := list[nbInterface](p.ctx, p.s.client, "/api/dcim/interfaces/", url.Values{"device_id": {strconv.Itoa(devID)}})
		if err != nil {
			return err
		}
		for _, i := range ifs {
			existing[i.Name] = i
		}
	}
	ifaceID := map[string]int{}
	for _, gi := range d.Ifaces {
		object := "dcim.interface " + d.Hostname + " " + gi.Name
		desc := truncateRunes(gi.Description, maxDescription)
		cur, ok := existing[gi.Name]
		if !ok {
			body := map[string]any{"device": devID, "name": gi.Name, "type": interfaceType(gi.Interface)}
			p.change(object, "create", "type", nil, body["type"])
			if gi.AdminUp != nil {
				body["enabled"] = *gi.AdminUp
				p.change(object, "create", "enabled", nil, *gi.AdminUp)
			}
			if gi.MTU > 0 {
				body["mtu"] = gi.MTU
				p.change(object, "create", "mtu", nil, gi.MTU)
			}
			if desc != "" {
				body["description"] = desc
				p.change(object, "create", "description", nil, desc)
			}
			if p.dry || devID == pending {
				ifaceID[gi.Name] = pending
				continue
			}
			var made nbInterface
			if err := p.s.client.do(p.ctx, http.MethodPost, "/api/dcim/interfaces/", body, &made); err != nil {
				// One interface refused does not stop the others; the
				// address below needs only its own interface.
				p.rep.fail(object, err)
				continue
			}
			ifaceID[gi.Name] = made.ID
			continue
		}
		ifaceID[gi.Name] = cur.ID
		patch := map[string]any{}
		if gi.AdminUp != nil && cur.Enabled != *gi.AdminUp {
			patch["enabled"] = *gi.AdminUp
			p.change(object, "update", "enabled", cur.Enabled, *gi.AdminUp)
		}
		if gi.MTU > 0 && (cur.MTU == nil || *cur.MTU != gi.MTU) {
			patch["mtu"] = gi.MTU
			var old any
			if cur.MTU != nil {
				old = *cur.MTU
			}
			p.change(object, "update", "mtu", old, gi.MTU)
		}
		if desc != "" && cur.Description != desc {
			patch["description"] = desc
			p.change(object, "update", "description", cur.Description, desc)
		}
		if len(patch) > 0 && !p.dry {
			if err := p.s.client.do(p.ctx, http.MethodPatch, "/api/dcim/interfaces/"+strconv.Itoa(cur.ID)+"/", patch, nil); err != nil {
				p.rep.fail(object, err)
			}
		}
	}

	if d.MgmtIP == "" {
		return nil
	}
	prefix, holder, ok := mgmtPrefix(d)
	if !ok {
		return fmt.Errorf("mgmt_ip %s is on none of the device's collected interfaces; NetBox takes as primary IP only an address assigned to one of the device's interfaces", d.MgmtIP)
	}
	ifID, ok := ifaceID[holder.Name]
	if !ok {
		return fmt.Errorf("interface %s holding mgmt_ip %s could not be created", holder.Name, d.MgmtIP)
	}
	object := "ipam.ip-address " + prefix.String()
	field := "primary_ip4"
	if prefix.Addr().Is6() {
		field = "primary_ip6"
	}
	var current *nbIPRef
	if nb != nil {
		current = nb.PrimaryIP4
		if field == "primary_ip6" {
			current = nb.PrimaryIP6
		}
	}

	// The address is looked up even for an interface still to be made, so
	// a dry run lists what the real push will do with one already there.
	ipID := pending
	found, err := list[nbIP](p.ctx, p.s.client, "/api/ipam/ip-addresses/", url.Values{"address": {prefix.Addr().String()}})
	if err != nil {
		return err
	}
	var global []nbIP // matched in the global table (no VRF)
	for _, ip := range found {
		if ip.VRF == nil {
			global = append(global, ip)
		}
	}
	switch {
	case len(global) > 1:
		return fmt.Errorf("%s is in NetBox's global table %d times; not choosing one", prefix.Addr(), len(global))
	case len(global) == 1:
		ip := global[0]
		ipID = ip.ID
		onOurs := ifID != pending && ip.AssignedObjectType != nil && *ip.AssignedObjectType == "dcim.interface" &&
			ip.AssignedObjectID != nil && *ip.AssignedObjectID == ifID
		switch {
		case onOurs:
		case ip.AssignedObjectID != nil && *ip.AssignedObjectID != 0:
			return fmt.Errorf("%s is assigned to another object in NetBox (ip-address id %d); not moved", ip.Address, ip.ID)
		default:
			p.change(object, "update", "assigned_object", nil, "dcim.interface "+d.Hostname+" "+holder.Name)
			if !p.dry && ifID != pending {
				if err := p.s.client.do(p.ctx, http.MethodPatch, "/api/ipam/ip-addresses/"+strconv.Itoa(ip.ID)+"/",
					map[string]any{"assigned_object_type": "dcim.interface", "assigned_object_id": ifID}, nil); err != nil {
					return err
				}
			}
		}
	}
	if ipID == pending {
		p.change(object, "create", "address", nil, prefix.String())
		p.change(object, "create", "assigned_object", nil, "dcim.interface "+d.Hostname+" "+holder.Name)
		if !p.dry && ifID != pending {
			var made nbIP
			if err := p.s.client.do(p.ctx, http.MethodPost, "/api/ipam/ip-addresses/", map[string]any{
				"address": prefix.String(), "status": "active",
				"assigned_object_type": "dcim.interface", "assigned_object_id": ifID,
			}, &made); err != nil {
				return err
			}
			ipID = made.ID
		}
	}
	if current != nil && ipID != pending && current.ID == ipID {
		return nil
	}
	var old any
	if current != nil {
		old = current.Address
	}
	p.change("dcim.device "+d.Hostname, "update", field, old, prefix.String())
	if p.dry || devID == pending || ipID == pending {
		return nil
	}
	return p.s.client.do(p.ctx, http.MethodPatch, "/api/dcim/devices/"+strconv.Itoa(devID)+"/", map[string]any{field: ipID}, nil)
}
