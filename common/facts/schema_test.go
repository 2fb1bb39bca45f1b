package facts_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/facts/factstest"
)

func TestJSONSchemaAcceptsTheFixtures(t *testing.T) {
	s := factstest.Schema(t)
	raw, err := os.ReadFile("testdata/design_example.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := factstest.Validate(s, raw); err != nil {
		t.Errorf("testdata/design_example.json does not validate: %v", err)
	}
	// Parse's output (normalized) is a document too.
	doc, err := facts.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := factstest.ValidateValue(t, s, doc); err != nil {
		t.Errorf("the normalized design example does not validate: %v", err)
	}
	// The smallest document: no devices.
	if err := factstest.Validate(s, []byte(`{"schema":"meshq.facts/v1"}`)); err != nil {
		t.Errorf("a document without devices does not validate: %v", err)
	}
}

// TestJSONSchemaRefusesWhatParseRefuses: each wrong document is refused by
// the schema and by Parse, for the same field.
func TestJSONSchemaRefusesWhatParseRefuses(t *testing.T) {
	s := factstest.Schema(t)
	for _, c := range []struct{ name, doc, want string }{
		{"mtu as a string", `{"schema":"meshq.facts/v1","devices":[{"hostname":"a","interfaces":[{"name":"e1","mtu":"9000"}]}]}`, "/devices/0/interfaces/0/mtu"},
		{"devices as an object", `{"schema":"meshq.facts/v1","devices":{"hostname":"a"}}`, "/devices"},
		{"admin_up as a string", `{"schema":"meshq.facts/v1","devices":[{"hostname":"a","interfaces":[{"name":"e1","admin_up":"yes"}]}]}`, "/devices/0/interfaces/0/admin_up"},
		{"unknown field", `{"schema":"meshq.facts/v1","devices":[{"hostname":"a","interfaces":[{"name":"e1","ip":"10.0.0.1/24"}]}]}`, "/devices/0/interfaces/0"},
		{"no hostname", `{"schema":"meshq.facts/v1","devices":[{"vendor":"cisco"}]}`, "/devices/0"},
		{"wrong schema", `{"schema":"meshq.facts/v2","devices":[]}`, "/schema"},
		{"no schema", `{"devices":[]}`, ""},
		{"VLAN 0", `{"schema":"meshq.facts/v1","devices":[{"hostname":"a","vlans":[{"id":0}]}]}`, "/devices/0/vlans/0/id"},
		{"collected_at not a time", `{"schema":"meshq.facts/v1","collected_at":"yesterday","devices":[]}`, "/collected_at"},
		{"rule without action", `{"schema":"meshq.facts/v1","devices":[{"hostname":"fw","firewall":{"rules":[{"rule_id":"1","rule_order":1}]}}]}`, "/devices/0/firewall/rules/0"},
	} {
		err := factstest.Validate(s, []byte(c.doc))
		if err == nil {
			t.Errorf("%s: the schema accepts %s", c.name, c.doc)
		} else if !strings.Contains(err.Error(), "'"+c.want+"'") {
			t.Errorf("%s: schema error %v, want it at %q", c.name, err, c.want)
		}
		if _, err := facts.Parse([]byte(c.doc)); err == nil {
			t.Errorf("%s: Parse accepts what the schema refuses: %s", c.name, c.doc)
		}
	}
}

func TestJSONSchemaDescribesTheTypes(t *testing.T) {
	raw, err := facts.JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		ID         string         `json:"$id"`
		Required   []string       `json:"required"`
		Additional *bool          `json:"additionalProperties"`
		Defs       map[string]any `json:"$defs"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.ID != facts.SchemaID || len(s.Required) != 1 || s.Required[0] != "schema" || s.Additional == nil || *s.Additional {
		t.Errorf("root: $id %q, required %v, additionalProperties %v; want %s, [schema], false", s.ID, s.Required, s.Additional, facts.SchemaID)
	}
	for _, name := range []string{"Device", "Interface", "Address", "VLAN", "Neighbor", "ARPEntry", "MACEntry", "Route", "BGPPeer", "Firewall", "Zone", "AddressObject", "ServiceObject", "Rule"} {
		d, ok := s.Defs[name].(map[string]any)
		if !ok || d["description"] == "" || d["description"] == nil {
			t.Errorf("$defs.%s missing or without its Go doc comment: %v", name, d)
		}
	}
}
