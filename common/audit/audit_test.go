package audit

import (
	"encoding/json"
	"testing"
	"time"
)

func TestRecordKeepsContractFieldNames(t *testing.T) {
	b, err := json.Marshal(Record{Params: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ts", "id", "event", "outcome", "user", "auth", "key_fp", "role", "groups", "client_ip", "method", "path", "query", "params", "status", "elapsed_ms", "row_count", "plan_tier", "matched_pattern", "policy_version"} {
		if _, ok := m[f]; !ok {
			t.Errorf("marshalled record lacks %q: %s", f, b)
		}
	}
}

func TestFingerprintAndTimestamp(t *testing.T) {
	if got, want := Fingerprint("abc"), "sha256:ba7816bf8f01"; got != want {
		t.Errorf("Fingerprint(abc) = %q, want %q", got, want)
	}
	if got := Fingerprint(""); got != "" {
		t.Errorf("Fingerprint(\"\") = %q, want empty", got)
	}
	ts := time.Date(2026, 11, 20, 10, 0, 0, 5e6, time.FixedZone("x", 3600))
	if got, want := Timestamp(ts), "2026-11-20T09:00:00.005Z"; got != want {
		t.Errorf("Timestamp = %q, want %q", got, want)
	}
}

// TestTimestampReusesOnlyTheSameSecond walks times within and across
// milliseconds and seconds (a new year among them), in two zones, against
// formatting each one afresh.
func TestTimestampReusesOnlyTheSameSecond(t *testing.T) {
	base := time.Date(2026, 12, 31, 23, 59, 59, 998_000_000, time.UTC)
	paris := time.FixedZone("CET", 3600)
	for _, step := range []time.Duration{0, 1, 999_999, 1_000_000, 1_000_001, 1_999_999, 2_000_000, 5 * time.Millisecond, -time.Millisecond, -998 * time.Millisecond, time.Second, 90 * time.Millisecond} {
		for _, zone := range []*time.Location{time.UTC, paris} {
			at := base.Add(step).In(zone)
			if got, want := Timestamp(at), at.UTC().Format(TimeFormat); got != want {
				t.Errorf("Timestamp(base%+v in %s) = %q, want %q", step, zone, got, want)
			}
		}
	}
}
