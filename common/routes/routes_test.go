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
