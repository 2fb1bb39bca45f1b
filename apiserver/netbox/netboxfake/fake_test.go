package netboxfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, data)
	}
	return resp.StatusCode, m
}

// The fake's own answers must match NetBox's document: a device with every
// relation set, listed and created, leaves no violation.
func TestAnswersMatchTheDocument(t *testing.T) {
	nb := New("tok")
	srv := httptest.NewServer(nb)
	defer srv.Close()
	site := nb.AddSite("DC 1", "dc1")
	tenant := nb.AddTenant("Ops", "ops")
	rack := nb.AddRack("R1", site.ID)
	mf := nb.AddManufacturer("Arista", "arista")
	dt := nb.AddDeviceType(mf.ID, "DCS-7050", "dcs-7050")
	role := nb.AddRole("Leaf", "leaf")
	name := "leaf1"
	dev := nb.AddDevice(Device{Name: &name, DeviceType: dt.ID, Role: role.ID, Site: site.ID, Tenant: tenant.ID, Rack: rack.ID})
	ifc := nb.AddInterface(dev.ID, "Management1", "1000base-t")
	ip := nb.AddIP("10.0.0.1/24", ifc.ID)
	nb.SetPrimaryIP4(dev.ID, ip.ID)

	for _, path := range []string{"/api/dcim/devices/", "/api/dcim/sites/", "/api/dcim/manufacturers/", "/api/dcim/device-types/",
		"/api/dcim/device-roles/", "/api/dcim/interfaces/?device_id=" + itoa(dev.ID), "/api/ipam/ip-addresses/?address=10.0.0.1"} {
		if code, body := call(t, srv, "GET", path, "tok", ""); code != 200 || body["count"] != 1.0 {
			t.Errorf("GET %s = %d %v", path, code, body)
		}
	}
	code, body := call(t, srv, "POST", "/api/dcim/devices/", "tok",
		`{"name":"leaf2","device_type":`+itoa(dt.ID)+`,"role":`+itoa(role.ID)+`,"site":`+itoa(site.ID)+`,"status":"active"}`)
	if code != 201 {
		t.Fatalf("POST device = %d %v", code, body)
	}
	if v := nb.Violations(); len(v) != 0 {
		t.Fatalf("violations:\n%s", strings.Join(v, "\n"))
	}
}

// What NetBox refuses, the fake refuses: a bad token, a body that breaks
// the document, a name twice in a site, an address twice.
func TestRefusesWhatNetBoxRefuses(t *testing.T) {
	nb := New("tok")
	srv := httptest.NewServer(nb)
	defer srv.Close()
	site := nb.AddSite("DC 1", "dc1")
	mf := nb.AddManufacturer("Arista", "arista")
	dt := nb.AddDeviceType(mf.ID, "DCS-7050", "dcs-7050")
	role := nb.AddRole("Leaf", "leaf")
	if code, _ := call(t, srv, "GET", "/api/dcim/devices/", "wrong", ""); code != 403 {
		t.Errorf("wrong token = %d, want 403", code)
	}
	dev := `{"name":"leaf1","device_type":` + itoa(dt.ID) + `,"role":` + itoa(role.ID) + `,"site":` + itoa(site.ID) + `}`
	if code, body := call(t, srv, "POST", "/api/dcim/devices/", "tok", dev); code != 201 {
		t.Fatalf("first device = %d %v", code, body)
	}
	if code, body := call(t, srv, "POST", "/api/dcim/devices/", "tok", dev); code != 400 || body["__all__"] == nil {
		t.Errorf("same name in the same site = %d %v, want 400 __all__", code, body)
	}
	if code, _ := call(t, srv, "POST", "/api/ipam/ip-addresses/", "tok", `{"address":"10.0.0.1/24"}`); code != 201 {
		t.Fatalf("first address = %d", code)
	}
	if code, body := call(t, srv, "POST", "/api/ipam/ip-addresses/", "tok", `{"address":"10.0.0.1/32"}`); code != 400 || body["address"] == nil {
		t.Errorf("same address twice = %d %v, want 400 address", code, body)
	}
	if len(nb.Violations()) != 0 {
		t.Fatalf("violations before the bad body: %v", nb.Violations())
	}
	// status is an enum in the document.
	if code, _ := call(t, srv, "POST", "/api/dcim/sites/", "tok", `{"name":"x","slug":"x","status":"bogus"}`); code != 400 {
		t.Errorf("site with a bogus status = %d, want 400", code)
	}
	// vrf is valid NetBox, but the fake models the global table only.
	if code, _ := call(t, srv, "POST", "/api/ipam/ip-addresses/", "tok", `{"address":"10.0.0.2/24","vrf":1}`); code != 400 {
		t.Errorf("address in a VRF = %d, want 400 (not modelled)", code)
	}
	if len(nb.Violations()) != 2 {
		t.Errorf("violations = %v, want the bogus status and the vrf", nb.Violations())
	}
}

// Pages follow NetBox: limit, offset, an absolute next.
func TestPaginates(t *testing.T) {
	nb := New("tok")
	srv := httptest.NewServer(nb)
	defer srv.Close()
	for i := range 5 {
		nb.AddSite("S"+itoa(i), "s"+itoa(i))
	}
	_, page := call(t, srv, "GET", "/api/dcim/sites/?limit=2", "tok", "")
	seen := 0
	for {
		seen += len(page["results"].([]any))
		next, _ := page["next"].(string)
		if next == "" {
			break
		}
		if !strings.HasPrefix(next, srv.URL+"/api/dcim/sites/?") {
			t.Fatalf("next = %q, want an absolute URL", next)
		}
		_, page = call(t, srv, "GET", strings.TrimPrefix(next, srv.URL), "tok", "")
	}
	if seen != 5 || page["count"] != 5.0 {
		t.Errorf("saw %d of count %v, want 5", seen, page["count"])
	}
	if len(nb.Violations()) != 0 {
		t.Fatal(nb.Violations())
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
