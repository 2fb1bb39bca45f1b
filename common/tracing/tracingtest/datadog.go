package tracingtest

import (
	"net"
	"net/http"
	"strconv"
	"testing"
)

// DatadogAgent is a fake of the Datadog Agent as a traced pod sees it,
// built from the Agent's documentation: its OTLP ingest ("OTLP Ingestion
// by the Datadog Agent": the OpenTelemetry Collector's OTLP/HTTP receiver,
// POST /v1/traces with protobuf bodies, on 4318 by default, set on the
// Agent by DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT) and its trace
// agent port (8126 by default, DD_TRACE_AGENT_PORT / DD_APM_RECEIVER_PORT),
// which speaks Datadog's own protocol (msgpack /v0.4/traces, GET /info).
// The product exports OTLP only, so anything sent to the trace agent port
// fails the test: a setting that sent spans there would be lost on a real
// Agent.
type DatadogAgent struct {
	// Host is DD_AGENT_HOST.
	Host string
	// OTLPPort is the OTLP/HTTP intake's port; TraceAgentPort is
	// DD_TRACE_AGENT_PORT's.
	OTLPPort, TraceAgentPort int
	*Receiver
}

// StartDatadogAgent serves both ports on loopback until the test ends.
func StartDatadogAgent(t *testing.T) *DatadogAgent {
	t.Helper()
	rcv := StartHTTP(t) // the Collector's OTLP/HTTP receiver, as the Agent embeds it
	_, port, err := net.SplitHostPort(rcv.URL[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	a := &DatadogAgent{Host: "127.0.0.1", Receiver: rcv}
	a.OTLPPort, _ = strconv.Atoi(port)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("Datadog Agent fake: unexpected %s %s on the trace agent port", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	a.TraceAgentPort = ln.Addr().(*net.TCPAddr).Port
	return a
}
