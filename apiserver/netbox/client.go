package netbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/common/envconf"
)

// client speaks NetBox's REST API. It never logs, and its errors carry the
// method and path but never the token.
type client struct {
	base    *url.URL
	token   envconf.Secret
	http    *http.Client
	retries int
	backoff time.Duration
}

// pageSize is NetBox's default MAX_PAGE_SIZE: the fewest round trips a
// stock NetBox allows.
const pageSize = 1000

func newClient(cfg Config) (*client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("NETBOX_URL %q is not an http(s) URL", cfg.URL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !cfg.VerifyTLS {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // NETBOX_VERIFY_TLS=false asks for it
	}
	c := &client{base: u, token: cfg.Token, http: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		retries: 4, backoff: 500 * time.Millisecond}
	if cfg.RetryBackoff > 0 {
		c.backoff = cfg.RetryBackoff
	}
	return c, nil
}

// APIError is a NetBox answer other than success: for a 400, Fields holds
// its field errors ("__all__" for the model's own checks).
type APIError struct {
	Method, Path string
	Status       int
	Detail       string
	Fields       map[string][]string
}

func (e *APIError) Error() string {
	msg := e.Detail
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+": "+strings.Join(e.Fields[k], " "))
		}
		msg = strings.Join(parts, "; ")
	}
	return fmt.Sprintf("NetBox answered %d to %s %s: %s", e.Status, e.Method, e.Path, msg)
}

func parseAPIError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		e.Detail = strings.TrimSpace(string(body))
		if len(e.Detail) > 200 {
			e.Detail = e.Detail[:200] + "…"
		}
		return e
	}
	for k, v := range raw {
		var msgs []string
		var one string
		switch {
		case k == "detail" && json.Unmarshal(v, &one) == nil:
			e.Detail = one
		case json.Unmarshal(v, &msgs) == nil:
			if e.Fields == nil {
				e.Fields = map[string][]string{}
			}
			e.Fields[k] = msgs
		case json.Unmarshal(v, &one) == nil:
			if e.Fields == nil {
				e.Fields = map[string][]string{}
			}
			e.Fields[k] = []string{one}
		}
	}
	return e
}

func retryable(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }

// do sends one request, retrying 429 and 5xx with exponential backoff (or
// the Retry-After NetBox's proxy gives), and decodes a 2xx answer into out.
func (c *client) do(ctx context.Context, method, pathAndQuery string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	path, _, _ := strings.Cut(pathAndQuery, "?")
	wait := c.backoff
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, c.base.String()+pathAndQuery, bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Token "+c.token.Reveal())
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			// The URL error names the URL, which holds no token.
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
		}
		if resp.StatusCode/100 == 2 {
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("%s %s: the answer is not the JSON expected: %w", method, path, err)
			}
			return nil
		}
		if !retryable(resp.StatusCode) || attempt >= c.retries {
			return parseAPIError(method, path, resp.StatusCode, data)
		}
		delay := wait
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			delay = min(time.Duration(s)*time.Second, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		wait *= 2
	}
}

type page[T any] struct {
	Count   int     `json:"count"`
	Next    *string `json:"next"`
	Results []T     `json:"results"`
}

// list reads every page of a list, following next. NetBox writes next as
// an absolute URL with the host it believes it has; only its path and
// query are used, against NETBOX_URL's scheme and host, so a NetBox behind
// a proxy that rewrites the host still works.
func list[T any](ctx context.Context, c *client, path string, query url.Values) ([]T, error) {
	if query == nil {
		query = url.Values{}
	}
	query.Set("limit", strconv.Itoa(pageSize))
	next := path + "?" + query.Encode()
	var all []T
	for pages := 0; next != ""; pages++ {
		if pages > 100000 {
			return nil, errors.New("NetBox's pagination does not end")
		}
		var p page[T]
		if err := c.do(ctx, http.MethodGet, next, nil, &p); err != nil {
			return nil, err
		}
		all = append(all, p.Results...)
		next = ""
		if p.Next != nil && *p.Next != "" {
			u, err := url.Parse(*p.Next)
			if err != nil {
				return nil, fmt.Errorf("GET %s: next %q is not a URL", path, *p.Next)
			}
			next = strings.TrimPrefix(u.RequestURI(), c.base.Path)
		}
	}
	return all, nil
}
