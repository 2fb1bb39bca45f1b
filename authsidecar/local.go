package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/meshoptixiq/mesh/common/httpx"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/pat"
	"github.com/meshoptixiq/mesh/common/apierror"
)

// This file holds the endpoints the sidecar answers itself: readiness,
// login configuration, policy reload and personal access tokens.

// readyz reports policy, JWKS, audit and upstream health; 503 when any is
// not ready.
func (s *sidecar) readyz(ctx *fasthttp.RequestCtx) {
	type check struct {
		OK     bool   `json:"ok"`
		Detail string `json:"detail,omitempty"`
	}
	checks := map[string]check{}
	ready := true
	version, perr := s.policy.Status()
	pc := check{OK: true, Detail: "version " + version + " (" + s.policy.Policy().Source() + ")"}
	if perr != nil {
		// Still serving the last good policy: ready, but say so.
		pc.Detail += "; newest policy content is invalid, last good kept: " + perr.Error()
	}
	checks["policy"] = pc
	if s.oidc != nil {
		ok, detail := s.oidc.Ready()
		checks["jwks"] = check{OK: ok, Detail: detail}
		ready = ready && ok
	}
	if s.audit != nil {
		ok, detail := s.audit.Healthy()
		checks["audit"] = check{OK: ok, Detail: detail}
		ready = ready && ok
	}
	// Without the upstream every request would get 502: not ready.
	ok, detail := s.upstream.ready(s.log)
	checks["upstream"] = check{OK: ok, Detail: detail}
	ready = ready && ok
	body, _ := json.Marshal(struct {
		Status        string           `json:"status"`
		PolicyVersion string           `json:"policy_version"`
		PolicyValid   bool             `json:"policy_valid"`
		Checks        map[string]check `json:"checks"`
	}{map[bool]string{true: "ready", false: "not_ready"}[ready], version, perr == nil, checks})
	if !ready {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// authConfig answers GET /auth/config: what a client needs to log in
// (meshq login), nothing secret.
func (s *sidecar) authConfig(ctx *fasthttp.RequestCtx) {
	httpx.WriteJSON(ctx, fasthttp.StatusOK, struct {
		AuthMode string `json:"auth_mode"`
		Issuer   string `json:"issuer"`
		ClientID string `json:"client_id"`
	}{s.cfg.AuthMode, s.cfg.OIDCIssuer, s.cfg.OIDCClientID})
}

// rbacReload handles POST /admin/rbac/reload.
func (s *sidecar) rbacReload(ctx *fasthttp.RequestCtx, r *reqState) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		apierror.Write(ctx, fasthttp.StatusMethodNotAllowed, apierror.MethodNotAllowed, "use POST")
		return
	}
	_, rerr := s.policy.Force()
	published, perr := s.policy.Publish(ctx)
	if perr != nil {
		s.log.Error("rbac reload broadcast failed", "request_id", r.id, "err", perr)
	}
	version, _ := s.policy.Status()
	r.version = version
	resp := map[string]any{"reloaded": rerr == nil, "policy_version": version, "broadcast": published}
	status := fasthttp.StatusOK
	if rerr != nil {
		resp["error"] = "policy invalid; last good policy kept"
		status = fasthttp.StatusUnprocessableEntity
		r.reason = "policy invalid"
	}
	httpx.WriteJSON(ctx, status, resp)
}

// tokens handles /auth/tokens (personal access tokens).
func (s *sidecar) tokens(ctx *fasthttp.RequestCtx, r *reqState) {
	owner := r.ident.User
	id, hasID := strings.CutPrefix(r.path, "/auth/tokens/")
	switch {
	case hasID && id != "" && ctx.IsDelete():
		err := s.pats.Revoke(ctx, owner, id)
		switch {
		case errors.Is(err, pat.ErrNotFound):
			apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, "no such token")
		case err != nil:
			s.patError(ctx, r, err)
		default:
			ctx.SetStatusCode(fasthttp.StatusNoContent)
		}
	case !hasID || id == "":
		switch {
		case ctx.IsGet():
			list, err := s.pats.List(ctx, owner)
			if err != nil {
				s.patError(ctx, r, err)
				return
			}
			if list == nil {
				list = []pat.Token{}
			}
			httpx.WriteJSON(ctx, fasthttp.StatusOK, map[string]any{"tokens": list})
		case ctx.IsPost():
			var in struct {
				Name      string `json:"name"`
				ExpiresIn *int64 `json:"expires_in"` // seconds; absent: PAT_DEFAULT_TTL
			}
			body, err := s.readBody(ctx, r)
			if err != nil {
				s.bodyError(ctx, r, err)
				return
			}
			if len(body) > 0 {
				dec := json.NewDecoder(strings.NewReader(string(body)))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&in); err != nil {
					apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "body must be {\"name\": string, \"expires_in\": seconds}")
					return
				}
			}
			ttl := s.cfg.PATDefaultTTL
			if in.ExpiresIn != nil {
				// Given is given: 0 is an error, not "the default".
				if *in.ExpiresIn < 1 || *in.ExpiresIn > int64(s.cfg.PATMaxTTL/time.Second) {
					apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "expires_in must be between 1 and "+strconv.Itoa(int(s.cfg.PATMaxTTL/time.Second))+" seconds (omit it for the default)")
					return
				}
				ttl = time.Duration(*in.ExpiresIn) * time.Second
			}
			if len(in.Name) > 100 {
				apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "name is longer than 100 characters")
				return
			}
			if i := strings.IndexFunc(in.Name, unicode.IsControl); i >= 0 {
				apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "name contains a control character at byte "+strconv.Itoa(i))
				return
			}
			secret, t, err := s.pats.Create(ctx, owner, s.cfg.OIDCIssuer, in.Name, r.ident.Groups, ttl)
			if err != nil {
				s.patError(ctx, r, err)
				return
			}
			s.log.Info("personal access token created", "request_id", r.id, "owner", owner, "token_id", t.ID, "key_fp", t.KeyFP, "expires", t.Expires)
			httpx.WriteJSON(ctx, fasthttp.StatusCreated, map[string]any{"token": secret, "id": t.ID, "name": t.Name, "expires": t.Expires, "key_fp": t.KeyFP,
				"note": "store this token now; it is not shown again"})
		default:
			ctx.Response.Header.Set("Allow", "GET, POST")
			apierror.Write(ctx, fasthttp.StatusMethodNotAllowed, apierror.MethodNotAllowed, "use GET or POST")
		}
	default:
		ctx.Response.Header.Set("Allow", "DELETE")
		apierror.Write(ctx, fasthttp.StatusMethodNotAllowed, apierror.MethodNotAllowed, "use DELETE")
	}
}

func (s *sidecar) patError(ctx *fasthttp.RequestCtx, r *reqState, err error) {
	s.m.patErrors.Inc()
	s.log.Error("token store failed", "request_id", r.id, "err", err)
	apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "token store unavailable; try again")
}
