package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/tracing/tracingtest"
)

// With DD_AGENT_HOST (and the Agent's ports given as a pod gets them), the
// sidecar's request spans reach the Datadog Agent's OTLP intake, decoded
// there from the real OTLP protobufs, and nothing goes to the Agent's
// Datadog-protocol port.
func TestSpansReachTheDatadogAgent(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"rows":[],"row_count":0}`)
	}))
	t.Cleanup(upstream.Close)
	for _, c := range []struct{ name, portVar string }{
		{"DD_OTLP_HTTP_PORT", "DD_OTLP_HTTP_PORT"},
		{"agent setting", "DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			agent := tracingtest.StartDatadogAgent(t)
			port := strconv.Itoa(agent.OTLPPort)
			if c.portVar != "DD_OTLP_HTTP_PORT" {
				port = "0.0.0.0:" + port
			}
			sc := startSidecar(t, strings.TrimPrefix(upstream.URL, "http://"), map[string]string{
				"DD_AGENT_HOST": agent.Host, "DD_TRACE_AGENT_PORT": strconv.Itoa(agent.TraceAgentPort), c.portVar: port,
				"OTEL_BSP_SCHEDULE_DELAY": "50"})
			if status, _, body := do(t, "POST", sc.URL+"/queries/all_devices/execute",
				map[string]string{"X-API-Key": testKey, "Content-Type": "application/json"}, `{}`); status != 200 {
				t.Fatalf("all_devices = %d %s", status, body)
			}
			if err := sc.stop(); err != nil { // flushes the spans
				t.Fatal(err)
			}
			if !strings.Contains(sc.Log.String(), `"exporter":"datadog"`) {
				t.Errorf("the log does not say tracing goes to the Datadog Agent:\n%s", sc.Log)
			}
			var got tracingtest.Span
			eventually(t, "the query's span at the Agent", 10*time.Second, func() (bool, string) {
				for _, s := range agent.Spans() {
					if s.Service == "authsidecar" && s.Attributes["meshq.query.name"] == "all_devices" {
						got = s
						return true, ""
					}
				}
				return false, fmt.Sprintf("%+v", agent.Spans())
			})
			if got.Name != "POST /queries/{name}/execute" || got.Kind != 2 /* server */ || got.Attributes["http.response.status_code"] != "200" {
				t.Errorf("span at the Agent = %+v", got)
			}
		})
	}
}
