// Package sink delivers audit records to one backend and says, record by
// record, what became of each attempt: delivered, to be retried (and how
// soon), or permanently rejected and bound for the dead-letter file. It
// holds the webhook and stdout sinks and the HTTP plumbing every sink
// shares; the enterprise sinks (Splunk HEC in sink/splunk,
// Elasticsearch/OpenSearch in sink/elastic) are packages of their own so
// that the standard build, which leaves them out, does not link them.
package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Record is one audit line with the fields the sinks need.
type Record struct {
	Data []byte    // the JSON object, exactly as read
	ID   string    // raw JSON string token of the record's id ("" when absent)
	TS   time.Time // the record's ts (zero when absent or unparsable)
}

// DocID is the idempotency key for r: its id, or a hash of the line when it
// has none (so a retry still lands on the same document).
func (r Record) DocID() string {
	if r.ID != "" {
		return r.ID
	}
	h := sha256.Sum256(r.Data)
	return `"line-` + hex.EncodeToString(h[:16]) + `"`
}

// Kind is what happened to one record in one attempt.
type Kind int

// Kinds.
const (
	Delivered Kind = iota
	Retry
	DeadLetter
)

// Outcome is the result of one attempt for one record.
type Outcome struct {
	Kind       Kind
	Reason     string // short metric label: throttled, server_error, network, auth, ack_timeout, rejected, too_large...
	Status     int    // HTTP status, when there was one
	Detail     string // for the dead-letter file and logs
	RetryAfter time.Duration
	Slow       bool // auth or configuration problem: retry slowly, data kept
}

// Sink is one backend.
type Sink interface {
	Name() string
	// Deliver makes one attempt for recs and fills out (len(out) ==
	// len(recs)). It never returns before every out is set.
	Deliver(ctx context.Context, recs []Record, out []Outcome)
}

// Fill gives every record the outcome o.
func Fill(out []Outcome, o Outcome) {
	for i := range out {
		out[i] = o
	}
}

// Client posts requests with a per-request timeout and counts responses.
type Client struct {
	http     *http.Client
	timeout  time.Duration
	sink     string
	requests *prometheus.CounterVec
}

// Response is what came back from one request.
type Response struct {
	Status     int
	Body       []byte
	RetryAfter time.Duration // Retry-After, when the server sent one
}

// maxResponse bounds how much of a response body is read.
const maxResponse = 64 << 20

// Post posts body to url with the headers hdr.
func (c *Client) Post(ctx context.Context, url string, hdr http.Header, body []byte) (Response, error) {
	return c.PostReader(ctx, url, hdr, bytes.NewReader(body), int64(len(body)))
}

// PostReader posts n bytes of body; the transport closes it when done
// with it.
func (c *Client) PostReader(ctx context.Context, url string, hdr http.Header, body io.Reader, n int64) (Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return Response{}, fmt.Errorf("building request: %w", err)
	}
	req.ContentLength = n
	req.Header = hdr.Clone()
	resp, err := c.http.Do(req)
	if err != nil {
		c.requests.WithLabelValues(c.sink, "error").Inc()
		return Response{}, err
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(make([]byte, 0, max(min(resp.ContentLength, maxResponse), 512)+1))
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxResponse))
	b := buf.Bytes()
	if err != nil {
		c.requests.WithLabelValues(c.sink, "error").Inc()
		return Response{}, fmt.Errorf("reading response: %w", err)
	}
	c.requests.WithLabelValues(c.sink, strconv.Itoa(resp.StatusCode)).Inc()
	return Response{Status: resp.StatusCode, Body: b, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}, nil
}

// parseRetryAfter reads delta-seconds or an HTTP date (RFC 9110 §10.2.3).
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Classify maps a whole-request result that is not a success to an
// outcome; split reports that the batch should be halved (413, or 422, the
// answer that names the records as the problem).
func Classify(resp Response, err error) (o Outcome, split bool) {
	if err != nil {
		reason := "network"
		if errors.Is(err, context.DeadlineExceeded) {
			reason = "timeout"
		}
		return Outcome{Kind: Retry, Reason: reason, Detail: err.Error()}, false
	}
	s := resp.Status
	switch {
	case s == http.StatusTooManyRequests:
		return Outcome{Kind: Retry, Reason: "throttled", Status: s, RetryAfter: resp.RetryAfter}, false
	case s >= 500 || s == http.StatusRequestTimeout:
		return Outcome{Kind: Retry, Reason: "server_error", Status: s, RetryAfter: resp.RetryAfter}, false
	case s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusProxyAuthRequired:
		return Outcome{Kind: Retry, Reason: "auth", Status: s, Slow: true, Detail: Snippet(resp.Body)}, false
	case s == http.StatusNotFound || s == http.StatusMethodNotAllowed:
		return Outcome{Kind: Retry, Reason: "config", Status: s, Slow: true, Detail: Snippet(resp.Body)}, false
	case s == http.StatusRequestEntityTooLarge:
		return Outcome{Kind: DeadLetter, Reason: "too_large", Status: s, Detail: Snippet(resp.Body)}, true
	case s == http.StatusUnprocessableEntity:
		// The one whole-request answer documented as "these records are
		// refused" (the webhook contract): halve down to the bad record.
		return Outcome{Kind: DeadLetter, Reason: "rejected", Status: s, Detail: Snippet(resp.Body)}, true
	case s >= 400:
		// Any other whole-request 4xx says nothing about a record (a
		// gateway or proxy answering 400 for a while does this): keep the
		// records and retry, slowly. Record errors come per item (_bulk),
		// with a documented code (HEC), or as 422 (webhook).
		return Outcome{Kind: Retry, Reason: "request_rejected", Status: s, Slow: true, Detail: Snippet(resp.Body)}, false
	}
	return Outcome{Kind: Retry, Reason: "unexpected_status", Status: s, Detail: Snippet(resp.Body)}, false
}

// Snippet is the start of a response body, for logs and the dead-letter
// file.
func Snippet(b []byte) string {
	if len(b) > 512 {
		b = b[:512]
	}
	return string(bytes.TrimSpace(b))
}

// SplitDeliver halves recs and delivers each half with attempt, down to
// single records, which take the outcome o (a permanent rejection).
func SplitDeliver(ctx context.Context, recs []Record, out []Outcome, o Outcome, attempt func(context.Context, []Record, []Outcome)) {
	if len(recs) <= 1 {
		Fill(out, o)
		return
	}
	h := len(recs) / 2
	attempt(ctx, recs[:h], out[:h])
	attempt(ctx, recs[h:], out[h:])
}

// NewMetrics registers the request counter shared by the HTTP sinks.
func NewMetrics(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "auditshipper_sink_requests_total", Help: "Requests to the sink, by sink and HTTP status (error when none came back)."}, []string{"sink", "status"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return c, nil
}

// HTTPOptions are shared by the HTTP sinks.
type HTTPOptions struct {
	Client   *http.Client
	Timeout  time.Duration
	Requests *prometheus.CounterVec
}

// NewClient is the client a sink named name posts with.
func (o HTTPOptions) NewClient(name string) *Client {
	c := o.Client
	if c == nil {
		c = http.DefaultClient
	}
	t := o.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	req := o.Requests
	if req == nil {
		req, _ = NewMetrics(nil)
	}
	return &Client{http: c, timeout: t, sink: name, requests: req}
}
