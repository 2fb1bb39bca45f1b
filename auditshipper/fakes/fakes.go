// Package fakes holds protocol-faithful stand-ins for the shipper's sinks,
// built from the vendors' documented APIs: an Elasticsearch/OpenSearch
// _bulk endpoint with per-item fault injection, a Splunk HTTP Event
// Collector with indexer acknowledgement, and a webhook receiver that checks
// the bearer token and HMAC signature. Each records what it accepted so a
// test can check that every record arrived, unaltered, at least once.
package fakes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Received is what a fake accepted: each document's bytes by its id.
type Received struct {
	mu    sync.Mutex
	keep  bool
	docs  map[string][]string
	total int64
	bytes int64
	first time.Time
	last  time.Time
}

func newReceived(keep bool) *Received { return &Received{keep: keep, docs: map[string][]string{}} }

func (r *Received) add(id string, doc []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.total == 0 {
		r.first = now
	}
	r.last = now
	r.total++
	r.bytes += int64(len(doc))
	if r.keep {
		r.docs[id] = append(r.docs[id], string(doc))
	}
}

// Total is the number of documents accepted (duplicates included) and
// their bytes.
func (r *Received) Total() (int64, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.bytes
}

// Window is when the first and the last document were accepted.
func (r *Received) Window() (time.Time, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first, r.last
}

// Docs returns a copy of the accepted documents by id.
func (r *Received) Docs() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.docs))
	for k, v := range r.docs {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Report compares what was accepted with what was written (id → exact
// line). Missing ids, and accepted ids or bodies that were never written
// (invented or altered), are listed; Duplicates counts extra copies.
type Report struct {
	Missing    []string
	Unexpected []string
	Altered    []string
	Duplicates int
	Delivered  int
}

// Check builds the Report for written.
func (r *Received) Check(written map[string]string) Report {
	docs := r.Docs()
	var rep Report
	for id, line := range written {
		got, ok := docs[id]
		if !ok {
			rep.Missing = append(rep.Missing, id)
			continue
		}
		rep.Delivered++
		rep.Duplicates += len(got) - 1
		for _, g := range got {
			if g != line {
				rep.Altered = append(rep.Altered, id)
				break
			}
		}
	}
	for id := range docs {
		if _, ok := written[id]; !ok {
			rep.Unexpected = append(rep.Unexpected, id)
		}
	}
	sort.Strings(rep.Missing)
	sort.Strings(rep.Unexpected)
	sort.Strings(rep.Altered)
	return rep
}

// server is a restartable HTTP server on a fixed loopback address, so a
// test can take a sink down (connection refused) and bring it back.
type server struct {
	mu      sync.Mutex
	addr    string
	handler http.Handler
	srv     *http.Server
	done    chan struct{}
	hangs   chan struct{} // closed on Stop to release hanging requests
}

func newServer(h http.Handler) (*server, error) {
	s := &server{handler: h}
	if err := s.listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *server) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("fake sink listening on %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	s.hangs = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		// Owned by the server: Stop shuts it down and waits on done.
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return nil
}

// URL is the base URL.
func (s *server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr
}

// Stop closes the listener and every connection: clients get refused.
func (s *server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	close(s.hangs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
	s.srv = nil
}

// Start listens again on the same address.
func (s *server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger briefly after Stop
		if err = s.listen(s.addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Close stops the server for good.
func (s *server) Close() { s.Stop() }

// hang blocks until the client gives up or the server stops: a connection
// that never answers.
func (s *server) hang(r *http.Request) {
	s.mu.Lock()
	h := s.hangs
	s.mu.Unlock()
	select {
	case <-r.Context().Done():
	case <-h:
	}
}

// Faults are the whole-request faults every fake can inject. Each hook is
// called with the 1-based number of the request; nil means no fault.
type Faults struct {
	mu sync.Mutex
	// Status, when it returns non-zero, answers the request with that
	// status (and Retry-After when retryAfter is not empty) instead of
	// processing it.
	Status func(n int) (status int, retryAfter string)
	// Hang, when it returns true, never answers the request.
	Hang func(n int) bool
	n    int
}

// Set replaces the hooks.
func (f *Faults) Set(status func(int) (int, string), hang func(int) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Status, f.Hang = status, hang
}

func (f *Faults) next() (n, status int, retryAfter string, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	n = f.n
	if f.Hang != nil && f.Hang(n) {
		return n, 0, "", true
	}
	if f.Status != nil {
		status, retryAfter = f.Status(n)
	}
	return n, status, retryAfter, false
}

// Requests is how many requests arrived.
func (f *Faults) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

var errTooLarge = errors.New("request body too large")

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	buf := bytes.NewBuffer(make([]byte, 0, max(r.ContentLength, 512)+1))
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1)); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}
