package sink

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Webhook headers.
const (
	SignatureHeader = "X-Audit-Signature" // t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>.<body>")>
	BatchIDHeader   = "X-Audit-Batch-Id"  // hash of the batch's record ids, stable across retries
)

// Webhook posts JSON arrays of records.
type Webhook struct {
	url    string
	hdr    http.Header
	secret []byte
	client *Client
	now    func() time.Time
}

// WebhookConfig configures Webhook.
type WebhookConfig struct {
	URL    string
	Token  string // bearer token
	Secret string // HMAC signing secret; no signature when empty
	HTTP   HTTPOptions
}

// NewWebhook builds the sink.
func NewWebhook(c WebhookConfig) *Webhook {
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	if c.Token != "" {
		hdr.Set("Authorization", "Bearer "+c.Token)
	}
	return &Webhook{url: c.URL, hdr: hdr, secret: []byte(c.Secret), client: c.HTTP.NewClient("webhook"), now: time.Now}
}

// Name is the sink's metric label.
func (w *Webhook) Name() string { return "webhook" }

// Sign returns the signature header value for body at time ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	t := strconv.FormatInt(ts, 10)
	m.Write([]byte(t))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver posts recs as one JSON array.
func (w *Webhook) Deliver(ctx context.Context, recs []Record, out []Outcome) {
	body := make([]byte, 0, 64*len(recs))
	body = append(body, '[')
	ids := sha256.New()
	for i, r := range recs {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, r.Data...)
		io.WriteString(ids, r.DocID())
	}
	body = append(body, ']')
	hdr := w.hdr.Clone()
	hdr.Set(BatchIDHeader, hex.EncodeToString(ids.Sum(nil))[:32])
	if len(w.secret) > 0 {
		hdr.Set(SignatureHeader, Sign(w.secret, w.now().Unix(), body))
	}
	resp, err := w.client.Post(ctx, w.url, hdr, body)
	if err == nil && resp.Status >= 200 && resp.Status < 300 {
		Fill(out, Outcome{Kind: Delivered, Status: resp.Status})
		return
	}
	o, split := Classify(resp, err)
	if split {
		SplitDeliver(ctx, recs, out, o, w.Deliver)
		return
	}
	Fill(out, o)
}

// Stdout writes one JSON line per record.
type Stdout struct {
	mu  sync.Mutex
	dst io.Writer
	w   *bufio.Writer
}

// NewStdout writes to w.
func NewStdout(w io.Writer) *Stdout { return &Stdout{dst: w, w: bufio.NewWriterSize(w, 256<<10)} }

// Name is the sink's metric label.
func (s *Stdout) Name() string { return "stdout" }

// Deliver writes and flushes recs.
func (s *Stdout) Deliver(_ context.Context, recs []Record, out []Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		s.w.Write(r.Data)
		s.w.WriteByte('\n')
	}
	if err := s.w.Flush(); err != nil {
		s.w.Reset(s.dst) // drop the failed buffer; the records are retried
		Fill(out, Outcome{Kind: Retry, Reason: "io", Detail: err.Error()})
		return
	}
	Fill(out, Outcome{Kind: Delivered})
}
