package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/identity"
)

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		apierror.Write(ctx, fasthttp.StatusInternalServerError, apierror.Internal, "internal error")
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func (a *API) health(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"ok"}`)
}

func (a *API) ready(ctx *fasthttp.RequestCtx) {
	if a.opt.Ready != nil && !a.opt.Ready() {
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the graph is still loading")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.opt.Engine.Ping(pctx); err != nil {
		a.log.Warn("readiness: store unreachable", "err", err)
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the graph store is unreachable")
		return
	}
	g := a.opt.Engine.Graph()
	writeJSON(ctx, 200, map[string]any{"status": "ready", "graph_version": g.Version, "devices": g.Stats().Devices})
}

func (a *API) redis(ctx *fasthttp.RequestCtx) {
	if a.opt.RedisPing == nil {
		writeJSON(ctx, 200, map[string]any{"status": "ok", "mode": "single-process",
			"message": "REDIS_URL is not set: graph changes are not broadcast to other replicas"})
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.opt.RedisPing(pctx); err != nil {
		a.log.Warn("redis health check failed", "err", err)
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "redis is unreachable")
		return
	}
	writeJSON(ctx, 200, map[string]any{"status": "ok", "mode": "redis"})
}

func (a *API) license(ctx *fasthttp.RequestCtx) {
	writeJSON(ctx, 200, map[string]any{"status": "ok", "plan": Plan, "licensed": false,
		"message": "community plan: every named query of the community tier is available"})
}

func (a *API) openAPI(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBody(a.openapi)
}

func (a *API) listQueries(ctx *fasthttp.RequestCtx) {
	defs := a.opt.Registry.All()
	out := make([]definitionJSON, len(defs))
	for i, d := range defs {
		out[i] = describeDefinition(d)
	}
	writeJSON(ctx, 200, map[string]any{"queries": out, "count": len(out)})
}

func (a *API) getQuery(ctx *fasthttp.RequestCtx) {
	name, _ := ctx.UserValue("name").(string)
	d, ok := a.opt.Registry.Lookup(name)
	if !ok {
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, fmt.Sprintf("no query named %q; GET /queries/ lists them", name))
		return
	}
	writeJSON(ctx, 200, describeDefinition(d))
}

// executeBody is the body of POST /queries/{name}/execute.
type executeBody struct {
	Parameters map[string]query.RawValue `json:"parameters"`
}

func (a *API) execute(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	name, _ := ctx.UserValue("name").(string)
	d, ok := a.opt.Registry.Lookup(name)
	if !ok {
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, fmt.Sprintf("no query named %q; GET /queries/ lists them", name))
		return
	}
	ctx.Response.Header.Set(identity.HeaderQueryName, d.Name)
	ctx.Response.Header.Set(identity.HeaderPlanTier, d.Tier)
	status := a.executeQuery(ctx, d)
	a.m.query(d.Name, status, time.Since(start))
}

func (a *API) executeQuery(ctx *fasthttp.RequestCtx, d *query.Definition) int {
	if d.Tier != query.TierCommunity {
		apierror.Write(ctx, fasthttp.StatusForbidden, apierror.Forbidden,
			fmt.Sprintf("query %s needs the %s plan; this server runs the %s plan", d.Name, d.Tier, Plan))
		return fasthttp.StatusForbidden
	}
	var body executeBody
	if raw := bytes.TrimSpace(ctx.PostBody()); len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, jsonProblem(raw, err, `{"parameters": {...}}`))
			return fasthttp.StatusBadRequest
		}
		if dec.More() {
			apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "malformed JSON: unexpected data after the body object")
			return fasthttp.StatusBadRequest
		}
	}
	env := &query.Env{Graph: a.opt.Engine.Graph(), Writer: a.opt.Engine}
	resp, err := a.opt.Registry.Execute(ctx, d, env, body.Parameters)
	if err != nil {
		return a.queryError(ctx, d, err)
	}
	ctx.Response.Header.Set(identity.HeaderRowCount, strconv.Itoa(len(resp.Rows)))
	ctx.SetContentType("application/json")
	buf := encodeResponse(resp)
	ctx.SetBody(buf.B)
	releaseBuf(buf)
	return fasthttp.StatusOK
}

func (a *API) queryError(ctx *fasthttp.RequestCtx, d *query.Definition, err error) int {
	var qe *query.Error
	switch {
	case errors.As(err, &qe):
		apierror.Write(ctx, qe.Status, qe.Code, qe.Message)
		return qe.Status
	case errors.Is(err, engine.ErrNotFound):
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, "no such device")
		return fasthttp.StatusNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the query was cancelled")
		return fasthttp.StatusServiceUnavailable
	}
	a.log.Error("query failed", "query", d.Name, "request_id", string(ctx.Request.Header.Peek(identity.HeaderRequestID)), "err", err)
	if d.Write {
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the graph store could not complete the write")
		return fasthttp.StatusServiceUnavailable
	}
	apierror.Write(ctx, fasthttp.StatusInternalServerError, apierror.Internal, "internal error; quote the request id to the operators")
	return fasthttp.StatusInternalServerError
}

// jsonProblem turns a decoding error into a client-safe message with the
// line and column where it happened.
func jsonProblem(data []byte, err error, want string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, int(syn.Offset)-1)
		return fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, syn.Error())
	case errors.As(err, &typ):
		line, col := position(data, int(typ.Offset)-1)
		field := typ.Field
		if field == "" {
			field = "the body"
		}
		return fmt.Sprintf("malformed request at line %d, column %d: %s must be %s, not %s (want %s)", line, col, field, typ.Type.String(), typ.Value, want)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: the body ends too early"
	}
	return fmt.Sprintf("malformed request body: %s (want %s)", trimJSONPrefix(err.Error()), want)
}

func trimJSONPrefix(s string) string {
	const p = "json: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// position converts a byte offset into a 1-based line and column.
func position(data []byte, off int) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > len(data) {
		off = len(data)
	}
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	col = off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

func (a *API) ingest(ctx *fasthttp.RequestCtx) {
	mode := string(ctx.QueryArgs().Peek("mode"))
	if mode == "" {
		mode = engine.ModeMerge
	}
	if mode != engine.ModeMerge && mode != engine.ModeReplace {
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, fmt.Sprintf("parameter \"mode\": expected merge or replace, got %q", mode))
		return
	}
	doc, err := facts.Parse(ctx.PostBody())
	if err != nil {
		var fe *facts.Error
		if errors.As(err, &fe) {
			writeJSON(ctx, fasthttp.StatusBadRequest, problemsBody(ctx, fe))
			return
		}
		a.log.Error("ingest: parsing facts", "err", err)
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "the body is not a meshq.facts/v1 document")
		return
	}
	g, err := a.opt.Engine.Ingest(ctx, mode, doc.Devices)
	if err != nil {
		a.log.Error("ingest failed", "mode", mode, "devices", len(doc.Devices), "request_id", string(ctx.Request.Header.Peek(identity.HeaderRequestID)), "err", err)
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the graph store could not complete the ingest; nothing was applied")
		return
	}
	a.log.Info("ingested", "mode", mode, "devices", len(doc.Devices), "graph_version", g.Version)
	s := g.Stats()
	writeJSON(ctx, 200, map[string]any{
		"status": "ok", "mode": mode, "graph_version": g.Version, "ingested_devices": len(doc.Devices),
		"graph": statsJSON(s),
	})
}

func statsJSON(s graph.Stats) map[string]int {
	return map[string]int{"devices": s.Devices, "interfaces": s.Interfaces, "endpoints": s.Endpoints,
		"ip_addresses": s.IPAddresses, "subnets": s.Subnets, "vlans": s.VLANs, "links": s.Links, "firewall_rules": s.FirewallRules}
}

// problemsBody is the error envelope with the list of facts problems, each
// with its JSON path.
func problemsBody(ctx *fasthttp.RequestCtx, fe *facts.Error) map[string]any {
	return map[string]any{"error": map[string]any{
		"code": apierror.BadRequest, "message": fe.Error(), "problems": fe.Problems, "more_problems": fe.More,
		"request_id": string(ctx.Request.Header.Peek(identity.HeaderRequestID)),
	}}
}
