//go:build !standard

package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/soar"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// SOAR webhooks (SOAR_WEBHOOK_URL, SOAR_RULES) are enterprise code: the
// standard build has soar_standard.go instead and does not link
// authsidecar/soar.

// soarRules are SOAR_RULES parsed.
type soarRules = []soar.Rule

// loadSOARRules parses SOAR_RULES, which needs SOAR_WEBHOOK_URL.
func loadSOARRules(r *envconf.Reader, c *config) soarRules {
	text, ok := r.Lookup("SOAR_RULES")
	if !ok {
		return nil
	}
	parsed, err := soar.ParseRules(text)
	if err != nil {
		r.Errorf("SOAR_RULES", "%v", err)
	}
	if c.SOARWebhookURL == "" {
		r.Errorf("SOAR_WEBHOOK_URL", "required when SOAR_RULES is set")
	}
	return parsed
}

// soarDispatcher posts the webhook of every rule an audited request
// matches.
type soarDispatcher struct{ d *soar.Dispatcher }

func newSOAR(cfg *config, client *http.Client, log *slog.Logger, m *metrics) soarHook {
	d := soar.NewDispatcher(cfg.SOARWebhookURL, cfg.SOARWebhookToken.Reveal(), cfg.SOARRules, cfg.SOARQueueSize,
		client, log, soarMetrics{m})
	if cfg.AuthFailureLimit != nil {
		d.DedupWindow = cfg.AuthFailureLimit.Period
	}
	d.RetryDelay = cfg.SOARRetryDelay
	return soarDispatcher{d}
}

func (s soarDispatcher) Run(ctx context.Context) error { return s.d.Run(ctx) }

func (s soarDispatcher) notify(r *reqState, rec *audit.Record, query string) {
	name := query
	if name == "" {
		name = r.perm.Name
	}
	ev := soar.Event{Query: name, User: rec.User, Time: r.start, ElapsedMS: rec.ElapsedMS, RowCount: rec.RowCount,
		Status: rec.Status, Body: r.body}
	if r.ident.Method == "" && (rec.Status == fasthttp.StatusUnauthorized || rec.Status == fasthttp.StatusTooManyRequests) {
		// Failed authentication: each rule fires once per client
		// address per window, not once per attempt.
		ev.DedupKey = clientKey(r.clientIP)
	}
	s.d.Match(ev)
}
