//go:build standard

package main

import (
	"log/slog"
	"net/http"

	"github.com/meshoptixiq/mesh/common/edition"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// The standard build leaves SOAR webhooks out (soar_enterprise.go):
// SOAR_WEBHOOK_URL or SOAR_RULES stops the start, naming the variable.

// soarRules: the standard build parses none.
type soarRules = []struct{}

func loadSOARRules(r *envconf.Reader, _ *config) soarRules {
	for _, v := range []string{"SOAR_WEBHOOK_URL", "SOAR_RULES"} {
		if _, set := r.Lookup(v); set {
			r.Errorf(v, "%s", edition.Refusal(v, "the SOAR webhook"))
		}
	}
	return nil
}

func newSOAR(*config, *http.Client, *slog.Logger, *metrics) soarHook { return nil }
