package httpapi_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readEvent reads one server-sent event (up to its blank line), skipping
// comments.
func readEvent(t *testing.T, br *bufio.Reader) map[string]string {
	t.Helper()
	ev := map[string]string{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v (event so far %v)", err, ev)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && len(ev) > 0:
			return ev
		case line == "", strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry: "):
		default:
			k, v, _ := strings.Cut(line, ": ")
			ev[k] = v
		}
	}
}

func TestEventStream(t *testing.T) {
	f := start(t, options{})
	open := func(lastID string) (*http.Response, *bufio.Reader) {
		req, _ := http.NewRequest("GET", f.url+"/events", nil)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET /events = %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return resp, bufio.NewReader(resp.Body)
	}
	_, br := open("")
	// The fixture ingested once: version 1, announced on connect.
	if ev := readEvent(t, br); ev["event"] != "graph" || ev["id"] != "1" || ev["data"] != `{"graph_version":1}` {
		t.Fatalf("first event = %v, want graph version 1", ev)
	}
	// A client that already saw version 1 hears nothing until version 2.
	_, br2 := open("1")
	got := make(chan map[string]string, 1)
	go func() { got <- readEvent(t, br2) }()
	select {
	case ev := <-got:
		t.Fatalf("resumed stream sent %v before the graph changed", ev)
	case <-time.After(300 * time.Millisecond):
	}
	if r := f.do(t, "POST", "/graph/ingest", `{"schema":"meshq.facts/v1","devices":[{"hostname":"edge9"}]}`); r.status != 200 {
		t.Fatalf("ingest = %d %s", r.status, r.body)
	}
	if ev := readEvent(t, br); ev["id"] != "2" {
		t.Errorf("event after the ingest = %v, want version 2", ev)
	}
	if ev := <-got; ev["id"] != "2" {
		t.Errorf("resumed stream's event = %v, want version 2", ev)
	}
}
