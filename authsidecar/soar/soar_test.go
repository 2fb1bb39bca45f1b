package soar

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseCondition(t *testing.T) {
	cases := []struct {
		in   string
		want Condition
	}{
		{"row_count > 50", Condition{RowCount, GT, 50}},
		{"status >= 500", Condition{Status, GE, 500}},
		{"elapsed_ms > 5000", Condition{ElapsedMS, GT, 5000}},
		{"elapsed_ms<=10.5", Condition{ElapsedMS, LE, 10.5}},
		{"  row_count == 0 ", Condition{RowCount, EQ, 0}},
		{"status < 200", Condition{Status, LT, 200}},
	}
	for _, c := range cases {
		got, err := ParseCondition(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseCondition(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "row_count", "latency > 5", "status => 5", "status > ", "status > five", "status > 0x10", "status != 5", "> 5", "status > NaN", "status > 1e400"} {
		if _, err := ParseCondition(bad); err == nil {
			t.Errorf("ParseCondition(%q) = nil error, want one", bad)
		}
	}
}

func TestConditionHolds(t *testing.T) {
	e := Event{RowCount: 87, Status: 200, ElapsedMS: 312}
	for cond, want := range map[string]bool{"row_count > 50": true, "row_count > 87": false, "row_count >= 87": true, "status >= 500": false,
		"status == 200": true, "elapsed_ms < 312.5": true, "elapsed_ms <= 311": false} {
		c, _ := ParseCondition(cond)
		if got := c.Holds(e); got != want {
			t.Errorf("%q.Holds(%+v) = %v, want %v", cond, e, got, want)
		}
	}
}

func TestParseRulesNamesTheBadRule(t *testing.T) {
	rules, err := ParseRules(`[{"name":"high-blast-radius","query":"blast_radius_*","condition":"row_count > 50"},{"name":"server-error","query":"*","condition":"status >= 500"}]`)
	if err != nil || len(rules) != 2 || !rules[0].glob.Match("blast_radius_from_device") || rules[0].glob.Match("all_devices") {
		t.Fatalf("ParseRules(seeds) = %+v, %v", rules, err)
	}
	_, err = ParseRules(`[{"name":"a","query":"x","condition":"rows > 1"},{"query":"x","condition":"status > 1"},{"name":"a","query":"","condition":"status > 1"}]`)
	for _, w := range []string{`rule "a": condition "rows > 1": unknown field "rows"`, "rule 1: name is required", `rule "a": name used twice`, `rule "a": query is required`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("ParseRules(bad) error = %v, want it to contain %q", err, w)
		}
	}
	for _, bad := range []string{`{}`, `[{"name":"a","query":"x","condition":"status > 1","extra":1}]`, `[1]`, `[`} {
		if _, err := ParseRules(bad); err == nil {
			t.Errorf("ParseRules(%s) = nil error, want one", bad)
		}
	}
}

// FuzzParseCondition: never panics; whatever parses round-trips through
// Holds without panicking and names a known field and operator.
func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{"row_count > 50", "status >= 500", "elapsed_ms<=1.5", "status == -1", "x", ">=", "status >= 1e309", "row_count ==\t7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCondition(s)
		if err != nil {
			return
		}
		if c.Field > ElapsedMS || c.Op > EQ || c.Value != c.Value {
			t.Fatalf("ParseCondition(%q) = %+v: out-of-range field/op or NaN", s, c)
		}
		c.Holds(Event{RowCount: 1, Status: 500, ElapsedMS: 2})
	})
}

type soarCounts struct{ ok, failed, dropped int }

func (c *soarCounts) Sent(ok bool) {
	if ok {
		c.ok++
	} else {
		c.failed++
	}
}
func (c *soarCounts) Dropped() { c.dropped++ }

func TestMatchQueueIsBoundedAndDropsCounted(t *testing.T) {
	rules, _ := ParseRules(`[{"name":"err","query":"*","condition":"status >= 500"},{"name":"big","query":"blast_*","condition":"row_count > 50"}]`)
	c := &soarCounts{}
	d := NewDispatcher("http://127.0.0.1:1", "", rules, 2, http.DefaultClient, slog.New(slog.NewTextHandler(io.Discard, nil)), c)
	d.Match(Event{Query: "blast_radius_vlan", Status: 503, RowCount: 80}) // both rules: 2 queued
	d.Match(Event{Query: "all_devices", Status: 200, RowCount: 80})       // no rule
	d.Match(Event{Query: "x", Status: 500})                               // queue full: dropped
	if len(d.queue) != 2 || c.dropped != 1 {
		t.Errorf("queued %d, dropped %d; want 2 queued and 1 dropped", len(d.queue), c.dropped)
	}
}

// TestDedupKeyFiresEachRuleOncePerWindow: events carrying a DedupKey (a
// failed login's client address) fire each matching rule at most once per
// key per window; events without one are not deduplicated.
func TestDedupKeyFiresEachRuleOncePerWindow(t *testing.T) {
	rules, _ := ParseRules(`[{"name":"auth","query":"*","condition":"status >= 400"},{"name":"throttled","query":"*","condition":"status == 429"}]`)
	c := &soarCounts{}
	d := NewDispatcher("http://127.0.0.1:1", "", rules, 100, http.DefaultClient, slog.New(slog.NewTextHandler(io.Discard, nil)), c)
	clock := time.Now()
	d.now = func() time.Time { return clock }
	queued := func() []string {
		var out []string
		for len(d.queue) > 0 {
			j := <-d.queue
			out = append(out, j.p.Rule)
		}
		return out
	}
	for i := 0; i < 5; i++ {
		d.Match(Event{Query: "q", Status: 401, DedupKey: "192.0.2.1"})
	}
	d.Match(Event{Query: "q", Status: 429, DedupKey: "192.0.2.1"}) // "throttled" not fired yet for this key; "auth" has
	d.Match(Event{Query: "q", Status: 401, DedupKey: "192.0.2.2"})
	d.Match(Event{Query: "q", Status: 401})
	d.Match(Event{Query: "q", Status: 401})
	if diff := cmp.Diff([]string{"auth", "throttled", "auth", "auth", "auth"}, queued()); diff != "" {
		t.Errorf("rules fired (-want +got):\n%s", diff)
	}
	clock = clock.Add(d.DedupWindow)
	d.Match(Event{Query: "q", Status: 401, DedupKey: "192.0.2.1"})
	if diff := cmp.Diff([]string{"auth"}, queued()); diff != "" {
		t.Errorf("after the window, rules fired (-want +got):\n%s", diff)
	}
	// Bounded: with the table full, new keys are dropped and counted.
	d.maxFired = 1 // the table holds the one entry of this window
	d.Match(Event{Query: "q", Status: 401, DedupKey: "192.0.2.3"})
	d.Match(Event{Query: "q", Status: 401, DedupKey: "192.0.2.4"})
	if got := queued(); len(got) != 0 || c.dropped != 2 {
		t.Errorf("table full: fired %q, dropped %d; want none fired and 2 dropped", got, c.dropped)
	}
}
