package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// session is an authenticated connection to one server.
type session struct {
	a      *app
	server string
	creds  *credentials // nil: no credentials (public endpoints only)
	client *http.Client
}

// session resolves the server and the credentials to send to it. Stored
// credentials go only to the server they were made for: a typo in
// --server must not hand a token to another host.
func (a *app) session(needCreds bool) (*session, error) {
	c, err := a.loadCredentials()
	if err != nil {
		return nil, err
	}
	server, err := a.serverURL(c)
	if err != nil {
		return nil, err
	}
	s := &session{a: a, server: server, client: a.httpClient()}
	if c != nil && c.Server == server {
		s.creds = c
	}
	// An API key in the environment (CI, make run) wins over the file.
	if key := a.getenv("MESHQ_API_KEY"); key != "" {
		s.creds = &credentials{Server: server, Kind: kindAPIKey, Token: key}
	}
	if needCreds && s.creds == nil {
		if c != nil {
			return nil, fmt.Errorf("the stored credentials are for %s, not %s; run meshq login --server %s", c.Server, server, server)
		}
		return nil, fmt.Errorf("not logged in to %s; run meshq login --server %s", server, server)
	}
	return s, nil
}

// apiError is the server's answer to a failed request.
type apiError struct {
	Status    int
	Code      string
	Message   string
	RequestID string
	Problems  []struct{ Path, Message string }
	hint      string
}

func (e *apiError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	s := fmt.Sprintf("%s (HTTP %d", msg, e.Status)
	if e.RequestID != "" {
		s += ", request id " + e.RequestID
	}
	s += ")"
	if e.hint != "" {
		s += "\n" + e.hint
	}
	return s
}

// decodeError reads the {"error": {"code", "message"}} envelope; a body
// that is not one is quoted (briefly) instead.
func decodeError(resp *http.Response) *apiError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := &apiError{Status: resp.StatusCode}
	var env struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
			Problems  []struct {
				Path    string `json:"path"`
				Message string `json:"message"`
			} `json:"problems"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		e.Code, e.Message, e.RequestID = env.Error.Code, env.Error.Message, env.Error.RequestID
		for _, p := range env.Error.Problems {
			e.Problems = append(e.Problems, struct{ Path, Message string }{p.Path, p.Message})
		}
	} else if t := strings.TrimSpace(string(body)); t != "" {
		if len(t) > 200 {
			t = t[:200] + "…"
		}
		e.Message = t
	}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id")
	}
	return e
}

// request is one call: method, path (with query), JSON body or a reader.
type request struct {
	method  string
	path    string
	json    any
	body    io.Reader
	length  int64 // of body, when known: sent as Content-Length
	headers map[string]string
	bearer  string // Authorization: Bearer instead of the stored credentials
	client  *http.Client
}

// do sends the request and returns the response for 2xx; other statuses
// become *apiError with the server's message.
func (s *session) do(ctx context.Context, r request) (*http.Response, error) {
	body := r.body
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, s.server+r.path, body)
	if err != nil {
		return nil, err
	}
	if r.json != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.length > 0 {
		// A declared length lets the sidecar refuse an oversized upload
		// before it is sent, and frames the body without chunks.
		req.ContentLength = r.length
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "meshq")
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	switch {
	case r.bearer != "":
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	case s.creds != nil:
		// The sidecar takes both PATs and API keys in X-API-Key.
		req.Header.Set("X-API-Key", s.creds.Token)
	}
	client := s.client
	if r.client != nil {
		client = r.client
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, s.server+r.path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := decodeError(resp)
	if resp.StatusCode == http.StatusUnauthorized && r.bearer == "" && s.creds != nil {
		e.hint = s.reloginHint()
	}
	return nil, e
}

// reloginHint says why stored credentials may have stopped working.
func (s *session) reloginHint() string {
	c := s.creds
	if c.Kind == kindPAT && !c.Expires.IsZero() && time.Now().After(c.Expires) {
		return fmt.Sprintf("your personal access token expired at %s; run meshq login", c.Expires.Local().Format(time.RFC3339))
	}
	if c.Kind == kindAPIKey {
		return "the stored API key was refused; run meshq login --api-key with a valid one"
	}
	return "run meshq login to get a new token"
}

// getJSON GETs path and decodes the answer into v.
func (s *session) getJSON(ctx context.Context, path string, v any) error {
	resp, err := s.do(ctx, request{method: http.MethodGet, path: path})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeBody(resp, v)
}

func decodeBody(resp *http.Response, v any) error {
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", resp.Request.Method, resp.Request.URL, err)
	}
	return nil
}
