package sink

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{"Mon, 23 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Mon, 23 Nov 2026 09:00:00 GMT", 0},
	} {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzElasticItems feeds arbitrary _bulk responses to the item parser:
// every record must get an outcome, and nothing that is not a well-formed
// response may count as delivered.
func FuzzElasticItems(f *testing.F) {
	f.Add([]byte(`{"took":1,"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`))
	f.Add([]byte(`{"took":1,"errors":true,"items":[{"create":{"status":409}},{"create":{"status":429,"error":{"type":"x","reason":"y"}}}]}`))
	f.Add([]byte(`{"errors":false,"items":[]}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"errors":true,"items":[{"index":{}},5]}`))
	e := &Elastic{name: "elasticsearch"}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := make([]Outcome, 2)
		for i := range out {
			out[i].Kind = -1
		}
		e.items(response{status: 200, body: body}, out)
		for i, o := range out {
			if o.Kind != Delivered && o.Kind != Retry && o.Kind != DeadLetter {
				t.Fatalf("items(%q): out[%d] has no outcome", body, i)
			}
		}
		if !json.Valid(body) {
			for i, o := range out {
				if o.Kind != Retry {
					t.Fatalf("items(invalid %q): out[%d] = %+v, want retry", body, i, o)
				}
			}
		}
	})
}
