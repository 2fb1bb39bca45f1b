package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/meshoptixiq/mesh/authsidecar/auditlog"
	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/authsidecar/pat"
	"github.com/meshoptixiq/mesh/authsidecar/ratelimit"
	"github.com/meshoptixiq/mesh/authsidecar/rbac"
	"github.com/meshoptixiq/mesh/authsidecar/reload"
	"github.com/meshoptixiq/mesh/authsidecar/soar"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/identity"
	"github.com/valyala/fasthttp"
)

// sidecar is the request path.
type sidecar struct {
	cfg            *config
	log            *slog.Logger
	m              *metrics
	keys           *auth.APIKeys
	oidc           *auth.OIDC
	pats           *pat.Store
	policy         *reload.Holder
	audit          *auditlog.Writer
	soar           *soar.Dispatcher
	limiter        *ratelimit.Limiter
	authFail       *authThrottle // nil: AUTH_FAILURE_LIMIT=off
	upstream       *upstream
	metricsHandler fasthttp.RequestHandler
	ids            *requestIDs
	heads          sync.Map // *fasthttp.RequestHeader → *readHead (headerReceived)
}

func (s *sidecar) server() *fasthttp.Server {
	return &fasthttp.Server{
		Handler: s.handle,
		// The read buffer bounds the request head: large enough for big
		// JWTs in Authorization without a 431.
		ReadBufferSize:  int(s.cfg.MaxHeaderBytes),
		WriteBufferSize: 16 << 10,
		// The handler gets the request as soon as its head is read (fasthttp
		// prefetches at most 8 KiB of body): credentials are checked before
		// any body is read, and the body of an authorised request is
		// streamed to the upstream, never held whole. The body limits per
		// permission are the handler's (bodyLimit): in streaming mode
		// fasthttp does not enforce MaxRequestBodySize.
		StreamRequestBody:            true,
		MaxRequestBodySize:           int(max(s.cfg.MaxBodyBytes, s.cfg.MaxIngestBodyBytes)),
		ReadTimeout:                  s.cfg.ClientReadTimeout,
		WriteTimeout:                 s.cfg.ClientWriteTimeout,
		IdleTimeout:                  s.cfg.ClientIdleTimeout,
		NoDefaultServerHeader:        true,
		NoDefaultDate:                false,
		DisablePreParseMultipartForm: true,
		Logger:                       fasthttpLogger{s.log},
		ErrorHandler:                 s.parseError,
		HeaderReceived:               s.headerReceived,
	}
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp", "msg", strings.TrimSpace(sprintf(format, args...)))
}

// parseError answers requests fasthttp could not parse (oversized head or
// body, malformed or ambiguous framing) without reaching the handler.
func (s *sidecar) parseError(ctx *fasthttp.RequestCtx, err error) {
	status, code, msg := fasthttp.StatusBadRequest, apierror.BadRequest, "malformed request"
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, code, msg = fasthttp.StatusRequestEntityTooLarge, apierror.TooLarge,
			"request body larger than "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes; raise MAX_BODY_BYTES to accept it"
	case strings.Contains(err.Error(), "too big") || strings.Contains(err.Error(), "small read buffer"):
		status, code, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, apierror.BadRequest,
			"request headers larger than "+strconv.FormatInt(s.cfg.MaxHeaderBytes, 10)+" bytes; raise MAX_HEADER_BYTES to accept them"
	case errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err):
		status, code, msg = fasthttp.StatusRequestTimeout, apierror.Timeout, "request not received in time"
	}
	s.log.Debug("unparseable request", "remote", ctx.RemoteIP().String(), "err", err)
	r := s.refusedWhileReading(ctx)
	r.reason = msg
	ctx.SetConnectionClose()
	apierror.Write(ctx, status, code, msg)
	s.finish(ctx, r, true)
}

// readHead is what the audit needs of a request whose body fasthttp
// fails to read before the handler runs (it prefetches up to 8 KiB, and
// resets the request when that fails).
type readHead struct {
	id, uri, apiKey, authorization string
}

// headerReceived remembers the head of each request with a body until the
// handler runs (handle forgets it) or reading the body fails (parseError
// uses it). Keyed by the header's address: one per connection in use.
func (s *sidecar) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if n := h.ContentLength(); n != 0 && n != -2 {
		s.heads.Store(h, &readHead{id: string(h.Peek(identity.HeaderRequestID)), uri: string(h.RequestURI()),
			apiKey: string(h.Peek("X-Api-Key")), authorization: string(h.Peek("Authorization"))})
	}
	return fasthttp.RequestConfig{}
}

// refusedWhileReading describes, for the audit, a request fasthttp gave up
// on while reading it: the client address always; the request id, path
// and an API key's identity when its head had been read. Nothing that
// needs the network (bearer tokens, PATs) is verified here: of those only
// the fingerprint is recorded.
func (s *sidecar) refusedWhileReading(ctx *fasthttp.RequestCtx) *reqState {
	r := &reqState{start: time.Now(), readFailed: true, clientIP: s.clientIP(ctx), version: s.policy.Policy().Version}
	var head readHead
	if v, ok := s.heads.LoadAndDelete(&ctx.Request.Header); ok {
		head = *v.(*readHead)
	}
	r.id = s.ids.fromOrNew([]byte(head.id))
	ctx.Response.Header.Set(identity.HeaderRequestID, r.id)
	if head.uri != "" {
		var u fasthttp.URI
		if u.Parse(nil, []byte(head.uri)) == nil {
			r.path = string(u.Path())
			r.perm = rbac.PermissionFor(r.path)
		}
	}
	switch key := head.apiKey; {
	case key != "" && !pat.LooksLike(key) && s.cfg.AuthMode != "oidc":
		if id, ok := s.keys.Check([]byte(key)); ok {
			r.ident, r.roles = id, id.Role
		} else {
			r.ident.KeyFP = audit.Fingerprint(key)
		}
	case key != "":
		r.ident.KeyFP = audit.Fingerprint(key)
	case len(head.authorization) > 7 && strings.EqualFold(head.authorization[:7], "bearer "):
		r.ident.KeyFP = audit.Fingerprint(string(trimSpace([]byte(head.authorization[7:]))))
	}
	return r
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// reqState is what the handler learns about one request as it goes.
type reqState struct {
	start    time.Time
	id       string
	path     string
	perm     rbac.Permission
	clientIP string
	ident    auth.Identity
	roles    string
	decision rbac.Decision
	version  string
	reason   string
	// body is the request body of a query execution (at most
	// auditBodyBytes), kept for the audit params and SOAR.
	body []byte
	// closeConn: the client asked to close the connection after this
	// request (its Connection header is gone by the time we proxy).
	closeConn bool
	// soarQuiet: no webhook for this request (an address refused for
	// too many failed authentications).
	soarQuiet bool
	// local: an action the sidecar carries out itself (policy reload,
	// tokens) rather than proxies.
	local bool
	// readFailed: refused because the request could not be read whole
	// (too large, malformed, too slow): audited as an error.
	readFailed bool
	// patID is the id of the personal access token that authenticated
	// the request (empty for other credentials).
	patID string
	// auditPlace is the request's reserved place in the audit queue
	// (AUDIT_REQUIRED); nil: its record is queued if there is room.
	auditPlace *auditlog.Reservation
}

func (s *sidecar) handle(ctx *fasthttp.RequestCtx) {
	r := &reqState{start: time.Now()}
	h := &ctx.Request.Header
	s.heads.Delete(h) // read whole: headerReceived's note is not needed
	// Nobody but us speaks X-Meshq-*: delete every spelling before anything
	// else, so no branch below (errors included) can forward one.
	stripReserved(h)
	// Hop-by-hop headers, those the client's Connection header names
	// included, end here, before we set a header of our own: a Connection
	// token can remove only what the client sent, never our identity.
	r.closeConn = h.ConnectionClose()
	stripHopByHop(h)
	r.id = s.ids.fromOrNew(h.Peek(identity.HeaderRequestID))
	h.Set(identity.HeaderRequestID, r.id)
	ctx.Response.Header.Set(identity.HeaderRequestID, r.id)
	r.path = string(ctx.Path())

	switch r.path {
	case "/livez", "/readyz", "/metrics", "/auth/config":
		// The sidecar's own unauthenticated endpoints: read-only.
		if !ctx.IsGet() && !ctx.IsHead() {
			ctx.Response.Header.Set("Allow", "GET, HEAD")
			apierror.Write(ctx, fasthttp.StatusMethodNotAllowed, apierror.MethodNotAllowed, "use GET or HEAD")
			return
		}
		switch r.path {
		case "/livez":
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"status":"ok"}`)
		case "/readyz":
			s.readyz(ctx)
		case "/metrics":
			s.metricsHandler(ctx)
		default:
			s.authConfig(ctx)
		}
		return
	}
	r.perm = rbac.PermissionFor(r.path)
	r.clientIP = s.clientIP(ctx)
	if r.perm.Public {
		if ctx.IsGet() || ctx.IsHead() { // the apiserver's health probes: not audited
			if s.admitBody(ctx, r) {
				s.forward(ctx, r, false)
			}
			s.finish(ctx, r, r.readFailed) // a probe refused for its body is audited like any refusal
			return
		}
		// Anything but a probe is an ordinary request to a path the
		// permission table does not name.
		r.perm = rbac.Permission{Event: "query", Unknown: true}
	}
	if s.cfg.AuditRequired && !s.reserveAudit(ctx, r) {
		s.finish(ctx, r, true)
		return
	}
	pol := s.policy.Policy()
	r.version = pol.Version
	if s.authFail != nil {
		// An address over the failed-authentication limit is refused
		// before its credentials are looked at: no answer to its guesses.
		if retry, refused := s.authFail.refused(r.clientIP); refused {
			r.soarQuiet = true // its webhook fired when the limit was reached
			s.tooManyRequests(ctx, r, retry, "too many failed authentications from this address")
			s.finish(ctx, r, true)
			return
		}
	}
	if !s.authenticate(ctx, r) {
		if s.authFail != nil && ctx.Response.StatusCode() == fasthttp.StatusUnauthorized {
			if retry, over := s.authFail.failed(ctx, r.clientIP); over {
				ctx.Response.Header.Del("WWW-Authenticate")
				s.tooManyRequests(ctx, r, retry, "too many failed authentications from this address")
			}
		}
		s.finish(ctx, r, true)
		return
	}
	if s.limiter != nil {
		if ok, retry := s.limiter.Allow(ctx, r.ident.Method+":"+r.ident.User); !ok {
			s.tooManyRequests(ctx, r, retry, "rate limited")
			s.finish(ctx, r, true)
			return
		}
	}
	if !s.authorize(ctx, r, pol) {
		s.finish(ctx, r, true)
		return
	}
	if !s.admitBody(ctx, r) {
		s.finish(ctx, r, true)
		return
	}
	switch {
	case r.perm.Name == rbac.PermAdminRBACReload:
		r.local = true
		s.rbacReload(ctx, r)
	case r.perm.Name == rbac.PermAuthTokens:
		r.local = true
		s.tokens(ctx, r)
	default:
		s.setIdentity(h, r, pol)
		s.forward(ctx, r, true)
	}
	s.finish(ctx, r, true)
}

// reserveAudit holds the request's place in the audit queue before
// anything is served (AUDIT_REQUIRED): a request is answered only when its
// record is sure to be queued, else 503 without forwarding.
func (s *sidecar) reserveAudit(ctx *fasthttp.RequestCtx, r *reqState) bool {
	if failing, detail := s.audit.Failing(); failing {
		s.log.Error("refusing request: audit required but not writable", "request_id", r.id, "detail", detail)
		r.reason = "audit log unavailable"
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "audit log unavailable; request not served")
		// The refusal is audited like any request: its record is kept
		// and written once the file takes writes again.
		return false
	}
	place, ok := s.audit.Reserve()
	if !ok {
		// The refusal's own record finds no room either: it is counted
		// as dropped (authsidecar_audit_dropped_total).
		r.reason = "audit queue full"
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable,
			"audit queue full; request not served (raise AUDIT_QUEUE_SIZE)")
		return false
	}
	r.auditPlace = place
	return true
}

// tooManyRequests answers 429 with Retry-After.
func (s *sidecar) tooManyRequests(ctx *fasthttp.RequestCtx, r *reqState, retry time.Duration, reason string) {
	s.m.rateLimited.Inc()
	secs := strconv.Itoa(int(retry/time.Second) + 1)
	ctx.Response.Header.Set("Retry-After", secs)
	r.reason = reason
	msg := "rate limit exceeded; retry after " + secs + "s"
	if reason != "rate limited" {
		msg = reason + "; retry after " + secs + "s"
	}
	apierror.Write(ctx, fasthttp.StatusTooManyRequests, apierror.RateLimited, msg)
}

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
	h.Set(identity.HeaderUser, headerSafe(r.ident.User))
	h.Set(identity.HeaderRole, r.roles)
	h.Set(identity.HeaderGrants, grants)
	h.Set(identity.HeaderAuth, r.ident.Method)
}

var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Upgrade"}

// forward proxies the request upstream and leaves the answer in ctx.
func (s *sidecar) forward(ctx *fasthttp.RequestCtx, r *reqState, authenticated bool) {
	req := &ctx.Request
	// Hop-by-hop request headers were removed at the door (stripHopByHop).
	// Credentials stay at the door.
	req.Header.Del("Authorization")
	req.Header.Del("X-Api-Key")
	if r.perm.Name == rbac.PermEvents {
		ctx.QueryArgs().Del("api_key")
		req.URI().SetQueryStringBytes(ctx.QueryArgs().QueryString())
	}
	if len(req.Header.Host()) == 0 {
		// HTTP/1.0 needs no Host; the upstream request does: the
		// apiserver's own address stands in (the URI's host is what
		// fasthttp writes).
		req.URI().SetHost(s.upstream.host)
		req.Header.SetHost(s.upstream.host)
	}
	req.Header.Set("X-Forwarded-For", s.forwardedFor(ctx, r))
	req.Header.Del("X-Real-Ip")
	req.Header.Del("Forwarded")
	if r.perm.Name == rbac.PermEvents && ctx.IsGet() {
		s.stream(ctx, r)
		return
	}
	body := s.streamBody(ctx, r)
	upStart := time.Now()
	err := s.upstream.hc.DoTimeout(req, &ctx.Response, s.cfg.UpstreamTimeout)
	s.m.upstreamLatency.Observe(time.Since(upStart).Seconds())
	if body != nil && r.perm.Query != "" && (s.audit != nil || s.soar != nil) {
		r.body = body.captured()
	}
	ctx.Response.Header.Set(identity.HeaderRequestID, r.id)
	if r.closeConn {
		ctx.SetConnectionClose()
	}
	if body != nil && body.err != nil {
		// The client's side of the exchange failed: the body was too
		// large, malformed or too slow. Not the upstream's fault.
		s.bodyError(ctx, r, body.err)
		return
	}
	if err != nil {
		s.upstreamError(ctx, r, err)
		return
	}
	for _, name := range hopByHop {
		ctx.Response.Header.Del(name)
	}
}

func (s *sidecar) upstreamError(ctx *fasthttp.RequestCtx, r *reqState, err error) {
	kind, status, code, msg := "unavailable", fasthttp.StatusBadGateway, apierror.BadGateway, "apiserver unavailable"
	if errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err) {
		kind, status, code, msg = "timeout", fasthttp.StatusGatewayTimeout, apierror.Timeout, "apiserver did not answer in time"
	}
	s.m.upstreamErrors.WithLabelValues(kind).Inc()
	s.log.Error("upstream request failed", "request_id", r.id, "path", r.path, "err", err)
	r.reason = "upstream " + kind
	ctx.Response.Reset()
	ctx.Response.Header.Set(identity.HeaderRequestID, r.id)
	apierror.Write(ctx, status, code, msg)
}

// stream relays server-sent events as they arrive, through net/http whose
// response body can be abandoned mid-stream when the client leaves.
func (s *sidecar) stream(ctx *fasthttp.RequestCtx, r *reqState) {
	upCtx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(upCtx, http.MethodGet, s.upstream.base+string(ctx.Request.URI().RequestURI()), nil)
	if err != nil {
		cancel()
		s.upstreamError(ctx, r, err)
		return
	}
	for k, v := range ctx.Request.Header.All() {
		req.Header.Add(string(k), string(v))
	}
	req.Host = string(ctx.Host())
	resp, err := s.upstream.stream.Do(req)
	if err != nil {
		cancel()
		s.upstreamError(ctx, r, err)
		return
	}
	ctx.SetStatusCode(resp.StatusCode)
	for k, vs := range resp.Header {
		if isHopByHop(k) || strings.EqualFold(k, "Content-Length") {
			continue
		}
		for _, v := range vs {
			ctx.Response.Header.Add(k, v)
		}
	}
	ctx.Response.Header.Set(identity.HeaderRequestID, r.id)
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	conn := ctx.Conn()
	writeTimeout := s.cfg.ClientWriteTimeout
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		defer resp.Body.Close()
		buf := make([]byte, 8<<10)
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				// A stream lives longer than the server's write timeout:
				// extend the deadline for each chunk instead.
				conn.SetWriteDeadline(time.Now().Add(writeTimeout))
				if _, werr := w.Write(buf[:n]); werr != nil {
					return
				}
				if werr := w.Flush(); werr != nil {
					return // client gone: cancel the upstream request
				}
			}
			if err != nil {
				return
			}
		}
	})
}

func isHopByHop(k string) bool {
	for _, h := range hopByHop {
		if strings.EqualFold(h, k) {
			return true
		}
	}
	return strings.EqualFold(k, "Transfer-Encoding")
}

// finish records the request: metrics, audit, SOAR.
func (s *sidecar) finish(ctx *fasthttp.RequestCtx, r *reqState, audited bool) {
	status := ctx.Response.StatusCode()
	elapsed := time.Since(r.start)
	outcome := audit.OutcomeAllow
	switch {
	case r.readFailed:
		outcome = audit.OutcomeError
	case status == fasthttp.StatusUnauthorized || status == fasthttp.StatusForbidden || status == fasthttp.StatusTooManyRequests:
		outcome = audit.OutcomeDeny
	case status >= 500, r.local && status >= 400:
		// An action of the sidecar's own that was allowed but not
		// carried out (a reload refused as invalid: 422) is an error.
		outcome = audit.OutcomeError
	}
	s.m.request(outcome, status)
	s.m.duration.Observe(elapsed.Seconds())
	if !audited || (s.audit == nil && s.soar == nil) {
		if r.auditPlace != nil {
			r.auditPlace.Release()
		}
		return
	}
	event := r.perm.Event
	if event == "" || r.ident.Method == "" {
		event = audit.EventAuth
	}
	query := r.perm.Query
	if q := ctx.Response.Header.Peek(identity.HeaderQueryName); query == "" && len(q) > 0 {
		query = string(q)
	}
	var rowCount int64
	if v := ctx.Response.Header.Peek(identity.HeaderRowCount); len(v) > 0 {
		rowCount, _ = strconv.ParseInt(b2s(v), 10, 64)
	}
	groups := r.ident.Groups
	if groups == nil {
		groups = []string{}
	}
	rec := audit.Record{
		TS: audit.Timestamp(r.start), ID: r.id, Event: event, Outcome: outcome,
		User: r.ident.User, Auth: r.ident.Method, KeyFP: r.ident.KeyFP, Role: r.roles, Groups: groups,
		ClientIP: r.clientIP, Method: string(ctx.Method()), Path: r.path, Query: query,
		Status: status, ElapsedMS: float64(elapsed.Microseconds()) / 1000, RowCount: rowCount,
		PlanTier: string(ctx.Response.Header.Peek(identity.HeaderPlanTier)), MatchedPattern: r.decision.Pattern,
		PolicyVersion: r.version, Reason: r.reason,
	}
	if s.audit != nil {
		if r.ident.Fresh {
			// First use of this bearer token here: a login record.
			login := rec
			login.Event, login.Query, login.RowCount, login.MatchedPattern = audit.EventLogin, "", 0, ""
			s.audit.Enqueue(&auditlog.Entry{Record: login})
		}
		if e := (&auditlog.Entry{Record: rec, Body: r.body}); r.auditPlace != nil {
			r.auditPlace.Commit(e)
		} else {
			s.audit.Enqueue(e)
		}
	}
	if s.soar != nil && !r.soarQuiet {
		name := query
		if name == "" {
			name = r.perm.Name
		}
		ev := soar.Event{Query: name, User: rec.User, Time: r.start, ElapsedMS: rec.ElapsedMS, RowCount: rowCount,
			Status: status, Body: r.body}
		if r.ident.Method == "" && (status == fasthttp.StatusUnauthorized || status == fasthttp.StatusTooManyRequests) {
			// Failed authentication: each rule fires once per client
			// address per window, not once per attempt.
			ev.DedupKey = clientKey(r.clientIP)
		}
		s.soar.Match(ev)
	}
}

func codeFor(status int) string {
	switch status {
	case fasthttp.StatusUnauthorized:
		return apierror.Unauthorized
	case fasthttp.StatusServiceUnavailable:
		return apierror.Unavailable
	}
	return apierror.Forbidden
}

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
	writeJSON(ctx, fasthttp.StatusOK, struct {
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
	writeJSON(ctx, status, resp)
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
			writeJSON(ctx, fasthttp.StatusOK, map[string]any{"tokens": list})
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
			writeJSON(ctx, fasthttp.StatusCreated, map[string]any{"token": secret, "id": t.ID, "name": t.Name, "expires": t.Expires, "key_fp": t.KeyFP,
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

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, _ := json.Marshal(v)
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// clientIP is the peer address, or — when the peer is a trusted proxy —
// the right-most X-Forwarded-For entry that is not one.
func (s *sidecar) clientIP(ctx *fasthttp.RequestCtx) string {
	peer, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return ""
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer.String()
	}
	xff := string(ctx.Request.Header.Peek("X-Forwarded-For"))
	for xff != "" {
		i := strings.LastIndexByte(xff, ',')
		item := strings.TrimSpace(xff[i+1:])
		xff = xff[:max(i, 0)]
		a, err := netip.ParseAddr(item)
		if err != nil {
			break // garbage: stop trusting the chain here
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a.String()
		}
		peer = a
		if i < 0 {
			break
		}
	}
	return peer.String()
}

func (s *sidecar) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor is the X-Forwarded-For sent upstream: the inbound chain is
// kept only when the peer is a trusted proxy.
func (s *sidecar) forwardedFor(ctx *fasthttp.RequestCtx, r *reqState) string {
	peer, _ := netip.AddrFromSlice(ctx.RemoteIP())
	peer = peer.Unmap()
	if s.trusted(peer) {
		if xff := strings.TrimSpace(string(ctx.Request.Header.Peek("X-Forwarded-For"))); xff != "" {
			return headerSafe(xff) + ", " + peer.String()
		}
	} else if r.clientIP != "" {
		return r.clientIP // an untrusted peer is the client: the string is made already
	}
	return peer.String()
}

// stripReserved deletes every X-Meshq-* header in any spelling.
func stripReserved(h *fasthttp.RequestHeader) {
	var names [8][]byte
	for {
		n := 0
		for k := range h.All() {
			if identity.IsReserved(b2s(k)) {
				names[n] = append(names[n][:0], k...)
				if n++; n == len(names) {
					break
				}
			}
		}
		if n == 0 {
			return
		}
		for i := 0; i < n; i++ {
			h.DelBytes(names[i])
		}
	}
}

// credentialHeaders are consumed by the sidecar itself, so a Connection
// token naming one (hop-by-hop: meant for us) does not hide it from
// authentication; they are never forwarded either way.
var credentialHeaders = []string{"Authorization", "X-Api-Key"}

// stripHopByHop deletes the standard hop-by-hop headers and every header
// the client's Connection header names (RFC 9110 §7.6.1). It runs on the
// client's headers only, before the sidecar sets any of its own.
func stripHopByHop(h *fasthttp.RequestHeader) {
	for _, name := range connectionTokens(h.Peek("Connection")) {
		if !slices.ContainsFunc(credentialHeaders, func(c string) bool { return strings.EqualFold(c, name) }) {
			h.Del(name)
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	h.ResetConnectionClose()
}

// connectionTokens lists the header names a Connection header declares
// hop-by-hop.
func connectionTokens(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	var out []string
	for _, t := range strings.Split(string(v), ",") {
		t = strings.TrimSpace(t)
		if t != "" && !strings.EqualFold(t, "close") && !strings.EqualFold(t, "keep-alive") {
			out = append(out, t)
		}
	}
	return out
}

// headerSafe removes control characters so a claim value can never split
// a header.
func headerSafe(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			b := []byte(v)
			for j := range b {
				if b[j] < 0x20 || b[j] == 0x7f {
					b[j] = ' '
				}
			}
			return string(b)
		}
	}
	return v
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
