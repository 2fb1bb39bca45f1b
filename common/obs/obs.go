// Package obs builds the logger and the Prometheus registry each daemon
// uses, and serves metrics over fasthttp.
package obs

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"
)

// NewLogger returns a JSON logger at level, tagged with the daemon's name.
func NewLogger(w io.Writer, level slog.Level, daemon string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("daemon", daemon)
}

// NewRegistry returns daemon's registry (owned by it rather than the global
// default) with the Go runtime and process collectors and
// meshq_build_info.
func NewRegistry(daemon string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), buildInfoCollector(daemon))
	return reg
}

// MetricsHandler serves reg in the Prometheus text format on fasthttp.
func MetricsHandler(reg *prometheus.Registry) fasthttp.RequestHandler {
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
}

// LatencyBuckets spans 10 µs to 10 s, enough for in-memory queries and slow
// upstreams alike.
var LatencyBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// MetricsServer is a server for a metrics port of its own: GET or HEAD
// /metrics serves reg, anything else is a 404 (a 405 for another method),
// so that the port a monitoring namespace may reach exposes nothing else.
func MetricsServer(reg *prometheus.Registry) *fasthttp.Server {
	metrics := MetricsHandler(reg)
	return &fasthttp.Server{
		Name:               "meshq-metrics",
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       30 * time.Second,
		MaxRequestBodySize: 1 << 10,
		Handler: func(c *fasthttp.RequestCtx) {
			if string(c.Path()) != "/metrics" {
				c.Error("not found\n", fasthttp.StatusNotFound)
				return
			}
			if !c.IsGet() && !c.IsHead() {
				c.Error("method not allowed\n", fasthttp.StatusMethodNotAllowed)
				c.Response.Header.Set(fasthttp.HeaderAllow, "GET, HEAD") // after Error, which resets the headers
				return
			}
			metrics(c)
		},
	}
}
