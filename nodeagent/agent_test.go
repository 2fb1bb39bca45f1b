package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/nodeagent/ebpf"
	"github.com/meshoptixiq/mesh/nodeagent/report"
)

// flakySender records what it is given and fails while fail is set.
type flakySender struct {
	mu   sync.Mutex
	fail bool
	got  []*report.Report
}

func (f *flakySender) Send(_ context.Context, r *report.Report) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	if f.fail {
		return errors.New("apiserver answered 503")
	}
	return nil
}

func (f *flakySender) Close() error { return nil }

// inProcessAgent builds the agent on the fixtures with a fake sender.
func inProcessAgent(t *testing.T, maxEvents string) (*agent, *flakySender) {
	t.Helper()
	cfg, err := loadConfig(mapEnv(map[string]string{
		"NODE_NAME": "gpu-test-01", "NODEAGENT_EBPF": "off", "NODEAGENT_PROC_ROOT": "testdata/proc",
		"NODEAGENT_GPU_FIXTURE": "dgx-h100", "NODEAGENT_MAX_EVENTS": maxEvents,
		"NODEAGENT_REPORT_INTERVAL": "1s", "NODEAGENT_REPORT_TIMEOUT": "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := nvmlLib(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAgent(cfg, lib, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	a.sender.Close()
	f := &flakySender{}
	a.sender = f
	return a, f
}

func events(n int, from int64) []ebpf.Event {
	var out []ebpf.Event
	for i := range n {
		out = append(out, ebpf.Event{Kind: ebpf.KindClose, Src: netip.MustParseAddrPort("10.0.0.1:5000"),
			Dst: netip.MustParseAddrPort("10.0.0.2:443"), Time: time.Unix(from+int64(i), 0)})
	}
	return out
}

func readyz(a *agent) (int, string) {
	var ctx fasthttp.RequestCtx
	a.readyz(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

// TestUndeliveredEventsKept: events of a report that failed go out with
// the next one, bounded by NODEAGENT_MAX_EVENTS with the excess counted.
func TestUndeliveredEventsKept(t *testing.T) {
	a, f := inProcessAgent(t, "5")
	ctx := context.Background()
	f.fail = true
	a.stats.Handle(events(3, 100))
	a.once(ctx)
	a.stats.Handle(events(1, 200))
	a.once(ctx)
	f.fail = false
	a.stats.Handle(events(2, 300))
	a.once(ctx)
	if len(f.got) != 3 {
		t.Fatalf("reports sent = %d, want 3", len(f.got))
	}
	var secs []int64
	for _, e := range f.got[2].Events {
		secs = append(secs, e.Time.Unix())
	}
	// 3 + 1 undelivered wait in the queue; of the 2 new, only 1 fits in 5.
	if want := []int64{100, 101, 102, 200, 300}; !slices.Equal(secs, want) || f.got[2].DroppedEvents != 1 {
		t.Errorf("delivered report events = %v, dropped %d; want %v, 1", secs, f.got[2].DroppedEvents, want)
	}
	a.once(ctx)
	if n := len(f.got[3].Events); n != 0 {
		t.Errorf("report after a delivery carries %d events, want 0 (nothing resent)", n)
	}
}

func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestReadyzFollowsDelivery: /readyz says how the last deliveries went and
// turns 503 after readyFailures failures in a row.
func TestReadyzFollowsDelivery(t *testing.T) {
	a, f := inProcessAgent(t, "10")
	ctx := context.Background()
	if code, body := readyz(a); code != 503 || !strings.Contains(body, "first snapshot not taken") {
		t.Errorf("readyz before any report = %d %q, want 503", code, body)
	}
	a.once(ctx)
	if code, body := readyz(a); code != 200 || !strings.Contains(body, "delivery: ok, last report delivered ") {
		t.Errorf("readyz after a delivery = %d %q, want 200 naming the delivery", code, body)
	}
	f.fail = true
	for i := 1; i < readyFailures; i++ {
		a.once(ctx)
	}
	if code, body := readyz(a); code != 200 || !strings.Contains(body, "delivery: failing: last 2 reports not delivered (apiserver answered 503)") {
		t.Errorf("readyz after %d failures = %d %q, want 200 saying it is failing", readyFailures-1, code, body)
	}
	a.once(ctx)
	if code, body := readyz(a); code != 503 || !strings.HasPrefix(body, "not ready: reports not delivered\n") || !strings.Contains(body, "last 3 reports") {
		t.Errorf("readyz after %d failures = %d %q, want 503", readyFailures, code, body)
	}
	// No delivery for several periods also counts, even without failures.
	f.fail = false
	a.once(ctx)
	if _, ok := a.delivery(time.Now().Add(readyFailures*(a.cfg.ReportInterval+a.cfg.ReportTimeout) + time.Second)); ok {
		t.Errorf("delivery() long after the last delivery = ok, want not ok")
	}
	if code, _ := readyz(a); code != 200 {
		t.Errorf("readyz after delivering again = %d, want 200", code)
	}
}
