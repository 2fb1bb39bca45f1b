package sink_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/auditshipper/sink"
	"github.com/meshoptixiq/mesh/auditshipper/sink/sinktest"
)

func TestWebhookSignatureVerifies(t *testing.T) {
	wh, err := fakes.NewWebhook("t", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	good := sink.NewWebhook(sink.WebhookConfig{URL: wh.URL(), Token: "t", Secret: "s3cret", HTTP: sinktest.Fast()})
	out := make([]sink.Outcome, 3)
	good.Deliver(context.Background(), sinktest.Recs(3), out)
	if sinktest.Kinds(out)[sink.Delivered] != 3 {
		t.Errorf("Deliver(signed) = %+v, want delivered", out)
	}
	bad := sink.NewWebhook(sink.WebhookConfig{URL: wh.URL(), Token: "t", Secret: "other", HTTP: sinktest.Fast()})
	bad.Deliver(context.Background(), sinktest.Recs(1), out[:1])
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
	s.Deliver(context.Background(), sinktest.Recs(2), out)
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

// A whole-request 4xx that no sink documents as a record error (a gateway
// answering 400 for a while) keeps every record for a retry; only the
// webhook's 422 names the records as the problem (the Splunk and
// Elasticsearch sinks have the same test in their packages).
func TestWholeRequest400IsRetriedNotDeadLettered(t *testing.T) {
	wh, err := fakes.NewWebhook("t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()
	s := sink.NewWebhook(sink.WebhookConfig{URL: wh.URL(), Token: "t", HTTP: sinktest.Fast()})
	for _, status := range []int{400, 404, 409, 451} {
		wh.Set(func(int) (int, string) { return status, "" }, nil)
		out := make([]sink.Outcome, 4)
		s.Deliver(context.Background(), sinktest.Recs(4), out)
		if k := sinktest.Kinds(out); k[sink.Retry] != 4 {
			t.Errorf("webhook Deliver(whole-request %d) kinds = %v, want 4 retries and no dead letter", status, k)
		}
	}
	wh.Set(func(int) (int, string) { return http.StatusUnprocessableEntity, "" }, nil)
	out := make([]sink.Outcome, 4)
	s.Deliver(context.Background(), sinktest.Recs(4), out)
	if k := sinktest.Kinds(out); k[sink.DeadLetter] != 4 {
		t.Errorf("webhook Deliver(422 for every record) kinds = %v, want 4 dead letters", k)
	}
}
