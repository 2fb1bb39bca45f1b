//go:build !standard

package main

import (
	"log/slog"
	"net/http"

	"github.com/meshoptixiq/mesh/authsidecar/oidc"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// OIDC bearer tokens (AUTH_MODE=oidc|both) are enterprise code: the
// standard build has oidc_standard.go instead and does not link
// authsidecar/oidc or coreos/go-oidc.

// checkOIDCEdition refuses nothing: this build has OIDC.
func checkOIDCEdition(*envconf.Reader, *config) {}

// newBearerVerifier verifies the OIDC issuer's bearer tokens.
func newBearerVerifier(cfg *config, client *http.Client, log *slog.Logger, m *metrics) (bearerVerifier, error) {
	v := oidc.New(oidc.Config{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, GroupsClaim: cfg.OIDCGroupsClaim,
		ClockSkew: cfg.OIDCClockSkew, MaxTokenBytes: cfg.OIDCMaxTokenBytes}, client, log)
	v.OnFetch = func(err error) {
		if err != nil {
			m.jwksFetches.WithLabelValues("error").Inc()
		} else {
			m.jwksFetches.WithLabelValues("ok").Inc()
		}
	}
	return v, nil
}
