// Package audit defines the audit record: the JSON line the authsidecar
// writes for every request and the auditshipper ships.
// Fields may be added; the ones here are never renamed or dropped.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"time"
)

// Events.
const (
	EventQuery = "query"
	EventAdmin = "admin"
	EventLogin = "login"
	EventAuth  = "auth"
)

// Outcomes.
const (
	OutcomeAllow = "allow"
	OutcomeDeny  = "deny"
	OutcomeError = "error"
)

// TimeFormat is RFC 3339 in UTC with milliseconds.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Record is one audit line.
type Record struct {
	TS             string          `json:"ts"`
	ID             string          `json:"id"`
	Event          string          `json:"event"`
	Outcome        string          `json:"outcome"`
	User           string          `json:"user"`
	Auth           string          `json:"auth"`
	KeyFP          string          `json:"key_fp"`
	Role           string          `json:"role"`
	Groups         []string        `json:"groups"`
	ClientIP       string          `json:"client_ip"`
	Method         string          `json:"method"`
	Path           string          `json:"path"`
	Query          string          `json:"query"`
	Params         json.RawMessage `json:"params"`
	Status         int             `json:"status"`
	ElapsedMS      float64         `json:"elapsed_ms"`
	RowCount       int64           `json:"row_count"`
	PlanTier       string          `json:"plan_tier"`
	MatchedPattern string          `json:"matched_pattern"`
	PolicyVersion  string          `json:"policy_version"`
	Reason         string          `json:"reason,omitempty"`
}

// Timestamp formats t as the record's ts field. The date and time up to
// the second are formatted once per second and kept: the sidecar writes
// thousands of records a second, and time.Format cost more than the rest
// of the record.
func Timestamp(t time.Time) string {
	t = t.UTC()
	sec := t.Unix()
	last := lastSecond.Load()
	if last == nil || last.unix != sec {
		last = &formattedSecond{unix: sec, text: t.Format("2006-01-02T15:04:05.")}
		lastSecond.Store(last)
	}
	ms := t.Nanosecond() / 1e6
	milli := [4]byte{byte('0' + ms/100), byte('0' + ms/10%10), byte('0' + ms%10), 'Z'}
	return last.text + string(milli[:])
}

type formattedSecond struct {
	unix int64
	text string // "2006-01-02T15:04:05."
}

var lastSecond atomic.Pointer[formattedSecond]

// Fingerprint is the only form in which a key or token may appear in logs
// and records: "sha256:" and the first 12 hex digits of its SHA-256.
func Fingerprint(secret string) string {
	if secret == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])[:12]
}
