package elastic_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/auditshipper/sink"
	"github.com/meshoptixiq/mesh/auditshipper/sink/elastic"
	"github.com/meshoptixiq/mesh/auditshipper/sink/sinktest"
)

func TestElasticPerItemOutcomes(t *testing.T) {
	es, err := fakes.NewElastic(true)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	es.SetItemFault(func(id string, seen int) int {
		switch id {
		case "r001":
			return 429
		case "r002":
			return 503
		case "r003":
			return 400
		}
		return 0
	})
	s, err := elastic.New(elastic.Config{Name: "elasticsearch", URL: es.URL(), Index: "audit-%{+yyyy.MM.dd}", HTTP: sinktest.Fast()})
	if err != nil {
		t.Fatal(err)
	}
	in := sinktest.Recs(6)
	in = append(in, in[0]) // the same id again: 409, which counts as delivered
	out := make([]sink.Outcome, len(in))
	s.Deliver(context.Background(), in, out)
	got := []string{}
	for _, o := range out {
		got = append(got, fmt.Sprintf("%d/%s/%d", o.Kind, o.Reason, o.Status))
	}
	want := []string{"0//201", "1/throttled/429", "1/server_error/503", "2/rejected/400", "0//201", "0//201", "0/duplicate/409"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Deliver outcomes (kind/reason/status) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"audit-2026.11.23": 3}, es.Indices()); diff != "" {
		t.Errorf("indices mismatch (-want +got):\n%s", diff)
	}
}

func TestElasticSplitsOn413(t *testing.T) {
	es, err := fakes.NewElastic(true)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	es.MaxBody = 400 // a few records per request
	s, _ := elastic.New(elastic.Config{Name: "opensearch", URL: es.URL(), Index: "audit", HTTP: sinktest.Fast()})
	big := sinktest.Rec("huge")
	big.Data = []byte(`{"id":"huge","pad":"` + strings.Repeat("x", 500) + `"}`)
	in := append(sinktest.Recs(10), big)
	out := make([]sink.Outcome, len(in))
	s.Deliver(context.Background(), in, out)
	if diff := cmp.Diff(map[sink.Kind]int{sink.Delivered: 10, sink.DeadLetter: 1}, sinktest.Kinds(out)); diff != "" {
		t.Errorf("outcome kinds mismatch (-want +got):\n%s", diff)
	}
	if out[10].Reason != "too_large" {
		t.Errorf("oversized record reason = %q, want too_large", out[10].Reason)
	}
}

func TestElasticWholeRequestStatuses(t *testing.T) {
	es, err := fakes.NewElastic(true)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	es.APIKey = "k"
	for _, tc := range []struct {
		key        string
		status     int
		retryAfter string
		want       sink.Outcome
	}{
		{key: "bad", want: sink.Outcome{Kind: sink.Retry, Reason: "auth", Status: 401, Slow: true}},
		{key: "k", status: 429, retryAfter: "7", want: sink.Outcome{Kind: sink.Retry, Reason: "throttled", Status: 429, RetryAfter: 7 * time.Second}},
		{key: "k", status: 503, want: sink.Outcome{Kind: sink.Retry, Reason: "server_error", Status: 503}},
		{key: "k", status: 403, want: sink.Outcome{Kind: sink.Retry, Reason: "auth", Status: 403, Slow: true}},
	} {
		es.Set(func(int) (int, string) { return tc.status, tc.retryAfter }, nil)
		s, _ := elastic.New(elastic.Config{Name: "elasticsearch", URL: es.URL(), Index: "a", APIKey: tc.key, HTTP: sinktest.Fast()})
		out := make([]sink.Outcome, 1)
		s.Deliver(context.Background(), sinktest.Recs(1), out)
		out[0].Detail = ""
		if diff := cmp.Diff(tc.want, out[0]); diff != "" {
			t.Errorf("Deliver(key %q, status %d) mismatch (-want +got):\n%s", tc.key, tc.status, diff)
		}
	}
	// Hanging and refused connections are retried.
	es.Set(nil, func(int) bool { return true })
	s, _ := elastic.New(elastic.Config{Name: "elasticsearch", URL: es.URL(), Index: "a", APIKey: "k", HTTP: sinktest.Fast()})
	out := make([]sink.Outcome, 1)
	s.Deliver(context.Background(), sinktest.Recs(1), out)
	if out[0].Kind != sink.Retry || out[0].Reason != "timeout" {
		t.Errorf("Deliver(hanging) = %+v, want retry/timeout", out[0])
	}
	es.Stop()
	s.Deliver(context.Background(), sinktest.Recs(1), out)
	if out[0].Kind != sink.Retry || out[0].Reason != "network" {
		t.Errorf("Deliver(refused) = %+v, want retry/network", out[0])
	}
}

func TestIndexPattern(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct{ pattern, want string }{
		{"audit", `"audit"`},
		{"audit-%{+yyyy.MM.dd}", `"audit-2026.01.02"`},
		{"a-%{+yy}-%{+MM}-%{+HH}", `"a-26-01-03"`},
		{"<audit-{now/d}>", `"\u003caudit-{now/d}\u003e"`},
	} {
		p, err := elastic.ParseIndexPattern(tc.pattern)
		if err != nil {
			t.Errorf("ParseIndexPattern(%q) = %v", tc.pattern, err)
			continue
		}
		if got := p.Quoted(ts); got != tc.want {
			t.Errorf("ParseIndexPattern(%q).Quoted = %s, want %s", tc.pattern, got, tc.want)
		}
	}
	for _, bad := range []string{"", "a b", "a-%{+yyyy.mm}", `a"b`, "a-%{+yyyy.ww}", "a-%{+EEE}"} {
		if _, err := elastic.ParseIndexPattern(bad); err == nil {
			t.Errorf("ParseIndexPattern(%q) = nil error, want error", bad)
		}
	}
}

func BenchmarkElasticEncode(b *testing.B) {
	s, _ := elastic.New(elastic.Config{Name: "elasticsearch", URL: "http://127.0.0.1:1", Index: "audit-%{+yyyy.MM.dd}"})
	in := sinktest.Recs(1000)
	for i := range in {
		in[i].Data = []byte(`{"id":"` + fmt.Sprintf("r%06d", i) + `","ts":"2026-11-23T10:00:00.000Z","pad":"` + strings.Repeat("x", 950) + `"}`)
	}
	size := 0
	for _, r := range in {
		size += len(r.Data)
	}
	b.SetBytes(int64(size))
	var buf []byte
	for range b.N {
		buf = s.Encode(buf[:0], in)
	}
}

// A whole-request 400 (not a per-item answer) says nothing about a record:
// every record is kept for a slow retry.
func TestWholeRequest400IsRetried(t *testing.T) {
	es, err := fakes.NewElastic(true)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	es.Set(func(int) (int, string) { return 400, "" }, nil)
	e, _ := elastic.New(elastic.Config{Name: "elasticsearch", URL: es.URL(), Index: "a", HTTP: sinktest.Fast()})
	out := make([]sink.Outcome, 4)
	e.Deliver(context.Background(), sinktest.Recs(4), out)
	if k := sinktest.Kinds(out); k[sink.Retry] != 4 || out[0].Reason != "request_rejected" || !out[0].Slow {
		t.Errorf("elasticsearch Deliver(whole-request 400) = %+v, want 4 slow request_rejected retries", out)
	}

}
