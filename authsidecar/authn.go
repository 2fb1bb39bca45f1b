package main

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/authsidecar/pat"
	"github.com/meshoptixiq/mesh/authsidecar/rbac"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/identity"
)

// This file decides who the caller is (API key, personal token, OIDC bearer)
// and whether a role of theirs grants the request's permission.

// authenticate resolves the caller or answers 401 (503 when the IdP has
// never been reachable).
func (s *sidecar) authenticate(ctx *fasthttp.RequestCtx, r *reqState) bool {
	h := &ctx.Request.Header
	key := h.Peek("X-Api-Key")
	if len(key) == 0 && r.perm.Name == rbac.PermEvents && ctx.IsGet() {
		// EventSource cannot set headers: ?api_key= for GET /events only.
		key = ctx.QueryArgs().Peek("api_key")
	}
	var bearer []byte
	if a := h.Peek("Authorization"); len(a) > 7 && strings.EqualFold(string(a[:7]), "bearer ") {
		bearer = trimSpace(a[7:])
	}
	fail := func(status int, reason, msg string) bool {
		r.reason = reason
		r.outcome = audit.OutcomeDeny
		if status != fasthttp.StatusUnauthorized {
			r.outcome = audit.OutcomeError // the identity could not be checked (IdP or token store down)
		}
		s.m.authFailures.WithLabelValues(reason).Inc()
		if status == fasthttp.StatusUnauthorized {
			ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="meshq"`)
		}
		apierror.Write(ctx, status, codeFor(status), msg)
		return false
	}
	keysOK := s.cfg.AuthMode != "oidc"
	switch {
	case len(key) > 0 && pat.LooksLike(b2s(key)), len(key) == 0 && pat.LooksLike(b2s(bearer)):
		if !s.cfg.License.Has(featureOIDC) {
			return s.planRequired(ctx, r, featureOIDC, "a personal access token (minted by an OIDC login)")
		}
		secret := string(key)
		if len(key) == 0 {
			secret = string(bearer)
		}
		t, err := s.pats.Lookup(ctx, secret)
		if errors.Is(err, pat.ErrNotFound) {
			r.ident.KeyFP = audit.Fingerprint(secret)
			return fail(fasthttp.StatusUnauthorized, "pat_invalid", "personal access token is invalid, expired or revoked")
		}
		if err != nil {
			s.m.patErrors.Inc()
			s.log.Error("pat lookup failed", "request_id", r.id, "err", err)
			return fail(fasthttp.StatusServiceUnavailable, "pat_store_unavailable", "token store unavailable; try again")
		}
		if s.oidc == nil || t.Issuer == "" || t.Issuer != s.cfg.OIDCIssuer {
			// A token is only as good as the login that minted it: one
			// from another issuer, or from before the issuer was recorded
			// (when API keys could mint tokens), has no identity behind it.
			r.ident.KeyFP = t.KeyFP
			return fail(fasthttp.StatusUnauthorized, "pat_minter_gone",
				"personal access token was not minted by a login of this sidecar's OIDC issuer; create a new one after logging in")
		}
		r.ident = auth.Identity{User: t.Owner, Method: auth.MethodPAT, KeyFP: t.KeyFP, Groups: t.Groups}
		r.patID = t.ID
		return true
	case len(key) > 0:
		if !keysOK {
			return fail(fasthttp.StatusUnauthorized, "api_key_not_accepted", "API keys are not accepted (AUTH_MODE=oidc); use a bearer token")
		}
		id, ok := s.keys.Check(key)
		if !ok {
			r.ident.KeyFP = audit.Fingerprint(string(key))
			return fail(fasthttp.StatusUnauthorized, "api_key_invalid", "invalid API key")
		}
		r.ident = id
		return true
	case len(bearer) > 0:
		if s.oidc == nil {
			return fail(fasthttp.StatusUnauthorized, "bearer_not_accepted", "bearer tokens are not accepted (AUTH_MODE=api_key); use X-API-Key")
		}
		if !s.cfg.License.Has(featureOIDC) {
			return s.planRequired(ctx, r, featureOIDC, "an OIDC bearer token")
		}
		id, err := s.oidc.Verify(ctx, string(bearer))
		if err != nil {
			var te *auth.TokenError
			reason := auth.ReasonMalformed
			if errors.As(err, &te) {
				reason = te.Reason
			}
			r.ident.KeyFP = audit.Fingerprint(string(bearer))
			s.log.Debug("bearer token refused", "request_id", r.id, "reason", reason, "err", err)
			if reason == auth.ReasonIdPUnavailble {
				return fail(fasthttp.StatusServiceUnavailable, reason, "identity provider not reachable; try again")
			}
			return fail(fasthttp.StatusUnauthorized, reason, "bearer token refused: "+strings.ReplaceAll(reason, "_", " "))
		}
		r.ident = id
		return true
	}
	return fail(fasthttp.StatusUnauthorized, "missing_credentials", "authentication required: X-API-Key or Authorization: Bearer")
}

// authorize applies the policy (API keys are admin and pass) or answers 403.
func (s *sidecar) authorize(ctx *fasthttp.RequestCtx, r *reqState, pol *rbac.Policy) bool {
	switch {
	case r.perm.SelfService:
		// Personal access tokens: every OIDC user manages their own. No
		// API key (the master key included) and no PAT mints one: a token
		// must not outlive the rotation of the key that made it.
		// A PAT may revoke itself (meshq logout): destroying the
		// credential one holds creates nothing.
		r.roles = "self"
		selfRevoke := r.ident.Method == auth.MethodPAT && ctx.IsDelete() && r.path == "/auth/tokens/"+r.patID
		r.decision = rbac.Decision{Allow: r.ident.Method == auth.MethodOIDC || selfRevoke, Role: "self", Pattern: ""}
		if !r.decision.Allow {
			r.reason = "personal access tokens are managed with an OIDC login (a token may only revoke itself)"
		}
	case r.ident.Admin:
		r.roles, r.decision = "admin", rbac.Decision{Allow: true, Role: "admin", Pattern: "*"}
	default:
		set := roleSet(pol, r.ident)
		r.decision = pol.Decide(&set, r.perm.Name, r.perm.Unknown)
		if pol.Unrestricted {
			r.roles = "admin"
		} else {
			r.roles = pol.RoleNames(&set)
		}
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		decision := "deny"
		if r.decision.Allow {
			decision = "allow"
		}
		s.log.Debug("rbac decision", "request_id", r.id, "decision", decision, "user", r.ident.User, "groups", r.ident.Groups,
			"permission", r.perm.Name, "unknown_path", r.perm.Unknown, "role", r.decision.Role, "roles", r.roles,
			"matched_pattern", r.decision.Pattern, "policy_version", pol.Version)
	}
	if r.decision.Allow {
		s.m.allowed.Inc()
		return true
	}
	s.m.denied.Inc()
	r.outcome = audit.OutcomeDeny
	if r.reason == "" {
		r.reason = "no role grants " + permLabel(r.perm)
	}
	apierror.Write(ctx, fasthttp.StatusForbidden, apierror.Forbidden, "forbidden: "+r.reason)
	return false
}

func permLabel(p rbac.Permission) string {
	if p.Unknown {
		return "this endpoint"
	}
	return strconv.Quote(p.Name)
}

// roleSet is the caller's roles: a named API key's own role, else those
// its groups map to. A role the current policy lacks grants nothing.
func roleSet(pol *rbac.Policy, id auth.Identity) rbac.RoleSet {
	if id.Role != "" {
		set, _ := pol.RoleSetOf(id.Role)
		return set
	}
	return pol.RolesForGroups(id.Groups)
}

// setIdentity tells the apiserver who is calling.
func (s *sidecar) setIdentity(h *fasthttp.RequestHeader, r *reqState, pol *rbac.Policy) {
	grants := "*"
	if !r.ident.Admin && !pol.Unrestricted {
		set := roleSet(pol, r.ident)
		grants = pol.Grants(&set)
	}
	setCanonical(h, identity.HeaderUser, headerSafe(r.ident.User))
	setCanonical(h, identity.HeaderRole, r.roles)
	setCanonical(h, identity.HeaderGrants, grants)
	setCanonical(h, identity.HeaderAuth, r.ident.Method)
}

// setCanonical sets a header whose name is in fasthttp's canonical form
// (each word capitalised, as the identity package spells them) without
// Set's normalising copy of the name; the value is still cleaned of
// line breaks.
func setCanonical(h *fasthttp.RequestHeader, name, value string) {
	h.SetCanonical(s2b(name), s2b(value))
}
