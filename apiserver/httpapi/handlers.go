package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/common/license"

	"github.com/meshoptixiq/mesh/common/httpx"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/identity"
)

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
	g := a.opt.Engine.Graph()
	if err := a.opt.Engine.Ping(pctx); err != nil {
		// Still ready: every query is answered from memory. Only writes
		// wait for the store (they answer 503).
		a.log.Warn("readiness: store unreachable", "err", err)
		reason := "the graph store is unreachable"
		var ue *store.UnavailableError
		if errors.As(err, &ue) {
			reason += " (" + ue.Reason + ")"
		}
		httpx.WriteJSON(ctx, 200, map[string]any{"status": "degraded", "graph_version": g.Version, "devices": g.Stats().Devices,
			"reason": reason + ": queries are answered from memory, writes are refused until it returns"})
		return
	}
	httpx.WriteJSON(ctx, 200, map[string]any{"status": "ready", "graph_version": g.Version, "devices": g.Stats().Devices})
}

func (a *API) redis(ctx *fasthttp.RequestCtx) {
	if a.opt.RedisPing == nil {
		httpx.WriteJSON(ctx, 200, map[string]any{"status": "ok", "mode": "single-process",
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
	httpx.WriteJSON(ctx, 200, map[string]any{"status": "ok", "mode": "redis"})
}

func (a *API) license(ctx *fasthttp.RequestCtx) {
	l := a.lic
	out := map[string]any{"status": "ok", "plan": l.Effective(), "licensed_plan": l.Plan, "demo_mode": l.Demo,
		"licensee": l.Licensee, "expired": l.Expired, "expires": nil, "days_remaining": nil,
		"devices_used": a.opt.Engine.Graph().Stats().Devices, "devices_limit": nil, "features": l.FeatureList()}
	if !l.Expires.IsZero() {
		out["expires"] = l.Expires.UTC().Format(time.RFC3339)
	}
	if d, ok := l.DaysRemaining(time.Now()); ok {
		out["days_remaining"] = d
	}
	if l.Devices > 0 {
		out["devices_limit"] = l.Devices
	}
	switch {
	case l.Demo:
		out["message"] = "no licence key: every feature is on (demo mode)"
	case l.Expired:
		out["status"], out["message"] = "expired", "the "+l.Plan+" licence has expired; community features keep working"
	}
	httpx.WriteJSON(ctx, 200, out)
}

// devicesAfter is how many devices the graph would hold after ingesting
// devs in mode.
func (a *API) devicesAfter(mode string, devs []facts.Device) int {
	if mode == engine.ModeReplace {
		return len(devs)
	}
	g := a.opt.Engine.Graph()
	n := g.Stats().Devices
	for _, d := range devs {
		if g.Device(d.Hostname) == nil {
			n++
		}
	}
	return n
}

func (a *API) openAPI(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBody(a.openapi)
}

func (a *API) serveFactsSchema(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/schema+json")
	ctx.SetBody(a.factsSchema)
}

func (a *API) listQueries(ctx *fasthttp.RequestCtx) {
	defs := a.opt.Registry.All()
	out := make([]definitionJSON, len(defs))
	for i, d := range defs {
		out[i] = describeDefinition(d)
	}
	httpx.WriteJSON(ctx, 200, map[string]any{"queries": out, "count": len(out)})
}

func (a *API) getQuery(ctx *fasthttp.RequestCtx) {
	name, _ := ctx.UserValue("name").(string)
	d, ok := a.opt.Registry.Lookup(name)
	if !ok {
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, fmt.Sprintf("no query named %q; GET /queries/ lists them", name))
		return
	}
	httpx.WriteJSON(ctx, 200, describeDefinition(d))
}

// decodeExecuteBody parses {"parameters": {...}} (an empty body is no
// parameters), refusing any other shape: a body that is not an object
// (null included), other keys, parameters that are not an object. It
// returns a client-safe message on error.
func decodeExecuteBody(raw []byte) (map[string]query.RawValue, string) {
	const want = `{"parameters": {...}}`
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, ""
	}
	if raw[0] != '{' {
		if !json.Valid(raw) {
			var v any
			return nil, jsonProblem(raw, json.Unmarshal(raw, &v), want)
		}
		return nil, fmt.Sprintf("the body must be a JSON object %s, not %s", want, query.DescribeJSON(raw))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, jsonProblem(raw, err, want)
	}
	for k := range top {
		if k != "parameters" {
			return nil, fmt.Sprintf("unknown key %q in the body: the only allowed key is \"parameters\" (%s)", clipKey(k), want)
		}
	}
	p, ok := top["parameters"]
	if !ok {
		return nil, ""
	}
	if p = bytes.TrimSpace(p); len(p) == 0 || p[0] != '{' {
		return nil, fmt.Sprintf("parameters must be a JSON object, not %s (want %s)", query.DescribeJSON(p), want)
	}
	var params map[string]query.RawValue
	if err := json.Unmarshal(p, &params); err != nil {
		return nil, jsonProblem(raw, err, want)
	}
	return params, ""
}

func clipKey(k string) string {
	if len(k) > 64 {
		return k[:64] + "…"
	}
	return k
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
	if f := tierFeature(d.Tier); f != "" && !a.lic.Has(f) {
		apierror.Write(ctx, fasthttp.StatusForbidden, apierror.PlanRequired,
			fmt.Sprintf("query %s needs the %s plan; this server runs the %s plan", d.Name, license.PlanFor(f), a.lic.Effective()))
		return fasthttp.StatusForbidden
	}
	params, msg := decodeExecuteBody(ctx.PostBody())
	if msg != "" {
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, msg)
		return fasthttp.StatusBadRequest
	}
	env := &query.Env{Graph: a.opt.Engine.Graph(), Writer: a.opt.Engine}
	resp, err := a.opt.Registry.Execute(ctx, d, env, params)
	if err != nil {
		return a.queryError(ctx, d, err)
	}
	ctx.Response.Header.Set(identity.HeaderRowCount, strconv.Itoa(len(resp.Rows)))
	ctx.SetContentType("application/json")
	buf := encodeResponse(resp, a.columnKeys[d])
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
	if d.Write && a.reloadFailed(ctx, err) {
		return fasthttp.StatusServiceUnavailable
	}
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
		return fmt.Sprintf("malformed request at line %d, column %d: %s must be %s, not %s (want %s)", line, col, field, jsonKind(typ.Type), typ.Value, want)
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

// jsonKind names the JSON shape a Go type decodes from, for messages that
// must not leak Go type names.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a JSON value"
		}
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	}
	return "a number"
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
	body, ok := a.ingestBody(ctx)
	if !ok {
		return
	}
	doc, err := facts.Parse(body)
	// The document is decoded: drop the body buffer (as large as the facts,
	// and kept on the pooled request otherwise) before the graph is built.
	ctx.Request.ReleaseBody(0)
	if err != nil {
		var fe *facts.Error
		if errors.As(err, &fe) {
			httpx.WriteJSON(ctx, fasthttp.StatusBadRequest, problemsBody(ctx, fe))
			return
		}
		a.log.Error("ingest: parsing facts", "err", err)
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "the body is not a meshq.facts/v1 document")
		return
	}
	if limit := a.lic.Devices; limit > 0 && !a.lic.Expired {
		if n := a.devicesAfter(mode, doc.Devices); n > limit {
			apierror.Write(ctx, fasthttp.StatusForbidden, apierror.PlanRequired,
				fmt.Sprintf("the graph would hold %d devices; the %s licence allows %d; nothing was applied", n, a.lic.Plan, limit))
			return
		}
	}
	// The answer names this ingest's own version, which the graph served
	// may already be past (another replica committed meanwhile).
	g, v, err := a.opt.Engine.IngestCommitted(ctx, mode, doc.Devices)
	if err != nil {
		a.log.Error("ingest failed", "mode", mode, "devices", len(doc.Devices), "request_id", string(ctx.Request.Header.Peek(identity.HeaderRequestID)), "err", err)
		if !a.reloadFailed(ctx, err) {
			apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the graph store could not complete the ingest; nothing was applied")
		}
		return
	}
	a.log.Info("ingested", "mode", mode, "devices", len(doc.Devices), "graph_version", v)
	s := g.Stats()
	httpx.WriteJSON(ctx, 200, map[string]any{
		"status": "ok", "mode": mode, "graph_version": v, "ingested_devices": len(doc.Devices),
		"graph": statsJSON(s), "warnings": g.WarningsFor(doc.Devices),
	})
}

// ingestBody returns the ingest's document: the body, or with
// Content-Encoding gzip the body decompressed, bounded by the same
// MAX_BODY_BYTES so that a small compressed body cannot expand without
// limit. It answers the request itself (413, 400) and reports false when
// there is no document to parse.
func (a *API) ingestBody(ctx *fasthttp.RequestCtx) ([]byte, bool) {
	enc := strings.ToLower(strings.TrimSpace(string(ctx.Request.Header.Peek(fasthttp.HeaderContentEncoding))))
	switch enc {
	case "", "identity":
		return ctx.PostBody(), true
	case "gzip", "x-gzip":
	default:
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest,
			fmt.Sprintf("header Content-Encoding: %q is not supported (send gzip or no encoding)", enc))
		return nil, false
	}
	data, err := gunzipBounded(ctx.PostBody(), a.opt.MaxBodyBytes)
	switch {
	case errors.Is(err, errTooLarge):
		apierror.Write(ctx, fasthttp.StatusRequestEntityTooLarge, apierror.TooLarge, fmt.Sprintf(
			"decompressed request body is larger than the limit of %d bytes (MAX_BODY_BYTES)", a.opt.MaxBodyBytes))
		return nil, false
	case err != nil:
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "the body is not a valid gzip stream (Content-Encoding: gzip): "+err.Error())
		return nil, false
	}
	return data, true
}

var errTooLarge = errors.New("decompressed body over the limit")

// gunzipBounded decompresses a gzip stream (several members, as gzip
// allows) of at most limit bytes decompressed.
func gunzipBounded(body []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var out bytes.Buffer
	// Compressed JSON is typically 5 to 20 times smaller.
	out.Grow(min(len(body)*4, limit))
	n, err := io.Copy(&out, io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if n > int64(limit) {
		return nil, errTooLarge
	}
	return out.Bytes(), nil
}

// MaxQueryBodyBytes bounds the body of POST /queries/{name}/execute: a
// query's parameters are a few hostnames and addresses (string parameters
// are capped at query.MaxStringBytes), so only an ingest may use the full
// MAX_BODY_BYTES.
const MaxQueryBodyBytes = 1 << 20

// isQueryExecute reports whether the request is for /queries/*/execute.
func isQueryExecute(h *fasthttp.RequestHeader) bool {
	uri := h.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	return bytes.HasPrefix(uri, []byte("/queries/")) && bytes.HasSuffix(uri, []byte("/execute"))
}

// queryBodyLimit is the body limit of a query: MaxQueryBodyBytes, or
// MAX_BODY_BYTES where that is smaller.
func (a *API) queryBodyLimit() int { return min(MaxQueryBodyBytes, a.opt.MaxBodyBytes) }

// requestConfig sets each request's body limit once its header is read,
// before the body is: a query is refused before a large body is buffered.
func (a *API) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if isQueryExecute(h) {
		return fasthttp.RequestConfig{MaxRequestBodySize: a.queryBodyLimit()}
	}
	return fasthttp.RequestConfig{}
}

// tooLarge is the 413 message for a request whose body went over its limit.
func (a *API) tooLarge(h *fasthttp.RequestHeader) string {
	if isQueryExecute(h) {
		return fmt.Sprintf("request body is larger than the limit of %d bytes for a query", a.queryBodyLimit())
	}
	return fmt.Sprintf("request body is larger than the limit of %d bytes (MAX_BODY_BYTES)", a.opt.MaxBodyBytes)
}

// reloadFailed answers a write that is durable but that this replica
// could not load (engine.ReloadError) truthfully, and reports whether err
// was one: the change is stored, this replica lags until it reloads.
func (a *API) reloadFailed(ctx *fasthttp.RequestCtx, err error) bool {
	var re *engine.ReloadError
	if !errors.As(err, &re) {
		return false
	}
	apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, fmt.Sprintf(
		"the change was stored as version %d, but this replica failed to reload the graph; it answers from version %d until it reloads",
		re.Version, a.opt.Engine.Graph().Version))
	return true
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

// tierFeature is the licence feature a query tier needs ("" for community).
func tierFeature(tier string) string {
	switch tier {
	case query.TierPro:
		return "queries_pro"
	case query.TierEnterprise:
		return "queries_enterprise"
	}
	return ""
}
