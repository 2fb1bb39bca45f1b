package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/common/tracing"

	"github.com/meshoptixiq/mesh/common/httpx"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/auditlog"
	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/authsidecar/pat"
	"github.com/meshoptixiq/mesh/authsidecar/ratelimit"
	"github.com/meshoptixiq/mesh/authsidecar/rbac"
	"github.com/meshoptixiq/mesh/authsidecar/reload"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/identity"
	"github.com/meshoptixiq/mesh/common/routes"
)

// This file is the request pipeline (handle): reserved and hop-by-hop
// headers stripped, the permission looked up in the route table, then audit
// place, failed-authentication limit, authentication, rate limit,
// authorisation and body admission, each refusing with its own outcome,
// before the request is forwarded or answered by the sidecar itself. The
// other files hold each step: authn.go, forward.go, clientaddr.go,
// record.go (the audit record) and local.go (the sidecar's own endpoints).

// bearerVerifier checks OIDC bearer tokens (oidc_enterprise.go; the
// standard build has none).
type bearerVerifier interface {
	Verify(ctx context.Context, raw string) (auth.Identity, error)
	// Ready reports whether the issuer's keys have been fetched, for /readyz.
	Ready() (bool, string)
	// Run discovers the issuer and keeps its keys fresh until ctx ends.
	Run(ctx context.Context) error
}

// soarHook sends the SOAR webhooks audited requests match
// (soar_enterprise.go; the standard build has none).
type soarHook interface {
	notify(r *reqState, rec *audit.Record, query string)
	// Run delivers the queued webhooks until ctx ends.
	Run(ctx context.Context) error
}

// sidecar is the request path.
type sidecar struct {
	cfg            *config
	log            *slog.Logger
	m              *metrics
	keys           *auth.APIKeys
	oidc           bearerVerifier // nil: AUTH_MODE=api_key
	pats           *pat.Store
	policy         *reload.Holder
	audit          *auditlog.Writer
	soar           soarHook // nil: SOAR off
	limiter        *ratelimit.Limiter
	authFail       *authThrottle // nil: AUTH_FAILURE_LIMIT=off
	upstream       *upstream
	metricsHandler fasthttp.RequestHandler
	ids            *httpx.RequestIDs
	tracer         trace.Tracer // nil: tracing off
	heads          sync.Map     // *fasthttp.RequestHeader → *readHead (headerReceived)
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
		Logger:                       httpx.Logger{Log: s.log},
		ErrorHandler:                 s.parseError,
		HeaderReceived:               s.headerReceived,
	}
}

// parseError answers requests fasthttp could not parse (oversized head or
// body, malformed or ambiguous framing) without reaching the handler.
func (s *sidecar) parseError(ctx *fasthttp.RequestCtx, err error) {
	f := httpx.ClassifyReadError(err)
	status, code, msg := f.Status(), f.Code(), "malformed request"
	switch f {
	case httpx.BodyTooLarge:
		msg = "request body larger than " + strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + " bytes; raise MAX_BODY_BYTES to accept it"
	case httpx.HeadersTooLarge:
		msg = "request headers larger than " + strconv.FormatInt(s.cfg.MaxHeaderBytes, 10) + " bytes; raise MAX_HEADER_BYTES to accept them"
	case httpx.ReadTimeout:
		msg = "request not received in time"
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
	r := &reqState{start: time.Now(), readFailed: true, outcome: audit.OutcomeError, clientIP: s.clientIP(ctx), version: s.policy.Policy().Version}
	var head readHead
	if v, ok := s.heads.LoadAndDelete(&ctx.Request.Header); ok {
		head = *v.(*readHead)
	}
	r.id = s.ids.FromOrNew([]byte(head.id))
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
	// span is the request's trace span (nil with tracing off); spanCtx
	// carries it to the upstream request.
	span    trace.Span
	spanCtx context.Context
	// outcome is the audit outcome, set where the decision is made: deny
	// (credentials, rate, role) or error (the request could not be
	// served). Empty: allowed.
	outcome string
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
	r.id = s.ids.FromOrNew(h.Peek(identity.HeaderRequestID))
	h.Set(identity.HeaderRequestID, r.id)
	ctx.Response.Header.Set(identity.HeaderRequestID, r.id)
	r.path = string(ctx.Path())

	rt, param, matched := routes.Match(routes.Canonical(r.path))
	if matched && rt.Daemon == routes.Authsidecar && rt.Access == routes.Public {
		// The sidecar's own unauthenticated endpoints: read-only.
		if !httpx.ReadOnly(ctx) {
			return
		}
		switch rt.OperationID {
		case "sidecar_livez":
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"status":"ok"}`)
		case "sidecar_readyz":
			s.readyz(ctx)
		case "sidecar_metrics":
			if s.cfg.MetricsListen != "" {
				// Served on the metrics port only: the public port
				// tells nothing of the traffic it carries.
				apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, "not found: metrics are on the metrics port (METRICS_LISTEN)")
				return
			}
			s.metricsHandler(ctx)
		case "auth_config":
			s.authConfig(ctx)
		default:
			panic("route " + rt.OperationID + " has no handler in the sidecar")
		}
		return
	}
	r.perm = rbac.PermissionOf(rt, param, matched)
	r.clientIP = s.clientIP(ctx)
	if s.tracer != nil {
		name := "unknown route"
		if matched {
			name = rt.Path
		}
		r.spanCtx, r.span = tracing.StartServer(ctx, s.tracer, string(ctx.Method())+" "+name)
	}
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
		r.reason, r.outcome = "audit log unavailable", audit.OutcomeError
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "audit log unavailable; request not served")
		// The refusal is audited like any request: its record is kept
		// and written once the file takes writes again.
		return false
	}
	place, ok := s.audit.Reserve()
	if !ok {
		// The refusal's own record finds no room either: it is counted
		// as dropped (authsidecar_audit_dropped_total).
		r.reason, r.outcome = "audit queue full", audit.OutcomeError
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
	r.reason, r.outcome = reason, audit.OutcomeDeny
	msg := "rate limit exceeded; retry after " + secs + "s"
	if reason != "rate limited" {
		msg = reason + "; retry after " + secs + "s"
	}
	apierror.Write(ctx, fasthttp.StatusTooManyRequests, apierror.RateLimited, msg)
}
