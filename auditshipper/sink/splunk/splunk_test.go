package splunk_test

import (
	"context"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/auditshipper/sink"
	"github.com/meshoptixiq/mesh/auditshipper/sink/sinktest"
	"github.com/meshoptixiq/mesh/auditshipper/sink/splunk"
)

func TestSplunkStatusMapping(t *testing.T) {
	hec, err := fakes.NewHEC("tok", false)
	if err != nil {
		t.Fatal(err)
	}
	defer hec.Close()
	deliver := func(token string, in []sink.Record) []sink.Outcome {
		s, _ := splunk.New(splunk.Config{URL: hec.URL(), Token: token, HTTP: sinktest.Fast()})
		out := make([]sink.Outcome, len(in))
		s.Deliver(context.Background(), in, out)
		return out
	}
	if out := deliver("wrong", sinktest.Recs(1)); out[0].Reason != "auth" || out[0].Status != 403 || !out[0].Slow {
		t.Errorf("Deliver(wrong token) = %+v, want slow auth retry on 403", out[0])
	}
	// A blank event is a data error: the bad one is dead-lettered, the
	// others retried (they may have been indexed: duplicates, not loss).
	in := sinktest.Recs(3)
	in[1].Data = []byte(`""`)
	out := deliver("tok", in)
	if out[1].Kind != sink.DeadLetter || out[0].Kind != sink.Retry || out[2].Kind != sink.Retry {
		t.Errorf("Deliver(blank event) = %+v, want retry/dead-letter/retry", out)
	}
	hec.Set(func(int) (int, string) { return 503, "" }, nil)
	if out := deliver("tok", sinktest.Recs(1)); out[0].Reason != "server_error" {
		t.Errorf("Deliver(503 busy) = %+v, want server_error retry", out[0])
	}
	hec.Set(nil, nil)
	if out := deliver("tok", sinktest.Recs(5)); sinktest.Kinds(out)[sink.Delivered] != 5 {
		t.Errorf("Deliver(5) = %+v, want all delivered", out)
	}
}

func TestSplunkAckDisabledOnServer(t *testing.T) {
	hec, err := fakes.NewHEC("tok", false)
	if err != nil {
		t.Fatal(err)
	}
	defer hec.Close()
	s, _ := splunk.New(splunk.Config{URL: hec.URL() + "/services/collector/event", Token: "tok", Ack: true, AckPoll: 10 * time.Millisecond, AckTimeout: 100 * time.Millisecond, HTTP: sinktest.Fast()})
	out := make([]sink.Outcome, 1)
	s.Deliver(context.Background(), sinktest.Recs(1), out)
	if out[0].Kind != sink.Retry || out[0].Reason != "config" || !out[0].Slow {
		t.Errorf("Deliver(ack on, server without acks) = %+v, want slow config retry", out[0])
	}
}

// A whole-request 400 without a HEC error code in the body says nothing
// about a record: every record is retried.
func TestWholeRequest400WithoutCodeIsRetried(t *testing.T) {
	hec, err := fakes.NewHEC("tok", false)
	if err != nil {
		t.Fatal(err)
	}
	defer hec.Close()
	hec.Set(func(int) (int, string) { return 400, "" }, nil) // no HEC error code in the body
	h, _ := splunk.New(splunk.Config{URL: hec.URL(), Token: "tok", HTTP: sinktest.Fast()})
	out := make([]sink.Outcome, 4)
	h.Deliver(context.Background(), sinktest.Recs(4), out)
	if k := sinktest.Kinds(out); k[sink.Retry] != 4 {
		t.Errorf("splunk Deliver(400 without a HEC code) kinds = %v, want 4 retries", k)
	}
}
