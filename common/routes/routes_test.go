package routes

import (
	"strings"
	"testing"
)

func TestTableIsConsistent(t *testing.T) {
	ids := map[string]bool{}
	perms := map[string]string{} // path → permission
	for _, r := range All {
		where := r.Method + " " + r.Path
		if r.Daemon != Apiserver && r.Daemon != Authsidecar {
			t.Errorf("%s: daemon %q", where, r.Daemon)
		}
		if r.OperationID == "" || ids[r.OperationID] {
			t.Errorf("%s: operation id %q empty or not unique", where, r.OperationID)
		}
		ids[r.OperationID] = true
		if r.Access != Public && r.Permission == "" {
			t.Errorf("%s: no permission", where)
		}
		if r.Access == Public && r.Permission != "" {
			t.Errorf("%s: public with a permission", where)
		}
		if r.Event != EventQuery && r.Event != EventAdmin && r.Event != EventAuth {
			t.Errorf("%s: event %q", where, r.Event)
		}
		if !strings.HasPrefix(r.Path, "/") || r.Summary == "" {
			t.Errorf("%s: path must start with / and have a summary", where)
		}
		// Permissions are decided by path: one path, one permission.
		if p, ok := perms[r.Path]; ok && p != r.Permission {
			t.Errorf("%s: permission %q, but %q for another method", where, r.Permission, p)
		}
		perms[r.Path] = r.Permission
		example := r.Path
		for strings.Contains(example, "{") {
			i, j := strings.Index(example, "{"), strings.Index(example, "}")
			example = example[:i] + "x1" + example[j+1:]
		}
		if got, _, ok := Match(example); !ok || got.Path != r.Path {
			t.Errorf("Match(%q) = %q %v, want %s", example, got.Path, ok, r.Path)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		path, wantOp, wantValue string
	}{
		{"/queries/all_devices/execute", "execute_query", "all_devices"},
		{"/queries/all_devices", "get_query", "all_devices"},
		{"/queries/", "list_queries", ""},
		{"/auth/tokens/pat_123", "revoke_token", "pat_123"},
		{"/queries/a%20b/execute", "", ""},
		{"/queries//execute", "", ""},
		{"/queries/x/execute/more", "", ""},
		{"/nope", "", ""},
	} {
		r, v, ok := Match(c.path)
		if c.wantOp == "" {
			if ok {
				t.Errorf("Match(%q) = %s, want none", c.path, r.OperationID)
			}
			continue
		}
		if !ok || r.OperationID != c.wantOp || v != c.wantValue {
			t.Errorf("Match(%q) = %s %q %v, want %s %q", c.path, r.OperationID, v, ok, c.wantOp, c.wantValue)
		}
	}
}

// TestIndexMatchesLikeAScan checks the index against the rule it stands
// for: the first route of the table, in order, that matches the path.
func TestIndexMatchesLikeAScan(t *testing.T) {
	scan := func(rs []Route, path string) (string, string, bool) {
		for _, r := range rs {
			if v, ok := matchPath(r.Path, path); ok {
				return r.OperationID, v, true
			}
		}
		return "", "", false
	}
	// A {param} route before a literal one it also matches wins; a literal
	// path listed twice answers with its first route.
	synthetic := []Route{
		{Path: "/a/{id}", OperationID: "param_first"},
		{Path: "/a/b", OperationID: "literal_after"},
		{Path: "/c", OperationID: "c_first"},
		{Path: "/c", OperationID: "c_second"},
		{Path: "/d/{id}", OperationID: "param_after"},
		{Path: "/e", OperationID: "e"},
	}
	paths := []string{"/a/b", "/a/x", "/c", "/d/b", "/e", "/", "", "/a", "/a/b/c", "/metrics", "/queries/", "/queries/q1",
		"/queries/q1/execute", "/auth/tokens", "/auth/tokens/pat_1", "/graph/chaos-results/r1", "/nope"}
	for _, r := range All {
		paths = append(paths, r.Path)
	}
	for _, rs := range [][]Route{synthetic, All} {
		x := index(rs)
		for _, p := range paths {
			wantOp, wantV, wantOK := scan(rs, p)
			got, v, ok := x.match(p)
			if got.OperationID != wantOp || v != wantV || ok != wantOK {
				t.Errorf("match(%q) = %s %q %v, a scan of the table gives %s %q %v", p, got.OperationID, v, ok, wantOp, wantV, wantOK)
			}
		}
	}
	if r, _, _ := index(synthetic).match("/a/b"); r.OperationID != "param_first" {
		t.Errorf("/a/b matched %s, want the earlier {param} route", r.OperationID)
	}
	if r, _, _ := Match("/metrics"); r.Daemon != Authsidecar {
		t.Errorf("/metrics matched the %s's route, want the sidecar's", r.Daemon)
	}
}
