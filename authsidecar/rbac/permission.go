package rbac

import "github.com/meshoptixiq/mesh/common/routes"

// Permission is what a request asks for.
type Permission struct {
	// Name is the permission the policy's patterns are matched against.
	Name string
	// Query is the named query, when the request addresses one.
	Query string
	// Event is the audit event class: query, admin or auth.
	Event string
	// Unknown marks a path no route declares: only a role granted "*"
	// (or an API key) may use it, and the apiserver will answer 404.
	Unknown bool
	// Public paths need no authentication.
	Public bool
	// SelfService paths are open to every authenticated OIDC user for
	// their own data (personal access tokens) and are not matched
	// against role patterns.
	SelfService bool
}

// The permission names, from the route table (README.md has the table).
const (
	PermQueriesList     = routes.PermQueriesList
	PermGraphIngest     = routes.PermGraphIngest
	PermOpenAPI         = routes.PermOpenAPI
	PermEBPFMetrics     = routes.PermEBPFMetrics
	PermEBPFEvents      = routes.PermEBPFEvents
	PermNCCLTopology    = routes.PermNCCLTopology
	PermNCCLOperations  = routes.PermNCCLOperations
	PermTelemetryIngest = routes.PermTelemetryIngest
	PermEvents          = routes.PermEvents
	PermAdminRBACReload = routes.PermAdminRBACReload
	PermAuthTokens      = routes.PermAuthTokens
)

// PermissionFor maps a normalised request path to its permission through
// the route table. The mapping is by path only; the daemon answers 405 for
// a wrong method.
func PermissionFor(path string) Permission {
	return PermissionOf(routes.Match(routes.Canonical(path)))
}

// PermissionOf is the permission of a route routes.Match found (ok) with
// its {param} value, or of a path no route matches (!ok).
func PermissionOf(r routes.Route, value string, ok bool) Permission {
	if !ok {
		return Permission{Event: routes.EventQuery, Unknown: true}
	}
	switch r.Access {
	case routes.Public:
		return Permission{Public: true}
	case routes.SelfService:
		return Permission{Name: r.Permission, Event: r.Event, SelfService: true}
	}
	if r.Permission == routes.PerQuery {
		return Permission{Name: value, Query: value, Event: r.Event}
	}
	return Permission{Name: r.Permission, Event: r.Event}
}
