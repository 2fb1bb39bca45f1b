package httpapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/meshoptixiq/mesh/common/license"

	"github.com/invopop/jsonschema"

	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/routes"
	contract "github.com/meshoptixiq/mesh/common/telemetry"
)

// definitionJSON describes one query in GET /queries/.
type definitionJSON struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Tier        string      `json:"tier"`
	Permission  string      `json:"permission"`
	Paged       bool        `json:"paged"`
	Write       bool        `json:"write"`
	Columns     []string    `json:"columns"`
	Parameters  []paramJSON `json:"parameters"`
}

type paramJSON struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Default     any      `json:"default,omitempty"`
	Description string   `json:"description,omitempty"`
	Min         *int     `json:"min,omitempty"`
	Max         *int     `json:"max,omitempty"`
	Enum        []string `json:"enum,omitempty"`
}

func describeDefinition(d *query.Definition) definitionJSON {
	out := definitionJSON{Name: d.Name, Description: d.Description, Tier: d.Tier, Permission: d.Permission(),
		Paged: d.Paged, Write: d.Write, Columns: d.Columns, Parameters: []paramJSON{}}
	for _, p := range d.AllParams() {
		pj := paramJSON{Name: p.Name, Type: string(p.Type), Required: p.Required, Default: p.Default, Description: p.Description, Enum: p.Enum}
		if p.Max > p.Min {
			pj.Min, pj.Max = &p.Min, &p.Max
		}
		out.Parameters = append(out.Parameters, pj)
	}
	return out
}

// obj is a JSON object in the document.
type obj = map[string]any

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

// cursorPattern is the alphabet of a cursor (base64url, unpadded).
const cursorPattern = "^[A-Za-z0-9_-]+$"

// paramSchema is the JSON Schema of one query parameter.
func paramSchema(p query.Param) obj {
	s := obj{}
	switch p.Type {
	case query.TypeInt:
		s["type"] = "integer"
		if p.Max > p.Min {
			s["minimum"], s["maximum"] = p.Min, p.Max
		}
	case query.TypeBool:
		s["type"] = "boolean"
	case query.TypeObject:
		s["type"] = "object"
	case query.TypeIP:
		s["type"], s["format"] = "string", "ip"
	case query.TypePrefix:
		s["type"], s["format"] = "string", "cidr"
	case query.TypeMAC:
		s["type"], s["format"] = "string", "mac"
	default:
		s["type"] = "string"
		s["maxLength"] = query.MaxStringBytes
	}
	if p.Name == "cursor" && p.Type == query.TypeString {
		s["pattern"] = cursorPattern
	}
	if len(p.Enum) > 0 {
		s["enum"] = p.Enum
	}
	if p.Default != nil {
		s["default"] = p.Default
	}
	if p.Description != "" {
		s["description"] = p.Description
	}
	return s
}

// paramExample is a value of the parameter for the document's examples:
// the definition's own example, else its default, else a value of its
// type.
func paramExample(p query.Param) any {
	switch {
	case p.Example != nil:
		return p.Example
	case p.Default != nil:
		return p.Default
	}
	switch p.Type {
	case query.TypeInt:
		return max(p.Min, 1)
	case query.TypeBool:
		return true
	case query.TypeObject:
		return obj{}
	case query.TypeIP:
		return "10.1.10.11"
	case query.TypePrefix:
		return "10.1.10.0/24"
	case query.TypeMAC:
		return "aa:bb:cc:00:00:01"
	}
	if len(p.Enum) > 0 {
		return p.Enum[0]
	}
	return p.Name
}

// OpenAPI renders the OpenAPI 3.0 document of the apiserver from the route
// table (common/routes), with POST /queries/{name}/execute expanded into
// one path per registered query: its parameters as the request schema,
// its columns as the row schema. Every route of the table is described, or
// this is an error.
func OpenAPI(reg *query.Registry) ([]byte, error) {
	schemas, err := componentSchemas()
	if err != nil {
		return nil, err
	}
	paths := obj{}
	ids := map[string]string{}
	add := func(path, method string, op obj) error {
		id := op["operationId"].(string)
		if prev, dup := ids[id]; dup {
			return fmt.Errorf("operation id %q of %s %s is also %s's", id, method, path, prev)
		}
		ids[id] = method + " " + path
		item, _ := paths[path].(obj)
		if item == nil {
			item = obj{}
			paths[path] = item
		}
		item[strings.ToLower(method)] = op
		return nil
	}
	for _, rt := range routes.Of(routes.Apiserver) {
		if rt.OperationID == "execute_query" {
			for _, d := range reg.All() {
				op := executeOperation(d)
				decorate(op, rt, d.Permission())
				op["x-route"] = rt.OperationID
				op["x-paged"], op["x-write"] = d.Paged, rt.Write || d.Write
				if err := add(strings.Replace(rt.Path, "{name}", d.Name, 1), rt.Method, op); err != nil {
					return nil, err
				}
			}
			continue
		}
		describe, ok := operations[rt.OperationID]
		if !ok {
			return nil, fmt.Errorf("route %s %s (%s) has no OpenAPI description", rt.Method, rt.Path, rt.OperationID)
		}
		op := describe()
		op["operationId"] = rt.OperationID
		decorate(op, rt, rt.Permission)
		if err := add(rt.Path, rt.Method, op); err != nil {
			return nil, err
		}
	}
	for id := range operations {
		if _, ok := ids[id]; !ok {
			return nil, fmt.Errorf("OpenAPI description %q has no route in common/routes", id)
		}
	}
	doc := obj{
		"openapi": "3.0.3",
		"info": obj{"title": "MeshOptixIQ apiserver", "version": "1", "description": "Named queries over the network graph, " +
			"graph ingest, node telemetry and the graph-version event stream. Clients reach it through the authsidecar, " +
			"which authenticates (X-API-Key, or a bearer JWT or personal access token), authorises each operation's " +
			"x-permission and rate-limits; the apiserver itself checks no credentials. Every error " +
			"is the Error envelope."},
		"servers":  []any{obj{"url": "/", "description": "through the authsidecar"}},
		"security": []any{obj{"ApiKey": []any{}}, obj{"Bearer": []any{}}},
		"tags": []any{
			obj{"name": "health", "description": "probes (public)"}, obj{"name": "meta", "description": "this document and the schemas"},
			obj{"name": "queries", "description": "named queries"}, obj{"name": "graph", "description": "ingest and graph events"},
			obj{"name": "telemetry", "description": "node agents' eBPF and NCCL telemetry"},
			obj{"name": "tracing", "description": "token-path tracing: OTLP spans, SLOs and their network correlation"},
		},
		"paths": paths,
		"components": obj{
			"schemas": schemas,
			"securitySchemes": obj{
				"ApiKey": obj{"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "an API key of the authsidecar (API_KEYS)"},
				"Bearer": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
					"description": "Authorization: Bearer with an OIDC access token (JWT) or a personal access token"},
				"ApiKeyQuery": obj{"type": "apiKey", "in": "query", "name": "api_key",
					"description": "the API key as ?api_key=, for GET /events only (EventSource cannot set headers)"},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// decorate adds what the route table says: security, the sidecar's
// refusals, the error envelope for every other status, and the x-
// extensions.
func decorate(op obj, rt routes.Route, permission string) {
	if op["summary"] == nil {
		op["summary"] = rt.Summary
	}
	responses := op["responses"].(obj)
	switch {
	case rt.Access == routes.Public:
		op["security"] = []any{}
		op["x-access"] = "public"
	default:
		if rt.Permission == routes.PermEvents {
			op["security"] = []any{obj{"ApiKey": []any{}}, obj{"Bearer": []any{}}, obj{"ApiKeyQuery": []any{}}}
		}
		op["x-access"] = "granted"
		op["x-permission"] = permission
		if responses["401"] == nil {
			responses["401"] = errorResponse("no or invalid credentials (the sidecar)", obj{"WWW-Authenticate": obj{"schema": obj{"type": "string"}}})
		}
		if responses["403"] == nil {
			responses["403"] = errorResponse("the caller's role is not granted " + permission + " (the sidecar)")
		}
		if responses["429"] == nil {
			responses["429"] = errorResponse("rate limited, or too many failed logins from this address (the sidecar)",
				obj{"Retry-After": obj{"schema": obj{"type": "integer"}, "description": "seconds"}})
		}
	}
	if rt.Direct {
		op["x-direct"] = true
		op["servers"] = []any{obj{"url": "http://{apiserver}", "description": "the apiserver's own port (API_LISTEN); through the door the sidecar answers this path with its own metrics",
			"variables": obj{"apiserver": obj{"default": "127.0.0.1:8080"}}}}
	}
	if _, ok := responses["default"]; !ok && !rt.Direct {
		responses["default"] = errorResponse("any other error: 404 unknown path, 405 method, 413 body too large, 500 internal, 502/504 from the sidecar when the apiserver does not answer")
	}
	op["x-event"] = rt.Event
	op["x-write"] = rt.Write
	if rt.Feature != "" {
		op["x-feature"] = rt.Feature
	}
}

func jsonContent(schema obj) obj { return obj{"application/json": obj{"schema": schema}} }

func jsonResponse(desc string, schema obj) obj {
	return obj{"description": desc, "content": jsonContent(schema)}
}

func errorResponse(desc string, headers ...obj) obj {
	r := jsonResponse(desc, ref("Error"))
	if len(headers) > 0 {
		r["headers"] = headers[0]
	}
	return r
}

// object is a closed object schema whose properties are all required.
func object(props obj, optional ...string) obj {
	var req []string
	for k := range props {
		if !slices.Contains(optional, k) {
			req = append(req, k)
		}
	}
	slices.Sort(req)
	s := obj{"type": "object", "properties": props}
	if len(req) > 0 {
		s["required"] = req
	}
	return s
}

var (
	str     = obj{"type": "string"}
	integer = obj{"type": "integer"}
	count   = obj{"type": "integer", "minimum": 0}
	boolean = obj{"type": "boolean"}
	anyJSON = obj{"description": "any JSON value, as the node agent sent it"}
)

func enum(values ...string) obj { return obj{"type": "string", "enum": values} }

// nullable marks s as also accepting null (OpenAPI 3.0).
func nullable(s obj) obj {
	out := obj{"nullable": true}
	for k, v := range s {
		out[k] = v
	}
	return out
}

func queryParam(name, desc string, schema obj, example any) obj {
	return obj{"name": name, "in": "query", "description": desc, "schema": schema, "example": example}
}

// nodeParam is the telemetry endpoints' ?node= filter.
var nodeParam = queryParam("node", "only this node (404 when it has sent no telemetry)", str, "gpu-node-1")

// operations describes each route of the table but the per-query ones;
// decorate adds what comes from the table itself.
var operations = map[string]func() obj{
	"health": func() obj {
		return obj{"tags": []any{"health"}, "responses": obj{"200": jsonResponse("alive", object(obj{"status": enum("ok")}))}}
	},
	"health_ready": func() obj {
		return obj{"tags": []any{"health"}, "responses": obj{
			// degraded: the store is unreachable; queries are answered from
			// memory and writes refused, so the pod stays in service.
			"200": jsonResponse("ready, or degraded with the reason while the store is unreachable (writes are refused)",
				object(obj{"status": enum("ready", "degraded"), "graph_version": count, "devices": count, "reason": str}, "reason")),
			"503": errorResponse("the graph is still loading"),
		}}
	},
	"health_redis": func() obj {
		return obj{"tags": []any{"health"}, "responses": obj{
			"200": jsonResponse("Redis answers, or single-process mode (no REDIS_URL)",
				object(obj{"status": enum("ok"), "mode": enum("single-process", "redis"), "message": str}, "message")),
			"503": errorResponse("redis is unreachable"),
		}}
	},
	"health_license": func() obj {
		return obj{"tags": []any{"health"}, "responses": obj{"200": jsonResponse("the licence plan",
			object(obj{"status": enum("ok", "expired"), "plan": enum(append(slices.Clone(license.Plans), license.Open)...),
				"licensed_plan": enum(append(slices.Clone(license.Plans), license.Open)...), "demo_mode": boolean, "licensee": str,
				"expired": boolean, "expires": nullable(obj{"type": "string", "format": "date-time"}), "days_remaining": nullable(integer),
				"devices_used": count, "devices_limit": nullable(count), "features": obj{"type": "array", "items": str},
				"message": str}, "message"))}}
	},
	"metrics": func() obj {
		return obj{"tags": []any{"health"}, "responses": obj{"200": obj{"description": "Prometheus text exposition format",
			"content": obj{"text/plain": obj{"schema": str}}}}}
	},
	"openapi": func() obj {
		return obj{"tags": []any{"meta"}, "responses": obj{"200": jsonResponse("this OpenAPI 3.0 document",
			obj{"type": "object", "required": []string{"openapi", "info", "paths"}})}}
	},
	"facts_schema": func() obj {
		return obj{"tags": []any{"meta"}, "description": "The JSON Schema (draft 2020-12) of the meshq.facts/v1 document POST /graph/ingest takes, generated from the Go types the ingest decodes into. The same schema is in this document as components/schemas/FactsDocument.",
			"responses": obj{"200": obj{"description": "the JSON Schema",
				"content": obj{"application/schema+json": obj{"schema": obj{"type": "object", "required": []string{"$schema", "$id", "properties"}}}}}}}
	},
	"list_queries": func() obj {
		return obj{"tags": []any{"queries"}, "responses": obj{"200": jsonResponse("every registered query",
			object(obj{"queries": obj{"type": "array", "items": ref("QueryDefinition")}, "count": count}))}}
	},
	"get_query": func() obj {
		return obj{"tags": []any{"queries"},
			"parameters": []any{obj{"name": "name", "in": "path", "required": true, "description": "the query's name",
				"schema": obj{"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$"}, "example": "all_devices"}},
			"responses": obj{"200": jsonResponse("the definition", ref("QueryDefinition")), "404": errorResponse("no such query")}}
	},
	"events": func() obj {
		return obj{"tags": []any{"graph"},
			"description": "A text/event-stream: first `retry: 3000`, then one `graph` event on connect and one per new graph version " +
				"(`event: graph`, `id: <version>`, `data: {\"graph_version\":<version>}`), and a `: keep-alive` comment after 15 s of quiet.",
			"parameters": []any{obj{"name": "Last-Event-ID", "in": "header", "description": "the last version seen: no event until the graph moves on (0, or none: the current version at once)",
				"schema": obj{"type": "string", "pattern": "^[0-9]+$"}, "example": "0"}},
			"responses": obj{"200": obj{"description": "the event stream", "content": obj{"text/event-stream": obj{"schema": str,
				"example": "retry: 3000\n\nevent: graph\nid: 3\ndata: {\"graph_version\":3}\n\n"}}}}}
	},
	"graph_ingest": func() obj {
		return obj{"tags": []any{"graph"},
			"description":  "Atomic: the whole document is applied, or nothing. The body's JSON Schema is also served at GET " + facts.SchemaID + ".",
			"externalDocs": obj{"description": "the body's JSON Schema (GET facts_schema)", "url": facts.SchemaID},
			"parameters": []any{queryParam("mode", "merge: add and replace the documents' devices; replace: the document becomes the graph",
				obj{"type": "string", "enum": []string{"merge", "replace"}, "default": "merge"}, "merge")},
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": ref("FactsDocument"),
				"example": obj{"schema": facts.Schema, "devices": []any{obj{"hostname": "edge9", "vendor": "juniper", "role": "border", "site": "hq",
					"interfaces": []any{obj{"name": "xe-0/0/0", "admin_up": true, "oper_up": true, "ips": []any{"10.9.0.1/31"}}}}}}}}},
			"responses": obj{
				"200": jsonResponse("applied", ref("IngestResult")),
				"400": errorResponse("not a valid meshq.facts/v1 document: every problem with its JSON path under error.problems"),
				"413": errorResponse("body larger than MAX_BODY_BYTES"),
				"503": errorResponse("the store could not complete the ingest (nothing applied), or this replica failed to reload after storing it"),
			}}
	},
	"admin_netbox_sync": func() obj {
		counts := obj{}
		for _, k := range []string{"matched", "unmatched", "created", "updated", "unchanged", "failed"} {
			counts[k] = count
		}
		loose := obj{"type": "object"}
		dir := object(obj{"matched": count, "unmatched": count, "created": count, "updated": count, "unchanged": count, "failed": count,
			"changes":           obj{"type": "array", "items": object(obj{"object": str, "action": enum("create", "update"), "field": str, "old": obj{}, "new": obj{}}, "old", "new")},
			"unmatched_devices": obj{"type": "array", "items": loose}, "errors": obj{"type": "array", "items": loose}})
		return obj{"tags": []any{"admin"},
			"description": "Pull enriches graph devices (matched by primary IP = mgmt_ip) with nb_site, nb_tenant, nb_rack, nb_role; push creates or updates NetBox devices; both pulls then pushes. A dry run lists the changes and writes nothing.",
			"requestBody": obj{"required": false, "content": obj{"application/json": obj{"schema": obj{"type": "object", "additionalProperties": false,
				"properties": obj{"direction": obj{"type": "string", "enum": []string{"pull", "push", "both"}, "description": "default NETBOX_SYNC_DIRECTION"},
					"dry_run": obj{"type": "boolean", "default": false}}},
				"example": obj{"direction": "pull", "dry_run": true}}}},
			"responses": obj{
				"200": jsonResponse("the report, per direction that ran", object(obj{"direction": enum("pull", "push", "both"), "dry_run": boolean, "pull": dir, "push": dir}, "pull", "push")),
				"400": errorResponse("bad body (the message names the field)"),
				"409": errorResponse("a sync is already running"),
				"502": errorResponse("NetBox could not be read"),
				"503": errorResponse("NETBOX_URL is not set"),
			}}
	},
	"chaos_simulate": func() obj {
		names := obj{"type": "array", "items": str}
		return obj{"tags": []any{"chaos"},
			"description": "Queues a failure scenario (any mix of devices, interfaces, links, VLANs, subnets; optional address pairs, GPU nodes and jobs) for the redundancy-aware blast-radius engine; poll GET /graph/chaos-results/{id}.",
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": obj{"type": "object",
				"properties": obj{"devices": names, "interfaces": obj{"type": "array", "items": obj{"type": "object"}}, "links": obj{"type": "array", "items": obj{"type": "object"}},
					"vlans": obj{"type": "array", "items": integer}, "subnets": names, "pairs": obj{"type": "array", "items": obj{"type": "object"}},
					"gpu_nodes": obj{"type": "array", "items": obj{"type": "object"}}, "jobs": obj{"type": "array", "items": obj{"type": "object"}}}},
				"example": obj{"devices": []any{"dist1"}}}}},
			"responses": obj{
				"202": jsonResponse("queued", object(obj{"id": str, "status": enum("pending"), "graph_version": count})),
				"400": errorResponse("bad scenario (the message names the field)"),
				"503": errorResponse("the queue is full (CHAOS_QUEUE)"),
			}}
	},
	"chaos_results": func() obj {
		return obj{"tags": []any{"chaos"},
			"parameters": []any{obj{"name": "id", "in": "path", "required": true, "schema": str, "example": "the id POST /graph/chaos-simulate answered"}},
			"responses": obj{
				"200": jsonResponse("the run's record; result once done, error once failed",
					object(obj{"id": str, "status": enum("pending", "running", "done", "failed"), "graph_version": count,
						"result": obj{"type": "object"}, "error": str,
						"reported_jobs": obj{"type": "array", "items": object(obj{"name": str, "nodes": obj{"type": "array", "items": str}})},
						"notes":         obj{"type": "array", "items": str}}, "result", "error", "graph_version", "reported_jobs", "notes")),
				"404": errorResponse("no such run, or it expired (CHAOS_RESULT_TTL)"),
			}}
	},
	"ai_conversation": func() obj {
		return obj{"tags": []any{"ai"},
			"description": "One named query per message, chosen by the built-in interpreter (or the configured LLM) and checked against the caller's grants exactly as a direct call would be.",
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": object(obj{"session_id": str, "message": str}, "session_id"),
				"example": obj{"message": "where is 10.1.10.11?"}}}},
			"responses": obj{
				"200": jsonResponse("the answer", object(obj{"session_id": str, "query": nullable(str), "parameters": obj{"type": "object", "nullable": true},
					"columns": obj{"type": "array", "items": str, "nullable": true}, "rows": obj{"type": "array", "items": obj{"type": "array", "items": obj{}}, "nullable": true, "description": "each row as an array in the order of columns"},
					"answer": str, "suggestions": obj{"type": "array", "items": str}}, "suggestions", "parameters", "columns", "rows")),
				"400": errorResponse("bad body (the message names the field)"),
				"403": errorResponse("the query the message asks for is not granted to the caller"),
				"404": errorResponse("the session is not yours, or it expired"),
				"502": errorResponse("the LLM provider failed"),
			}}
	},
	"tracing_spans": func() obj {
		binary := obj{"type": "string", "format": "binary"}
		kv := func(k string, v obj) obj { return obj{"key": k, "value": v} }
		example := obj{"resourceSpans": []any{obj{
			"resource": obj{"attributes": []any{kv("service.name", obj{"stringValue": "inference-gateway"}), kv("host.name", obj{"stringValue": "gpu-node-1"})}},
			"scopeSpans": []any{obj{"scope": obj{"name": "gateway"}, "spans": []any{obj{
				"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "POST /v1/chat/completions", "kind": 2,
				"startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": "1767225600900000000",
				"attributes": []any{kv("client.address", obj{"stringValue": "10.1.10.11"}), kv("network.local.address", obj{"stringValue": "10.1.20.12"}),
					kv("server.port", obj{"intValue": "443"})}}}}}}}}
		resp := object(obj{"partialSuccess": object(obj{"rejectedSpans": obj{"type": "string", "pattern": "^[0-9]+$", "description": "spans rejected (OTLP/JSON writes int64 as a string)"},
			"errorMessage": str}, "rejectedSpans", "errorMessage")}, "partialSuccess")
		return obj{"tags": []any{"tracing"},
			"description": "OTLP/HTTP: an ExportTraceServiceRequest in protobuf (application/x-protobuf) or OTLP/JSON (application/json; trace and span ids in hex), " +
				"optionally gzip (Content-Encoding). Point an OpenTelemetry exporter's traces endpoint here (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). " +
				"Spans without valid ids or times are rejected one by one (partial_success); the others are kept and evaluated against TRACING_SLOS. " +
				"The answer is an ExportTraceServiceResponse in the request's encoding; errors are a google.rpc.Status to protobuf requests and the error envelope otherwise.",
			"requestBody": obj{"required": true, "content": obj{
				"application/json":       obj{"schema": obj{"type": "object", "properties": obj{"resourceSpans": obj{"type": "array", "items": obj{"type": "object"}}}}, "example": example},
				"application/x-protobuf": obj{"schema": binary}}},
			"responses": obj{
				"200": obj{"description": "stored; partialSuccess says how many spans were rejected and why",
					"content": obj{"application/json": obj{"schema": resp}, "application/x-protobuf": obj{"schema": binary}}},
				"400": errorResponse("not an ExportTraceServiceRequest, or more spans than TRACING_MAX_BATCH_SPANS"),
				"413": errorResponse("body (or its gzip decoding) larger than TRACING_MAX_BODY_BYTES"),
				"415": errorResponse("Content-Type not application/x-protobuf or application/json, or a Content-Encoding other than gzip"),
			}}
	},
	"tracing_slo_violations": func() obj {
		num := obj{"type": "number"}
		node := nullable(object(obj{"node": str, "reported_at": dateTime(), "received_at": dateTime(), "tcp_source": str,
			"tcp_retransmits": count, "rtt_p50_us": num, "rtt_p99_us": num, "rtt_p999_us": num, "retransmit_events": count, "retransmits_in_range": count,
			"nccl_active_operations": count, "nccl_hung_operations": count, "nccl_hang": boolean, "nvlinks_down": count, "nvlink_down": boolean}, "tcp_source"))
		path := nullable(object(obj{"src": str, "dst": str, "service": str, "graph_version": count, "verdict": enum("permit", "deny", "unknown"),
			"reason": str, "hops": obj{"type": "array", "items": str}, "paths": count}))
		span := object(obj{"trace_id": str, "span_id": str, "parent_span_id": str, "service": str, "span_name": str, "kind": str,
			"start": dateTime(), "end": dateTime(), "status": str, "hosts": obj{"type": "array", "items": str},
			"src": str, "dst": str, "dst_port": count, "transport": str, "received": dateTime()},
			"parent_span_id", "status", "hosts", "src", "dst", "dst_port", "transport")
		viol := object(obj{"slo": str, "kind": enum("threshold", "percentile"), "latency_ms": num, "duration_ms": num,
			"percentile": num, "window": str, "window_spans": count, "window_over": count, "span": span,
			"network": object(obj{"host": str, "node": node, "node_reason": str, "path": path, "path_reason": str}, "host", "node_reason", "path_reason")},
			"percentile", "window", "window_spans", "window_over")
		return obj{"tags": []any{"tracing"},
			"description": "Newest first. Each violation carries the network at the span's arrival: its host's node agent telemetry (TCP retransmits, RTT quantiles, " +
				"NCCL hangs, NVLinks down, retransmit events during the span) and the graph's path between the span's addresses.",
			"parameters": []any{
				queryParam("since", "only violations of spans that arrived at or after this RFC 3339 time, or this long ago (a duration such as 5m)", str, "1h"),
				queryParam("slo", "only this SLO (a name in TRACING_SLOS)", str, "chat-latency"),
				queryParam("limit", "at most this many, newest first", obj{"type": "integer", "minimum": 1, "maximum": 5000, "default": 100}, 100),
			},
			"responses": obj{
				"200": jsonResponse("the violations: every replica's with Redis (scope shared), else this replica's (scope replica, scope_reason says why)", object(obj{"violations": obj{"type": "array", "items": viol}, "count": count,
					"scope": enum("shared", "replica"), "scope_reason": str,
					"slos":  obj{"type": "array", "items": str},
					"stats": object(obj{"requests": count, "spans_accepted": count, "spans_rejected": count, "violations": count})}, "scope_reason")),
				"400": errorResponse("a parameter is malformed (the message names it)"),
				"404": errorResponse("no SLO of that name"),
			}}
	},
	"telemetry_report": func() obj {
		return obj{"tags": []any{"telemetry"},
			"description": "For node agents without Redis; with Redis they write to the stream meshq:telemetry:<node> instead.",
			"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": ref("TelemetryReport"),
				"example": obj{"version": contract.Version, "node": "gpu-node-1", "time": "2026-11-20T10:00:00Z", "seq": 1, "boot_id": "b1",
					"status": obj{"ebpf": "ok"}, "tcp": obj{"connections": 12},
					"events": []any{obj{"time": "2026-11-20T09:59:58Z", "kind": "retransmit", "src": "10.0.0.5:43210", "dst": "10.0.0.9:443", "remote": "10.0.0.9", "retransmits": 3}},
					"gpu": obj{"status": "ok", "driver_version": "550.54.15", "gpus": []any{obj{"index": 0, "name": "NVIDIA H100",
						"nvlinks": []any{obj{"link": 0, "active": true, "version": 4, "remote_type": "gpu", "remote_gpu": 1}}}},
						"matrix": []any{[]any{"X"}}, "p2p_read": []any{[]any{"X"}}},
					"nccl": obj{"active_operations": []any{obj{"kind": "AllReduce", "category": "collective", "rank": 0, "seq": 7, "pid": 4242,
						"duration_ns": 1500000, "kind_average_ns": 1200000, "hang": false}}}}}}},
			"responses": obj{
				"202": jsonResponse("accepted", object(obj{"status": enum("accepted")})),
				"400": errorResponse("not a meshq.telemetry/v1 report, no node, time too far in the future, or too many nodes"),
				"409": errorResponse("stale: sequence number not above the last one of this boot id"),
				"413": errorResponse("report larger than the limit"),
			}}
	},
	"ebpf_metrics": func() obj {
		return obj{"tags": []any{"telemetry"}, "parameters": []any{nodeParam}, "responses": obj{
			"200": jsonResponse("each live node's latest TCP metrics, and the service's counters", object(obj{
				"nodes": obj{"type": "array", "items": object(obj{"node": str, "received_at": dateTime(), "reported_at": dateTime(),
					"status": anyJSON, "tcp": anyJSON, "dropped_events": count})},
				"reports_received": count, "reports_rejected": count, "reports_stale": count, "nodes_expired": count, "events_received": count,
			})),
			"404": errorResponse("no telemetry from the node named"),
		}}
	},
	"ebpf_events": func() obj {
		return obj{"tags": []any{"telemetry"}, "parameters": []any{nodeParam,
			queryParam("remote", "only events whose remote address is this IP", obj{"type": "string", "format": "ip"}, "10.0.0.9"),
			queryParam("since", "only events at or after this RFC 3339 time, or this long ago (a duration such as 5m)", str, "1h"),
			queryParam("limit", "at most this many events, newest first", obj{"type": "integer", "minimum": 1, "maximum": 5000, "default": 100}, 100),
		}, "responses": obj{
			"200": jsonResponse("recent events, newest first", object(obj{"events": obj{"type": "array", "items": ref("TelemetryEvent")}, "count": count})),
			"400": errorResponse("a parameter is malformed (the message names it)"),
		}}
	},
	"nccl_topology": func() obj {
		return obj{"tags": []any{"telemetry"}, "parameters": []any{nodeParam}, "responses": obj{
			"200": jsonResponse("each live node's GPUs, NVLinks and NCCL view", object(obj{"nodes": obj{"type": "array", "items": object(obj{
				"node": str, "reported_at": dateTime(), "nvml_status": str, "driver_version": str,
				"gpus": obj{"type": "array", "items": anyJSON}, "links": obj{"type": "array", "items": ref("TelemetryLink")},
				"matrix": stringMatrix(), "p2p_read": stringMatrix(),
				"nccl_topology": anyJSON, "communicators": anyJSON, "disagreements": anyJSON,
			}, "driver_version", "nccl_topology", "communicators", "disagreements")}})),
			"404": errorResponse("no telemetry from the node named"),
		}}
	},
	"nccl_operations": func() obj {
		return obj{"tags": []any{"telemetry"}, "parameters": []any{nodeParam,
			queryParam("hung", "only operations flagged as hung", boolean, false),
		}, "responses": obj{
			"200": jsonResponse("NCCL operations in flight on the live nodes", object(obj{
				"operations": obj{"type": "array", "items": ref("TelemetryOperation")}, "count": count, "hung": count})),
			"400": errorResponse("hung is not true or false"),
		}}
	},
}

func dateTime() obj { return obj{"type": "string", "format": "date-time"} }

// stringMatrix is a GPU-by-GPU matrix, null when the agent had none.
func stringMatrix() obj {
	return obj{"type": "array", "nullable": true, "items": obj{"type": "array", "items": str}}
}

// executeOperation describes POST /queries/<name>/execute for one query.
func executeOperation(d *query.Definition) obj {
	props := obj{}
	example := obj{}
	var required []string
	for _, p := range d.AllParams() {
		props[p.Name] = paramSchema(p)
		if p.Required {
			required = append(required, p.Name)
		}
		if p.Required || p.Example != nil {
			example[p.Name] = paramExample(p)
		}
	}
	params := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		params["required"] = required
	}
	rowProps := obj{}
	for _, c := range d.Columns {
		rowProps[c] = obj{"nullable": true}
	}
	body := obj{"type": "object", "properties": obj{"parameters": params}, "additionalProperties": false}
	resultProps := obj{
		"query": enum(d.Name), "graph_version": count,
		"columns": obj{"type": "array", "items": obj{"type": "string", "enum": d.Columns}},
		"rows": obj{"type": "array", "items": obj{"type": "object", "properties": rowProps, "required": d.Columns,
			"additionalProperties": false}},
		"row_count": count, "truncated": boolean,
		"next_cursor": obj{"type": "string", "pattern": cursorPattern, "nullable": true,
			"description": "null on the last page; else pass it back as the cursor parameter, with the same other parameters"},
	}
	resultRequired := []string{"query", "graph_version", "columns", "rows", "row_count", "truncated", "next_cursor"}
	if d.Paged {
		resultProps["total_rows"] = count
		resultRequired = append(resultRequired, "total_rows")
	}
	result := obj{"type": "object", "properties": resultProps, "required": resultRequired,
		"description": "Rows are objects keyed by column; some queries add named fields beside the rows (blast radius: summary)."}
	requiredHeader := func(desc string, schema obj) obj { return obj{"description": desc, "schema": schema, "required": true} }
	bodyRequired := len(required) > 0
	return obj{
		"operationId": d.Name, "summary": d.Description, "tags": []any{"queries"}, "x-tier": d.Tier,
		"requestBody": obj{"required": bodyRequired, "content": obj{"application/json": obj{"schema": body,
			"example": obj{"parameters": example}}}},
		"responses": obj{
			"200": obj{"description": "the answer (one page of a paged query)", "content": jsonContent(result), "headers": obj{
				"X-Row-Count":  requiredHeader("rows in this page", count),
				"X-Query-Name": requiredHeader("the query", str),
				"X-Plan-Tier":  requiredHeader("the plan tier of the query", str),
			}},
			"400": errorResponse("bad parameters or body (the message names the parameter), or a cursor of other parameters"),
			"403": errorResponse("the caller's role is not granted " + d.Permission() + " (the sidecar), or the plan does not include the query"),
			"404": errorResponse("a named device or interface does not exist"),
			"409": errorResponse("the cursor is from an older graph version: request the first page again"),
			"413": errorResponse("body larger than 1 MiB"),
			"503": errorResponse("cancelled, or (a write) the store could not complete it"),
		},
	}
}

// componentSchemas are the shared schemas: the error envelope, the query
// description, the ingest answer, and the facts and telemetry types
// reflected from their Go definitions.
func componentSchemas() (obj, error) {
	problem := object(obj{"path": str, "message": str})
	s := obj{
		"Error": object(obj{"error": object(obj{
			"code":       obj{"type": "string", "enum": apierror.Codes},
			"message":    obj{"type": "string", "description": "safe to show; names the field, parameter or variable that is wrong"},
			"request_id": obj{"type": "string", "description": "quote it to the operators"},
			"problems":   obj{"type": "array", "items": ref("Problem"), "description": "ingest only: every problem of the document, with its JSON path"},
			"more_problems": obj{"type": "integer", "minimum": 0,
				"description": fmt.Sprintf("ingest only: problems beyond the first %d, counted, not listed", facts.MaxProblems)},
		}, "request_id", "problems", "more_problems")}),
		"Problem": problem,
		"QueryDefinition": object(obj{
			"name": str, "description": str, "tier": enum(query.TierCommunity, query.TierPro, query.TierEnterprise), "permission": str,
			"paged": boolean, "write": boolean, "columns": obj{"type": "array", "items": str},
			"parameters": obj{"type": "array", "items": object(obj{
				"name": str, "type": enum(string(query.TypeString), string(query.TypeInt), string(query.TypeBool), string(query.TypeIP),
					string(query.TypePrefix), string(query.TypeMAC), string(query.TypeObject)),
				"required": boolean, "default": obj{"description": "typed as the parameter"}, "description": str,
				"min": integer, "max": integer, "enum": obj{"type": "array", "items": str},
			}, "default", "description", "min", "max", "enum")},
		}),
		"IngestResult": object(obj{
			"status": enum("ok"), "mode": enum("merge", "replace"), "graph_version": count, "ingested_devices": count,
			"graph": object(obj{"devices": count, "interfaces": count, "endpoints": count, "ip_addresses": count,
				"subnets": count, "vlans": count, "links": count, "firewall_rules": count}),
			"warnings": obj{"type": "array", "items": ref("Problem"),
				"description": "what was accepted but is doubtful (a neighbor's remote port no interface of the remote device answers to)"},
		}),
	}
	factsSchema, err := facts.JSONSchema()
	if err != nil {
		return nil, err
	}
	if err := addJSONSchema(s, "Facts", "Document", factsSchema); err != nil {
		return nil, err
	}
	// The report as the service decodes it (encoding/json: unknown fields
	// ignored, version and node checked), and the items of the answers.
	in := &jsonschema.Reflector{RequiredFromJSONSchemaTags: true, AllowAdditionalProperties: true, ExpandedStruct: true}
	report, err := json.Marshal(in.Reflect(&telemetry.Report{}))
	if err != nil {
		return nil, err
	}
	if err := addJSONSchema(s, "TelemetryReport", "", report); err != nil {
		return nil, err
	}
	rep := s["TelemetryReport"].(obj)
	rep["required"] = []string{"version", "node"}
	rep["properties"].(obj)["version"] = enum(contract.Version)
	out := &jsonschema.Reflector{ExpandedStruct: true}
	for name, v := range map[string]any{"TelemetryEvent": &telemetry.Event{}, "TelemetryOperation": &telemetry.Operation{}, "TelemetryLink": &telemetry.Link{}} {
		b, err := json.Marshal(out.Reflect(v))
		if err != nil {
			return nil, err
		}
		if err := addJSONSchema(s, name, "", b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addJSONSchema files a JSON Schema from invopop/jsonschema as OpenAPI 3.0
// component schemas: its root as prefix+rootName, each of its $defs as
// prefix+name, references rewritten to match.
func addJSONSchema(schemas obj, prefix, rootName string, raw []byte) error {
	var root obj
	if err := json.Unmarshal(raw, &root); err != nil {
		return err
	}
	defs, _ := root["$defs"].(map[string]any)
	delete(root, "$defs")
	delete(root, "$schema")
	delete(root, "$id")
	delete(root, "title")
	for name, d := range defs {
		if prefix+name == prefix+rootName {
			return fmt.Errorf("schema %s: $defs.%s clashes with the root", prefix, name)
		}
		schemas[prefix+name] = toOpenAPI30(d, prefix)
	}
	schemas[prefix+rootName] = toOpenAPI30(root, prefix)
	return nil
}

// toOpenAPI30 rewrites a draft 2020-12 schema into OpenAPI 3.0's dialect:
// $defs references become component references, boolean schemas become
// {} (true), const becomes a one-value enum.
func toOpenAPI30(v any, prefix string) any {
	switch x := v.(type) {
	case map[string]any:
		out := obj{}
		for k, val := range x {
			switch k {
			case "$ref":
				out[k] = strings.Replace(val.(string), "#/$defs/", "#/components/schemas/"+prefix, 1)
			case "const":
				out["enum"] = []any{val}
			case "properties":
				props := obj{}
				for name, p := range val.(map[string]any) {
					props[name] = schemaValue(p, prefix)
				}
				out[k] = props
			case "items":
				out[k] = schemaValue(val, prefix)
			default:
				out[k] = toOpenAPI30(val, prefix)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toOpenAPI30(e, prefix)
		}
		return out
	}
	return v
}

func schemaValue(v any, prefix string) any {
	if b, ok := v.(bool); ok && b {
		return obj{}
	}
	return toOpenAPI30(v, prefix)
}
