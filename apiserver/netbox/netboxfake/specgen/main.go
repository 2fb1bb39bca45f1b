// Command specgen cuts the NetBox OpenAPI document down to the operations
// the sync uses, with every schema they reference, so the fake NetBox
// validates against NetBox's own definitions without carrying all 13 MB.
//
//	go run ./apiserver/netbox/netboxfake/specgen -in openapi.json -out apiserver/netbox/netboxfake/openapi-subset.json
//
// The input is a NetBox's GET /api/schema/?format=json.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// operations are the path and methods kept; every other path is dropped.
var operations = map[string][]string{
	"/api/dcim/sites/":             {"get", "post"},
	"/api/dcim/manufacturers/":     {"get", "post"},
	"/api/dcim/device-types/":      {"get", "post"},
	"/api/dcim/device-roles/":      {"get", "post"},
	"/api/dcim/devices/":           {"get", "post"},
	"/api/dcim/devices/{id}/":      {"patch"},
	"/api/dcim/interfaces/":        {"get", "post"},
	"/api/dcim/interfaces/{id}/":   {"patch"},
	"/api/ipam/ip-addresses/":      {"get", "post"},
	"/api/ipam/ip-addresses/{id}/": {"patch"},
}

func main() {
	in := flag.String("in", "", "NetBox's OpenAPI document (JSON)")
	out := flag.String("out", "", "where to write the subset")
	flag.Parse()
	if *in == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "specgen: -in and -out are required")
		os.Exit(2)
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	sub, err := Subset(doc)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", " ")
	if err := enc.Encode(sub); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// Subset returns doc with only the kept operations and the schemas they
// reach through $ref, transitively.
func Subset(doc map[string]any) (map[string]any, error) {
	paths, _ := doc["paths"].(map[string]any)
	comps, _ := doc["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	keptPaths := map[string]any{}
	for p, methods := range operations {
		item, ok := paths[p].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("the document has no path %s", p)
		}
		kept := map[string]any{}
		for k, v := range item {
			if k == "parameters" {
				kept[k] = v
			}
		}
		for _, m := range methods {
			op, ok := item[m]
			if !ok {
				return nil, fmt.Errorf("the document has no %s %s", strings.ToUpper(m), p)
			}
			kept[m] = op
		}
		keptPaths[p] = kept
	}
	keptSchemas := map[string]any{}
	var queue []string
	collectRefs(keptPaths, &queue)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if _, done := keptSchemas[name]; done {
			continue
		}
		s, ok := schemas[name]
		if !ok {
			return nil, fmt.Errorf("schema %s is referenced but not defined", name)
		}
		keptSchemas[name] = s
		collectRefs(s, &queue)
	}
	return map[string]any{
		"openapi": doc["openapi"],
		"info":    doc["info"],
		"paths":   keptPaths,
		"components": map[string]any{
			"schemas":         keptSchemas,
			"securitySchemes": comps["securitySchemes"],
		},
	}, nil
}

const schemaRef = "#/components/schemas/"

func collectRefs(v any, queue *[]string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ref, ok := x[k].(string); ok && k == "$ref" {
				if !strings.HasPrefix(ref, schemaRef) {
					continue
				}
				*queue = append(*queue, strings.TrimPrefix(ref, schemaRef))
				continue
			}
			collectRefs(x[k], queue)
		}
	case []any:
		for _, e := range x {
			collectRefs(e, queue)
		}
	}
}
