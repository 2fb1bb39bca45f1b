package elastic

import (
	"encoding/json"
	"testing"

	"github.com/meshoptixiq/mesh/auditshipper/sink"
)

// FuzzElasticItems feeds arbitrary _bulk responses to the item parser:
// every record must get an outcome, and nothing that is not a well-formed
// response may count as delivered.
func FuzzElasticItems(f *testing.F) {
	f.Add([]byte(`{"took":1,"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}`))
	f.Add([]byte(`{"took":1,"errors":true,"items":[{"create":{"status":409}},{"create":{"status":429,"error":{"type":"x","reason":"y"}}}]}`))
	f.Add([]byte(`{"errors":false,"items":[]}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(`{"errors":true,"items":[{"index":{}},5]}`))
	e := &Bulk{name: "elasticsearch"}
	f.Fuzz(func(t *testing.T, body []byte) {
		out := make([]sink.Outcome, 2)
		for i := range out {
			out[i].Kind = -1
		}
		e.items(sink.Response{Status: 200, Body: body}, out)
		for i, o := range out {
			if o.Kind != sink.Delivered && o.Kind != sink.Retry && o.Kind != sink.DeadLetter {
				t.Fatalf("items(%q): out[%d] has no outcome", body, i)
			}
		}
		if !json.Valid(body) {
			for i, o := range out {
				if o.Kind != sink.Retry {
					t.Fatalf("items(invalid %q): out[%d] = %+v, want retry", body, i, o)
				}
			}
		}
	})
}
