// Package netboxfake is a NetBox REST API for tests: the operations the
// sync uses, checked against NetBox's own OpenAPI document (a subset of a
// NetBox 4.6.8's GET /api/schema/, cut by ./specgen). Every request is
// validated before it is served and every answer before it is sent; the
// fake paginates with limit/offset/next and refuses what NetBox's models
// refuse (a device name twice in a site, an IP address twice in the global
// table, a primary IP not on the device), answering 400 with field errors
// the way NetBox does. What a real NetBox would refuse for its shape is
// recorded in Violations, which a test checks is empty.
package netboxfake

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

//go:embed openapi-subset.json
var specJSON []byte

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

func router() (routers.Router, error) {
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(specJSON)
		if err != nil {
			specErr = fmt.Errorf("loading the NetBox OpenAPI subset: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = fmt.Errorf("the NetBox OpenAPI subset is invalid: %w", err)
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	return specRouter, specErr
}

// NetBox's pagination defaults (PAGINATE_COUNT, MAX_PAGE_SIZE).
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// Stamp is every object's created and last_updated.
const Stamp = "2026-01-01T00:00:00.000000Z"

// Server is one fake NetBox. Seed it with the Add methods, serve it with
// httptest.NewServer(s).
type Server struct {
	// Token is the API token a request must carry (Authorization: Token …
	// or Bearer …).
	Token string
	// Before, when set, runs before each authenticated request is served
	// with the request and its body; a status it returns other than 0 is
	// answered instead, with body (nil: {"detail": status text}), as an
	// overloaded NetBox (429, 503) or a custom validator (400) would.
	Before func(r *http.Request, body []byte) (status int, answer any)
	// MaxPageSize is NetBox's MAX_PAGE_SIZE (default 1000): a larger
	// limit is cut to it.
	MaxPageSize int

	mu         sync.Mutex
	nextID     int
	violations []string
	writes     []string
	requests   int

	sites         []*Site
	tenants       []*Tenant
	racks         []*Rack
	manufacturers []*Manufacturer
	deviceTypes   []*DeviceType
	roles         []*Role
	devices       []*Device
	interfaces    []*Interface
	ips           []*IPAddress
}

// Model objects, as NetBox stores them.
type (
	Site struct {
		ID         int
		Name, Slug string
	}
	Tenant struct {
		ID         int
		Name, Slug string
	}
	Rack struct {
		ID   int
		Name string
		Site int
	}
	Manufacturer struct {
		ID         int
		Name, Slug string
	}
	DeviceType struct {
		ID           int
		Manufacturer int
		Model, Slug  string
	}
	Role struct {
		ID                int
		Name, Slug, Color string
	}
	Device struct {
		ID                     int
		Name                   *string
		DeviceType, Role, Site int
		Tenant, Rack           int // 0: none
		Status, Serial         string
		PrimaryIP4, PrimaryIP6 int // 0: none
	}
	Interface struct {
		ID          int
		Device      int
		Name, Type  string
		Enabled     bool
		MTU         int // 0: none
		Description string
	}
	IPAddress struct {
		ID          int
		Address     string // with prefix length
		Status      string
		Interface   int // assigned dcim.interface, 0: none
		Description string
	}
)

// New returns an empty NetBox accepting token.
func New(token string) *Server { return &Server{Token: token} }

func (s *Server) id() int { s.nextID++; return s.nextID }

// AddSite and the other Add methods seed objects as an operator would
// have made them in NetBox's UI.
func (s *Server) AddSite(name, slug string) *Site {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Site{ID: s.id(), Name: name, Slug: slug}
	s.sites = append(s.sites, o)
	return o
}

func (s *Server) AddTenant(name, slug string) *Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Tenant{ID: s.id(), Name: name, Slug: slug}
	s.tenants = append(s.tenants, o)
	return o
}

func (s *Server) AddRack(name string, site int) *Rack {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Rack{ID: s.id(), Name: name, Site: site}
	s.racks = append(s.racks, o)
	return o
}

func (s *Server) AddManufacturer(name, slug string) *Manufacturer {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Manufacturer{ID: s.id(), Name: name, Slug: slug}
	s.manufacturers = append(s.manufacturers, o)
	return o
}

func (s *Server) AddDeviceType(manufacturer int, model, slug string) *DeviceType {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &DeviceType{ID: s.id(), Manufacturer: manufacturer, Model: model, Slug: slug}
	s.deviceTypes = append(s.deviceTypes, o)
	return o
}

func (s *Server) AddRole(name, slug string) *Role {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Role{ID: s.id(), Name: name, Slug: slug, Color: "9e9e9e"}
	s.roles = append(s.roles, o)
	return o
}

// AddDevice seeds a device; d.ID is assigned.
func (s *Server) AddDevice(d Device) *Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	d.ID = s.id()
	if d.Status == "" {
		d.Status = "active"
	}
	s.devices = append(s.devices, &d)
	return &d
}

func (s *Server) AddInterface(device int, name, typ string) *Interface {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Interface{ID: s.id(), Device: device, Name: name, Type: typ, Enabled: true}
	s.interfaces = append(s.interfaces, o)
	return o
}

func (s *Server) AddIP(address string, iface int) *IPAddress {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &IPAddress{ID: s.id(), Address: address, Status: "active", Interface: iface}
	s.ips = append(s.ips, o)
	return o
}

// SetPrimaryIP4 makes an address a device's primary IPv4.
func (s *Server) SetPrimaryIP4(device, ip int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.device(device).PrimaryIP4 = ip
}

// Violations are the requests a real NetBox would refuse for their shape
// (and answers the fake got wrong): a test asserts there are none.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

// Writes lists every POST and PATCH that changed something, as
// "METHOD path".
func (s *Server) Writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.writes)
}

// Requests counts the requests served, refused ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Devices returns copies of every device.
func (s *Server) Devices() []Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Device, len(s.devices))
	for i, d := range s.devices {
		out[i] = *d
	}
	return out
}

// InterfacesOf returns copies of a device's interfaces.
func (s *Server) InterfacesOf(device int) []Interface {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Interface
	for _, i := range s.interfaces {
		if i.Device == device {
			out = append(out, *i)
		}
	}
	return out
}

// IPs returns copies of every IP address.
func (s *Server) IPs() []IPAddress {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]IPAddress, len(s.ips))
	for i, o := range s.ips {
		out[i] = *o
	}
	return out
}

// Count is how many objects of each kind there are, by API path segment.
func (s *Server) Count() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]int{
		"sites": len(s.sites), "manufacturers": len(s.manufacturers), "device-types": len(s.deviceTypes),
		"device-roles": len(s.roles), "devices": len(s.devices), "interfaces": len(s.interfaces), "ip-addresses": len(s.ips),
	}
}

func (s *Server) violate(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// ServeHTTP validates, serves and validates the answer.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	// NetBox authenticates before anything else (403, not 401).
	if status, detail := s.authenticate(r); status != 0 {
		writeJSON(w, status, map[string]any{"detail": detail})
		return
	}
	if s.Before != nil {
		if status, answer := s.Before(r, body); status != 0 {
			if status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", "0")
			}
			if answer == nil {
				answer = map[string]any{"detail": http.StatusText(status)}
			}
			writeJSON(w, status, answer)
			return
		}
	}

	rt, err := router()
	if err != nil {
		s.mu.Lock()
		s.violate("%v", err)
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The router matches on the full URL; NetBox's document has no servers,
	// so any host is this one.
	route, pathParams, err := rt.FindRoute(r)
	if err != nil {
		s.mu.Lock()
		s.violate("%s %s: no such operation in the NetBox document: %v", r.Method, r.URL.Path, err)
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]any{"detail": "Not found."})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: pathParams, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		s.mu.Lock()
		s.violate("%s %s: request does not match NetBox's document: %v", r.Method, r.URL.RequestURI(), err)
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]any{"detail": err.Error()})
		return
	}

	s.mu.Lock()
	status, answer := s.serve(r, route.Operation.OperationID, pathParams, body)
	s.mu.Unlock()
	out, err := json.Marshal(answer)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if status/100 == 2 {
		header := http.Header{"Content-Type": {"application/json"}}
		rin := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: status, Header: header,
			Body:    io.NopCloser(bytes.NewReader(out)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		if err := openapi3filter.ValidateResponse(r.Context(), rin); err != nil {
			s.mu.Lock()
			s.violate("%s %s: the fake's answer does not match NetBox's document: %v", r.Method, r.URL.RequestURI(), err)
			s.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(out)
}

func (s *Server) authenticate(r *http.Request) (int, string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return http.StatusForbidden, "Authentication credentials were not provided."
	}
	keyword, token, _ := strings.Cut(h, " ")
	if (keyword != "Token" && keyword != "Bearer") || token != s.Token || s.Token == "" {
		return http.StatusForbidden, "Invalid v1 token"
	}
	return 0, ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// fieldErrors is NetBox's 400 body: field → messages.
type fieldErrors map[string][]string

func refuse(field, format string, args ...any) (int, any) {
	return http.StatusBadRequest, fieldErrors{field: {fmt.Sprintf(format, args...)}}
}

func (s *Server) serve(r *http.Request, op string, params map[string]string, body []byte) (int, any) {
	base := "http://" + r.Host
	switch {
	case strings.HasSuffix(op, "_create"):
		return s.create(r, base, strings.TrimSuffix(op, "_create"), body)
	case strings.HasSuffix(op, "_list"):
		return s.list(r, base, strings.TrimSuffix(op, "_list"))
	case strings.HasSuffix(op, "_partial_update"):
		id, err := strconv.Atoi(params["id"])
		if err != nil {
			return http.StatusNotFound, map[string]any{"detail": "No object matches the given query."}
		}
		return s.patch(r, base, strings.TrimSuffix(op, "_partial_update"), id, body)
	}
	s.violate("%s: operation not implemented by the fake", op)
	return http.StatusNotImplemented, map[string]any{"detail": op + " is not implemented by the fake"}
}

// modelled are the fields the fake stores, per kind; a write naming any
// other (valid in NetBox: vrf, tenant of an address, …) is a violation
// rather than silently dropped, so no test passes on a field the fake
// would not have checked.
var modelled = map[string][]string{
	"dcim_sites":         {"name", "slug", "status"},
	"dcim_manufacturers": {"name", "slug"},
	"dcim_device_roles":  {"name", "slug", "color"},
	"dcim_device_types":  {"manufacturer", "model", "slug"},
	"dcim_devices":       {"name", "device_type", "role", "site", "tenant", "rack", "status", "serial", "primary_ip4", "primary_ip6"},
	"dcim_interfaces":    {"device", "name", "type", "enabled", "mtu", "description"},
	"ipam_ip_addresses":  {"address", "status", "description", "assigned_object_type", "assigned_object_id"},
}

// decodeObject reads a write body; the fake takes one object, not a list.
func (s *Server) decodeObject(op string, body []byte) (map[string]any, bool) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		s.violate("%s: the fake takes one JSON object per request: %v", op, err)
		return nil, false
	}
	for k := range m {
		if !slices.Contains(modelled[op], k) {
			s.violate("%s: field %q is not modelled by the fake", op, k)
			return nil, false
		}
	}
	return m, true
}

// ref reads a foreign key given as an id; NetBox also takes a brief object
// of natural keys, which the sync does not send.
func (s *Server) ref(m map[string]any, field string) (int, bool, bool) {
	v, ok := m[field]
	if !ok {
		return 0, false, true
	}
	if v == nil {
		return 0, true, true
	}
	f, isNum := v.(float64)
	if !isNum {
		s.violate("%s given as %T; the fake takes foreign keys as ids only", field, v)
		return 0, true, false
	}
	return int(f), true, true
}

func str(m map[string]any, field string) (string, bool) {
	v, ok := m[field]
	if !ok || v == nil {
		return "", ok
	}
	sv, _ := v.(string)
	return sv, true
}

func (s *Server) create(r *http.Request, base, kind string, body []byte) (int, any) {
	m, ok := s.decodeObject(kind, body)
	if !ok {
		return http.StatusBadRequest, map[string]any{"detail": "expected one object"}
	}
	var status int
	var out any
	switch kind {
	case "dcim_sites":
		status, out = s.createNamed(base, "sites", m)
	case "dcim_manufacturers":
		status, out = s.createNamed(base, "manufacturers", m)
	case "dcim_device_roles":
		status, out = s.createNamed(base, "device-roles", m)
	case "dcim_device_types":
		status, out = s.createDeviceType(base, m)
	case "dcim_devices":
		status, out = s.createDevice(base, m)
	case "dcim_interfaces":
		status, out = s.createInterface(base, m)
	case "ipam_ip_addresses":
		status, out = s.createIP(base, m)
	default:
		s.violate("%s create: not implemented by the fake", kind)
		return http.StatusNotImplemented, map[string]any{"detail": "not implemented"}
	}
	if status == http.StatusCreated {
		s.writes = append(s.writes, "POST "+r.URL.Path)
	}
	return status, out
}

func (s *Server) createNamed(base, kind string, m map[string]any) (int, any) {
	name, _ := str(m, "name")
	slug, _ := str(m, "slug")
	type named struct{ name, slug string }
	var existing []named
	switch kind {
	case "sites":
		for _, o := range s.sites {
			existing = append(existing, named{o.Name, o.Slug})
		}
	case "manufacturers":
		for _, o := range s.manufacturers {
			existing = append(existing, named{o.Name, o.Slug})
		}
	case "device-roles":
		for _, o := range s.roles {
			existing = append(existing, named{o.Name, o.Slug})
		}
	}
	singular := map[string]string{"sites": "site", "manufacturers": "manufacturer", "device-roles": "device role"}[kind]
	for _, e := range existing {
		if strings.EqualFold(e.name, name) {
			return refuse("name", "%s with this name already exists.", singular)
		}
		if e.slug == slug {
			return refuse("slug", "%s with this slug already exists.", singular)
		}
	}
	switch kind {
	case "sites":
		o := &Site{ID: s.id(), Name: name, Slug: slug}
		s.sites = append(s.sites, o)
		return http.StatusCreated, s.renderSite(base, o)
	case "manufacturers":
		o := &Manufacturer{ID: s.id(), Name: name, Slug: slug}
		s.manufacturers = append(s.manufacturers, o)
		return http.StatusCreated, s.renderManufacturer(base, o)
	default:
		color, _ := str(m, "color")
		if color == "" {
			color = "9e9e9e"
		}
		o := &Role{ID: s.id(), Name: name, Slug: slug, Color: color}
		s.roles = append(s.roles, o)
		return http.StatusCreated, s.renderRole(base, o)
	}
}

func (s *Server) createDeviceType(base string, m map[string]any) (int, any) {
	mf, _, ok := s.ref(m, "manufacturer")
	if !ok {
		return refuse("manufacturer", "Incorrect type.")
	}
	if s.manufacturer(mf) == nil {
		return refuse("manufacturer", "Invalid pk \"%d\" - object does not exist.", mf)
	}
	model, _ := str(m, "model")
	slug, _ := str(m, "slug")
	for _, t := range s.deviceTypes {
		if t.Manufacturer == mf && strings.EqualFold(t.Model, model) {
			return refuse("__all__", "Device type model must be unique per manufacturer.")
		}
		if t.Manufacturer == mf && t.Slug == slug {
			return refuse("__all__", "Device type slug must be unique per manufacturer.")
		}
	}
	o := &DeviceType{ID: s.id(), Manufacturer: mf, Model: model, Slug: slug}
	s.deviceTypes = append(s.deviceTypes, o)
	return http.StatusCreated, s.renderDeviceType(base, o)
}

// applyDevice sets the fields m gives on d, checking references.
func (s *Server) applyDevice(d *Device, m map[string]any) (int, any) {
	if _, ok := m["name"]; ok {
		name, _ := str(m, "name")
		if m["name"] == nil {
			d.Name = nil
		} else {
			d.Name = &name
		}
	}
	if v, ok := str(m, "serial"); ok {
		d.Serial = v
	}
	if v, ok := str(m, "status"); ok {
		d.Status = v
	}
	for _, f := range []struct {
		field  string
		dst    *int
		exists func(int) bool
	}{
		{"device_type", &d.DeviceType, func(id int) bool { return s.deviceType(id) != nil }},
		{"role", &d.Role, func(id int) bool { return s.role(id) != nil }},
		{"site", &d.Site, func(id int) bool { return s.site(id) != nil }},
		{"tenant", &d.Tenant, func(id int) bool { return s.tenant(id) != nil }},
		{"rack", &d.Rack, func(id int) bool { return s.rack(id) != nil }},
		{"primary_ip4", &d.PrimaryIP4, func(id int) bool { return s.ip(id) != nil }},
		{"primary_ip6", &d.PrimaryIP6, func(id int) bool { return s.ip(id) != nil }},
	} {
		id, given, ok := s.ref(m, f.field)
		if !ok {
			return refuse(f.field, "Incorrect type.")
		}
		if !given {
			continue
		}
		if id != 0 && !f.exists(id) {
			return refuse(f.field, "Invalid pk \"%d\" - object does not exist.", id)
		}
		*f.dst = id
	}
	return 0, nil
}

// checkDevice is Device.clean and the model's unique constraints.
func (s *Server) checkDevice(d *Device) (int, any) {
	if d.Name != nil && *d.Name != "" {
		for _, o := range s.devices {
			if o.ID != d.ID && o.Name != nil && strings.EqualFold(*o.Name, *d.Name) && o.Site == d.Site && o.Tenant == d.Tenant {
				return refuse("__all__", "Device name must be unique per site.")
			}
		}
	}
	for _, p := range []struct {
		field  string
		id     int
		family int
	}{{"primary_ip4", d.PrimaryIP4, 4}, {"primary_ip6", d.PrimaryIP6, 6}} {
		if p.id == 0 {
			continue
		}
		ip := s.ip(p.id)
		if family(ip.Address) != p.family {
			return refuse(p.field, "%s is not an IPv%d address.", ip.Address, p.family)
		}
		if iface := s.iface(ip.Interface); iface == nil || iface.Device != d.ID {
			return refuse(p.field, "The specified IP address (%s) is not assigned to this device.", ip.Address)
		}
	}
	if d.Rack != 0 && s.rack(d.Rack).Site != d.Site {
		return refuse("rack", "Rack %s does not belong to site %s.", s.rack(d.Rack).Name, s.site(d.Site).Name)
	}
	return 0, nil
}

func (s *Server) createDevice(base string, m map[string]any) (int, any) {
	d := &Device{Status: "active"}
	if status, out := s.applyDevice(d, m); status != 0 {
		return status, out
	}
	d.ID = -1 // not yet saved: matches no existing device
	if status, out := s.checkDevice(d); status != 0 {
		return status, out
	}
	d.ID = s.id()
	s.devices = append(s.devices, d)
	return http.StatusCreated, s.renderDevice(base, d)
}

func (s *Server) createInterface(base string, m map[string]any) (int, any) {
	dev, _, ok := s.ref(m, "device")
	if !ok {
		return refuse("device", "Incorrect type.")
	}
	if s.device(dev) == nil {
		return refuse("device", "Invalid pk \"%d\" - object does not exist.", dev)
	}
	i := &Interface{Device: dev, Enabled: true}
	s.applyInterface(i, m)
	for _, o := range s.interfaces {
		if o.Device == dev && o.Name == i.Name {
			return refuse("__all__", "Interface with this Device and Name already exists.")
		}
	}
	i.ID = s.id()
	s.interfaces = append(s.interfaces, i)
	return http.StatusCreated, s.renderInterface(base, i)
}

func (s *Server) applyInterface(i *Interface, m map[string]any) {
	if v, ok := str(m, "name"); ok {
		i.Name = v
	}
	if v, ok := str(m, "type"); ok {
		i.Type = v
	}
	if v, ok := str(m, "description"); ok {
		i.Description = v
	}
	if v, ok := m["enabled"].(bool); ok {
		i.Enabled = v
	}
	if v, ok := m["mtu"]; ok {
		f, _ := v.(float64)
		i.MTU = int(f)
	}
}

func (s *Server) applyIP(ip *IPAddress, m map[string]any) (int, any) {
	if v, ok := str(m, "address"); ok {
		if _, err := netip.ParsePrefix(v); err != nil {
			return refuse("address", "Enter a valid IPv4 or IPv6 address with optional mask.")
		}
		ip.Address = v
	}
	if v, ok := str(m, "status"); ok {
		ip.Status = v
	}
	if v, ok := str(m, "description"); ok {
		ip.Description = v
	}
	typ, typGiven := str(m, "assigned_object_type")
	id, idGiven, ok := s.ref(m, "assigned_object_id")
	if !ok {
		return refuse("assigned_object_id", "A valid integer is required.")
	}
	if typGiven || idGiven {
		if id == 0 {
			ip.Interface = 0
		} else {
			if typ != "dcim.interface" {
				s.violate("assigned_object_type %q: the fake assigns to dcim.interface only", typ)
				return refuse("assigned_object_type", "not supported by the fake")
			}
			if s.iface(id) == nil {
				return refuse("assigned_object_id", "Related object not found using the provided numeric ID: %d", id)
			}
			// Moving the primary IP of a device off it: NetBox refuses.
			if ip.ID != 0 && ip.Interface != 0 && ip.Interface != id {
				for _, d := range s.devices {
					if (d.PrimaryIP4 == ip.ID || d.PrimaryIP6 == ip.ID) && d.ID != s.iface(id).Device {
						return refuse("interface", "Cannot reassign IP address while it is designated as the primary IP for the parent object")
					}
				}
			}
			ip.Interface = id
		}
	}
	return 0, nil
}

// checkIP is ENFORCE_GLOBAL_UNIQUE (NetBox's default): one host address
// once in the global table.
func (s *Server) checkIP(ip *IPAddress) (int, any) {
	host := hostOf(ip.Address)
	for _, o := range s.ips {
		if o.ID != ip.ID && hostOf(o.Address) == host {
			return refuse("address", "Duplicate IP address found in global table: %s", o.Address)
		}
	}
	return 0, nil
}

func (s *Server) createIP(base string, m map[string]any) (int, any) {
	ip := &IPAddress{Status: "active"}
	if status, out := s.applyIP(ip, m); status != 0 {
		return status, out
	}
	ip.ID = -1
	if status, out := s.checkIP(ip); status != 0 {
		return status, out
	}
	ip.ID = s.id()
	s.ips = append(s.ips, ip)
	return http.StatusCreated, s.renderIP(base, ip)
}

func (s *Server) patch(r *http.Request, base, kind string, id int, body []byte) (int, any) {
	m, ok := s.decodeObject(kind, body)
	if !ok {
		return http.StatusBadRequest, map[string]any{"detail": "expected one object"}
	}
	notFound := map[string]any{"detail": "No " + kind + " matches the given query."}
	var status int
	var out any
	switch kind {
	case "dcim_devices":
		d := s.device(id)
		if d == nil {
			return http.StatusNotFound, notFound
		}
		next := *d
		if status, out = s.applyDevice(&next, m); status != 0 {
			return status, out
		}
		if status, out = s.checkDevice(&next); status != 0 {
			return status, out
		}
		*d = next
		status, out = http.StatusOK, s.renderDevice(base, d)
	case "dcim_interfaces":
		i := s.iface(id)
		if i == nil {
			return http.StatusNotFound, notFound
		}
		if v, given, _ := s.ref(m, "device"); given && v != i.Device {
			return refuse("device", "Changing the device of an interface is not supported by the fake")
		}
		next := *i
		s.applyInterface(&next, m)
		for _, o := range s.interfaces {
			if o.ID != i.ID && o.Device == next.Device && o.Name == next.Name {
				return refuse("__all__", "Interface with this Device and Name already exists.")
			}
		}
		*i = next
		status, out = http.StatusOK, s.renderInterface(base, i)
	case "ipam_ip_addresses":
		ip := s.ip(id)
		if ip == nil {
			return http.StatusNotFound, notFound
		}
		next := *ip
		if status, out = s.applyIP(&next, m); status != 0 {
			return status, out
		}
		if status, out = s.checkIP(&next); status != 0 {
			return status, out
		}
		*ip = next
		status, out = http.StatusOK, s.renderIP(base, ip)
	default:
		s.violate("%s patch: not implemented by the fake", kind)
		return http.StatusNotImplemented, map[string]any{"detail": "not implemented"}
	}
	s.writes = append(s.writes, "PATCH "+r.URL.Path)
	return status, out
}

// filters are the list filters the fake implements, per list operation;
// a filter it does not know fails the test rather than being ignored.
var filters = map[string][]string{
	"dcim_sites":         {"id", "slug", "name"},
	"dcim_manufacturers": {"id", "slug", "name"},
	"dcim_device_roles":  {"id", "slug", "name"},
	"dcim_device_types":  {"id", "slug", "model", "manufacturer_id"},
	"dcim_devices":       {"id", "name", "site_id"},
	"dcim_interfaces":    {"id", "name", "device_id"},
	"ipam_ip_addresses":  {"id", "address", "interface_id"},
}

func (s *Server) list(r *http.Request, base, kind string) (int, any) {
	q := r.URL.Query()
	maxPage := s.MaxPageSize
	if maxPage == 0 {
		maxPage = MaxPageSize
	}
	limit, offset := min(DefaultPageSize, maxPage), 0
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
		if limit <= 0 || limit > maxPage {
			limit = maxPage
		}
	}
	if v := q.Get("offset"); v != "" {
		offset, _ = strconv.Atoi(v)
	}
	known := filters[kind]
	for k := range q {
		if k == "limit" || k == "offset" || k == "brief" || k == "ordering" {
			continue
		}
		if !slices.Contains(known, k) {
			s.violate("%s: filter %q is valid NetBox but not implemented by the fake", kind, k)
		}
	}
	match := func(field string, values ...string) bool {
		want, ok := q[field]
		if !ok {
			return true
		}
		for _, w := range want {
			for _, v := range values {
				// NetBox's plain filters are exact and case-sensitive
				// (name__ie is the insensitive one).
				if w == v {
					return true
				}
			}
		}
		return false
	}
	itoa := strconv.Itoa
	var all []any
	switch kind {
	case "dcim_sites":
		for _, o := range s.sites {
			if match("id", itoa(o.ID)) && match("slug", o.Slug) && match("name", o.Name) {
				all = append(all, s.renderSite(base, o))
			}
		}
	case "dcim_manufacturers":
		for _, o := range s.manufacturers {
			if match("id", itoa(o.ID)) && match("slug", o.Slug) && match("name", o.Name) {
				all = append(all, s.renderManufacturer(base, o))
			}
		}
	case "dcim_device_roles":
		for _, o := range s.roles {
			if match("id", itoa(o.ID)) && match("slug", o.Slug) && match("name", o.Name) {
				all = append(all, s.renderRole(base, o))
			}
		}
	case "dcim_device_types":
		for _, o := range s.deviceTypes {
			if match("id", itoa(o.ID)) && match("slug", o.Slug) && match("model", o.Model) && match("manufacturer_id", itoa(o.Manufacturer)) {
				all = append(all, s.renderDeviceType(base, o))
			}
		}
	case "dcim_devices":
		for _, o := range s.devices {
			name := ""
			if o.Name != nil {
				name = *o.Name
			}
			if match("id", itoa(o.ID)) && match("name", name) && match("site_id", itoa(o.Site)) {
				all = append(all, s.renderDevice(base, o))
			}
		}
	case "dcim_interfaces":
		for _, o := range s.interfaces {
			if match("id", itoa(o.ID)) && match("name", o.Name) && match("device_id", itoa(o.Device)) {
				all = append(all, s.renderInterface(base, o))
			}
		}
	case "ipam_ip_addresses":
		for _, o := range s.ips {
			// NetBox's address filter (net_in): a value with a mask is
			// that exact address, one without matches the host whatever
			// its mask.
			if want, ok := q["address"]; ok && !slices.ContainsFunc(want, func(a string) bool {
				if strings.Contains(a, "/") {
					return a == o.Address
				}
				return hostOf(a) == hostOf(o.Address)
			}) {
				continue
			}
			if match("id", itoa(o.ID)) && match("interface_id", itoa(o.Interface)) {
				all = append(all, s.renderIP(base, o))
			}
		}
	}
	page := map[string]any{"count": len(all), "next": nil, "previous": nil, "results": []any{}}
	if offset < len(all) {
		page["results"] = all[offset:min(offset+limit, len(all))]
	}
	pageURL := func(off int) string {
		u := *r.URL
		v := u.Query()
		v.Set("limit", strconv.Itoa(limit))
		if off == 0 {
			v.Del("offset")
		} else {
			v.Set("offset", strconv.Itoa(off))
		}
		u.RawQuery = v.Encode()
		return base + u.Path + "?" + u.RawQuery
	}
	if offset+limit < len(all) {
		page["next"] = pageURL(offset + limit)
	}
	if offset > 0 {
		page["previous"] = pageURL(max(offset-limit, 0))
	}
	return http.StatusOK, page
}

// Lookups by id (nil when absent).
func (s *Server) site(id int) *Site { return find(s.sites, func(o *Site) bool { return o.ID == id }) }
func (s *Server) tenant(id int) *Tenant {
	return find(s.tenants, func(o *Tenant) bool { return o.ID == id })
}
func (s *Server) rack(id int) *Rack { return find(s.racks, func(o *Rack) bool { return o.ID == id }) }
func (s *Server) manufacturer(id int) *Manufacturer {
	return find(s.manufacturers, func(o *Manufacturer) bool { return o.ID == id })
}
func (s *Server) deviceType(id int) *DeviceType {
	return find(s.deviceTypes, func(o *DeviceType) bool { return o.ID == id })
}
func (s *Server) role(id int) *Role { return find(s.roles, func(o *Role) bool { return o.ID == id }) }
func (s *Server) device(id int) *Device {
	return find(s.devices, func(o *Device) bool { return o.ID == id })
}
func (s *Server) iface(id int) *Interface {
	return find(s.interfaces, func(o *Interface) bool { return o.ID == id })
}
func (s *Server) ip(id int) *IPAddress {
	return find(s.ips, func(o *IPAddress) bool { return o.ID == id })
}

func find[T any](list []*T, pred func(*T) bool) *T {
	for _, o := range list {
		if pred(o) {
			return o
		}
	}
	return nil
}

func hostOf(address string) string {
	if p, err := netip.ParsePrefix(address); err == nil {
		return p.Addr().String()
	}
	if a, err := netip.ParseAddr(address); err == nil {
		return a.String()
	}
	return address
}

func family(address string) int {
	if a, err := netip.ParseAddr(hostOf(address)); err == nil && a.Is6() && !a.Is4In6() {
		return 6
	}
	return 4
}
