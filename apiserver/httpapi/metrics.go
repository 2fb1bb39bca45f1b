package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/obs"
)

// metrics are the apiserver's Prometheus series: HTTP requests per route,
// named-query executions and latency per query, and the graph's version
// and size.
type metrics struct {
	httpRequests *prometheus.CounterVec
	httpLatency  *prometheus.HistogramVec
	queries      *prometheus.CounterVec
	queryLatency map[string]prometheus.Observer
}

func newMetrics(reg *prometheus.Registry, qr *query.Registry, eng *engine.Engine) *metrics {
	m := &metrics{
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshq_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "meshq_http_request_duration_seconds", Help: "HTTP request latency by route pattern.", Buckets: obs.LatencyBuckets,
		}, []string{"route", "method"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshq_query_requests_total", Help: "Named-query executions by query and status code.",
		}, []string{"query", "code"}),
		queryLatency: map[string]prometheus.Observer{},
	}
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "meshq_query_duration_seconds", Help: "Named-query latency (validation, execution and encoding).", Buckets: obs.LatencyBuckets,
	}, []string{"query"})
	for _, d := range qr.All() {
		m.queryLatency[d.Name] = lat.WithLabelValues(d.Name)
		m.queries.WithLabelValues(d.Name, "200")
	}
	reg.MustRegister(m.httpRequests, m.httpLatency, m.queries, lat,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshq_graph_version", Help: "Version of the graph being served."},
			func() float64 { return float64(eng.Graph().Version) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshq_graph_devices", Help: "Devices in the graph being served."},
			func() float64 { return float64(eng.Graph().Stats().Devices) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshq_graph_endpoints", Help: "Endpoints in the graph being served."},
			func() float64 { return float64(eng.Graph().Stats().Endpoints) }),
	)
	return m
}

// route returns the observer for one route; the codes a route answers with
// are few, so the per-code counter is resolved on each request.
func (m *metrics) route(method, path string) func(code int, d time.Duration) {
	lat := m.httpLatency.WithLabelValues(path, method)
	ok := m.httpRequests.WithLabelValues(path, method, "200")
	return func(code int, d time.Duration) {
		lat.Observe(d.Seconds())
		if code == 200 {
			ok.Inc()
			return
		}
		m.httpRequests.WithLabelValues(path, method, strconv.Itoa(code)).Inc()
	}
}

func (m *metrics) query(name string, code int, d time.Duration) {
	if o, ok := m.queryLatency[name]; ok {
		o.Observe(d.Seconds())
	}
	m.queries.WithLabelValues(name, strconv.Itoa(code)).Inc()
}
