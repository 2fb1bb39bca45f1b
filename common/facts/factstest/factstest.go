// Package factstest validates facts documents against facts.JSONSchema
// with an independent JSON Schema validator, for the tests of every package
// that makes facts (fixtures, the demo generator).
package factstest

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/meshoptixiq/mesh/common/facts"
)

// schemaURL is where the compiler files the schema; its $id resolves
// against it.
const schemaURL = "https://meshq.test" + facts.SchemaID

// Schema compiles facts.JSONSchema, asserting formats (date-time).
func Schema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	raw, err := facts.JSONSchema()
	if err != nil {
		t.Fatalf("facts.JSONSchema: %v", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("facts.JSONSchema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(schemaURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		t.Fatalf("compiling facts.JSONSchema: %v", err)
	}
	return s
}

// Validate checks one document (JSON) against the schema.
func Validate(s *jsonschema.Schema, doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// ValidateValue marshals v (a facts.Document, say) and validates it.
func ValidateValue(t testing.TB, s *jsonschema.Schema, v any) error {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return Validate(s, b)
}
