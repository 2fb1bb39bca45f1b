package spans

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// SLO is one latency objective, as TRACING_SLOS lists them.
//
// A threshold SLO (latency_ms alone) is violated by every matching span
// slower than latency_ms. A percentile SLO (percentile, latency_ms and
// window) is violated while the percentile of the matching spans that
// arrived within the window is above latency_ms; each span slower than
// latency_ms that arrives meanwhile is a violation (those are the spans
// that hold the percentile up).
type SLO struct {
	Name string `json:"name"`
	// Service and SpanName are globs (* any run of characters, ? one)
	// matched against the resource's service.name and the span's name;
	// empty matches everything.
	Service  string `json:"service"`
	SpanName string `json:"span_name"`
	// LatencyMS is the threshold in milliseconds.
	LatencyMS float64 `json:"latency_ms"`
	// Percentile (0 < p ≤ 100) and Window make it a percentile SLO.
	Percentile float64  `json:"percentile,omitempty"`
	Window     Duration `json:"window,omitempty"`
	// MinSpans is how many spans the window needs before the percentile
	// counts (default 1).
	MinSpans int `json:"min_spans,omitempty"`

	service, span glob
	threshold     time.Duration
}

// Duration is a time.Duration written as Go duration text ("5m").
type Duration time.Duration

// UnmarshalJSON reads "5m"-style text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return windowError(`not a duration string such as "5m"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return windowError(fmt.Sprintf("%q is not a duration such as 5m", s))
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes "5m0s"-style text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Kind names the SLO's kind: threshold or percentile.
func (s *SLO) Kind() string {
	if s.Percentile > 0 {
		return "percentile"
	}
	return "threshold"
}

// Limits of TRACING_SLOS.
const (
	MaxSLOs      = 256
	maxSLOName   = 128
	maxGlob      = 256
	minWindow    = time.Second
	maxWindow    = 24 * time.Hour
	windowSlices = 60 // a window is counted in this many slices
)

// ParseSLOs reads TRACING_SLOS: a JSON list of SLOs. Empty text is no
// SLOs. Every problem is reported, each naming the entry and the field.
func ParseSLOs(text string) ([]SLO, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("not a JSON list of SLOs: %v", err)
	}
	if len(raw) > MaxSLOs {
		return nil, fmt.Errorf("%d SLOs, at most %d", len(raw), MaxSLOs)
	}
	var errs []error
	out := make([]SLO, 0, len(raw))
	seen := map[string]int{}
	for i, r := range raw {
		where := fmt.Sprintf("entry %d", i)
		var s SLO
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", where, decodeProblem(err)))
			continue
		}
		if s.Name != "" {
			where = fmt.Sprintf("entry %d (%q)", i, s.Name)
		}
		bad := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: field %s: %s", where, field, fmt.Sprintf(format, args...)))
		}
		switch {
		case s.Name == "":
			bad("name", "is empty")
		case len(s.Name) > maxSLOName:
			bad("name", "is longer than %d characters", maxSLOName)
		default:
			if j, dup := seen[s.Name]; dup {
				bad("name", "is also entry %d's", j)
			}
			seen[s.Name] = i
		}
		var err error
		if s.service, err = compileGlob(s.Service); err != nil {
			bad("service", "%v", err)
		}
		if s.span, err = compileGlob(s.SpanName); err != nil {
			bad("span_name", "%v", err)
		}
		if !(s.LatencyMS > 0) || math.IsInf(s.LatencyMS, 0) || s.LatencyMS > 86400000 {
			bad("latency_ms", "must be a number of milliseconds above 0 and at most 86400000 (24 h)")
		}
		s.threshold = time.Duration(s.LatencyMS * float64(time.Millisecond))
		w := time.Duration(s.Window)
		switch {
		case s.Percentile == 0 && w != 0:
			bad("window", "is set without percentile: a threshold SLO has no window")
		case s.Percentile == 0 && s.MinSpans != 0:
			bad("min_spans", "is set without percentile")
		case s.Percentile == 0:
		case !(s.Percentile > 0 && s.Percentile <= 100):
			bad("percentile", "%v is not above 0 and at most 100", s.Percentile)
		case w == 0:
			bad("window", "is required with percentile (a duration such as 5m)")
		case w < minWindow || w > maxWindow:
			bad("window", "%s is outside %s..%s", w, minWindow, maxWindow)
		}
		if s.MinSpans < 0 {
			bad("min_spans", "%d is negative", s.MinSpans)
		}
		if s.Percentile > 0 && s.MinSpans == 0 {
			s.MinSpans = 1
		}
		out = append(out, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeProblem says which field a decoding error is about.
func decodeProblem(err error) string {
	var te *json.UnmarshalTypeError
	var we windowError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %s: a JSON %s is not allowed here, want %s", te.Field, te.Value, te.Type)
	case errors.As(err, &we):
		return "field window: " + we.Error()
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "field " + strings.TrimPrefix(err.Error(), "json: unknown field ") +
			": unknown (known: name, service, span_name, latency_ms, percentile, window, min_spans)"
	}
	return "not an SLO object: " + err.Error()
}

// windowError is a window that is not a duration.
type windowError string

func (e windowError) Error() string { return string(e) }

// glob is a compiled pattern: * matches any run of characters, ? one
// character, everything else itself.
type glob struct {
	pattern string
	any     bool // "" or "*"
}

func compileGlob(p string) (glob, error) {
	if len(p) > maxGlob {
		return glob{}, fmt.Errorf("is longer than %d characters", maxGlob)
	}
	return glob{pattern: p, any: p == "" || strings.Trim(p, "*") == ""}, nil
}

// match reports whether s matches: iterative, backtracking only to the
// last star, so linear-ish for the usual patterns.
func (g glob) match(s string) bool {
	if g.any {
		return true
	}
	p := g.pattern
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// window counts a percentile SLO's matching spans, and those over its
// threshold, in time slices of window/windowSlices.
type window struct {
	slice  time.Duration
	starts []int64 // slice start (unix ns) of each bucket; 0 unused
	total  []uint64
	over   []uint64
}

func newWindow(w time.Duration) *window {
	return &window{slice: w / windowSlices, starts: make([]int64, windowSlices),
		total: make([]uint64, windowSlices), over: make([]uint64, windowSlices)}
}

// add counts one span arriving at now, and returns the window's counts
// including it.
func (w *window) add(now time.Time, over bool) (total, nOver uint64) {
	t := now.UnixNano()
	sl := int64(w.slice)
	start := t - t%sl
	i := int((t / sl) % windowSlices)
	if w.starts[i] != start {
		w.starts[i], w.total[i], w.over[i] = start, 0, 0
	}
	w.total[i]++
	if over {
		w.over[i]++
	}
	oldest := start - sl*(windowSlices-1)
	for j := range windowSlices {
		if w.starts[j] >= oldest && w.starts[j] <= start {
			total += w.total[j]
			nOver += w.over[j]
		}
	}
	return total, nOver
}

// percentileOver reports whether the p-th percentile (nearest rank) of
// total samples, of which over are above the threshold, is above it: the
// sample of rank ceil(p/100·total) is over the threshold exactly when
// fewer than that many are at or below it.
func percentileOver(p float64, total, over uint64) bool {
	if total == 0 {
		return false
	}
	rank := uint64(math.Ceil(p * float64(total) / 100))
	if rank < 1 {
		rank = 1
	}
	return total-over < rank
}
