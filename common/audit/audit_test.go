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
