//go:build standard

package main

import (
	"log/slog"
	"net/http"

	"github.com/meshoptixiq/mesh/common/edition"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// The standard build leaves OIDC out (oidc_enterprise.go): AUTH_MODE=oidc
// or both stops the start, naming the variable. API keys remain.

func checkOIDCEdition(r *envconf.Reader, c *config) {
	if c.AuthMode != "api_key" {
		r.Errorf("AUTH_MODE", "%s", edition.Refusal("AUTH_MODE", "OIDC authentication (AUTH_MODE="+c.AuthMode+")"))
	}
}

func newBearerVerifier(cfg *config, _ *http.Client, _ *slog.Logger, _ *metrics) (bearerVerifier, error) {
	return nil, edition.Refuse("AUTH_MODE", "OIDC authentication (AUTH_MODE="+cfg.AuthMode+")")
}
