package conversation

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/netbox"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/graph/graphtest"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve starts the real HTTP API over the campus with every route's
// handler and the conversation keeping sessions in rc (nil: memory).
func serve(t *testing.T, rc *redis.Client) string {
	t.Helper()
	return serveWith(t, Options{Redis: rc, TTL: time.Hour})
}

func serveWith(t *testing.T, opt Options) string {
	t.Helper()
	eng := engine.New(graphtest.NewMemStore(), graph.Options{RootRoles: graph.DefaultRootRoles()}, quiet())
	doc := facts.Document{Schema: facts.Schema, Devices: graphtest.Campus()}
	if err := facts.Normalize(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Ingest(context.Background(), engine.ModeReplace, doc.Devices); err != nil {
		t.Fatal(err)
	}
	reg := registry(t)
	handlers := telemetry.New(quiet(), telemetry.Options{}).Handlers()
	maps.Copy(handlers, chaos.New(eng, quiet(), chaos.Options{}).Handlers())
	nb, err := netbox.New(netbox.Config{}, eng, quiet()) // unconfigured: every route needs its handler
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(handlers, nb.Handlers())
	maps.Copy(handlers, New(reg, eng, quiet(), opt).Handlers())
	maps.Copy(handlers, spans.New(quiet(), spans.Options{}).Handlers())
	api, err := httpapi.New(httpapi.Options{Engine: eng, Registry: reg, Log: quiet(), Metrics: prometheus.NewRegistry(),
		MaxBodyBytes: 1 << 20, Handlers: handlers})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := lifecycle.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.Server()
	go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

type answer struct {
	status int
	Reply
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ask posts one message as user with grants ("" sends no grants header:
// a call that did not come through the sidecar).
func ask(t *testing.T, url, user, grants, session, msg string) answer {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"session_id": session, "message": msg})
	if session == "" {
		body, _ = json.Marshal(map[string]string{"message": msg})
	}
	req, _ := http.NewRequest("POST", url+"/ai/query/conversation", strings.NewReader(string(body)))
	req.Header.Set("X-Meshq-User", user)
	if grants != "" {
		req.Header.Set("X-Meshq-Grants", grants)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	a.status = resp.StatusCode
	return a
}

func conversationFollowUp(t *testing.T, url string) string {
	first := ask(t, url, "alice", "", "", "where is 10.1.10.13?")
	if first.status != 200 || first.Query == nil || *first.Query != "locate_endpoint_by_ip" || len(first.Rows) != 1 || first.SessionID == "" {
		t.Fatalf("first turn = %d %+v, want locate_endpoint_by_ip with one row and a session", first.status, first.Reply)
	}
	if !strings.Contains(first.Answer, "acc2") {
		t.Errorf("answer %q does not name the switch acc2", first.Answer)
	}
	next := ask(t, url, "alice", "", first.SessionID, "and what breaks if that switch fails?")
	if next.status != 200 || next.Query == nil || *next.Query != "blast_radius_from_device" || next.Parameters["hostname"] != "acc2" {
		t.Fatalf("follow-up = %d %+v, want blast_radius_from_device on acc2", next.status, next.Reply)
	}
	if next.SessionID != first.SessionID || len(next.Columns) == 0 {
		t.Errorf("follow-up session %q columns %v, want the same session and the query's columns", next.SessionID, next.Columns)
	}
	lost := ask(t, url, "alice", "", first.SessionID, "what is the meaning of life")
	if lost.status != 200 || lost.Query != nil || len(lost.Suggestions) == 0 || !strings.Contains(lost.Answer, "did not understand") {
		t.Errorf("gibberish = %d %+v, want a plain 'did not understand' with suggestions", lost.status, lost.Reply)
	}
	return first.SessionID
}

// TestConversationWithoutRedis: a follow-up resolves "that switch" from
// the previous answer; the session is the user's own.
func TestConversationWithoutRedis(t *testing.T) {
	url := serve(t, nil)
	id := conversationFollowUp(t, url)
	if a := ask(t, url, "mallory", "", id, "where is 10.1.10.11?"); a.status != 404 || !strings.HasPrefix(a.Error.Message, "session_id:") {
		t.Errorf("another user's session = %d %+v, want 404 naming session_id", a.status, a.Error)
	}
	for _, tc := range []struct{ body, msg string }{
		{`{"message":""}`, "message: is empty"},
		{`{"msg":"hi"}`, "body:"},
		{`{"message":"hi","session_id":"../x"}`, "session_id:"},
	} {
		resp, err := http.Post(url+"/ai/query/conversation", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var a answer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.HasPrefix(a.Error.Message, tc.msg) {
			t.Errorf("%s = %d %q, want 400 starting %q", tc.body, resp.StatusCode, a.Error.Message, tc.msg)
		}
	}
}

// TestConversationGrants: the caller's grants (as the sidecar forwards
// them) bound what a question may run: a helpdesk role that may locate
// endpoints never gets firewall rules by asking.
func TestConversationGrants(t *testing.T) {
	url := serve(t, nil)
	helpdesk := "locate_*, devices_*"
	if a := ask(t, url, "hd", helpdesk, "", "where is 10.1.10.11?"); a.status != 200 || a.Query == nil || *a.Query != "locate_endpoint_by_ip" {
		t.Errorf("helpdesk locating = %d %+v, want an answer", a.status, a.Reply)
	}
	for _, msg := range []string{"firewall rules on core1", "can 10.1.10.11 reach 10.0.0.10 on tcp/443?", "set rack=A1 on core1"} {
		a := ask(t, url, "hd", helpdesk, "", msg)
		if a.status != 403 || a.Error.Code != "forbidden" || !strings.Contains(a.Error.Message, "not granted query") || a.Rows != nil {
			t.Errorf("helpdesk %q = %d %+v, want 403 forbidden and no rows", msg, a.status, a.Error)
		}
	}
	if a := ask(t, url, "admin", "*", "", "firewall rules on core1"); a.status != 200 || a.Query == nil || *a.Query != "firewall_rules_by_device" {
		t.Errorf("admin = %d %+v %+v, want firewall_rules_by_device", a.status, a.Reply, a.Error)
	}
}

// TestConversationSharedThroughRedis: two replicas share one session in
// Redis (meshq:conv:<id>, with its TTL), which keeps the last 10 turns.
func TestConversationSharedThroughRedis(t *testing.T) {
	rs := testenv.StartRedis(t)
	opt, err := redis.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { rc.Close() })
	a, b := serve(t, rc), serve(t, rc)
	first := ask(t, a, "alice", "", "", "where is 10.1.10.13?")
	next := ask(t, b, "alice", "", first.SessionID, "and what breaks if that switch fails?")
	if next.status != 200 || next.Parameters["hostname"] != "acc2" {
		t.Fatalf("follow-up on the other replica = %d %+v, want blast radius of acc2", next.status, next.Reply)
	}
	for i := range 10 {
		ask(t, []string{a, b}[i%2], "alice", "", first.SessionID, "summary stats")
	}
	raw, err := rc.Get(context.Background(), KeyPrefix+first.SessionID).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var s Session
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Turns) != MaxTurns || s.Turns[0].Message != "summary stats" {
		t.Errorf("session keeps %d turns, first %q; want the last %d", len(s.Turns), s.Turns[0].Message, MaxTurns)
	}
	if ttl := rc.TTL(context.Background(), KeyPrefix+first.SessionID).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("session TTL %v, want within 1h", ttl)
	}
}
