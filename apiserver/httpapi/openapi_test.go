package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/firewall/fwquery"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/routes"
)

// The event stream is text; kin-openapi decodes only the types it knows.
func init() { openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.PlainBodyDecoder) }

// loadDoc parses and validates an OpenAPI document with kin-openapi,
// examples included.
func loadDoc(t *testing.T, raw []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	return doc
}

// productionRegistry has the queries the daemon registers (serve.go).
func productionRegistry(t *testing.T) *query.Registry {
	t.Helper()
	reg := query.NewBuiltin()
	if err := reg.Register(fwquery.Definitions(pathanalysis.NewCache())...); err != nil {
		t.Fatal(err)
	}
	return reg
}

func TestOpenAPIIsValid(t *testing.T) {
	raw, err := httpapi.OpenAPI(productionRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	doc := loadDoc(t, raw)
	codes := doc.Components.Schemas["Error"].Value.Properties["error"].Value.Properties["code"].Value.Enum
	if len(codes) != len(apierror.Codes) {
		t.Errorf("Error.code enum = %v, want the codes of common/apierror %v", codes, apierror.Codes)
	}
	for _, s := range []string{"ApiKey", "Bearer", "ApiKeyQuery"} {
		if doc.Components.SecuritySchemes[s] == nil {
			t.Errorf("security scheme %s missing", s)
		}
	}
	if k := doc.Components.SecuritySchemes["ApiKey"].Value; k.In != "header" || k.Name != "X-API-Key" {
		t.Errorf("ApiKey = %s %s, want header X-API-Key", k.In, k.Name)
	}
	if k := doc.Components.SecuritySchemes["ApiKeyQuery"].Value; k.In != "query" || k.Name != "api_key" {
		t.Errorf("ApiKeyQuery = %s %s, want query api_key", k.In, k.Name)
	}
	if b := doc.Components.SecuritySchemes["Bearer"].Value; b.Scheme != "bearer" || b.BearerFormat != "JWT" {
		t.Errorf("Bearer = %s %s, want bearer JWT", b.Scheme, b.BearerFormat)
	}
}

// operationsOf lists the document's operations by operation id.
type documented struct {
	path, method string
	op           *openapi3.Operation
}

func operationsOf(doc *openapi3.T) map[string]documented {
	out := map[string]documented{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[op.OperationID] = documented{path, method, op}
		}
	}
	return out
}

// TestOpenAPIDescribesEveryRoute: each route of the table is in the
// document with its method, path, permission, event, write and feature;
// execute_query once per registered query; and nothing else is.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	reg := productionRegistry(t)
	raw, err := httpapi.OpenAPI(reg)
	if err != nil {
		t.Fatal(err)
	}
	ops := operationsOf(loadDoc(t, raw))
	seen := map[string]bool{}
	check := func(id, path string, rt routes.Route, permission string, write bool) {
		t.Helper()
		d, ok := ops[id]
		if !ok {
			t.Errorf("route %s %s (%s) is not in the OpenAPI document", rt.Method, path, id)
			return
		}
		seen[id] = true
		if d.path != path || d.method != rt.Method {
			t.Errorf("%s is %s %s in the document, want %s %s", id, d.method, d.path, rt.Method, path)
		}
		ext := d.op.Extensions
		if rt.Access == routes.Public {
			if d.op.Security == nil || len(*d.op.Security) != 0 {
				t.Errorf("%s is public: security must be [], is %v", id, d.op.Security)
			}
		} else {
			if ext["x-permission"] != permission {
				t.Errorf("%s x-permission = %v, want %s", id, ext["x-permission"], permission)
			}
			for _, status := range []int{401, 403, 429} {
				if r := d.op.Responses.Status(status); r == nil || r.Value.Content.Get("application/json").Schema.Ref != "#/components/schemas/Error" {
					t.Errorf("%s: no %d with the error envelope", id, status)
				}
			}
		}
		if ext["x-event"] != rt.Event || ext["x-write"] != write {
			t.Errorf("%s x-event %v x-write %v, want %s %v", id, ext["x-event"], ext["x-write"], rt.Event, write)
		}
		if f, _ := ext["x-feature"].(string); f != rt.Feature {
			t.Errorf("%s x-feature = %q, want %q", id, f, rt.Feature)
		}
		if rt.Direct && (ext["x-direct"] != true || d.op.Servers == nil || len(*d.op.Servers) == 0) {
			t.Errorf("%s is served on the apiserver's own port: want x-direct and its server", id)
		}
		for code, r := range d.op.Responses.Map() {
			if code[0] == '2' || r.Value.Content.Get("application/json") == nil {
				continue
			}
			if r.Value.Content.Get("application/json").Schema.Ref != "#/components/schemas/Error" {
				t.Errorf("%s %s: error response is not the Error envelope", id, code)
			}
		}
	}
	for _, rt := range routes.Of(routes.Apiserver) {
		if rt.OperationID != "execute_query" {
			check(rt.OperationID, rt.Path, rt, rt.Permission, rt.Write)
			continue
		}
		for _, d := range reg.All() {
			check(d.Name, strings.Replace(rt.Path, "{name}", d.Name, 1), rt, d.Permission(), rt.Write || d.Write)
			if ops[d.Name].op.Extensions["x-route"] != "execute_query" {
				t.Errorf("%s: x-route = %v, want execute_query", d.Name, ops[d.Name].op.Extensions["x-route"])
			}
		}
	}
	for id, d := range ops {
		if !seen[id] {
			t.Errorf("%s %s (%s) is in the document but no route of the table", d.method, d.path, id)
		}
	}
	if ops["events"].op.Security == nil || len(*ops["events"].op.Security) != 3 {
		t.Errorf("GET /events security = %v, want ApiKey, Bearer and ApiKeyQuery", ops["events"].op.Security)
	}
	for id, d := range ops {
		if id != "events" && d.op.Security != nil && slices.ContainsFunc(*d.op.Security, func(r openapi3.SecurityRequirement) bool { return r["ApiKeyQuery"] != nil }) {
			t.Errorf("%s accepts ?api_key=; only GET /events does", id)
		}
	}
	if ops["facts_schema"].path != facts.SchemaID {
		t.Errorf("facts_schema is at %s, want facts.SchemaID %s", ops["facts_schema"].path, facts.SchemaID)
	}
}

// TestOpenAPIRefusesAnUndescribedRoute: a route added to the table without
// a description, or a description left without its route, fails the
// build of the document (and so httpapi.New).
func TestOpenAPIRefusesAnUndescribedRoute(t *testing.T) {
	saved := routes.All
	t.Cleanup(func() { routes.All = saved })
	routes.All = append(slices.Clip(saved), routes.Route{Daemon: routes.Apiserver, Method: "GET", Path: "/undescribed",
		OperationID: "undescribed", Summary: "no description", Permission: "undescribed", Event: routes.EventQuery})
	if _, err := httpapi.OpenAPI(query.NewBuiltin()); err == nil || !strings.Contains(err.Error(), "undescribed") {
		t.Errorf("OpenAPI with an undescribed route = %v, want an error naming it", err)
	}
	// And a description whose route is gone.
	routes.All = slices.DeleteFunc(slices.Clone(saved), func(r routes.Route) bool { return r.OperationID == "ebpf_metrics" })
	if _, err := httpapi.OpenAPI(query.NewBuiltin()); err == nil || !strings.Contains(err.Error(), "ebpf_metrics") {
		t.Errorf("OpenAPI without the ebpf_metrics route = %v, want an error naming its description", err)
	}
}

// paramText is a parameter's example as it goes in a URL or header.
func paramText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOpenAPIExamplesAgainstTheServer calls every documented operation on
// a real server with the document's examples and validates each request
// and response against the document.
func TestOpenAPIExamplesAgainstTheServer(t *testing.T) {
	f := start(t, options{realHandlers: true})
	r := f.do(t, "GET", "/openapi.json", "")
	if r.status != 200 {
		t.Fatalf("GET /openapi.json = %d", r.status)
	}
	doc := loadDoc(t, r.body)
	ops := operationsOf(doc)
	ids := make([]string, 0, len(ops))
	for id := range ops {
		ids = append(ids, id)
	}
	// The telemetry report first, so that the telemetry reads have a node
	// to show; the rest in a fixed order.
	// The telemetry report and the chaos submission first, so that the
	// telemetry reads have a node to show and the chaos result an id; the
	// rest in a fixed order.
	first := map[string]int{"telemetry_report": 1, "chaos_simulate": 2, "tracing_spans": 3}
	slices.SortFunc(ids, func(a, b string) int {
		if first[a] != first[b] {
			if first[a] == 0 {
				return 1
			}
			if first[b] == 0 {
				return -1
			}
			return first[a] - first[b]
		}
		return strings.Compare(a, b)
	})
	for _, id := range ids {
		t.Run(id, func(t *testing.T) { callExample(t, f, doc, ops[id]) })
	}
	// And an error answer matches its documented envelope.
	d, opts := ops["get_query"], exampleOptions
	req, _ := http.NewRequest("GET", f.url+"/queries/nope", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	route := &routers.Route{Spec: doc, Path: d.path, PathItem: doc.Paths.Find(d.path), Method: d.method, Operation: d.op}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req,
		PathParams: map[string]string{"name": "nope"}, Route: route, Options: opts}, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out.SetBodyBytes(got)); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /queries/nope = %d %s: %v, want a 404 matching the Error envelope", resp.StatusCode, got, err)
	}
}

// lastChaosID is the run the chaos submission's example queued.
var lastChaosID string

// exampleOptions validate requests and responses; credentials are the
// sidecar's business, and a status the document does not list fails.
var exampleOptions = &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}

// callExample sends the operation's documented example to the server,
// wants a success, and validates the request and the response against the
// document.
func callExample(t *testing.T, f *fixture, doc *openapi3.T, d documented) {
	t.Helper()
	id, opts := d.op.OperationID, exampleOptions
	path, pathParams, q := d.path, map[string]string{}, url.Values{}
	req, err := http.NewRequest(d.method, f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range d.op.Parameters {
		pv := p.Value
		if pv.Example == nil {
			t.Fatalf("parameter %s of %s has no example", pv.Name, id)
		}
		v := paramText(pv.Example)
		if id == "chaos_results" && pv.Name == "id" {
			v = lastChaosID // what the chaos submission's example answered
		}
		switch pv.In {
		case "path":
			pathParams[pv.Name] = v
			path = strings.Replace(path, "{"+pv.Name+"}", url.PathEscape(v), 1)
		case "query":
			q.Set(pv.Name, v)
		case "header":
			req.Header.Set(pv.Name, v)
		}
	}
	req.URL.Path, req.URL.RawQuery = path, q.Encode()
	var body []byte
	if rb := d.op.RequestBody; rb != nil {
		mt := rb.Value.Content.Get("application/json")
		if mt == nil || mt.Example == nil {
			t.Fatalf("%s: request body without an application/json example", id)
		}
		body, _ = json.Marshal(mt.Example)
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		req.Header.Set("Content-Type", "application/json")
	}
	route := &routers.Route{Spec: doc, Path: d.path, PathItem: doc.Paths.Find(d.path), Method: d.method, Operation: d.op}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		t.Errorf("the example request does not match the document: %v", err)
	}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []byte
	if id == "events" {
		got = readEvents(t, resp.Body)
	} else if got, err = io.ReadAll(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s = %d %s, want success with the documented example", d.method, req.URL, resp.StatusCode, got)
	}
	if id == "chaos_simulate" {
		var queued struct{ ID string }
		json.Unmarshal(got, &queued)
		lastChaosID = queued.ID
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(got)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s: the response does not match the document: %v\nbody: %.2000s", d.method, req.URL, err, got)
	}
}

// readEvents reads the stream's head and first event, then stops.
func readEvents(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	br := bufio.NewReader(r)
	for blank := 0; blank < 2; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v (so far %q)", err, out.String())
		}
		out.WriteString(line)
		if line == "\n" {
			blank++
		}
	}
	return out.Bytes()
}

// TestOpenAPIFirewallExamplesAgainstTheDemo: the firewall queries' examples
// name the demo network's firewall and objects; called on a server with
// the daemon's registry and the smallest demo network, each answers and
// matches the document.
func TestOpenAPIFirewallExamplesAgainstTheDemo(t *testing.T) {
	net := demo.Generate(demo.Options{Seed: 1, Devices: demo.MinDevices})
	f := start(t, options{realHandlers: true, network: net.Devices, reg: productionRegistry(t)})
	doc := loadDoc(t, f.do(t, "GET", "/openapi.json", "").body)
	builtin := query.NewBuiltin()
	ops := operationsOf(doc)
	n := 0
	for id, d := range ops {
		if _, isBuiltin := builtin.Lookup(id); isBuiltin || d.op.Extensions["x-route"] != "execute_query" {
			continue
		}
		n++
		t.Run(id, func(t *testing.T) { callExample(t, f, doc, d) })
	}
	if want := len(fwquery.Definitions(pathanalysis.NewCache())); n != want {
		t.Errorf("called %d firewall queries, want %d", n, want)
	}
}

func TestFactsSchemaEndpoint(t *testing.T) {
	f := start(t, options{})
	r := f.do(t, "GET", facts.SchemaID, "")
	want, err := facts.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	if r.status != 200 || r.header.Get("Content-Type") != "application/schema+json" || !bytes.Equal(r.body, want) {
		t.Errorf("GET %s = %d %s, %d bytes; want 200 application/schema+json with facts.JSONSchema", facts.SchemaID, r.status, r.header.Get("Content-Type"), len(r.body))
	}
}
