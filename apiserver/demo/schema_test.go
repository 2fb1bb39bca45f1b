package demo_test

import (
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/facts/factstest"
)

// TestGeneratedNetworkMatchesTheSchema: the demo networks, and the
// hand-built campus the HTTP tests load, are documents the published
// facts JSON Schema accepts.
func TestGeneratedNetworkMatchesTheSchema(t *testing.T) {
	s := factstest.Schema(t)
	for _, o := range []demo.Options{{Seed: 1, Devices: demo.MinDevices}, {Seed: 1}, {Seed: 7, Devices: demo.MinDevices, FirewallRules: 200}} {
		if err := factstest.ValidateValue(t, s, demo.Generate(o)); err != nil {
			t.Errorf("demo.Generate(%+v) does not validate: %v", o, err)
		}
	}
	campus := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := factstest.ValidateValue(t, s, campus); err != nil {
		t.Errorf("graphtest.Campus does not validate: %v", err)
	}
}
