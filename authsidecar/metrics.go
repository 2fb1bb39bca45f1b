package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/obs"
)

// metrics are the sidecar's own Prometheus series. Label values come from
// fixed sets, never from requests.
type metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec // outcome, class
	duration        prometheus.Histogram
	upstreamLatency prometheus.Histogram
	upstreamErrors  *prometheus.CounterVec // kind
	authFailures    *prometheus.CounterVec // reason
	decisions       *prometheus.CounterVec // decision
	reloads         *prometheus.CounterVec // result
	policyValid     prometheus.Gauge
	auditWritten    prometheus.Counter
	auditErrors     prometheus.Counter
	auditDropped    prometheus.Counter
	soarSent        *prometheus.CounterVec // result
	soarDropped     prometheus.Counter
	rateLimited     prometheus.Counter
	rateRedisErrors prometheus.Counter
	rateRedisSkip   prometheus.Counter
	rateBreakerOpen prometheus.Gauge
	jwksFetches     *prometheus.CounterVec // result
	patErrors       prometheus.Counter

	// Children resolved once: WithLabelValues hashes its labels on every
	// call, and these are counted on every request.
	byOutcome [3][4]prometheus.Counter // requests: [outcomeIndex][classIndex]
	allowed   prometheus.Counter       // decisions{decision="allow"}
	denied    prometheus.Counter       // decisions{decision="deny"}
}

// request counts one request by outcome and status.
func (m *metrics) request(outcome string, status int) {
	o := 0
	switch outcome {
	case audit.OutcomeDeny:
		o = 1
	case audit.OutcomeError:
		o = 2
	}
	m.byOutcome[o][classIndex(status)].Inc()
}

func classIndex(status int) int {
	switch {
	case status >= 500:
		return 3
	case status >= 400:
		return 2
	case status >= 300:
		return 1
	}
	return 0
}

func newMetrics() *metrics {
	reg := obs.NewRegistry("authsidecar")
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsidecar_requests_total",
			Help: "Requests by outcome (allow, deny, error) and status class."}, []string{"outcome", "class"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "authsidecar_request_duration_seconds",
			Help: "Time from request read to response ready, upstream included.", Buckets: obs.LatencyBuckets}),
		upstreamLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "authsidecar_upstream_duration_seconds",
			Help: "Time spent waiting for the upstream.", Buckets: obs.LatencyBuckets}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsidecar_upstream_errors_total",
			Help: "Upstream failures by kind (timeout, unavailable, other)."}, []string{"kind"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsidecar_auth_failures_total",
			Help: "Refused credentials by reason."}, []string{"reason"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsidecar_rbac_decisions_total",
			Help: "RBAC decisions."}, []string{"decision"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsidecar_rbac_reloads_total",
			Help: "Policy loads by result (ok, invalid)."}, []string{"result"}),
		policyValid: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authsidecar_rbac_policy_valid",
			Help: "1 when the newest policy content is valid and in force, 0 when the last good policy is kept."}),
		auditWritten: prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_audit_records_total", Help: "Audit records written to the file."}),
		auditErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_audit_write_errors_total", Help: "Audit records that could not be written when first tried (they are kept and retried)."}),
		auditDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_audit_dropped_total", Help: "Audit records dropped because the queue was full."}),
		soarSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsidecar_soar_webhooks_total",
			Help: "SOAR webhooks by final result (ok, failed)."}, []string{"result"}),
		soarDropped:     prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_soar_dropped_total", Help: "SOAR webhooks dropped because a queue was full."}),
		rateLimited:     prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_rate_limited_total", Help: "Requests refused with 429."}),
		rateRedisErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_rate_limit_redis_errors_total", Help: "Rate-limit checks decided locally because Redis failed."}),
		rateRedisSkip: prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_rate_limit_redis_skipped_total",
			Help: "Rate-limit checks decided locally without asking Redis because it failed less than a backoff ago."}),
		rateBreakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authsidecar_rate_limit_redis_breaker_open",
			Help: "1 while Redis is kept out of rate-limit checks after a failure, 0 when it is used."}),
		jwksFetches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsidecar_jwks_fetches_total",
			Help: "JWKS fetches by result (ok, error)."}, []string{"result"}),
		patErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "authsidecar_pat_store_errors_total", Help: "Personal-access-token store failures."}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.upstreamLatency, m.upstreamErrors, m.authFailures, m.decisions,
		m.reloads, m.policyValid, m.auditWritten, m.auditErrors, m.auditDropped, m.soarSent, m.soarDropped, m.rateLimited,
		m.rateRedisErrors, m.rateRedisSkip, m.rateBreakerOpen, m.jwksFetches, m.patErrors} {
		f(c)
	}
	// Index order as in request and classIndex.
	for o, outcome := range []string{audit.OutcomeAllow, audit.OutcomeDeny, audit.OutcomeError} {
		for c, class := range []string{"2xx", "3xx", "4xx", "5xx"} {
			m.byOutcome[o][c] = m.requests.WithLabelValues(outcome, class)
		}
	}
	m.allowed, m.denied = m.decisions.WithLabelValues("allow"), m.decisions.WithLabelValues("deny")
	return m
}

// Adapters for the subpackages' small metrics interfaces.

type auditMetrics struct{ m *metrics }

func (a auditMetrics) Written()    { a.m.auditWritten.Inc() }
func (a auditMetrics) WriteError() { a.m.auditErrors.Inc() }
func (a auditMetrics) Dropped()    { a.m.auditDropped.Inc() }

type soarMetrics struct{ m *metrics }

func (s soarMetrics) Sent(ok bool) {
	if ok {
		s.m.soarSent.WithLabelValues("ok").Inc()
	} else {
		s.m.soarSent.WithLabelValues("failed").Inc()
	}
}
func (s soarMetrics) Dropped() { s.m.soarDropped.Inc() }

type reloadMetrics struct{ m *metrics }

func (r reloadMetrics) Reloaded(ok bool) {
	if ok {
		r.m.reloads.WithLabelValues("ok").Inc()
	} else {
		r.m.reloads.WithLabelValues("invalid").Inc()
	}
}

func (r reloadMetrics) Valid(ok bool) {
	if ok {
		r.m.policyValid.Set(1)
	} else {
		r.m.policyValid.Set(0)
	}
}

type rateMetrics struct{ m *metrics }

func (r rateMetrics) RedisError()   { r.m.rateRedisErrors.Inc() }
func (r rateMetrics) RedisSkipped() { r.m.rateRedisSkip.Inc() }
func (r rateMetrics) BreakerOpen(open bool) {
	if open {
		r.m.rateBreakerOpen.Set(1)
	} else {
		r.m.rateBreakerOpen.Set(0)
	}
}
