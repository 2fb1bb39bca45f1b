package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestConfigNeo4j(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"GRAPH_BACKEND": "neo4j", "NEO4J_URI": "bolt+s://graph.example:7687",
		"NEO4J_USER": "meshq", "NEO4J_PASSWORD": "s3cret"}))
	if err != nil {
		t.Fatalf("loadConfig = %v", err)
	}
	if c.Neo4j.URI != "bolt+s://graph.example:7687" || c.Neo4j.User != "meshq" || c.Neo4j.Password.Reveal() != "s3cret" || c.Neo4j.Database != "neo4j" {
		t.Errorf("neo4j config = %+v", c.Neo4j)
	}
	if c.GraphPoll != time.Second {
		t.Errorf("GRAPH_POLL_INTERVAL default on neo4j = %v, want 1s", c.GraphPoll)
	}
	var buf bytes.Buffer
	fmt.Fprint(&buf, c.LogValue())
	fmt.Fprintf(&buf, "%v %+v %#v", c, c, c)
	if strings.Contains(buf.String(), "s3cret") {
		t.Errorf("config as logged or printed shows NEO4J_PASSWORD: %s", buf.String())
	}

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"scheme":      {map[string]string{"NEO4J_URI": "http://graph:7474"}, `NEO4J_URI: scheme "http" is not one of`},
		"credentials": {map[string]string{"NEO4J_URI": "bolt://u:s3cret@graph"}, "NEO4J_URI: carries credentials"},
		"user":        {map[string]string{"NEO4J_URI": "neo4j://graph", "NEO4J_PASSWORD": "s3cret"}, "NEO4J_USER: must be set"},
		"ca on bolt":  {map[string]string{"NEO4J_URI": "bolt://graph", "NEO4J_CA_CERT": "/etc/ca.pem"}, "NEO4J_CA_CERT: is set but NEO4J_URI's scheme does not verify"},
		"ca on ssc":   {map[string]string{"NEO4J_URI": "bolt+ssc://graph", "NEO4J_CA_CERT": "/etc/ca.pem"}, "NEO4J_CA_CERT: is set but"},
		"fast poll":   {map[string]string{"NEO4J_URI": "bolt://graph", "GRAPH_POLL_INTERVAL": "10ms"}, "GRAPH_POLL_INTERVAL: 10ms is below 100ms"},
	} {
		tc.env["GRAPH_BACKEND"] = "neo4j"
		_, err := loadConfig(env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: loadConfig = %v, want %q without the password", name, err, tc.want)
		}
	}
}
