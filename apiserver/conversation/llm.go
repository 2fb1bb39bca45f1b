package conversation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/query"
)

// LLM is an OpenAI-compatible chat-completions provider that picks the
// query: it is offered only the registry's queries the caller is granted,
// as tools, and its choice is still checked like any other.
type LLM struct {
	BaseURL string // e.g. https://api.openai.com/v1
	APIKey  string
	Model   string
	Client  *http.Client
}

type chatMessage struct {
	Role       string     `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"` // a JSON object, as a string
	} `json:"function"`
}

type tool struct {
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Parameters  map[string]any `json:"parameters"`
}

type chatRequest struct {
	Model      string        `json:"model"`
	Messages   []chatMessage `json:"messages"`
	Tools      []tool        `json:"tools,omitempty"`
	ToolChoice string        `json:"tool_choice,omitempty"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
}

const systemPrompt = "You answer questions about a network by calling exactly one of the given tools, each a named query " +
	"over the network graph. Call none when no tool fits, and say so briefly."

// jsonType is a parameter type as JSON Schema spells it.
func jsonType(t query.Type) string {
	switch t {
	case query.TypeInt:
		return "integer"
	case query.TypeBool:
		return "boolean"
	case query.TypeObject:
		return "object"
	}
	return "string"
}

// tools describes the queries allowed to the caller.
func tools(reg *query.Registry, allowed func(string) bool) []tool {
	var out []tool
	for _, d := range reg.All() {
		if !allowed(d.Permission()) {
			continue
		}
		props, required := map[string]any{}, []string{}
		for _, p := range d.Params {
			props[p.Name] = map[string]any{"type": jsonType(p.Type), "description": p.Description}
			if p.Required {
				required = append(required, p.Name)
			}
		}
		out = append(out, tool{Type: "function", Function: toolFunction{Name: d.Name, Description: d.Description,
			Parameters: map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}}})
	}
	return out
}

// ProviderError is a provider that failed or answered nonsense.
type ProviderError struct{ Msg string }

func (e *ProviderError) Error() string { return e.Msg }

// Interpret asks the model which query answers msg. The previous turns go
// along so that it can resolve follow-ups.
func (l *LLM) Interpret(ctx context.Context, reg *query.Registry, allowed func(string) bool, turns []Turn, msg string) (Understood, string, error) {
	msgs := []chatMessage{{Role: "system", Content: systemPrompt}}
	for _, t := range turns {
		msgs = append(msgs, chatMessage{Role: "user", Content: t.Message})
		if t.Query != "" {
			b, _ := json.Marshal(t.Params)
			msgs = append(msgs, chatMessage{Role: "assistant", Content: fmt.Sprintf("(ran %s with %s)", t.Query, b)})
		}
	}
	msgs = append(msgs, chatMessage{Role: "user", Content: msg})
	body, _ := json.Marshal(chatRequest{Model: l.Model, Messages: msgs, Tools: tools(reg, allowed), ToolChoice: "auto"})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(l.BaseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return Understood{}, "", &ProviderError{Msg: "LLM_BASE_URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	if l.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.APIKey)
	}
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Understood{}, "", &ProviderError{Msg: "the LLM provider is unreachable: " + err.Error()}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != 200 {
		return Understood{}, "", &ProviderError{Msg: fmt.Sprintf("the LLM provider answered %d: %.200s", resp.StatusCode, raw)}
	}
	var cr chatResponse
	if err := json.Unmarshal(raw, &cr); err != nil || len(cr.Choices) == 0 {
		return Understood{}, "", &ProviderError{Msg: "the LLM provider's answer has no choices"}
	}
	m := cr.Choices[0].Message
	if len(m.ToolCalls) == 0 {
		return Understood{Suggestions: defaultSuggestions}, m.Content, nil
	}
	call := m.ToolCalls[0].Function
	var params map[string]any
	if err := json.Unmarshal([]byte(call.Arguments), &params); err != nil {
		return Understood{}, "", &ProviderError{Msg: fmt.Sprintf("the model's arguments for %s are not a JSON object", call.Name)}
	}
	if params == nil {
		params = map[string]any{}
	}
	return Understood{Intent: &Intent{Query: call.Name, Params: params}}, "", nil
}
