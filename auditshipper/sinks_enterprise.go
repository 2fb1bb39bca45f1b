//go:build !standard

package main

import (
	"fmt"

	"github.com/meshoptixiq/mesh/auditshipper/sink"
	"github.com/meshoptixiq/mesh/auditshipper/sink/elastic"
	"github.com/meshoptixiq/mesh/auditshipper/sink/splunk"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// The enterprise sinks: Splunk HEC, Elasticsearch and OpenSearch. The
// standard build has sinks_standard.go instead and links neither package.

// checkEnterpriseBackend validates what only these sinks read.
func checkEnterpriseBackend(r *envconf.Reader, c config) {
	if c.Backend == "elasticsearch" || c.Backend == "opensearch" {
		if _, err := elastic.ParseIndexPattern(c.ESIndex); err != nil {
			r.Errorf("ES_INDEX", "%v", err)
		}
	}
}

func enterpriseSink(cfg config, opts sink.HTTPOptions) (sink.Sink, error) {
	switch cfg.Backend {
	case "splunk":
		return splunk.New(splunk.Config{URL: cfg.SplunkURL, Token: cfg.SplunkToken.Reveal(), Channel: cfg.SplunkChannel,
			Ack: cfg.SplunkAck, AckPoll: cfg.SplunkAckPoll, AckTimeout: cfg.SplunkAckTimeout,
			Index: cfg.SplunkIndex, Source: cfg.SplunkSource, Sourcetype: cfg.SplunkSourcetype, HTTP: opts})
	case "elasticsearch", "opensearch":
		s, err := elastic.New(elastic.Config{Name: cfg.Backend, URL: cfg.ESURL, Index: cfg.ESIndex, APIKey: cfg.ESAPIKey.Reveal(),
			Username: cfg.ESUsername, Password: cfg.ESPassword.Reveal(), HTTP: opts})
		if err != nil {
			return nil, fmt.Errorf("ES_INDEX: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("AUDIT_LOG_BACKEND: unknown backend %q", cfg.Backend)
}
