// Package fakeupstream is a small fasthttp server standing in for the
// apiserver in the authsidecar's tests and benchmarks: it echoes the
// request (path, headers) as JSON, sets X-Row-Count / X-Query-Name on query
// executions as the apiserver does, streams server-sent events on /events,
// and remembers every request it received.
package fakeupstream

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Seen is one request as the upstream received it.
type Seen struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Path    string              `json:"path"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// Server is a running fake upstream.
type Server struct {
	Addr string
	srv  *fasthttp.Server
	ln   net.Listener

	mu   sync.Mutex
	seen []Seen
	// RowCount is what query executions report in X-Row-Count.
	RowCount int
	// Status, when non-zero, is the status of every /queries/ response.
	Status int
	// Delay is added to every /queries/ response.
	Delay time.Duration
}

// Fixed is the body of the benchmark endpoint GET /bench: a small fixed
// JSON document, answered without recording anything.
var Fixed = []byte(`{"rows":[{"hostname":"core-sw-01","mgmt_ip":"10.0.0.1","vendor":"cisco"}],"columns":["hostname","mgmt_ip","vendor"],"row_count":1,"truncated":false}`)

// Start serves on ln.
func Start(ln net.Listener) *Server {
	s := &Server{Addr: ln.Addr().String(), ln: ln, RowCount: 3}
	// Bodies up to the apiserver's default limit, as the sidecar's ingest
	// limit allows.
	s.srv = &fasthttp.Server{Handler: s.handle, ReadBufferSize: 128 << 10, MaxRequestBodySize: 256 << 20, NoDefaultServerHeader: true}
	go s.srv.Serve(ln)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Shutdown() }

// Seen returns the requests received so far.
func (s *Server) Seen() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Seen(nil), s.seen...)
}

// Reset forgets the requests received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	s.seen = nil
	s.mu.Unlock()
}

// Configure sets the status, row count and delay of /queries/ answers.
func (s *Server) Configure(status, rows int, delay time.Duration) {
	s.mu.Lock()
	s.Status, s.RowCount, s.Delay = status, rows, delay
	s.mu.Unlock()
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	if path == "/bench" {
		ctx.SetContentType("application/json")
		ctx.Response.Header.Set("X-Row-Count", "1")
		ctx.SetBody(Fixed)
		return
	}
	seen := Seen{Method: string(ctx.Method()), URI: string(ctx.RequestURI()), Path: path, Headers: map[string][]string{}, Body: string(ctx.PostBody())}
	for k, v := range ctx.Request.Header.All() {
		seen.Headers[string(k)] = append(seen.Headers[string(k)], string(v))
	}
	s.mu.Lock()
	s.seen = append(s.seen, seen)
	status, rows, delay := s.Status, s.RowCount, s.Delay
	s.mu.Unlock()
	switch {
	case path == "/events":
		ctx.SetContentType("text/event-stream")
		ctx.Response.Header.Set("Cache-Control", "no-cache")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for i := 0; ; i++ {
				fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"n\":%d}\n\n", i, i)
				if err := w.Flush(); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
		return
	case strings.HasPrefix(path, "/queries/"):
		time.Sleep(delay)
		name := strings.TrimSuffix(strings.TrimPrefix(path, "/queries/"), "/execute")
		ctx.Response.Header.Set("X-Query-Name", name)
		ctx.Response.Header.Set("X-Row-Count", strconv.Itoa(rows))
		ctx.Response.Header.Set("X-Plan-Tier", "enterprise")
		if status != 0 {
			ctx.SetStatusCode(status)
		}
	case path == "/slow":
		time.Sleep(2 * time.Second)
	}
	ctx.SetContentType("application/json")
	if len(seen.Body) > maxEchoedBody {
		// A large upload is remembered whole but not sent back: the
		// answer to an ingest is small, and the sidecar buffers answers.
		seen.Body = fmt.Sprintf("(%d bytes)", len(seen.Body))
	}
	b, _ := json.Marshal(seen)
	ctx.SetBody(b)
}

// maxEchoedBody is the largest request body echoed in the answer.
const maxEchoedBody = 1 << 20
