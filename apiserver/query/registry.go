// Package query is the one registry of named queries: each query is
// defined once (name, description, typed parameters with defaults,
// columns, permission, tier, implementation) and the listing, parameter
// validation, pagination and the OpenAPI document all come from that
// definition. Queries run over one immutable graph.Graph version.
package query

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/facts"
)

// Plan tiers a query can belong to.
const (
	TierCommunity  = "community"
	TierPro        = "pro"
	TierEnterprise = "enterprise"
)

// Pagination bounds (issue 2: limit default 1000, max 10000).
const (
	DefaultLimit = 1000
	MaxLimit     = 10000
)

// Definition is one named query. Another package adds its queries by
// passing Definitions to Registry.Register.
type Definition struct {
	Name        string
	Description string
	// Tier is the plan that includes the query; community when empty.
	Tier   string
	Params []Param
	// Columns every row carries, in order.
	Columns []string
	// Paged queries take limit and cursor and answer one page at a time.
	Paged bool
	// Write marks a query that changes the graph (update_device_metadata).
	Write bool
	// Memo marks an expensive query whose answer depends only on the graph
	// version and its parameters (hygiene, summaries, whole-graph lists):
	// it is computed once per version and parameters and kept (bounded),
	// and its computations run under a concurrency limit of their own.
	Memo bool
	// Run answers the query. Rows must come out in a stable order so that
	// cursors address the same rows on every call against one version.
	Run func(ctx context.Context, env *Env, args Args) (*Result, error)
}

// Permission is the RBAC permission a caller needs: the query's name.
func (d *Definition) Permission() string { return d.Name }

// AllParams is Params plus, for paged queries, limit and cursor.
func (d *Definition) AllParams() []Param {
	if !d.Paged {
		return d.Params
	}
	return append(slices.Clip(d.Params),
		Param{Name: "limit", Type: TypeInt, Default: DefaultLimit, Min: 1, Max: MaxLimit,
			Description: fmt.Sprintf("rows per page (1..%d)", MaxLimit), Example: 100},
		Param{Name: "cursor", Type: TypeString,
			Description: "next_cursor of the previous page; omit for the first page"},
	)
}

// Env is what a query runs against.
type Env struct {
	Graph *graph.Graph
	// Writer applies write queries; nil where writes are not possible.
	Writer Writer
}

// Writer changes the graph through the store and returns the new version.
type Writer interface {
	UpdateMetadata(ctx context.Context, hostname string, patch map[string]any) (*graph.Graph, error)
}

// Result is a query's answer: all rows, in a stable order. The registry
// pages it.
type Result struct {
	Rows [][]any
	// Len and Row, when Row is set, stand for Rows: the registry builds
	// only the rows of the page it returns, so a large list costs what
	// one page costs.
	Len int
	Row func(i int) []any
	// Extra holds named top-level fields beside rows (e.g. a blast-radius
	// summary); it describes the whole answer, not one page.
	Extra map[string]any
	// Graph is the version the answer came from when it differs from the
	// Env's (a write answers from the version it created).
	Graph *graph.Graph
}

// Registry holds every named query.
type Registry struct {
	defs  map[string]*Definition
	names []string
	memo  *memo
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{defs: map[string]*Definition{}, memo: newMemo()} }

// Register adds definitions; a duplicate or malformed one is an error, so a
// query can never be defined twice.
func (r *Registry) Register(defs ...Definition) error {
	for i := range defs {
		d := defs[i]
		if d.Name == "" || d.Run == nil || len(d.Columns) == 0 {
			return fmt.Errorf("registering query %q: name, columns and Run are required", d.Name)
		}
		if _, dup := r.defs[d.Name]; dup {
			return fmt.Errorf("registering query %q: already registered", d.Name)
		}
		if d.Tier == "" {
			d.Tier = TierCommunity
		}
		if d.Memo && d.Write {
			return fmt.Errorf("registering query %q: a write cannot be memoized", d.Name)
		}
		for _, p := range d.Params {
			if p.Name == "limit" || p.Name == "cursor" {
				return fmt.Errorf("registering query %q: parameter %q is reserved for paging", d.Name, p.Name)
			}
		}
		r.defs[d.Name] = &d
		r.names = append(r.names, d.Name)
	}
	slices.Sort(r.names)
	return nil
}

// MustRegister is Register for the built-in queries, whose definitions are
// fixed at compile time.
func (r *Registry) MustRegister(defs ...Definition) {
	if err := r.Register(defs...); err != nil {
		panic(err)
	}
}

// Lookup returns the query named name.
func (r *Registry) Lookup(name string) (*Definition, bool) {
	d, ok := r.defs[name]
	return d, ok
}

// All returns every definition sorted by name.
func (r *Registry) All() []*Definition {
	out := make([]*Definition, len(r.names))
	for i, n := range r.names {
		out[i] = r.defs[n]
	}
	return out
}

// Error is a query failure with the HTTP status and code it maps to; its
// message is safe to show to clients.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// BadParam is the 400 for parameter name; the message names it.
func BadParam(name, format string, args ...any) *Error {
	return &Error{Status: 400, Code: apierror.BadRequest, Message: fmt.Sprintf("parameter %q: ", name) + fmt.Sprintf(format, args...)}
}

// NotFound is the 404 for a named thing the graph does not have.
func NotFound(format string, args ...any) *Error {
	return &Error{Status: 404, Code: apierror.NotFound, Message: fmt.Sprintf(format, args...)}
}

// Response is one answered page.
type Response struct {
	Query        string
	Columns      []string
	Rows         [][]any
	Truncated    bool
	NextCursor   string
	TotalRows    int
	Paged        bool
	GraphVersion uint64
	Extra        map[string]any
}

// Execute validates raw parameters against the definition, runs it and
// pages the answer. Errors are *Error for anything the caller got wrong.
func (r *Registry) Execute(ctx context.Context, d *Definition, env *Env, raw map[string]RawValue) (*Response, error) {
	args, err := parseArgs(d, raw)
	if err != nil {
		return nil, err
	}
	var cur cursor
	if d.Paged {
		if s := args.String("cursor"); s != "" {
			cur, err = decodeCursor(s)
			if err != nil {
				return nil, BadParam("cursor", "%v", err)
			}
			if cur.query != args.fingerprint(d) {
				return nil, BadParam("cursor", "was issued for a different query or different parameters")
			}
			if cur.version != env.Graph.Version {
				return nil, &Error{Status: 409, Code: apierror.Conflict, Message: fmt.Sprintf(
					"the graph changed since this cursor was issued (cursor is for version %d, graph is at %d): request the first page again",
					cur.version, env.Graph.Version)}
			}
		}
	}
	if env.Writer == nil && d.Write {
		return nil, &Error{Status: 503, Code: apierror.Unavailable, Message: "writes are not available"}
	}
	var res *Result
	if d.Memo {
		res, err = r.memo.get(ctx, d, args, env.Graph.Version, func(ctx context.Context) (*Result, error) { return d.Run(ctx, env, args) })
	} else {
		res, err = d.Run(ctx, env, args)
	}
	if err != nil {
		return nil, err
	}
	g := env.Graph
	if res.Graph != nil {
		g = res.Graph
	}
	total := len(res.Rows)
	if res.Row != nil {
		total = res.Len
	}
	resp := &Response{Query: d.Name, Columns: d.Columns, Rows: res.Rows, TotalRows: total,
		Paged: d.Paged, GraphVersion: g.Version, Extra: res.Extra}
	start, end := 0, total
	if d.Paged {
		if cur.offset > total {
			return nil, BadParam("cursor", "points past the end of the answer")
		}
		start, end = cur.offset, min(cur.offset+args.Int("limit"), total)
		if end < total {
			resp.Truncated = true
			resp.NextCursor = encodeCursor(cursor{version: g.Version, offset: end, query: args.fingerprint(d)})
		}
	}
	if res.Row != nil {
		resp.Rows = make([][]any, end-start)
		for i := range resp.Rows {
			resp.Rows[i] = res.Row(start + i)
		}
	} else {
		resp.Rows = res.Rows[start:end]
	}
	if resp.Rows == nil {
		resp.Rows = [][]any{}
	}
	return resp, nil
}

// deviceArg resolves the hostname parameter to a device or a 404.
func deviceArg(g *graph.Graph, args Args, name string) (*graph.Device, error) {
	h := args.String(name)
	d := g.Device(h)
	if d == nil {
		return nil, NotFound("no device named %q", h)
	}
	return d, nil
}

// canonMAC is facts.CanonicalMAC for parameters.
func canonMAC(s string) (string, bool) { return facts.CanonicalMAC(strings.TrimSpace(s)) }
