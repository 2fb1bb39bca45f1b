package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"testing"

	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/facts"
)

// BenchmarkHandlerLocateEndpointByIP is the server's whole per-request
// path (routing, request id, metrics, body decoding, query, encoding) for
// the hottest query, without the network, on a 1k-device demo network.
func BenchmarkHandlerLocateEndpointByIP(b *testing.B) {
	doc := demo.Generate(demo.Options{Seed: 1, Devices: 1000})
	if err := facts.Normalize(doc); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(graphtest.NewMemStore(), graph.Options{RootRoles: graph.DefaultRootRoles()}, log)
	g, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices)
	if err != nil {
		b.Fatal(err)
	}
	reg := query.NewBuiltin()
	handlers := telemetry.New(log, telemetry.Options{}).Handlers()
	nb, err := netbox.New(netbox.Config{}, eng, log)
	if err != nil {
		b.Fatal(err)
	}
	maps.Copy(handlers, nb.Handlers())
	maps.Copy(handlers, chaos.New(eng, log, chaos.Options{}).Handlers())
	maps.Copy(handlers, conversation.New(reg, eng, log, conversation.Options{}).Handlers())
	maps.Copy(handlers, spans.New(log, spans.Options{}).Handlers())
	api, err := httpapi.New(httpapi.Options{Engine: eng, Registry: reg, Log: log, Metrics: prometheus.NewRegistry(), MaxBodyBytes: 1 << 20,
		Handlers: handlers})
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for _, e := range g.Endpoints[:min(len(g.Endpoints), 1000)] {
		bodies = append(bodies, []byte(`{"parameters":{"ip":"`+e.IPs[0].IP.String()+`"}}`))
	}
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/queries/locate_endpoint_by_ip/execute")
		ctx.Request.SetBody(bodies[i%len(bodies)])
		api.Handler(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		i++
	}
}
