package netbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/netbox/netboxfake"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/facts"
)

const token = "0123456789abcdef0123456789abcdef01234567"

func b(v bool) *bool { return &v }

// network is a small fabric whose management addresses sit on interfaces,
// as NetBox needs for a primary IP, plus one device whose does not.
func network() []facts.Device {
	return []facts.Device{
		{Hostname: "leaf1", MgmtIP: "10.9.0.1", Vendor: "Arista", Model: "DCS-7050SX3", Serial: "JPE001", Role: "leaf", Site: "dc1",
			Interfaces: []facts.Interface{
				{Name: "Management1", Type: facts.TypeMgmt, AdminUp: b(true), IPs: []string{"10.9.0.1/24"}},
				{Name: "Ethernet1", Description: "to spine1", AdminUp: b(true), MTU: 9214},
				{Name: "Port-Channel1", Type: facts.TypeLAG, AdminUp: b(false), Description: strings.Repeat("é", 250)},
			}},
		{Hostname: "leaf2", MgmtIP: "10.9.0.2",
			Interfaces: []facts.Interface{{Name: "mgmt0", IPs: []string{"10.9.0.2/24"}}}},
		{Hostname: "spine1", MgmtIP: "2001:db8::1", Vendor: "Arista", Model: "DCS-7280", Role: "spine", Site: "dc1",
			Interfaces: []facts.Interface{{Name: "Management1", IPs: []string{"2001:db8::1/64"}}}},
		{Hostname: "ghost", MgmtIP: "10.9.0.9", Site: "dc1",
			Interfaces: []facts.Interface{{Name: "Ethernet1"}}},
	}
}

type fixture struct {
	t      *testing.T
	nb     *netboxfake.Server
	srv    *httptest.Server
	dir    string
	st     *store.Embedded
	eng    *engine.Engine
	syncer *Syncer
	logs   *bytes.Buffer
}

// newFixture is a graph on the embedded store and a fake NetBox; every
// request the sync makes must be one a real NetBox takes.
func newFixture(t *testing.T, devices []facts.Device) *fixture {
	t.Helper()
	f := &fixture{t: t, nb: netboxfake.New(token), dir: t.TempDir(), logs: &bytes.Buffer{}}
	f.srv = httptest.NewServer(f.nb)
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() {
		if v := f.nb.Violations(); len(v) > 0 {
			t.Errorf("requests a real NetBox would refuse (or answers the fake got wrong):\n%s", strings.Join(v, "\n"))
		}
		if strings.Contains(f.logs.String(), token) {
			t.Errorf("the token appears in the log:\n%s", f.logs)
		}
	})
	f.open()
	doc := facts.Document{Schema: facts.Schema, Devices: devices}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	st, err := store.OpenEmbedded(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
	f.t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.eng = engine.New(st, graph.Options{}, log)
	if err := f.eng.Load(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.syncer, err = New(Config{URL: f.srv.URL, Token: token, RetryBackoff: time.Millisecond}, f.eng, log)
	if err != nil {
		f.t.Fatal(err)
	}
}

// restart closes the store and opens it again, as a restarted apiserver.
func (f *fixture) restart() {
	f.t.Helper()
	if err := f.st.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open()
}

func (f *fixture) sync(direction string, dry bool) *Report {
	f.t.Helper()
	rep, err := f.syncer.Sync(context.Background(), direction, dry)
	if err != nil {
		f.t.Fatalf("sync %s (dry run %v): %v", direction, dry, err)
	}
	return rep
}

// seedNetBox is what an operator keeps in NetBox: leaf1 under another
// name, found by its primary IP; two devices the graph does not have.
func seedNetBox(nb *netboxfake.Server) {
	site := nb.AddSite("DC One", "dc-one")
	tenant := nb.AddTenant("Network Ops", "netops")
	rack := nb.AddRack("R12", site.ID)
	mf := nb.AddManufacturer("Arista", "arista")
	dt := nb.AddDeviceType(mf.ID, "DCS-7050SX3", "dcs-7050sx3")
	role := nb.AddRole("Leaf switch", "leaf-switch")
	name := "dc1-leaf-01"
	dev := nb.AddDevice(netboxfake.Device{Name: &name, DeviceType: dt.ID, Role: role.ID, Site: site.ID, Tenant: tenant.ID, Rack: rack.ID})
	ifc := nb.AddInterface(dev.ID, "Management1", "1000base-t")
	nb.SetPrimaryIP4(dev.ID, nb.AddIP("10.9.0.1/24", ifc.ID).ID)

	stranger := "stranger"
	other := nb.AddDevice(netboxfake.Device{Name: &stranger, DeviceType: dt.ID, Role: role.ID, Site: site.ID})
	nb.SetPrimaryIP4(other.ID, nb.AddIP("10.50.0.1/24", nb.AddInterface(other.ID, "eth0", "1000base-t").ID).ID)
	bare := "no-address"
	nb.AddDevice(netboxfake.Device{Name: &bare, DeviceType: dt.ID, Role: role.ID, Site: site.ID})
}

func TestPullWritesNetBoxFieldsByPrimaryIP(t *testing.T) {
	f := newFixture(t, network())
	seedNetBox(f.nb)
	f.nb.MaxPageSize = 1 // every device on its own page: next must be followed

	dry := f.sync(Pull, true)
	want := []Change{
		{Object: "device leaf1", Action: "update", Field: "metadata.nb_site", Old: nil, New: "dc-one"},
		{Object: "device leaf1", Action: "update", Field: "metadata.nb_tenant", Old: nil, New: "netops"},
		{Object: "device leaf1", Action: "update", Field: "metadata.nb_rack", Old: nil, New: "R12"},
		{Object: "device leaf1", Action: "update", Field: "metadata.nb_role", Old: nil, New: "leaf-switch"},
	}
	if !slices.Equal(dry.Pull.Changes, want) {
		t.Errorf("dry-run changes = %+v, want %+v", dry.Pull.Changes, want)
	}
	if md := f.eng.Graph().Metadata("leaf1"); len(md) != 0 {
		t.Errorf("a dry run wrote metadata: %v", md)
	}
	p := dry.Pull
	if p.Matched != 1 || p.Unmatched != 2 || p.Updated != 1 || p.Unchanged != 0 || p.Failed != 0 {
		t.Errorf("dry-run counts = %+v, want 1 matched, 2 unmatched, 1 updated", p)
	}
	var names []string
	for _, u := range p.UnmatchedDevices {
		names = append(names, u.Name+": "+u.Reason)
	}
	wantUnmatched := []string{"stranger: no graph device has mgmt_ip 10.50.0.1", "no-address: no primary IP in NetBox"}
	if !slices.Equal(names, wantUnmatched) {
		t.Errorf("unmatched = %q, want %q", names, wantUnmatched)
	}

	rep := f.sync(Pull, false)
	if !slices.Equal(rep.Pull.Changes, want) || rep.Pull.Updated != 1 {
		t.Errorf("pull = %+v, want the dry run's changes made", rep.Pull)
	}
	wantMD := map[string]any{KeySite: "dc-one", KeyTenant: "netops", KeyRack: "R12", KeyRole: "leaf-switch"}
	if md := f.eng.Graph().Metadata("leaf1"); fmt.Sprint(md) != fmt.Sprint(wantMD) {
		t.Errorf("leaf1 metadata = %v, want %v", md, wantMD)
	}
	f.restart()
	if md := f.eng.Graph().Metadata("leaf1"); fmt.Sprint(md) != fmt.Sprint(wantMD) {
		t.Errorf("leaf1 metadata after restart = %v, want %v", md, wantMD)
	}
	again := f.sync(Pull, false)
	if again.Pull.Unchanged != 1 || again.Pull.Updated != 0 || len(again.Pull.Changes) != 0 {
		t.Errorf("second pull = %+v, want leaf1 unchanged", again.Pull)
	}
	if w := f.nb.Writes(); len(w) != 0 {
		t.Errorf("pull wrote to NetBox: %v", w)
	}
}

// A NetBox device whose primary IP two graph devices share is listed, not
// guessed; a key NetBox no longer has is removed.
func TestPullNeverGuesses(t *testing.T) {
	devs := network()
	devs = append(devs, facts.Device{Hostname: "twin-a", MgmtIP: "10.9.0.7"}, facts.Device{Hostname: "twin-b", MgmtIP: "10.9.0.7"})
	f := newFixture(t, devs)
	site := f.nb.AddSite("DC One", "dc-one")
	mf := f.nb.AddManufacturer("Arista", "arista")
	dt := f.nb.AddDeviceType(mf.ID, "X", "x")
	role := f.nb.AddRole("Leaf", "leaf")
	name := "twin"
	d := f.nb.AddDevice(netboxfake.Device{Name: &name, DeviceType: dt.ID, Role: role.ID, Site: site.ID})
	f.nb.SetPrimaryIP4(d.ID, f.nb.AddIP("10.9.0.7/24", f.nb.AddInterface(d.ID, "eth0", "other").ID).ID)
	name2 := "leaf"
	d2 := f.nb.AddDevice(netboxfake.Device{Name: &name2, DeviceType: dt.ID, Role: role.ID, Site: site.ID})
	f.nb.SetPrimaryIP4(d2.ID, f.nb.AddIP("10.9.0.1/24", f.nb.AddInterface(d2.ID, "eth0", "other").ID).ID)
	if _, err := f.eng.UpdateMetadata(context.Background(), "leaf1", map[string]any{KeyTenant: "gone", "owner": "alice"}); err != nil {
		t.Fatal(err)
	}

	rep := f.sync(Pull, false).Pull
	if rep.Matched != 1 || rep.Unmatched != 1 || len(rep.UnmatchedDevices) != 1 ||
		rep.UnmatchedDevices[0].Reason != "several graph devices have its primary IP: twin-a, twin-b" {
		t.Errorf("pull = %+v, want twin unmatched as ambiguous", rep)
	}
	if md := f.eng.Graph().Metadata("twin-a"); len(md) != 0 {
		t.Errorf("twin-a got metadata %v from an ambiguous match", md)
	}
	want := map[string]any{KeySite: "dc-one", KeyRole: "leaf", "owner": "alice"}
	if md := f.eng.Graph().Metadata("leaf1"); fmt.Sprint(md) != fmt.Sprint(want) {
		t.Errorf("leaf1 metadata = %v, want %v (nb_tenant removed, owner kept)", md, want)
	}
}

func TestPushCreatesEverythingThenWritesNothing(t *testing.T) {
	f := newFixture(t, network())

	dry := f.sync(Push, true)
	if w := f.nb.Writes(); len(w) != 0 {
		t.Fatalf("a dry run wrote: %v", w)
	}
	if dry.Push.Unmatched != 4 || dry.Push.Created != 3 || dry.Push.Failed != 1 {
		t.Errorf("dry-run counts = %+v, want 4 unmatched, 3 created, ghost failed", dry.Push)
	}
	wantSome := []Change{
		{Object: "dcim.site dc1", Action: "create", Field: "slug", New: "dc1"},
		{Object: "dcim.site default", Action: "create", Field: "slug", New: "default"},
		{Object: "dcim.manufacturer generic", Action: "create", Field: "name", New: "Generic"},
		{Object: "dcim.device leaf1", Action: "create", Field: "device_type", New: "dcs-7050sx3"},
		{Object: "dcim.interface leaf1 Ethernet1", Action: "create", Field: "mtu", New: 9214},
		{Object: "dcim.interface leaf1 Port-Channel1", Action: "create", Field: "type", New: "lag"},
		{Object: "ipam.ip-address 10.9.0.1/24", Action: "create", Field: "assigned_object", New: "dcim.interface leaf1 Management1"},
		{Object: "dcim.device leaf1", Action: "update", Field: "primary_ip4", New: "10.9.0.1/24"},
		{Object: "dcim.device spine1", Action: "update", Field: "primary_ip6", New: "2001:db8::1/64"},
	}
	for _, c := range wantSome {
		if !slices.Contains(dry.Push.Changes, c) {
			t.Errorf("dry run lacks change %+v", c)
		}
	}

	rep := f.sync(Push, false)
	if rep.Push.Created != 3 || rep.Push.Failed != 1 || len(rep.Push.Errors) != 1 ||
		!strings.Contains(rep.Push.Errors[0].Message, "mgmt_ip 10.9.0.9 is on none of the device's collected interfaces") {
		t.Errorf("push = %+v, want 3 created and ghost's address refused", rep.Push)
	}
	if !slices.Equal(rep.Push.Changes, dry.Push.Changes) {
		t.Errorf("push changes differ from the dry run's:\n%+v\n%+v", rep.Push.Changes, dry.Push.Changes)
	}
	counts := f.nb.Count()
	if counts["devices"] != 4 || counts["interfaces"] != 6 || counts["ip-addresses"] != 3 || counts["sites"] != 2 ||
		counts["device-roles"] != 3 || counts["manufacturers"] != 2 || counts["device-types"] != 3 {
		t.Errorf("NetBox holds %v", counts)
	}
	byName := map[string]netboxfake.Device{}
	for _, d := range f.nb.Devices() {
		byName[*d.Name] = d
	}
	leaf := byName["leaf1"]
	var mgmt netboxfake.Interface
	for _, i := range f.nb.InterfacesOf(leaf.ID) {
		if i.Name == "Management1" {
			mgmt = i
		}
	}
	var primary netboxfake.IPAddress
	for _, ip := range f.nb.IPs() {
		if ip.ID == leaf.PrimaryIP4 {
			primary = ip
		}
	}
	if primary.Address != "10.9.0.1/24" || primary.Interface != mgmt.ID || mgmt.ID == 0 || leaf.Serial != "JPE001" {
		t.Errorf("leaf1 = %+v, primary %+v on %+v; want 10.9.0.1/24 on Management1", leaf, primary, mgmt)
	}
	if byName["spine1"].PrimaryIP6 == 0 || byName["ghost"].PrimaryIP4 != 0 {
		t.Errorf("spine1 primary_ip6 %d, ghost primary_ip4 %d", byName["spine1"].PrimaryIP6, byName["ghost"].PrimaryIP4)
	}

	writes := len(f.nb.Writes())
	second := f.sync(Push, false)
	if got := f.nb.Writes()[writes:]; len(got) != 0 {
		t.Errorf("a second push wrote %v, want nothing", got)
	}
	if s := second.Push; s.Matched != 4 || s.Unchanged != 3 || s.Failed != 1 || len(s.Changes) != 0 {
		t.Errorf("second push = %+v, want 4 matched, 3 unchanged", s)
	}

	// Pull now finds every device by the primary IP push set.
	back := f.sync(Pull, false).Pull
	if back.Matched != 3 || back.Unmatched != 1 || back.UnmatchedDevices[0].Name != "ghost" {
		t.Errorf("pull after push = %+v, want 3 matched and ghost (no primary IP) unmatched", back)
	}
	if md := f.eng.Graph().Metadata("leaf2"); md[KeySite] != "default" || md[KeyRole] != "unknown" {
		t.Errorf("leaf2 metadata = %v, want the defaults push gave it", md)
	}
}

// An existing NetBox device is updated in place: what the graph says wins,
// defaults never move it, a free address is assigned, not duplicated.
func TestPushUpdatesWhatDiffers(t *testing.T) {
	f := newFixture(t, network()[:2])
	site := f.nb.AddSite("dc1", "dc1")
	mf := f.nb.AddManufacturer("Arista", "arista")
	dt := f.nb.AddDeviceType(mf.ID, "DCS-7050SX3", "dcs-7050sx3")
	role := f.nb.AddRole("leaf", "leaf")
	other := f.nb.AddSite("Elsewhere", "elsewhere")
	name := "leaf1"
	leaf := f.nb.AddDevice(netboxfake.Device{Name: &name, DeviceType: dt.ID, Role: role.ID, Site: site.ID, Serial: "OLD"})
	eth := f.nb.AddInterface(leaf.ID, "Ethernet1", "10gbase-x-sfpp")
	f.nb.AddIP("10.9.0.1/24", 0)
	name2 := "leaf2"
	f.nb.AddDevice(netboxfake.Device{Name: &name2, DeviceType: dt.ID, Role: role.ID, Site: other.ID})

	dry := f.sync(Push, true).Push
	rep := f.sync(Push, false).Push
	if !slices.Equal(rep.Changes, dry.Changes) {
		t.Errorf("push changes differ from the dry run's:\n%+v\n%+v", rep.Changes, dry.Changes)
	}
	if rep.Matched != 2 || rep.Updated != 2 || rep.Failed != 0 {
		t.Errorf("push = %+v, want both matched and updated", rep)
	}
	for _, c := range []Change{
		{Object: "dcim.device leaf1", Action: "update", Field: "serial", Old: "OLD", New: "JPE001"},
		{Object: "dcim.interface leaf1 Ethernet1", Action: "update", Field: "mtu", Old: nil, New: 9214},
		{Object: "ipam.ip-address 10.9.0.1/24", Action: "update", Field: "assigned_object", Old: nil, New: "dcim.interface leaf1 Management1"},
	} {
		if !slices.Contains(rep.Changes, c) {
			t.Errorf("push lacks change %+v; has %+v", c, rep.Changes)
		}
	}
	for _, i := range f.nb.InterfacesOf(leaf.ID) {
		if i.ID == eth.ID && (i.Type != "10gbase-x-sfpp" || i.MTU != 9214 || i.Description != "to spine1") {
			t.Errorf("Ethernet1 = %+v, want its NetBox type kept and MTU, description set", i)
		}
	}
	// Defaults make nothing when no device is created with them.
	if c := f.nb.Count(); c["sites"] != 2 || c["device-roles"] != 1 || c["manufacturers"] != 1 || c["device-types"] != 1 {
		t.Errorf("NetBox holds %v, want no default site, role, manufacturer or type made", c)
	}
	if n := f.nb.Count()["ip-addresses"]; n != 2 {
		t.Errorf("%d addresses, want 2 (10.9.0.1 assigned, not created twice)", n)
	}
	for _, d := range f.nb.Devices() {
		if *d.Name == "leaf2" && d.Site != other.ID {
			t.Errorf("leaf2 moved to site %d by a default", d.Site)
		}
	}
	writes := len(f.nb.Writes())
	f.sync(Push, false)
	if got := f.nb.Writes()[writes:]; len(got) != 0 {
		t.Errorf("a second push wrote %v", got)
	}
}

// NetBox refusing one device (400 with field errors) stops that device
// only, and leaves none of its interfaces or addresses behind.
func TestPushReportsRefusalsAndGoesOn(t *testing.T) {
	f := newFixture(t, network()[:3])
	f.nb.Before = func(r *http.Request, body []byte) (int, any) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/dcim/devices/" && strings.Contains(string(body), `"name":"leaf2"`) {
			return http.StatusBadRequest, map[string][]string{"name": {"Device name is reserved by a custom validator."}}
		}
		return 0, nil
	}
	rep := f.sync(Push, false).Push
	if rep.Created != 2 || rep.Failed != 1 || len(rep.Errors) != 1 {
		t.Fatalf("push = %+v, want leaf1 and spine1 created, leaf2 failed", rep)
	}
	e := rep.Errors[0]
	if e.Object != "dcim.device leaf2" || e.Status != 400 || !slices.Equal(e.Fields["name"], []string{"Device name is reserved by a custom validator."}) {
		t.Errorf("error = %+v, want NetBox's field error for leaf2", e)
	}
	for _, ip := range f.nb.IPs() {
		if ip.Address == "10.9.0.2/24" {
			t.Errorf("leaf2's address was created without its device: %+v", ip)
		}
	}
	if n := f.nb.Count()["interfaces"]; n != 4 {
		t.Errorf("%d interfaces, want leaf1's 3 and spine1's 1", n)
	}
}

// 429 and 5xx are retried; a refused token fails the sync without
// showing the token.
func TestRetriesAndRefusedToken(t *testing.T) {
	f := newFixture(t, network())
	seedNetBox(f.nb)
	var mu sync.Mutex
	answers := []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusBadGateway}
	f.nb.Before = func(*http.Request, []byte) (int, any) {
		mu.Lock()
		defer mu.Unlock()
		if len(answers) == 0 {
			return 0, nil
		}
		s := answers[0]
		answers = answers[1:]
		return s, nil
	}
	if rep := f.sync(Pull, false); rep.Pull.Matched != 1 {
		t.Errorf("pull after three retried answers = %+v", rep.Pull)
	}
	if n := f.nb.Requests(); n != 4 {
		t.Errorf("%d requests, want 3 refused and 1 served", n)
	}

	f.nb.Before = func(*http.Request, []byte) (int, any) { return http.StatusInternalServerError, nil }
	if _, err := f.syncer.Sync(context.Background(), Pull, false); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("sync against a NetBox always failing = %v, want its 500", err)
	}
	f.nb.Before = nil

	f.nb.Token = "another"
	_, err := f.syncer.Sync(context.Background(), Pull, false)
	var api *APIError
	if !errors.As(err, &api) || api.Status != 403 || api.Detail != "Invalid v1 token" || strings.Contains(err.Error(), token) {
		t.Errorf("sync with a refused token = %v, want NetBox's 403 without the token", err)
	}
}

func call(t *testing.T, s *Syncer, body string) (int, map[string]any) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetBodyString(body)
	s.Handlers()["admin_netbox_sync"](&ctx)
	var m map[string]any
	if err := json.Unmarshal(ctx.Response.Body(), &m); err != nil {
		t.Fatalf("answer is not JSON: %s", ctx.Response.Body())
	}
	return ctx.Response.StatusCode(), m
}

func errorMessage(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

func TestHandler(t *testing.T) {
	f := newFixture(t, network())
	seedNetBox(f.nb)

	code, m := call(t, f.syncer, `{"direction":"both","dry_run":true}`)
	if code != 200 || m["direction"] != "both" || m["dry_run"] != true || m["pull"] == nil || m["push"] == nil {
		t.Errorf("both, dry run = %d %v", code, m)
	}
	if w := f.nb.Writes(); len(w) != 0 {
		t.Errorf("a dry run through the endpoint wrote %v", w)
	}
	// The environment's direction (pull) when the body names none.
	if code, m := call(t, f.syncer, ``); code != 200 || m["direction"] != "pull" || m["push"] != nil {
		t.Errorf("empty body = %d %v, want a pull", code, m)
	}
	if code, m := call(t, f.syncer, `{"direction":"sideways"}`); code != 400 || !strings.Contains(errorMessage(m), "direction") {
		t.Errorf("bad direction = %d %v", code, m)
	}
	if code, m := call(t, f.syncer, `{"dry_run":"yes"}`); code != 400 || !strings.Contains(errorMessage(m), "dry_run") {
		t.Errorf("bad dry_run = %d %v", code, m)
	}

	unconfigured, err := New(Config{}, f.eng, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if code, m := call(t, unconfigured, `{}`); code != 503 || !strings.Contains(errorMessage(m), "NETBOX_URL") {
		t.Errorf("unconfigured = %d %v, want 503 naming NETBOX_URL", code, m)
	}

	// A second sync while one runs: 409.
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.nb.Before = func(*http.Request, []byte) (int, any) {
		once.Do(func() { close(entered); <-release })
		return 0, nil
	}
	done := make(chan int)
	go func() {
		code, _ := call(t, f.syncer, `{"direction":"pull"}`)
		done <- code
	}()
	<-entered
	if code, m := call(t, f.syncer, `{"direction":"push","dry_run":true}`); code != 409 {
		t.Errorf("second sync while one runs = %d %v, want 409", code, m)
	}
	close(release)
	if code := <-done; code != 200 {
		t.Errorf("the first sync = %d, want 200", code)
	}
	if code, _ := call(t, f.syncer, `{"direction":"pull"}`); code != 200 {
		t.Errorf("a sync after the first ended = %d, want 200", code)
	}
}

func TestSlugify(t *testing.T) {
	for in, want := range map[string]string{"DC One": "dc-one", "  Arista Networks, Inc. ": "arista-networks-inc", "C9300-48P": "c9300-48p", "***": "x"} {
		if got := Slugify(in); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", in, got, want)
		}
	}
}
