// Package elastic is the Elasticsearch and OpenSearch audit sink: records
// go through the _bulk API with the create action and the record's id as
// _id, so a retried record that was already indexed counts as delivered.
// It is enterprise code, left out of the standard build.
package elastic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/meshoptixiq/mesh/auditshipper/sink"
)

// Bulk ships to Elasticsearch or OpenSearch through the _bulk API with the
// create action and the record id as _id, so a retried record that was
// already indexed comes back 409 and counts as delivered.
type Bulk struct {
	name   string
	url    string
	hdr    http.Header
	index  *IndexPattern
	client *sink.Client
	bodies sync.Pool // *[]byte
}

// pooledBody returns its buffer to the pool on Close, which the HTTP
// transport calls exactly once when it no longer needs the body.
type pooledBody struct {
	*bytes.Reader
	buf  *[]byte
	pool *sync.Pool
	once sync.Once
}

func (p *pooledBody) Close() error {
	p.once.Do(func() { p.pool.Put(p.buf) })
	return nil
}

// Config configures Bulk.
type Config struct {
	Name     string // "elasticsearch" or "opensearch"
	URL      string // base URL, e.g. https://es:9200
	Index    string // ES_INDEX, with optional %{+yyyy.MM.dd} date patterns
	APIKey   string // sent as "Authorization: ApiKey <key>"
	Username string // basic auth, when no API key
	Password string
	HTTP     sink.HTTPOptions
}

// New builds the sink.
func New(c Config) (*Bulk, error) {
	idx, err := ParseIndexPattern(c.Index)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/x-ndjson")
	hdr.Set("Accept", "application/json")
	switch {
	case c.APIKey != "":
		hdr.Set("Authorization", "ApiKey "+c.APIKey)
	case c.Username != "":
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password)))
	}
	e := &Bulk{name: c.Name, url: strings.TrimRight(c.URL, "/") + "/_bulk", hdr: hdr, index: idx, client: c.HTTP.NewClient(c.Name)}
	e.bodies.New = func() any { return new([]byte) }
	return e, nil
}

// Name is the sink's metric label.
func (e *Bulk) Name() string { return e.name }

// Encode renders the _bulk body for recs.
func (e *Bulk) Encode(dst []byte, recs []sink.Record) []byte {
	for _, r := range recs {
		dst = append(dst, `{"create":{"_index":`...)
		dst = append(dst, e.index.Quoted(r.TS)...)
		dst = append(dst, `,"_id":`...)
		dst = append(dst, r.DocID()...)
		dst = append(dst, "}}\n"...)
		dst = append(dst, r.Data...)
		dst = append(dst, '\n')
	}
	return dst
}

// Deliver makes one _bulk request (splitting on 413 or a rejected request)
// and reads every item's status.
func (e *Bulk) Deliver(ctx context.Context, recs []sink.Record, out []sink.Outcome) {
	// The body buffer goes back to the pool only when the transport closes
	// the body: net/http may still be reading it after the response came
	// back (an early 413).
	bp := e.bodies.Get().(*[]byte)
	body := e.Encode((*bp)[:0], recs)
	*bp = body
	resp, err := e.client.PostReader(ctx, e.url, e.hdr, &pooledBody{Reader: bytes.NewReader(body), buf: bp, pool: &e.bodies}, int64(len(body)))
	if err != nil || resp.Status < 200 || resp.Status > 299 {
		o, split := sink.Classify(resp, err)
		if split {
			sink.SplitDeliver(ctx, recs, out, o, e.Deliver)
			return
		}
		sink.Fill(out, o)
		return
	}
	e.items(resp, out)
}

// items maps the per-item statuses of a 200 _bulk response.
func (e *Bulk) items(resp sink.Response, out []sink.Outcome) {
	// gjson reads invalid JSON leniently: validate before trusting it.
	if !gjson.ValidBytes(resp.Body) {
		sink.Fill(out, sink.Outcome{Kind: sink.Retry, Reason: "bad_response", Status: resp.Status, Detail: sink.Snippet(resp.Body)})
		return
	}
	if errs := gjson.GetBytes(resp.Body, "errors"); errs.Type == gjson.False && gjson.GetBytes(resp.Body, "items.#").Int() == int64(len(out)) {
		sink.Fill(out, sink.Outcome{Kind: sink.Delivered, Status: resp.Status})
		return
	}
	root := gjson.ParseBytes(resp.Body)
	sink.Fill(out, sink.Outcome{Kind: sink.Retry, Reason: "bad_response", Status: resp.Status, Detail: "item missing from _bulk response"})
	i := 0
	root.Get("items").ForEach(func(_, item gjson.Result) bool {
		if i >= len(out) {
			return false
		}
		var res gjson.Result
		item.ForEach(func(_, v gjson.Result) bool { res = v; return false })
		status := int(res.Get("status").Int())
		errType := res.Get("error.type").String()
		detail := strings.TrimSpace(errType + ": " + res.Get("error.reason").String())
		switch {
		case status >= 200 && status < 300:
			out[i] = sink.Outcome{Kind: sink.Delivered, Status: status}
		case status == http.StatusConflict:
			out[i] = sink.Outcome{Kind: sink.Delivered, Status: status, Reason: "duplicate"}
		case status == http.StatusTooManyRequests:
			out[i] = sink.Outcome{Kind: sink.Retry, Reason: "throttled", Status: status, Detail: detail, RetryAfter: resp.RetryAfter}
		case status >= 500 || status == 0:
			out[i] = sink.Outcome{Kind: sink.Retry, Reason: "server_error", Status: status, Detail: detail}
		default:
			out[i] = sink.Outcome{Kind: sink.DeadLetter, Reason: "rejected", Status: status, Detail: detail}
		}
		i++
		return true
	})
}

// IndexPattern renders ES_INDEX for a record time: "%{+yyyy.MM.dd}" (the
// Logstash and Beats notation) is replaced by the record's UTC date; text
// outside it is kept (so Elasticsearch date math such as
// "<audit-{now/d}>" passes through to the server).
type IndexPattern struct {
	static string // quoted JSON string when there is no date part
	parts  []indexPart
	mu     sync.Mutex
	cacheK int64
	cacheV string
}

type indexPart struct {
	text   string
	layout string // Go layout when this part is a date
}

var datePart = regexp.MustCompile(`%\{\+([^}]*)\}`)

// ParseIndexPattern validates and compiles p.
func ParseIndexPattern(p string) (*IndexPattern, error) {
	if p == "" {
		return nil, fmt.Errorf("index name is empty")
	}
	ip := &IndexPattern{cacheK: -1}
	last := 0
	for _, m := range datePart.FindAllStringSubmatchIndex(p, -1) {
		ip.parts = append(ip.parts, indexPart{text: p[last:m[0]]})
		layout, err := jodaToGo(p[m[2]:m[3]])
		if err != nil {
			return nil, err
		}
		ip.parts = append(ip.parts, indexPart{layout: layout})
		last = m[1]
	}
	ip.parts = append(ip.parts, indexPart{text: p[last:]})
	if len(ip.parts) == 1 {
		ip.static = quote(p)
	}
	if strings.ContainsAny(datePart.ReplaceAllString(p, "x"), `"\ ,#*?|/`) && !strings.HasPrefix(p, "<") {
		return nil, fmt.Errorf("index name %q contains a character Elasticsearch does not allow", p)
	}
	return ip, nil
}

func jodaToGo(f string) (string, error) {
	r := strings.NewReplacer("yyyy", "2006", "yy", "06", "MM", "01", "dd", "02", "HH", "15")
	out := r.Replace(f)
	// Any letter left is a Joda field we do not render (week, minute, day
	// name...): it would end up in the index name as a literal.
	if strings.IndexFunc(out, func(c rune) bool { return c < utf8.RuneSelf && unicode.IsLetter(c) }) >= 0 {
		return "", fmt.Errorf("date pattern %q: only yyyy, yy, MM, dd and HH are supported", f)
	}
	return out, nil
}

// Quoted returns the index name for t as a JSON string.
func (ip *IndexPattern) Quoted(t time.Time) string {
	if ip.static != "" {
		return ip.static
	}
	if t.IsZero() {
		t = time.Now()
	}
	t = t.UTC()
	key := t.Unix() / 3600
	ip.mu.Lock()
	defer ip.mu.Unlock()
	if key == ip.cacheK {
		return ip.cacheV
	}
	var b strings.Builder
	for _, p := range ip.parts {
		if p.layout != "" {
			b.WriteString(t.Format(p.layout))
		} else {
			b.WriteString(p.text)
		}
	}
	ip.cacheK, ip.cacheV = key, quote(b.String())
	return ip.cacheV
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
