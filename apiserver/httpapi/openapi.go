package httpapi

import (
	"encoding/json"

	"github.com/meshoptixiq/mesh/apiserver/query"
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

// paramSchema is the JSON Schema of one parameter type.
func paramSchema(p query.Param) map[string]any {
	s := map[string]any{}
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

// OpenAPI renders the OpenAPI 3.0 document from the registry: one execute
// path per query, with its parameters as the request schema and its
// columns as the row schema.
func OpenAPI(reg *query.Registry) ([]byte, error) {
	errorRef := map[string]any{"$ref": "#/components/schemas/Error"}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errorRef}}}
	}
	jsonResp := func(desc string, schema map[string]any) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": schema}}}
	}
	obj := map[string]any{"type": "object"}
	paths := map[string]any{
		"/health":         map[string]any{"get": map[string]any{"summary": "Liveness (no I/O)", "operationId": "health", "responses": map[string]any{"200": jsonResp("alive", obj)}}},
		"/health/ready":   map[string]any{"get": map[string]any{"summary": "Readiness: graph loaded (status ready, or degraded with the reason while the store is unreachable and writes are refused)", "operationId": "health_ready", "responses": map[string]any{"200": jsonResp("ready or degraded", obj), "503": errResp("still loading")}}},
		"/health/redis":   map[string]any{"get": map[string]any{"summary": "Redis reachability, or single-process mode", "operationId": "health_redis", "responses": map[string]any{"200": jsonResp("ok", obj), "503": errResp("redis unreachable")}}},
		"/health/license": map[string]any{"get": map[string]any{"summary": "Licence plan", "operationId": "health_license", "responses": map[string]any{"200": jsonResp("plan", obj)}}},
		"/metrics":        map[string]any{"get": map[string]any{"summary": "Prometheus metrics", "operationId": "metrics", "responses": map[string]any{"200": map[string]any{"description": "text exposition format"}}}},
		"/queries/":       map[string]any{"get": map[string]any{"summary": "List the named queries", "operationId": "list_queries", "responses": map[string]any{"200": jsonResp("the registry", obj)}}},
		"/queries/{name}": map[string]any{"get": map[string]any{"summary": "Describe one named query", "operationId": "get_query",
			"parameters": []any{map[string]any{"name": "name", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}},
			"responses":  map[string]any{"200": jsonResp("the definition", obj), "404": errResp("no such query")}}},
		"/graph/ingest": map[string]any{"post": map[string]any{"summary": "Ingest a meshq.facts/v1 document", "operationId": "graph_ingest",
			"parameters":  []any{map[string]any{"name": "mode", "in": "query", "schema": map[string]any{"type": "string", "enum": []string{"merge", "replace"}, "default": "merge"}}},
			"requestBody": map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": obj}}},
			"responses":   map[string]any{"200": jsonResp("applied", obj), "400": errResp("bad facts, with paths"), "413": errResp("body too large"), "503": errResp("store unavailable; nothing applied")}}},
	}
	for _, d := range reg.All() {
		props := map[string]any{}
		var required []string
		for _, p := range d.AllParams() {
			props[p.Name] = paramSchema(p)
			if p.Required {
				required = append(required, p.Name)
			}
		}
		params := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			params["required"] = required
		}
		rowProps := map[string]any{}
		for _, c := range d.Columns {
			rowProps[c] = map[string]any{}
		}
		body := map[string]any{"type": "object", "properties": map[string]any{"parameters": params}, "additionalProperties": false}
		result := map[string]any{"type": "object", "properties": map[string]any{
			"query": map[string]any{"type": "string"}, "graph_version": map[string]any{"type": "integer"},
			"columns":   map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			"rows":      map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": rowProps, "required": d.Columns}},
			"row_count": map[string]any{"type": "integer"}, "truncated": map[string]any{"type": "boolean"},
			"next_cursor": map[string]any{"type": "string", "nullable": true},
		}}
		paths["/queries/"+d.Name+"/execute"] = map[string]any{"post": map[string]any{
			"summary": d.Description, "operationId": d.Name, "tags": []string{d.Tier},
			"x-permission": d.Permission(), "x-paged": d.Paged, "x-write": d.Write,
			"requestBody": map[string]any{"required": false, "content": map[string]any{"application/json": map[string]any{"schema": body}}},
			"responses": map[string]any{
				"200": jsonResp("answer; headers X-Row-Count and X-Query-Name", result),
				"400": errResp("bad parameters (the message names the parameter)"),
				"403": errResp("plan does not include the query"),
				"404": errResp("unknown query, or the named device does not exist"),
				"409": errResp("cursor from an older graph version"),
			},
		}}
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "MeshOptixIQ apiserver", "version": "1", "description": "Named queries over the network graph."},
		"paths":   paths,
		"components": map[string]any{"schemas": map[string]any{"Error": map[string]any{"type": "object", "properties": map[string]any{
			"error": map[string]any{"type": "object", "required": []string{"code", "message"}, "properties": map[string]any{
				"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}, "request_id": map[string]any{"type": "string"}}}}}}},
	}
	return json.MarshalIndent(doc, "", "  ")
}
