// Package soar parses the seeds' SOAR_RULES (§13.7) and posts the seeds'
// webhook payload for every audited request a rule matches: asynchronously,
// after the response, with one retry after RetryDelay, through bounded
// queues whose drops are counted.
package soar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshoptixiq/mesh/authsidecar/rbac"
)

// Field is what a condition tests.
type Field uint8

// Fields a condition may name.
const (
	RowCount Field = iota
	Status
	ElapsedMS
)

// Op is a comparison.
type Op uint8

// Operators.
const (
	GT Op = iota
	GE
	LT
	LE
	EQ
)

// Condition is "field op number".
type Condition struct {
	Field Field
	Op    Op
	Value float64
}

var fields = map[string]Field{"row_count": RowCount, "status": Status, "elapsed_ms": ElapsedMS}

// ParseCondition parses "row_count > 50", "status >= 500", "elapsed_ms<=10.5".
func ParseCondition(s string) (Condition, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "<>=")
	if i <= 0 {
		return Condition{}, fmt.Errorf("condition %q: want FIELD OP NUMBER with FIELD one of row_count, status, elapsed_ms and OP one of > >= < <= ==", s)
	}
	name := strings.TrimSpace(s[:i])
	f, ok := fields[name]
	if !ok {
		return Condition{}, fmt.Errorf("condition %q: unknown field %q (row_count, status, elapsed_ms)", s, name)
	}
	rest := s[i:]
	var op Op
	switch {
	case strings.HasPrefix(rest, ">="):
		op, rest = GE, rest[2:]
	case strings.HasPrefix(rest, "<="):
		op, rest = LE, rest[2:]
	case strings.HasPrefix(rest, "=="):
		op, rest = EQ, rest[2:]
	case strings.HasPrefix(rest, ">"):
		op, rest = GT, rest[1:]
	case strings.HasPrefix(rest, "<"):
		op, rest = LT, rest[1:]
	default:
		return Condition{}, fmt.Errorf("condition %q: unknown operator (> >= < <= ==)", s)
	}
	num := strings.TrimSpace(rest)
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "xXpP_") || v != v || v > 1e15 || v < -1e15 {
		return Condition{}, fmt.Errorf("condition %q: %q is not a number", s, num)
	}
	return Condition{Field: f, Op: op, Value: v}, nil
}

// Holds evaluates the condition on an event.
func (c Condition) Holds(e Event) bool {
	var x float64
	switch c.Field {
	case RowCount:
		x = float64(e.RowCount)
	case Status:
		x = float64(e.Status)
	case ElapsedMS:
		x = e.ElapsedMS
	}
	switch c.Op {
	case GT:
		return x > c.Value
	case GE:
		return x >= c.Value
	case LT:
		return x < c.Value
	case LE:
		return x <= c.Value
	}
	return x == c.Value
}

// Rule is one SOAR rule.
type Rule struct {
	Name      string
	Query     string
	Condition Condition
	glob      rbac.Glob
}

// ParseRules parses SOAR_RULES (a JSON array). Every bad rule is reported,
// by name (or index) and problem.
func ParseRules(s string) ([]Rule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var raw []struct {
		Name      string `json:"name"`
		Query     string `json:"query"`
		Condition string `json:"condition"`
	}
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON array of {name, query, condition}: %w", err)
	}
	var errs []error
	var out []Rule
	seen := map[string]bool{}
	for i, r := range raw {
		label := fmt.Sprintf("rule %d", i)
		if r.Name != "" {
			label = fmt.Sprintf("rule %q", r.Name)
		}
		bad := false
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", label))
			bad = true
		} else if seen[r.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", label))
			bad = true
		}
		seen[r.Name] = true
		if r.Query == "" {
			errs = append(errs, fmt.Errorf("%s: query is required (a glob; * for all)", label))
			bad = true
		}
		g, gerr := rbac.CompileGlob(r.Query)
		if r.Query != "" && gerr != nil {
			errs = append(errs, fmt.Errorf("%s: query: %w", label, gerr))
			bad = true
		}
		c, err := ParseCondition(r.Condition)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			bad = true
		}
		if !bad {
			out = append(out, Rule{Name: r.Name, Query: r.Query, Condition: c, glob: g})
		}
	}
	return out, errors.Join(errs...)
}

// Event is what rules are evaluated on: one audited request.
type Event struct {
	Query     string
	User      string
	Time      time.Time
	ElapsedMS float64
	RowCount  int64
	Status    int
	Params    json.RawMessage
	// Body is the raw request body; its "parameters" object becomes
	// Params, parsed by the sender rather than on the request path.
	Body []byte
	// DedupKey, when set, makes each rule fire at most once per key per
	// DedupWindow (failed authentication: the client address, so that a
	// brute-forcer cannot fire a webhook per attempt).
	DedupKey string
}

// Payload is the seeds' webhook body.
type Payload struct {
	Rule      string          `json:"rule"`
	Query     string          `json:"query"`
	User      string          `json:"user"`
	Timestamp string          `json:"timestamp"`
	ElapsedMS float64         `json:"elapsed_ms"`
	RowCount  int64           `json:"row_count"`
	Status    int             `json:"status"`
	Params    json.RawMessage `json:"params"`
}

// Metrics the dispatcher reports to.
type Metrics interface {
	Sent(ok bool)
	Dropped()
}

// Dispatcher posts matching events.
type Dispatcher struct {
	URL        string
	Token      string
	Rules      []Rule
	RetryDelay time.Duration
	Client     *http.Client
	Log        *slog.Logger
	Metrics    Metrics

	// DedupWindow is how long a rule stays quiet for an event's DedupKey
	// after firing for it (default one minute).
	DedupWindow time.Duration

	queue chan job
	retry chan retryItem

	mu        sync.Mutex
	fired     map[dedupKey]time.Time // when each (rule, key) may fire again
	sweptAt   time.Time
	now       func() time.Time
	maxFired  int
	overDedup bool // fired is full: deduplicated events are dropped, logged once
}

type dedupKey struct {
	rule int
	key  string
}

type retryItem struct {
	p   Payload
	due time.Time
}

// NewDispatcher returns a dispatcher with queues of queueSize.
func NewDispatcher(url, token string, rules []Rule, queueSize int, client *http.Client, log *slog.Logger, m Metrics) *Dispatcher {
	return &Dispatcher{URL: url, Token: token, Rules: rules, RetryDelay: 5 * time.Second, Client: client, Log: log, Metrics: m,
		DedupWindow: time.Minute, queue: make(chan job, queueSize), retry: make(chan retryItem, queueSize),
		fired: map[dedupKey]time.Time{}, now: time.Now, maxFired: 100_000}
}

// Match queues a payload for every rule the event matches. It never blocks.
func (d *Dispatcher) Match(e Event) {
	for i := range d.Rules {
		r := &d.Rules[i]
		if !r.glob.Match(e.Query) || !r.Condition.Holds(e) {
			continue
		}
		if e.DedupKey != "" && !d.firstInWindow(i, e.DedupKey) {
			continue
		}
		p := Payload{Rule: r.Name, Query: e.Query, User: e.User, Timestamp: e.Time.UTC().Format(time.RFC3339),
			ElapsedMS: e.ElapsedMS, RowCount: e.RowCount, Status: e.Status, Params: e.Params}
		select {
		case d.queue <- job{p: p, body: e.Body}:
		default:
			d.Metrics.Dropped()
			d.Log.Warn("soar queue full; webhook dropped", "rule", r.Name, "query", e.Query)
		}
	}
}

// firstInWindow reports whether rule may fire for key now, and if so
// starts its quiet window. The table is bounded: expired entries are swept
// once a window, and when it is full anyway (a flood from that many
// addresses) deduplicated events are dropped rather than sent.
func (d *Dispatcher) firstInWindow(rule int, key string) bool {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.sweptAt) >= d.DedupWindow {
		for k, until := range d.fired {
			if !now.Before(until) {
				delete(d.fired, k)
			}
		}
		d.sweptAt = now
		d.overDedup = false
	}
	k := dedupKey{rule, key}
	if until, ok := d.fired[k]; ok && now.Before(until) {
		return false
	}
	if len(d.fired) >= d.maxFired {
		if !d.overDedup {
			d.overDedup = true
			d.Log.Warn("soar: too many distinct sources this window; their webhooks are dropped", "sources", len(d.fired))
		}
		d.Metrics.Dropped()
		return false
	}
	d.fired[k] = now.Add(d.DedupWindow)
	return true
}

type job struct {
	p    Payload
	body []byte
}

func paramsOf(p *Payload, body []byte) {
	if len(p.Params) == 0 && len(body) > 0 {
		var b struct {
			Parameters json.RawMessage `json:"parameters"`
		}
		if json.Unmarshal(body, &b) == nil && len(b.Parameters) > 0 && b.Parameters[0] == '{' {
			p.Params = b.Parameters
		}
	}
	if len(p.Params) == 0 {
		p.Params = json.RawMessage("{}")
	}
}

// Run sends queued payloads until ctx ends; a failed send is retried once
// after RetryDelay by a second goroutine.
func (d *Dispatcher) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() { // owned: Run waits for it below
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case it := <-d.retry:
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(it.due)):
				}
				if err := d.send(ctx, it.p); err != nil {
					d.Metrics.Sent(false)
					d.Log.Warn("soar webhook failed after retry; giving up", "rule", it.p.Rule, "query", it.p.Query, "err", err)
				} else {
					d.Metrics.Sent(true)
				}
			}
		}
	}()
	defer func() { <-done }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case j := <-d.queue:
			p := j.p
			paramsOf(&p, j.body)
			if err := d.send(ctx, p); err != nil {
				d.Log.Warn("soar webhook failed; retrying once", "rule", p.Rule, "query", p.Query, "err", err, "in", d.RetryDelay)
				select {
				case d.retry <- retryItem{p: p, due: time.Now().Add(d.RetryDelay)}:
				default:
					d.Metrics.Dropped()
					d.Log.Warn("soar retry queue full; webhook dropped", "rule", p.Rule)
				}
				continue
			}
			d.Metrics.Sent(true)
		}
	}
}

func (d *Dispatcher) send(ctx context.Context, p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encoding payload: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if d.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.Token)
	}
	resp, err := d.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("posting: status %d", resp.StatusCode)
	}
	return nil
}
