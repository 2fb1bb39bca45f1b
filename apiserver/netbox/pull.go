package netbox

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// What the sync reads of NetBox's objects (the rest of each is ignored).
type (
	nbRef struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	nbIPRef struct {
		ID      int    `json:"id"`
		Address string `json:"address"`
	}
	nbDeviceType struct {
		ID           int    `json:"id"`
		Model        string `json:"model"`
		Slug         string `json:"slug"`
		Manufacturer nbRef  `json:"manufacturer"`
	}
	nbDevice struct {
		ID         int           `json:"id"`
		Name       *string       `json:"name"`
		Site       *nbRef        `json:"site"`
		Tenant     *nbRef        `json:"tenant"`
		Rack       *nbRef        `json:"rack"`
		Role       *nbRef        `json:"role"`
		DeviceType *nbDeviceType `json:"device_type"`
		Serial     string        `json:"serial"`
		PrimaryIP4 *nbIPRef      `json:"primary_ip4"`
		PrimaryIP6 *nbIPRef      `json:"primary_ip6"`
	}
	nbInterface struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
		Type struct {
			Value string `json:"value"`
		} `json:"type"`
		Enabled     bool   `json:"enabled"`
		MTU         *int   `json:"mtu"`
		Description string `json:"description"`
	}
	nbIP struct {
		ID                 int     `json:"id"`
		Address            string  `json:"address"`
		VRF                *nbRef  `json:"vrf"`
		AssignedObjectType *string `json:"assigned_object_type"`
		AssignedObjectID   *int    `json:"assigned_object_id"`
	}
)

func (d nbDevice) name() string {
	if d.Name == nil || *d.Name == "" {
		return fmt.Sprintf("unnamed device #%d", d.ID)
	}
	return *d.Name
}

// primaryAddrs are the device's primary IPv4 and IPv6 without their
// prefix lengths.
func (d nbDevice) primaryAddrs() []netip.Addr {
	var out []netip.Addr
	for _, ip := range []*nbIPRef{d.PrimaryIP4, d.PrimaryIP6} {
		if ip == nil {
			continue
		}
		if p, err := netip.ParsePrefix(ip.Address); err == nil {
			out = append(out, p.Addr())
		} else if a, err := netip.ParseAddr(ip.Address); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func addrsString(addrs []netip.Addr) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// mgmtIndex maps each graph device's mgmt_ip to its hostnames.
func mgmtIndex(hostnames []string, mgmt func(string) string) map[netip.Addr][]string {
	idx := map[netip.Addr][]string{}
	for _, h := range hostnames {
		a, err := parseHost(mgmt(h))
		if err == nil {
			idx[a] = append(idx[a], h)
		}
	}
	return idx
}

// parseHost takes an address with or without a prefix length.
func parseHost(s string) (netip.Addr, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Addr(), nil
	}
	a, err := netip.ParseAddr(s)
	return a.Unmap(), err
}

// pull matches every NetBox device to a graph device by primary IP and
// writes its site, tenant, rack and role onto that device's metadata.
func (s *Syncer) pull(ctx context.Context, dryRun bool) (*DirectionReport, error) {
	devices, err := list[nbDevice](ctx, s.client, "/api/dcim/devices/", nil)
	if err != nil {
		return nil, err
	}
	sort.Slice(devices, func(i, j int) bool { return devices[i].ID < devices[j].ID })
	g := s.graph.Graph()
	hostnames := make([]string, 0, len(g.Devices))
	for _, d := range g.Devices {
		hostnames = append(hostnames, d.Hostname)
	}
	byMgmt := mgmtIndex(hostnames, func(h string) string { return g.Device(h).MgmtIP })

	rep := newDirectionReport()
	unmatched := func(d nbDevice, reason string) {
		rep.Unmatched++
		rep.UnmatchedDevices = append(rep.UnmatchedDevices, Unmatched{
			NetboxID: d.ID, Name: d.name(), PrimaryIP: addrsString(d.primaryAddrs()), Reason: reason,
		})
	}
	// First every NetBox device's candidate, so that two NetBox devices
	// claiming one graph device are both refused rather than one guessed.
	target := make([]string, len(devices))
	claims := map[string][]int{}
	for i, d := range devices {
		addrs := d.primaryAddrs()
		if len(addrs) == 0 {
			unmatched(d, "no primary IP in NetBox")
			continue
		}
		found := map[string]bool{}
		for _, a := range addrs {
			for _, h := range byMgmt[a] {
				found[h] = true
			}
		}
		switch len(found) {
		case 0:
			unmatched(d, "no graph device has mgmt_ip "+addrsString(addrs))
		case 1:
			for h := range found {
				target[i] = h
				claims[h] = append(claims[h], d.ID)
			}
		default:
			names := make([]string, 0, len(found))
			for h := range found {
				names = append(names, h)
			}
			sort.Strings(names)
			unmatched(d, "several graph devices have its primary IP: "+strings.Join(names, ", "))
		}
	}
	for i, d := range devices {
		h := target[i]
		if h == "" {
			continue
		}
		if ids := claims[h]; len(ids) > 1 {
			unmatched(d, fmt.Sprintf("graph device %s is claimed by %d NetBox devices (ids %v)", h, len(ids), ids))
			continue
		}
		rep.Matched++
		patch, changes := metadataPatch(h, g.Metadata(h), d)
		if len(patch) == 0 {
			rep.Unchanged++
			continue
		}
		if !dryRun {
			if _, err := s.graph.UpdateMetadata(ctx, h, patch); err != nil {
				rep.Failed++
				rep.fail("device "+h, err)
				continue
			}
		}
		rep.Updated++
		rep.Changes = append(rep.Changes, changes...)
	}
	return rep, nil
}

// metadataPatch is what NetBox says and the metadata does not: a key NetBox
// has no value for is removed.
func metadataPatch(hostname string, md map[string]any, d nbDevice) (map[string]any, []Change) {
	want := map[string]string{}
	if d.Site != nil {
		want[KeySite] = d.Site.Slug
	}
	if d.Tenant != nil {
		want[KeyTenant] = d.Tenant.Slug
	}
	if d.Rack != nil {
		want[KeyRack] = d.Rack.Name
	}
	if d.Role != nil {
		want[KeyRole] = d.Role.Slug
	}
	patch := map[string]any{}
	var changes []Change
	for _, k := range []string{KeySite, KeyTenant, KeyRack, KeyRole} {
		old, had := md[k]
		nv, has := want[k]
		switch {
		case has && (!had || old != nv):
			patch[k] = nv
			changes = append(changes, Change{Object: "device " + hostname, Action: "update", Field: "metadata." + k, Old: old, New: nv})
		case !has && had:
			patch[k] = nil
			changes = append(changes, Change{Object: "device " + hostname, Action: "update", Field: "metadata." + k, Old: old, New: nil})
		}
	}
	return patch, changes
}
