// Package httpapi is the apiserver's HTTP surface on fasthttp: the named
// query endpoints, graph ingest, health, metrics and the OpenAPI document,
// with the JSON error envelope, request ids and panic recovery. Other
// packages add routes through Options.Routes.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/meshoptixiq/mesh/common/tracing"

	"github.com/meshoptixiq/mesh/common/license"

	"github.com/meshoptixiq/mesh/common/httpx"

	"github.com/fasthttp/router"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/identity"
	"github.com/meshoptixiq/mesh/common/obs"
	"github.com/meshoptixiq/mesh/common/routes"
)

// DefaultMaxHeaderBytes is the request-head limit when Options leave it 0;
// the same as the authsidecar's MAX_HEADER_BYTES default.
const DefaultMaxHeaderBytes = 64 << 10

// Options configure the HTTP surface.
type Options struct {
	Engine   *engine.Engine
	Registry *query.Registry
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	// MaxBodyBytes bounds request bodies (413 beyond); the server must be
	// built with Server() for it to apply.
	MaxBodyBytes int
	// MaxHeaderBytes is fasthttp's read buffer, which bounds the request
	// line and headers (431 beyond); 0 means DefaultMaxHeaderBytes, the
	// authsidecar's default, so that whatever the sidecar forwards
	// (large JWTs, cookies) is accepted here too.
	MaxHeaderBytes int
	// RedisPing checks Redis; nil means single-process mode.
	RedisPing func(ctx context.Context) error
	// Ready reports whether the initial graph load finished.
	Ready func() bool
	// License restricts the features; nil means no key (everything on).
	License *license.License
	// Tracer makes a span per request (nil: tracing off).
	Tracer trace.Tracer
	// Stop ends the open event streams (the daemon is stopping).
	Stop <-chan struct{}
	// Handlers are other packages' endpoints (telemetry, admin), by the
	// operation id of their route in common/routes.
	Handlers map[string]fasthttp.RequestHandler
}

// PooledBodyBytes is the largest request or response body whose buffer
// fasthttp keeps for reuse (fasthttp.SetBodySizePoolLimit, a process-wide
// setting the daemon makes). By default fasthttp keeps every body buffer
// on its pooled request contexts whatever its size, so one ingest or one
// large answer pinned a buffer of its size for as long as the context was
// reused; queries are bounded by MaxQueryBodyBytes and most answers are far
// smaller than this.
const PooledBodyBytes = 4 << 20

// API serves the apiserver's endpoints.
type API struct {
	opt     Options
	log     *slog.Logger
	router  *router.Router
	openapi []byte
	// factsSchema is facts.JSONSchema, served at facts.SchemaID.
	factsSchema []byte
	m           *metrics
	// columnKeys holds each query's `"column":` prefixes, rendered once.
	columnKeys map[*query.Definition][][]byte
	ids        *httpx.RequestIDs
	lic        *license.License
	// requests counts the requests served, for the idle memory release.
	requests atomic.Uint64
}

// Requests is how many requests the API has served.
func (a *API) Requests() uint64 { return a.requests.Load() }

// New builds the API and its router.
func New(opt Options) (*API, error) {
	if opt.MaxHeaderBytes <= 0 {
		opt.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	a := &API{opt: opt, log: opt.Log.With("component", "http")}
	var err error
	if a.openapi, err = OpenAPI(opt.Registry); err != nil {
		return nil, fmt.Errorf("building the OpenAPI document: %w", err)
	}
	if a.factsSchema, err = facts.JSONSchema(); err != nil {
		return nil, fmt.Errorf("building the facts JSON Schema: %w", err)
	}
	a.m = newMetrics(opt.Metrics, opt.Registry, opt.Engine)
	a.columnKeys = map[*query.Definition][][]byte{}
	for _, d := range opt.Registry.All() {
		a.columnKeys[d] = columnKeys(d.Columns)
	}
	a.ids = httpx.NewRequestIDs()
	if a.lic = opt.License; a.lic == nil {
		a.lic = license.None()
	}

	r := router.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleOPTIONS = false
	r.PanicHandler = a.panicked
	r.NotFound = func(ctx *fasthttp.RequestCtx) {
		apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, "no such endpoint: "+string(ctx.Method())+" "+string(ctx.Path()))
	}
	r.MethodNotAllowed = func(ctx *fasthttp.RequestCtx) {
		apierror.Write(ctx, fasthttp.StatusMethodNotAllowed, apierror.MethodNotAllowed,
			string(ctx.Method())+" is not allowed on "+string(ctx.Path())+"; allowed: "+string(ctx.Response.Header.Peek("Allow")))
	}
	handlers := map[string]fasthttp.RequestHandler{
		"health": a.health, "health_ready": a.ready, "health_redis": a.redis, "health_license": a.license,
		"metrics": obs.MetricsHandler(opt.Metrics), "openapi": a.openAPI, "facts_schema": a.serveFactsSchema,
		"list_queries": a.listQueries, "get_query": a.getQuery, "execute_query": a.execute, "graph_ingest": a.ingest,
		"events": a.events,
	}
	for id, h := range opt.Handlers {
		if _, dup := handlers[id]; dup {
			return nil, fmt.Errorf("two handlers for operation %q", id)
		}
		handlers[id] = h
	}
	// Every route the table gives the apiserver is served, and nothing
	// else: an endpoint exists only with its declared permission.
	for _, rt := range routes.Of(routes.Apiserver) {
		h, ok := handlers[rt.OperationID]
		if !ok {
			return nil, fmt.Errorf("route %s %s (%s) has no handler", rt.Method, rt.Path, rt.OperationID)
		}
		delete(handlers, rt.OperationID)
		if rt.OperationID == "metrics" {
			r.Handle(rt.Method, rt.Path, h) // not counted in the metrics it serves
			continue
		}
		if rt.Feature != "" {
			h = a.gate(rt.Feature, h)
		}
		a.route(r, rt.Method, rt.Path, h)
	}
	for id := range handlers {
		return nil, fmt.Errorf("handler %q has no route in common/routes", id)
	}
	a.router = r
	return a, nil
}

// route registers h with request-id and per-route metrics around it.
func (a *API) route(r *router.Router, method, path string, h fasthttp.RequestHandler) {
	obs := a.m.route(method, path)
	tr := a.opt.Tracer
	r.Handle(method, path, func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		var span trace.Span
		if tr != nil {
			_, span = tracing.StartServer(ctx, tr, method+" "+path)
			tracing.Attach(ctx, span) // store queries of the handler are its children
		}
		h(ctx)
		status := ctx.Response.StatusCode()
		obs(status, time.Since(start))
		if span != nil {
			rows, _ := strconv.ParseInt(string(ctx.Response.Header.Peek(identity.HeaderRowCount)), 10, 64)
			span.SetAttributes(tracing.QueryName.String(string(ctx.Response.Header.Peek(identity.HeaderQueryName))),
				tracing.PlanTier.String(string(ctx.Response.Header.Peek(identity.HeaderPlanTier))),
				tracing.RowCount.Int64(rows), tracing.DeviceCount.Int(a.opt.Engine.Graph().Stats().Devices),
				tracing.EndUser.String(string(ctx.Request.Header.Peek(identity.HeaderUser))))
			tracing.EndServer(span, status)
		}
	})
}

// Handler is the root handler: request ids, then the router.
func (a *API) Handler(ctx *fasthttp.RequestCtx) {
	a.requests.Add(1)
	if len(ctx.Request.Header.Peek(identity.HeaderRequestID)) == 0 {
		ctx.Request.Header.Set(identity.HeaderRequestID, a.ids.New())
	}
	ctx.Response.Header.SetBytesV(identity.HeaderRequestID, ctx.Request.Header.Peek(identity.HeaderRequestID))
	if p := string(ctx.Path()); routes.Canonical(p) != p {
		ctx.URI().SetPath(routes.Canonical(p))
	}
	a.router.Handler(ctx)
}

// Server returns a fasthttp server for the API with the body and header
// limits and an error handler that answers protocol errors with the JSON
// envelope.
func (a *API) Server() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:            a.Handler,
		Name:               "meshq-apiserver",
		MaxRequestBodySize: a.opt.MaxBodyBytes,
		HeaderReceived:     a.requestConfig,
		// The read buffer bounds the request head (fasthttp's default is
		// 4 KiB, too small for the sidecar's forwarded headers).
		ReadBufferSize: a.opt.MaxHeaderBytes,
		ReadTimeout:    5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		Logger:         httpx.Logger{Log: a.log},
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			switch f := httpx.ClassifyReadError(err); f {
			case httpx.BodyTooLarge:
				apierror.Write(ctx, f.Status(), f.Code(), a.tooLarge(&ctx.Request.Header))
			case httpx.HeadersTooLarge:
				ctx.SetConnectionClose()
				apierror.Write(ctx, f.Status(), f.Code(),
					fmt.Sprintf("request headers are larger than the limit of %d bytes (MAX_HEADER_BYTES)", a.opt.MaxHeaderBytes))
			default:
				apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "malformed HTTP request")
			}
		},
	}
}

func (a *API) panicked(ctx *fasthttp.RequestCtx, v any) {
	a.log.Error("handler panicked", "path", string(ctx.Path()), "request_id", string(ctx.Request.Header.Peek(identity.HeaderRequestID)), "panic", fmt.Sprint(v))
	apierror.Write(ctx, fasthttp.StatusInternalServerError, apierror.Internal, "internal error; quote the request id to the operators")
}

// gate answers 403 plan_required, naming the plan that has feature, when
// the licence lacks it.
func (a *API) gate(feature string, h fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if !a.lic.Has(feature) {
			apierror.Write(ctx, fasthttp.StatusForbidden, apierror.PlanRequired,
				fmt.Sprintf("%s needs the %s plan (%s); this server runs the %s plan", ctx.Path(), license.PlanFor(feature), feature, a.lic.Effective()))
			return
		}
		h(ctx)
	}
}
