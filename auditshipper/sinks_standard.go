//go:build standard

package main

import (
	"github.com/meshoptixiq/mesh/auditshipper/sink"
	"github.com/meshoptixiq/mesh/common/edition"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// The standard build leaves the Splunk, Elasticsearch and OpenSearch sinks
// out (sinks_enterprise.go): asking for one stops the start, naming
// AUDIT_LOG_BACKEND. stdout and webhook remain.

func checkEnterpriseBackend(r *envconf.Reader, c config) {
	r.Errorf("AUDIT_LOG_BACKEND", "%s", edition.Refusal("AUDIT_LOG_BACKEND", "the "+c.Backend+" audit sink"))
}

func enterpriseSink(cfg config, _ sink.HTTPOptions) (sink.Sink, error) {
	return nil, edition.Refuse("AUDIT_LOG_BACKEND", "the "+cfg.Backend+" audit sink")
}
