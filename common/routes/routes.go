// Package routes declares every HTTP endpoint of the pod once: the
// apiserver's and the ones the authsidecar answers itself. From this table
// come the apiserver's router, its OpenAPI document, and the sidecar's
// permission for each request path, so that an endpoint cannot exist
// without a permission, nor a permission name an endpoint that does not
// exist. A new endpoint is a new row here.
package routes

import (
	"strings"

	"github.com/meshoptixiq/mesh/common/telemetry"
)

// Daemons that serve routes.
const (
	Apiserver   = "apiserver"
	Authsidecar = "authsidecar"
)

// Access says who may call a route.
type Access int

const (
	// Granted routes need an identity whose role is granted Permission.
	Granted Access = iota
	// Public routes need no credentials (probes, health); the sidecar
	// limits them to GET and HEAD.
	Public
	// SelfService routes are open to every authenticated OIDC user for
	// their own data (personal access tokens), not matched against role
	// patterns.
	SelfService
)

// Audit event classes (the audit record's "event").
const (
	EventQuery = "query"
	EventAdmin = "admin"
	EventAuth  = "auth"
)

// Permission names. Per-query routes use the query's own name instead.
const (
	PermQueriesList     = "queries_list"
	PermGraphIngest     = "graph_ingest"
	PermOpenAPI         = "openapi"
	PermEBPFMetrics     = "ebpf_metrics"
	PermEBPFEvents      = "ebpf_events"
	PermNCCLTopology    = "nccl_topology"
	PermNCCLOperations  = "nccl_operations"
	PermTelemetryIngest = "telemetry_ingest"
	PermAdminRBACReload = "admin_rbac_reload"
	PermAuthTokens      = "auth_tokens"
	PermAdminNetboxSync = "admin_netbox_sync"
	PermChaosSimulate   = "chaos_simulate"
	PermChaosResults    = "chaos_results"
	PermAIConversation  = "ai_conversation"
	PermTracingSpans    = "tracing_spans"
	PermSLOViolations   = "tracing_slo_violations"
	// PermEvents is the server-sent event stream's permission; the sidecar
	// takes its API key from ?api_key (EventSource cannot set headers).
	PermEvents = "events"
)

// PerQuery marks routes whose permission is the query named in the path's
// {name} segment.
const PerQuery = "{query}"

// Route is one endpoint.
type Route struct {
	Daemon      string
	Method      string
	Path        string // router syntax: {param} is one path segment
	OperationID string // unique; the handler's key
	Summary     string
	Permission  string // what a role must be granted (PerQuery: the query's name)
	Access      Access
	Event       string // audit event class
	Write       bool   // changes state
	// Feature is the licence feature the route needs ("" for every plan).
	Feature string
	// Direct routes are answered on the daemon's own port only: through
	// the door the sidecar answers the same path itself (its /metrics).
	Direct bool
}

// All is every route of the pod.
var All = []Route{
	// The sidecar's own.
	{Daemon: Authsidecar, Method: "GET", Path: "/livez", OperationID: "sidecar_livez", Summary: "Sidecar liveness", Access: Public, Event: EventQuery},
	{Daemon: Authsidecar, Method: "GET", Path: "/readyz", OperationID: "sidecar_readyz", Summary: "Sidecar readiness: policy loaded, identity provider discovered, apiserver reachable", Access: Public, Event: EventQuery},
	{Daemon: Authsidecar, Method: "GET", Path: "/metrics", OperationID: "sidecar_metrics", Summary: "Sidecar Prometheus metrics", Access: Public, Event: EventQuery},
	{Daemon: Authsidecar, Method: "GET", Path: "/auth/config", OperationID: "auth_config", Summary: "How to log in: auth mode, OIDC issuer and client id", Access: Public, Event: EventAuth},
	{Daemon: Authsidecar, Method: "GET", Path: "/auth/tokens", OperationID: "list_tokens", Summary: "List your personal access tokens", Permission: PermAuthTokens, Access: SelfService, Event: EventAuth},
	{Daemon: Authsidecar, Method: "POST", Path: "/auth/tokens", OperationID: "create_token", Summary: "Mint a personal access token", Permission: PermAuthTokens, Access: SelfService, Event: EventAuth, Write: true},
	{Daemon: Authsidecar, Method: "DELETE", Path: "/auth/tokens/{id}", OperationID: "revoke_token", Summary: "Revoke one of your personal access tokens", Permission: PermAuthTokens, Access: SelfService, Event: EventAuth, Write: true},
	{Daemon: Authsidecar, Method: "POST", Path: "/admin/rbac/reload", OperationID: "rbac_reload", Summary: "Reload the RBAC policy now", Permission: PermAdminRBACReload, Event: EventAdmin, Write: true},

	// The apiserver's.
	{Daemon: Apiserver, Method: "GET", Path: "/health", OperationID: "health", Summary: "Liveness (no I/O)", Access: Public, Event: EventQuery},
	{Daemon: Apiserver, Method: "GET", Path: "/health/ready", OperationID: "health_ready", Summary: "Readiness: store reachable and graph loaded", Access: Public, Event: EventQuery},
	{Daemon: Apiserver, Method: "GET", Path: "/health/redis", OperationID: "health_redis", Summary: "Redis reachability, or single-process mode", Access: Public, Event: EventQuery},
	{Daemon: Apiserver, Method: "GET", Path: "/health/license", OperationID: "health_license", Summary: "Licence plan", Access: Public, Event: EventQuery},
	{Daemon: Apiserver, Method: "GET", Path: "/metrics", OperationID: "metrics", Summary: "Apiserver Prometheus metrics", Access: Public, Event: EventQuery, Direct: true},
	{Daemon: Apiserver, Method: "GET", Path: "/openapi.json", OperationID: "openapi", Summary: "This document", Permission: PermOpenAPI, Event: EventQuery},
	{Daemon: Apiserver, Method: "GET", Path: "/queries/", OperationID: "list_queries", Summary: "List the named queries", Permission: PermQueriesList, Event: EventQuery},
	{Daemon: Apiserver, Method: "GET", Path: "/queries/{name}", OperationID: "get_query", Summary: "Describe one named query", Permission: PerQuery, Event: EventQuery},
	{Daemon: Apiserver, Method: "POST", Path: "/queries/{name}/execute", OperationID: "execute_query", Summary: "Run a named query", Permission: PerQuery, Event: EventQuery},
	{Daemon: Apiserver, Method: "GET", Path: "/events", OperationID: "events", Summary: "Server-sent events: one \"graph\" event per graph version", Permission: PermEvents, Event: EventQuery},
	{Daemon: Apiserver, Method: "POST", Path: "/graph/ingest", OperationID: "graph_ingest", Summary: "Ingest a meshq.facts/v1 document", Permission: PermGraphIngest, Event: EventAdmin, Write: true},
	{Daemon: Apiserver, Method: "POST", Path: telemetry.ReportPath, OperationID: "telemetry_report", Summary: "A node agent's meshq.telemetry/v1 report", Permission: PermTelemetryIngest, Event: EventAdmin, Write: true},
	{Daemon: Apiserver, Method: "GET", Path: "/ebpf/metrics", OperationID: "ebpf_metrics", Summary: "Per-node eBPF TCP metrics", Permission: PermEBPFMetrics, Event: EventQuery, Feature: "ebpf_telemetry"},
	{Daemon: Apiserver, Method: "GET", Path: "/ebpf/events", OperationID: "ebpf_events", Summary: "Recent eBPF events (retransmits, resets)", Permission: PermEBPFEvents, Event: EventQuery, Feature: "ebpf_telemetry"},
	{Daemon: Apiserver, Method: "GET", Path: "/nccl/topology/full", OperationID: "nccl_topology", Summary: "GPU and NVLink topology of every node", Permission: PermNCCLTopology, Event: EventQuery, Feature: "nccl_silicon_mapping"},
	{Daemon: Apiserver, Method: "GET", Path: "/nccl/operations/active", OperationID: "nccl_operations", Summary: "NCCL operations in flight", Permission: PermNCCLOperations, Event: EventQuery, Feature: "nccl_silicon_mapping"},
	// The facts JSON Schema is part of the API's description, so it takes
	// the OpenAPI document's permission.
	{Daemon: Apiserver, Method: "GET", Path: "/schemas/meshq.facts.v1.json", OperationID: "facts_schema", Summary: "JSON Schema of the meshq.facts/v1 ingest document", Permission: PermOpenAPI, Event: EventQuery},
	{Daemon: Apiserver, Method: "POST", Path: "/admin/netbox/sync", OperationID: "admin_netbox_sync", Summary: "Sync the graph with NetBox (pull, push or both; dry run)", Permission: PermAdminNetboxSync, Event: EventAdmin, Write: true, Feature: "netbox_sync"},
	{Daemon: Apiserver, Method: "POST", Path: "/graph/chaos-simulate", OperationID: "chaos_simulate", Summary: "Queue a chaos scenario: failed devices, ports, links, VLANs, subnets; answers 202 with its id", Permission: PermChaosSimulate, Event: EventQuery, Feature: "chaos_engineering"},
	{Daemon: Apiserver, Method: "GET", Path: "/graph/chaos-results/{id}", OperationID: "chaos_results", Summary: "A chaos run's status and result", Permission: PermChaosResults, Event: EventQuery, Feature: "chaos_engineering"},
	{Daemon: Apiserver, Method: "POST", Path: "/tracing/spans", OperationID: "tracing_spans", Summary: "OTLP/HTTP trace export (protobuf or JSON): spans kept, TRACING_SLOS evaluated on arrival", Permission: PermTracingSpans, Event: EventAdmin, Write: true, Feature: "token_path_tracing"},
	{Daemon: Apiserver, Method: "GET", Path: "/tracing/slo-violations", OperationID: "tracing_slo_violations", Summary: "Spans that broke an SLO, with their host's node telemetry and their network path", Permission: PermSLOViolations, Event: EventQuery, Feature: "token_path_tracing"},
	{Daemon: Apiserver, Method: "POST", Path: "/ai/query/conversation", OperationID: "ai_conversation", Summary: "Ask in plain language: one named query per message, checked against the caller's grants; sessions keep 10 turns", Permission: PermAIConversation, Event: EventQuery, Feature: "nl_conversation"},
}

// Of lists the routes a daemon serves.
func Of(daemon string) []Route {
	var out []Route
	for _, r := range All {
		if r.Daemon == daemon {
			out = append(out, r)
		}
	}
	return out
}

// Canonical is the path a request is routed by: "/queries" is the list of
// queries, like "/queries/".
func Canonical(path string) string {
	if path == "/queries" {
		return "/queries/"
	}
	return path
}

// Match finds the route for a (canonical) request path, whatever the method (the
// daemon answers 405 for a wrong one); with a {param} segment it also
// returns that segment's value. The sidecar's own routes win over the
// apiserver's for the same path.
func Match(path string) (Route, string, bool) { return table.match(path) }

// table indexes All for Match, which the sidecar calls for every request.
var table = index(All)

// routeIndex finds a path's route with a map lookup for the literal paths,
// trying in turn only the few {param} routes that come before it in the
// table (the first route that matches wins, as in a scan of the table).
type routeIndex struct {
	routes  []Route
	literal map[string]int // path → the first route with that literal path
	param   []paramRoute   // the routes with a {param} segment, in order
}

type paramRoute struct {
	i      int    // its place in the table
	prefix string // its path up to the first {param}: most paths fail here
}

func index(rs []Route) routeIndex {
	x := routeIndex{routes: rs, literal: map[string]int{}}
	for i, r := range rs {
		if p, _, ok := strings.Cut(r.Path, "{"); ok {
			x.param = append(x.param, paramRoute{i: i, prefix: p})
		} else if _, dup := x.literal[r.Path]; !dup {
			x.literal[r.Path] = i
		}
	}
	return x
}

func (x routeIndex) match(path string) (Route, string, bool) {
	literal, ok := x.literal[path]
	if !ok {
		literal = len(x.routes)
	}
	for _, p := range x.param {
		if p.i > literal {
			break
		}
		if !strings.HasPrefix(path, p.prefix) {
			continue
		}
		if v, ok := matchPath(x.routes[p.i].Path, path); ok {
			return x.routes[p.i], v, true
		}
	}
	if literal < len(x.routes) {
		return x.routes[literal], "", true
	}
	return Route{}, "", false
}

// matchPath matches path against pattern; a {param} segment matches one
// non-empty segment of name characters, whose value it returns.
func matchPath(pattern, path string) (string, bool) {
	if !strings.Contains(pattern, "{") {
		return "", pattern == path
	}
	// Segment by segment, without splitting: the sidecar matches every
	// request against the whole table, and two slices per route per
	// request were most of its allocations.
	value := ""
	for {
		p, patternRest, patternMore := strings.Cut(pattern, "/")
		x, pathRest, pathMore := strings.Cut(path, "/")
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if !ValidName(x) {
				return "", false
			}
			value = x
		} else if p != x {
			return "", false
		}
		if patternMore != pathMore {
			return "", false // a different number of segments
		}
		if !patternMore {
			return value, true
		}
		pattern, path = patternRest, pathRest
	}
}

// ValidName accepts the characters query names, token ids and other path
// parameters use.
func ValidName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}
