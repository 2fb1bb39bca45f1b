package conversation

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeOpenAI is an OpenAI-compatible chat-completions server, answering as
// the API reference describes: a chat.completion whose first choice's
// message carries tool_calls (function name and its arguments as a JSON
// string) or plain content. script maps the last user message to the call
// the "model" makes.
type fakeOpenAI struct {
	url    string
	mu     sync.Mutex
	offers [][]string // tool names offered, per request
	auth   []string
}

type scripted struct {
	tool, args, content string
	status              int
}

func startFakeOpenAI(t *testing.T, script map[string]scripted) *fakeOpenAI {
	t.Helper()
	f := &fakeOpenAI{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
			Tools []struct {
				Type     string `json:"type"`
				Function struct {
					Name       string         `json:"name"`
					Parameters map[string]any `json:"parameters"`
				} `json:"function"`
			} `json:"tools"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "gpt-test" {
			http.Error(w, `{"error":{"message":"bad request"}}`, 400)
			return
		}
		var names []string
		for _, tl := range req.Tools {
			if tl.Type != "function" || tl.Function.Parameters["type"] != "object" {
				http.Error(w, `{"error":{"message":"bad tool"}}`, 400)
				return
			}
			names = append(names, tl.Function.Name)
		}
		f.mu.Lock()
		f.offers = append(f.offers, names)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		last := req.Messages[len(req.Messages)-1].Content
		s, ok := script[last]
		if !ok {
			s = scripted{content: "I cannot help with that."}
		}
		if s.status != 0 {
			http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, s.status)
			return
		}
		msg := map[string]any{"role": "assistant", "content": nil}
		finish := "tool_calls"
		if s.tool != "" {
			msg["tool_calls"] = []map[string]any{{"id": "call_1", "type": "function",
				"function": map[string]any{"name": s.tool, "arguments": s.args}}}
		} else {
			msg["content"], finish = s.content, "stop"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": req.Model,
			"choices": []map[string]any{{"index": 0, "message": msg, "finish_reason": finish}}})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	f.url = "http://" + ln.Addr().String() + "/v1"
	return f
}

// TestLLMProvider: the model's tool call runs like the built-in
// interpreter's choice, with the same grants check: a helpdesk caller is
// offered only its queries, and a model that asks for a forbidden one
// anyway gets a 403 and no rows.
func TestLLMProvider(t *testing.T) {
	fake := startFakeOpenAI(t, map[string]scripted{
		"where is that laptop, 10.1.10.13?": {tool: "locate_endpoint_by_ip", args: `{"ip":"10.1.10.13"}`},
		"show me the firewall":              {tool: "firewall_rules_by_device", args: `{"hostname":"core1"}`},
		"drop everything":                   {tool: "drop_database", args: `{}`},
		"bad args":                          {tool: "locate_endpoint_by_ip", args: `{"ip":"not-an-ip"}`},
		"overloaded":                        {status: 503},
	})
	url := serveWith(t, Options{LLM: &LLM{BaseURL: fake.url, APIKey: "sk-test", Model: "gpt-test"}})
	helpdesk := "locate_*,devices_*"

	a := ask(t, url, "hd", helpdesk, "", "where is that laptop, 10.1.10.13?")
	if a.status != 200 || a.Query == nil || *a.Query != "locate_endpoint_by_ip" || len(a.Rows) != 1 || !strings.Contains(a.Answer, "acc2") {
		t.Errorf("model's locate = %d %+v, want one row on acc2", a.status, a.Reply)
	}
	offered := fake.offers[0]
	if !slices.Contains(offered, "locate_endpoint_by_ip") || slices.Contains(offered, "firewall_rules_by_device") {
		t.Errorf("helpdesk was offered %v; want locate_* and devices_* only", offered)
	}
	for _, name := range offered {
		if !strings.HasPrefix(name, "locate_") && !strings.HasPrefix(name, "devices_") {
			t.Errorf("helpdesk was offered %s", name)
		}
	}
	if fake.auth[0] != "Bearer sk-test" {
		t.Errorf("Authorization = %q, want the LLM_API_KEY as a bearer token", fake.auth[0])
	}

	a = ask(t, url, "hd", helpdesk, "", "show me the firewall")
	if a.status != 403 || a.Error.Code != "forbidden" || !strings.Contains(a.Error.Message, "firewall_rules_by_device") || a.Rows != nil {
		t.Errorf("model asking for a forbidden query = %d %+v, want 403 and no rows", a.status, a.Error)
	}
	a = ask(t, url, "admin", "*", "", "show me the firewall")
	if a.status != 200 || a.Query == nil || *a.Query != "firewall_rules_by_device" {
		t.Errorf("admin through the model = %d %+v, want firewall_rules_by_device", a.status, a.Reply)
	}
	a = ask(t, url, "admin", "*", "", "drop everything")
	if a.status != 200 || a.Query != nil || !strings.Contains(a.Answer, `"drop_database", which is not a query`) {
		t.Errorf("model inventing a tool = %d %+v, want nothing run", a.status, a.Reply)
	}
	a = ask(t, url, "admin", "*", "", "bad args")
	if a.status != 200 || a.Query == nil || len(a.Rows) != 0 || !strings.Contains(a.Answer, "ip") {
		t.Errorf("model's bad arguments = %d %+v, want the query's own complaint", a.status, a.Reply)
	}
	a = ask(t, url, "admin", "*", "", "hello")
	if a.status != 200 || a.Query != nil || a.Answer != "I cannot help with that." {
		t.Errorf("model answering in words = %d %+v, want its words", a.status, a.Reply)
	}
	a = ask(t, url, "admin", "*", "", "overloaded")
	if a.status != 502 || a.Error.Code != "bad_gateway" || !strings.Contains(a.Error.Message, "503") {
		t.Errorf("provider down = %d %+v, want 502 bad_gateway naming its 503", a.status, a.Error)
	}
}
