package rbac

import "strings"

// Permission is what a request asks for.
type Permission struct {
	// Name is the permission the policy's patterns are matched against.
	Name string
	// Query is the named query, when the request addresses one.
	Query string
	// Event is the audit event class: query, admin or auth.
	Event string
	// Unknown marks a path the table does not name: only a role granted
	// "*" (or an API key) may use it.
	Unknown bool
	// Public paths need no authentication.
	Public bool
	// SelfService paths are open to every authenticated OIDC user for
	// their own data (personal access tokens) and are not matched
	// against role patterns.
	SelfService bool
}

// Fixed permission names (README.md has the table).
const (
	PermQueriesList     = "queries_list"
	PermGraphIngest     = "graph_ingest"
	PermOpenAPI         = "openapi"
	PermEBPFMetrics     = "ebpf_metrics"
	PermEBPFEvents      = "ebpf_events"
	PermNCCLTopology    = "nccl_topology"
	PermNCCLOperations  = "nccl_operations"
	PermTelemetryIngest = "telemetry_ingest"
	PermChaosSimulate   = "chaos_simulate"
	PermChaosResults    = "chaos_results"
	PermAIConversation  = "ai_conversation"
	PermEvents          = "events"
	PermAdminRBACReload = "admin_rbac_reload"
	PermAdminNetboxSync = "admin_netbox_sync"
	PermAuthTokens      = "auth_tokens"
)

var fixed = map[string]string{
	"/graph/ingest":           PermGraphIngest,
	"/openapi.json":           PermOpenAPI,
	"/ebpf/metrics":           PermEBPFMetrics,
	"/ebpf/events":            PermEBPFEvents,
	"/nccl/topology/full":     PermNCCLTopology,
	"/nccl/operations/active": PermNCCLOperations,
	"/telemetry/report":       PermTelemetryIngest,
	"/graph/chaos-simulate":   PermChaosSimulate,
	"/ai/query/conversation":  PermAIConversation,
	"/events":                 PermEvents,
	"/admin/rbac/reload":      PermAdminRBACReload,
	"/admin/netbox/sync":      PermAdminNetboxSync,
	"/queries":                PermQueriesList,
	"/queries/":               PermQueriesList,
	"/auth/tokens":            PermAuthTokens,
	"/auth/tokens/":           PermAuthTokens,
}

// publicPaths need no credentials: the sidecar's own probes and the
// apiserver's health endpoints, exactly; any other path under
// /health is authenticated like the rest. The sidecar further limits the
// public ones to GET and HEAD.
var publicPaths = map[string]bool{
	"/livez": true, "/readyz": true, "/metrics": true,
	"/health": true, "/health/ready": true, "/health/redis": true, "/health/license": true,
}

// PermissionFor maps a normalised request path to its permission. The
// mapping is by path only; the apiserver answers 405 for wrong methods.
func PermissionFor(path string) Permission {
	if name, ok := fixed[path]; ok {
		p := Permission{Name: name, Event: eventFor(name)}
		switch name {
		case PermQueriesList:
			p.Event = "query"
		case PermAuthTokens:
			p.SelfService = true
		}
		return p
	}
	switch {
	case publicPaths[path]:
		return Permission{Public: true}
	case strings.HasPrefix(path, "/queries/"):
		rest := path[len("/queries/"):]
		name, tail, _ := strings.Cut(rest, "/")
		if validName(name) && (tail == "" || tail == "execute") {
			return Permission{Name: name, Query: name, Event: "query"}
		}
	case strings.HasPrefix(path, "/graph/chaos-results/"):
		if id := path[len("/graph/chaos-results/"):]; id != "" && !strings.Contains(id, "/") {
			return Permission{Name: PermChaosResults, Event: "query"}
		}
	case strings.HasPrefix(path, "/tracing/"):
		// /tracing/spans → tracing_spans, /tracing/slo-violations →
		// tracing_slo_violations: one name per tracing endpoint.
		rest := path[len("/tracing/"):]
		if validName(strings.ReplaceAll(rest, "-", "_")) {
			return Permission{Name: "tracing_" + strings.ReplaceAll(rest, "-", "_"), Event: "query"}
		}
	case strings.HasPrefix(path, "/auth/tokens/"):
		if id := path[len("/auth/tokens/"):]; id != "" && !strings.Contains(id, "/") {
			return Permission{Name: PermAuthTokens, Event: "auth", SelfService: true}
		}
	case strings.HasPrefix(path, "/admin/"):
		// Any other admin endpoint: admin_<segments>, so a role must be
		// granted it by name (or by "admin_*" / "*").
		rest := strings.ReplaceAll(strings.ReplaceAll(path[len("/admin/"):], "/", "_"), "-", "_")
		if validName(rest) {
			return Permission{Name: "admin_" + rest, Event: "admin"}
		}
		return Permission{Event: "admin", Unknown: true}
	}
	return Permission{Event: "query", Unknown: true}
}

func eventFor(name string) string {
	switch {
	case strings.HasPrefix(name, "admin_"), name == PermGraphIngest:
		return "admin"
	case name == PermAuthTokens:
		return "auth"
	}
	return "query"
}

// validName accepts the characters query names use.
func validName(s string) bool {
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
