package httpx

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestSinceAndLimit(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	args := func(s string) *fasthttp.Args {
		var a fasthttp.Args
		a.Parse(s)
		return &a
	}
	for q, want := range map[string]time.Time{
		"": {}, "since=5m": now.Add(-5 * time.Minute), "since=2026-12-01T10:00:00Z": time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := Since(args(q), now); err != nil || !got.Equal(want) {
			t.Errorf("Since(%q) = %v, %v; want %v", q, got, err, want)
		}
	}
	for _, q := range []string{"since=-5m", "since=yesterday", "since=2026-12-01"} {
		if _, err := Since(args(q), now); err == nil || err.Error() != "parameter since: not an RFC 3339 time or a duration such as 5m" {
			t.Errorf("Since(%q) = %v, want the error naming since", q, err)
		}
	}
	for q, want := range map[string]int{"": 100, "limit=1": 1, "limit=5000": 5000} {
		if got, err := Limit(args(q), 100, 5000); err != nil || got != want {
			t.Errorf("Limit(%q) = %d, %v; want %d", q, got, err, want)
		}
	}
	for _, q := range []string{"limit=0", "limit=5001", "limit=x", "limit=1.5"} {
		if _, err := Limit(args(q), 100, 5000); err == nil || err.Error() != "parameter limit: an integer from 1 to 5000" {
			t.Errorf("Limit(%q) = %v, want the error naming limit", q, err)
		}
	}
}
