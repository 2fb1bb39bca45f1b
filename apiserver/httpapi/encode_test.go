package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/apiserver/query"
)

// FuzzEncodeString: whatever a device reports, the hand-written encoder
// produces JSON that decodes back to the same text.
func FuzzEncodeString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "new\nline", "<script>", "ünïcode", "\xff\xfe", "\u2028", "tab\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendValue(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendValue(%q) = %s, not JSON: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if utf8.ValidString(s) && got != want {
			t.Errorf("appendValue(%q) decodes to %q", s, got)
		}
	})
}

func TestEncodeResponse(t *testing.T) {
	r := &query.Response{Query: "q", Columns: []string{"a", "b", "c", "d", "e"}, GraphVersion: 3, Paged: true, TotalRows: 9,
		Rows:  [][]any{{"x", 1, int64(2), true, nil}, {[]string{"p"}, []int{1, 2}, map[string]any{"k": "v"}, 1.5, uint64(7)}},
		Extra: map[string]any{"summary": map[string]any{"n": 1}}, Truncated: true, NextCursor: "abc"}
	buf := encodeResponse(r)
	var got map[string]any
	if err := json.Unmarshal(buf.B, &got); err != nil {
		t.Fatalf("encodeResponse = %s, not JSON: %v", buf.B, err)
	}
	want := map[string]any{"query": "q", "graph_version": 3.0, "columns": []any{"a", "b", "c", "d", "e"},
		"rows": []any{
			map[string]any{"a": "x", "b": 1.0, "c": 2.0, "d": true, "e": nil},
			map[string]any{"a": []any{"p"}, "b": []any{1.0, 2.0}, "c": map[string]any{"k": "v"}, "d": 1.5, "e": 7.0},
		},
		"row_count": 2.0, "truncated": true, "next_cursor": "abc", "total_rows": 9.0, "summary": map[string]any{"n": 1.0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("encodeResponse (-want +got):\n%s", diff)
	}
}
