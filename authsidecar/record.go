package main

import (
	"strconv"
	"time"

	"github.com/meshoptixiq/mesh/common/tracing"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/auditlog"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/identity"
)

// This file ends every request: metrics, the audit record and the SOAR
// rules, with the outcome decided earlier in the pipeline.

// finish records the request: metrics, audit, SOAR.
func (s *sidecar) finish(ctx *fasthttp.RequestCtx, r *reqState, audited bool) {
	status := ctx.Response.StatusCode()
	elapsed := time.Since(r.start)
	if r.span != nil {
		user := r.ident.User
		if user == "" {
			user = r.ident.KeyFP // a fingerprint, never a key
		}
		r.span.SetAttributes(tracing.QueryName.String(r.perm.Query), tracing.EndUser.String(user),
			tracing.PlanTier.String(string(ctx.Response.Header.Peek(identity.HeaderPlanTier))))
		tracing.EndServer(r.span, status)
	}
	outcome := r.outcome
	if outcome == "" {
		// Allowed: the answer still failed when the apiserver (or the
		// transport) did, or when an action of the sidecar's own was
		// not carried out (a reload refused as invalid: 422).
		outcome = audit.OutcomeAllow
		if status >= 500 || r.local && status >= 400 {
			outcome = audit.OutcomeError
		}
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
		ClientIP: r.clientIP, Method: methodName(ctx.Method()), Path: r.path, Query: query,
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
		s.soar.notify(r, &rec, query)
	}
}

// methodName is the request method as a string, without allocating one
// for the methods the API has.
func methodName(m []byte) string {
	switch string(m) {
	case fasthttp.MethodGet:
		return fasthttp.MethodGet
	case fasthttp.MethodPost:
		return fasthttp.MethodPost
	case fasthttp.MethodDelete:
		return fasthttp.MethodDelete
	case fasthttp.MethodHead:
		return fasthttp.MethodHead
	}
	return string(m)
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
