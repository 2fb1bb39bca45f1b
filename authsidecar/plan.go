package main

import (
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/envconf"
	"github.com/meshoptixiq/mesh/common/license"
)

// The sidecar's integrations in the licence plan table (common/license,
// the apiserver README): OIDC sign-in and SOAR webhooks, both Enterprise.
// Without a key both are on. A key whose plan lacks one refuses its
// setting at start: nothing would work as configured. An expired key keeps
// the community features working, so the sidecar still starts (API keys
// keep working); bearer tokens and personal access tokens then answer 403
// plan_required and no webhook is sent.
const (
	featureOIDC = "oidc_sso"
	featureSOAR = "soar_webhooks"
)

// checkPlan refuses, naming the variable, the settings outside the plan of
// an unexpired licence key.
func checkPlan(r *envconf.Reader, c *config) {
	lic := c.License
	if lic.Expired {
		return
	}
	if c.AuthMode != "api_key" && !lic.Has(featureOIDC) {
		r.Errorf("AUTH_MODE", "%s", planRefusal(lic, featureOIDC, "OIDC sign-in (AUTH_MODE="+c.AuthMode+")"))
	}
	if !lic.Has(featureSOAR) {
		for _, v := range []string{"SOAR_WEBHOOK_URL", "SOAR_RULES"} {
			if _, set := r.Lookup(v); set {
				r.Errorf(v, "%s", planRefusal(lic, featureSOAR, "the SOAR webhook"))
			}
		}
	}
}

func planRefusal(lic *license.License, feature, what string) string {
	return fmt.Sprintf("%s needs the %s plan (feature %s), and the licence key (MESHOPTIXIQ_LICENSE_KEY) is for the %s plan; unset the variable or use a key whose plan includes it",
		what, license.PlanFor(feature), feature, lic.Plan)
}

// planRequired answers 403 plan_required for a feature the licence in
// force lacks (an expired key's community plan).
func (s *sidecar) planRequired(ctx *fasthttp.RequestCtx, r *reqState, feature, what string) bool {
	r.reason = "plan_required"
	r.outcome = audit.OutcomeDeny
	s.m.authFailures.WithLabelValues("plan_required").Inc()
	state := ""
	if s.cfg.License.Expired {
		state = ", the licence key having expired"
	}
	apierror.Write(ctx, fasthttp.StatusForbidden, apierror.PlanRequired,
		fmt.Sprintf("%s needs the %s plan (%s); this sidecar runs the %s plan%s", what, license.PlanFor(feature), feature, s.cfg.License.Effective(), state))
	return false
}
