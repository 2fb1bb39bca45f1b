// Package splunk is the Splunk HTTP Event Collector audit sink, with
// optional indexer acknowledgement. It is enterprise code, left out of the
// standard build.
package splunk

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/meshoptixiq/mesh/auditshipper/sink"
)

// MaxBody is the HEC default max_content_length we stay under.
const MaxBody = 1_000_000

// HEC ships to the HTTP Event Collector's event endpoint, optionally
// waiting for indexer acknowledgement before calling a record delivered.
type HEC struct {
	eventURL, ackURL string
	hdr              http.Header
	ack              bool
	ackPoll          time.Duration
	ackTimeout       time.Duration
	meta             string // ,"sourcetype":...,"source":...,"index":... fragment
	client           *sink.Client
}

// Config configures HEC.
type Config struct {
	URL        string // SPLUNK_HEC_URL, e.g. https://splunk:8088
	Token      string
	Channel    string // X-Splunk-Request-Channel; random when empty
	Ack        bool
	AckPoll    time.Duration
	AckTimeout time.Duration
	Index      string
	Source     string
	Sourcetype string
	HTTP       sink.HTTPOptions
}

// New builds the sink.
func New(c Config) (*HEC, error) {
	base := strings.TrimRight(c.URL, "/")
	base = strings.TrimSuffix(base, "/services/collector/event")
	base = strings.TrimSuffix(base, "/services/collector")
	ch := c.Channel
	if ch == "" {
		ch = NewChannelID()
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Splunk "+c.Token)
	hdr.Set("Content-Type", "application/json")
	hdr.Set("X-Splunk-Request-Channel", ch)
	var meta strings.Builder
	for _, kv := range [][2]string{{"sourcetype", c.Sourcetype}, {"source", c.Source}, {"index", c.Index}} {
		if kv[1] != "" {
			fmt.Fprintf(&meta, ",%q:%s", kv[0], jsonString(kv[1]))
		}
	}
	if c.AckPoll <= 0 {
		c.AckPoll = 500 * time.Millisecond
	}
	if c.AckTimeout <= 0 {
		c.AckTimeout = time.Minute
	}
	return &HEC{
		eventURL: base + "/services/collector/event", ackURL: base + "/services/collector/ack",
		hdr: hdr, ack: c.Ack, ackPoll: c.AckPoll, ackTimeout: c.AckTimeout, meta: meta.String(),
		client: c.HTTP.NewClient("splunk"),
	}, nil
}

// NewChannelID returns a random UUID (version 4) for the channel header.
func NewChannelID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Name is the sink's metric label.
func (s *HEC) Name() string { return "splunk" }

func (s *HEC) event(dst []byte, r sink.Record) []byte {
	dst = append(dst, `{"event":`...)
	dst = append(dst, r.Data...)
	if !r.TS.IsZero() {
		dst = append(dst, `,"time":`...)
		dst = strconv.AppendFloat(dst, float64(r.TS.UnixMilli())/1000, 'f', 3, 64)
	}
	dst = append(dst, s.meta...)
	return append(dst, "}\n"...)
}

// Deliver sends recs in requests of at most MaxBody bytes.
func (s *HEC) Deliver(ctx context.Context, recs []sink.Record, out []sink.Outcome) {
	var body []byte
	start := 0
	for i := 0; i <= len(recs); i++ {
		var ev []byte
		if i < len(recs) {
			ev = s.event(nil, recs[i])
			if len(body)+len(ev) <= MaxBody || len(body) == 0 {
				body = append(body, ev...)
				continue
			}
		}
		if len(body) > 0 {
			s.send(ctx, body, recs[start:i], out[start:i])
		}
		body, start = append(body[:0], ev...), i
	}
}

// HEC error codes (Splunk docs, "Format events for HTTP Event Collector",
// troubleshooting table) that mean the data itself is bad.
func hecDataError(code int64) bool {
	switch code {
	case 5, 6, 12, 13, 15:
		return true
	}
	return false
}

func (s *HEC) send(ctx context.Context, body []byte, recs []sink.Record, out []sink.Outcome) {
	resp, err := s.client.Post(ctx, s.eventURL, s.hdr, body)
	if err == nil && resp.Status == http.StatusOK {
		if !s.ack {
			sink.Fill(out, sink.Outcome{Kind: sink.Delivered, Status: resp.Status})
			return
		}
		ackID := gjson.GetBytes(resp.Body, "ackId")
		if !ackID.Exists() {
			sink.Fill(out, sink.Outcome{Kind: sink.Retry, Reason: "config", Slow: true, Status: resp.Status, Detail: "SPLUNK_HEC_ACK is set but the collector returned no ackId (acknowledgement disabled on the token?)"})
			return
		}
		sink.Fill(out, s.waitAck(ctx, ackID.Int()))
		return
	}
	code := int64(-1)
	if err == nil {
		code = gjson.GetBytes(resp.Body, "code").Int()
		if !gjson.GetBytes(resp.Body, "code").Exists() {
			code = -1
		}
	}
	switch {
	case err == nil && resp.Status == http.StatusBadRequest && hecDataError(code):
		if bad := gjson.GetBytes(resp.Body, "invalid-event-number"); bad.Exists() && int(bad.Int()) < len(recs) && len(recs) > 1 {
			// Events before the bad one may already be indexed; sending
			// them again is a duplicate, never a loss.
			n := int(bad.Int())
			sink.Fill(out, sink.Outcome{Kind: sink.Retry, Reason: "batch_had_bad_event", Status: resp.Status})
			out[n] = sink.Outcome{Kind: sink.DeadLetter, Reason: "rejected", Status: resp.Status, Detail: sink.Snippet(resp.Body)}
			return
		}
		sink.SplitDeliver(ctx, recs, out, sink.Outcome{Kind: sink.DeadLetter, Reason: "rejected", Status: resp.Status, Detail: sink.Snippet(resp.Body)}, s.Deliver)
	case err == nil && resp.Status == http.StatusBadRequest && code >= 0:
		// Channel, index or ack configuration: keep the data.
		sink.Fill(out, sink.Outcome{Kind: sink.Retry, Reason: "config", Slow: true, Status: resp.Status, Detail: sink.Snippet(resp.Body)})
	default:
		o, split := sink.Classify(resp, err)
		if split {
			sink.SplitDeliver(ctx, recs, out, o, s.Deliver)
			return
		}
		sink.Fill(out, o)
	}
}

// waitAck polls the ack endpoint until ackID is acknowledged or the ack
// timeout passes (then the records are sent again: at-least-once).
func (s *HEC) waitAck(ctx context.Context, ackID int64) sink.Outcome {
	body, _ := json.Marshal(map[string][]int64{"acks": {ackID}})
	key := strconv.FormatInt(ackID, 10)
	deadline := time.Now().Add(s.ackTimeout)
	t := time.NewTimer(s.ackPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return sink.Outcome{Kind: sink.Retry, Reason: "ack_timeout", Detail: "shutting down before acknowledgement"}
		case <-t.C:
		}
		resp, err := s.client.Post(ctx, s.ackURL, s.hdr, body)
		if err == nil && resp.Status == http.StatusOK && gjson.ValidBytes(resp.Body) && gjson.GetBytes(resp.Body, "acks."+key).Type == gjson.True {
			return sink.Outcome{Kind: sink.Delivered, Status: resp.Status}
		}
		if time.Now().After(deadline) {
			return sink.Outcome{Kind: sink.Retry, Reason: "ack_timeout", Detail: fmt.Sprintf("ackId %d not acknowledged within %s", ackID, s.ackTimeout)}
		}
		t.Reset(s.ackPoll)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
