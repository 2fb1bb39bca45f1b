package sink_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/auditshipper/sink"
)

func rec(id string) sink.Record {
	return sink.Record{Data: []byte(`{"id":"` + id + `","ts":"2026-11-23T10:00:00.000Z"}`), ID: `"` + id + `"`, TS: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
}

func recs(n int) []sink.Record {
	out := make([]sink.Record, n)
	for i := range out {
		out[i] = rec(fmt.Sprintf("r%03d", i))
	}
	return out
}

func kinds(out []sink.Outcome) map[sink.Kind]int {
	m := map[sink.Kind]int{}
	for _, o := range out {
		m[o.Kind]++
	}
	return m
}

func fast() sink.HTTPOptions { return sink.HTTPOptions{Timeout: 300 * time.Millisecond} }

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
	s, err := sink.NewElastic(sink.ElasticConfig{Name: "elasticsearch", URL: es.URL(), Index: "audit-%{+yyyy.MM.dd}", HTTP: fast()})
	if err != nil {
		t.Fatal(err)
	}
	in := recs(6)
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
	s, _ := sink.NewElastic(sink.ElasticConfig{Name: "opensearch", URL: es.URL(), Index: "audit", HTTP: fast()})
	big := rec("huge")
	big.Data = []byte(`{"id":"huge","pad":"` + strings.Repeat("x", 500) + `"}`)
	in := append(recs(10), big)
	out := make([]sink.Outcome, len(in))
	s.Deliver(context.Background(), in, out)
	if diff := cmp.Diff(map[sink.Kind]int{sink.Delivered: 10, sink.DeadLetter: 1}, kinds(out)); diff != "" {
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
		s, _ := sink.NewElastic(sink.ElasticConfig{Name: "elasticsearch", URL: es.URL(), Index: "a", APIKey: tc.key, HTTP: fast()})
		out := make([]sink.Outcome, 1)
		s.Deliver(context.Background(), recs(1), out)
		out[0].Detail = ""
		if diff := cmp.Diff(tc.want, out[0]); diff != "" {
			t.Errorf("Deliver(key %q, status %d) mismatch (-want +got):\n%s", tc.key, tc.status, diff)
		}
	}
	// Hanging and refused connections are retried.
	es.Set(nil, func(int) bool { return true })
	s, _ := sink.NewElastic(sink.ElasticConfig{Name: "elasticsearch", URL: es.URL(), Index: "a", APIKey: "k", HTTP: fast()})
	out := make([]sink.Outcome, 1)
	s.Deliver(context.Background(), recs(1), out)
	if out[0].Kind != sink.Retry || out[0].Reason != "timeout" {
		t.Errorf("Deliver(hanging) = %+v, want retry/timeout", out[0])
	}
	es.Stop()
	s.Deliver(context.Background(), recs(1), out)
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
		p, err := sink.ParseIndexPattern(tc.pattern)
		if err != nil {
			t.Errorf("ParseIndexPattern(%q) = %v", tc.pattern, err)
			continue
		}
		if got := p.Quoted(ts); got != tc.want {
			t.Errorf("ParseIndexPattern(%q).Quoted = %s, want %s", tc.pattern, got, tc.want)
		}
	}
	for _, bad := range []string{"", "a b", "a-%{+yyyy.mm}", `a"b`, "a-%{+yyyy.ww}", "a-%{+EEE}"} {
		if _, err := sink.ParseIndexPattern(bad); err == nil {
			t.Errorf("ParseIndexPattern(%q) = nil error, want error", bad)
		}
	}
}

func TestSplunkStatusMapping(t *testing.T) {
	hec, err := fakes.NewHEC("tok", false)
	if err != nil {
		t.Fatal(err)
	}
	defer hec.Close()
	deliver := func(token string, in []sink.Record) []sink.Outcome {
		s, _ := sink.NewSplunk(sink.SplunkConfig{URL: hec.URL(), Token: token, HTTP: fast()})
		out := make([]sink.Outcome, len(in))
		s.Deliver(context.Background(), in, out)
		return out
	}
	if out := deliver("wrong", recs(1)); out[0].Reason != "auth" || out[0].Status != 403 || !out[0].Slow {
		t.Errorf("Deliver(wrong token) = %+v, want slow auth retry on 403", out[0])
	}
	// A blank event is a data error: the bad one is dead-lettered, the
	// others retried (they may have been indexed: duplicates, not loss).
	in := recs(3)
	in[1].Data = []byte(`""`)
	out := deliver("tok", in)
	if out[1].Kind != sink.DeadLetter || out[0].Kind != sink.Retry || out[2].Kind != sink.Retry {
		t.Errorf("Deliver(blank event) = %+v, want retry/dead-letter/retry", out)
	}
	hec.Set(func(int) (int, string) { return 503, "" }, nil)
	if out := deliver("tok", recs(1)); out[0].Reason != "server_error" {
		t.Errorf("Deliver(503 busy) = %+v, want server_error retry", out[0])
	}
	hec.Set(nil, nil)
	if out := deliver("tok", recs(5)); kinds(out)[sink.Delivered] != 5 {
		t.Errorf("Deliver(5) = %+v, want all delivered", out)
	}
}

func TestSplunkAckDisabledOnServer(t *testing.T) {
	hec, err := fakes.NewHEC("tok", false)
	if err != nil {
		t.Fatal(err)
	}
	defer hec.Close()
	s, _ := sink.NewSplunk(sink.SplunkConfig{URL: hec.URL() + "/services/collector/event", Token: "tok", Ack: true, AckPoll: 10 * time.Millisecond, AckTimeout: 100 * time.Millisecond, HTTP: fast()})
	out := make([]sink.Outcome, 1)
	s.Deliver(context.Background(), recs(1), out)
	if out[0].Kind != sink.Retry || out[0].Reason != "config" || !out[0].Slow {
		t.Errorf("Deliver(ack on, server without acks) = %+v, want slow config retry", out[0])
	}
}

func TestWebhookSignatureVerifies(t *testing.T) {
	wh, err := fakes.NewWebhook("t", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	good := sink.NewWebhook(sink.WebhookConfig{URL: wh.URL(), Token: "t", Secret: "s3cret", HTTP: fast()})
	out := make([]sink.Outcome, 3)
	good.Deliver(context.Background(), recs(3), out)
	if kinds(out)[sink.Delivered] != 3 {
		t.Errorf("Deliver(signed) = %+v, want delivered", out)
	}
	bad := sink.NewWebhook(sink.WebhookConfig{URL: wh.URL(), Token: "t", Secret: "other", HTTP: fast()})
	bad.Deliver(context.Background(), recs(1), out[:1])
	if out[0].Kind != sink.Retry || out[0].Status != http.StatusUnauthorized {
		t.Errorf("Deliver(wrong secret) = %+v, want a 401 retry", out[0])
	}
	if wh.BadSignatures() != 1 {
		t.Errorf("BadSignatures = %d, want 1", wh.BadSignatures())
	}
	sig := sink.Sign([]byte("k"), 1700000000, []byte("[]"))
	if !fakes.VerifySignature("k", sig, []byte("[]"), time.Unix(1700000000, 0)) {
		t.Errorf("VerifySignature(Sign(...)) = false, want true")
	}
	if fakes.VerifySignature("k", sig, []byte("[]"), time.Unix(1700000000, 0).Add(time.Hour)) {
		t.Errorf("VerifySignature(an hour late) = true, want false")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestStdoutWriteFailureRetries(t *testing.T) {
	s := sink.NewStdout(failWriter{})
	out := make([]sink.Outcome, 2)
	s.Deliver(context.Background(), recs(2), out)
	if out[0].Kind != sink.Retry || out[0].Reason != "io" {
		t.Errorf("Deliver(failing stdout) = %+v, want io retry", out[0])
	}
}

func TestDocIDWithoutID(t *testing.T) {
	r := sink.Record{Data: []byte(`{"event":"query"}`)}
	if a, b := r.DocID(), r.DocID(); a != b || !strings.HasPrefix(a, `"line-`) {
		t.Errorf("DocID() = %s, %s; want a stable line- hash", a, b)
	}
}

func BenchmarkElasticEncode(b *testing.B) {
	s, _ := sink.NewElastic(sink.ElasticConfig{Name: "elasticsearch", URL: "http://127.0.0.1:1", Index: "audit-%{+yyyy.MM.dd}"})
	in := recs(1000)
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

// A whole-request 4xx that no sink documents as a record error (a gateway
// answering 400 for a while) keeps every record for a retry; only the
// webhook's 422 names the records as the problem.
func TestWholeRequest400IsRetriedNotDeadLettered(t *testing.T) {
	wh, err := fakes.NewWebhook("t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	s := sink.NewWebhook(sink.WebhookConfig{URL: wh.URL(), Token: "t", HTTP: fast()})
	for _, status := range []int{400, 404, 409, 451} {
		wh.Set(func(int) (int, string) { return status, "" }, nil)
		out := make([]sink.Outcome, 4)
		s.Deliver(context.Background(), recs(4), out)
		if k := kinds(out); k[sink.Retry] != 4 {
			t.Errorf("webhook Deliver(whole-request %d) kinds = %v, want 4 retries and no dead letter", status, k)
		}
	}
	wh.Set(func(int) (int, string) { return http.StatusUnprocessableEntity, "" }, nil)
	out := make([]sink.Outcome, 4)
	s.Deliver(context.Background(), recs(4), out)
	if k := kinds(out); k[sink.DeadLetter] != 4 {
		t.Errorf("webhook Deliver(422 for every record) kinds = %v, want 4 dead letters", k)
	}

	es, err := fakes.NewElastic(true)
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	es.Set(func(int) (int, string) { return 400, "" }, nil)
	e, _ := sink.NewElastic(sink.ElasticConfig{Name: "elasticsearch", URL: es.URL(), Index: "a", HTTP: fast()})
	out = make([]sink.Outcome, 4)
	e.Deliver(context.Background(), recs(4), out)
	if k := kinds(out); k[sink.Retry] != 4 || out[0].Reason != "request_rejected" || !out[0].Slow {
		t.Errorf("elasticsearch Deliver(whole-request 400) = %+v, want 4 slow request_rejected retries", out)
	}

	hec, err := fakes.NewHEC("tok", false)
	if err != nil {
		t.Fatal(err)
	}
	defer hec.Close()
	hec.Set(func(int) (int, string) { return 400, "" }, nil) // no HEC error code in the body
	h, _ := sink.NewSplunk(sink.SplunkConfig{URL: hec.URL(), Token: "tok", HTTP: fast()})
	out = make([]sink.Outcome, 4)
	h.Deliver(context.Background(), recs(4), out)
	if k := kinds(out); k[sink.Retry] != 4 {
		t.Errorf("splunk Deliver(400 without a HEC code) kinds = %v, want 4 retries", k)
	}
}
