// Package obs builds the logger and the Prometheus registry each daemon
// uses, and serves metrics over fasthttp.
package obs

import (
	"io"
	"log/slog"

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
