package conversation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/jsonstore"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/httpx"
	"github.com/meshoptixiq/mesh/common/identity"
	"github.com/meshoptixiq/mesh/common/routes"
)

// Defaults.
const (
	DefaultTTL = time.Hour
	// MaxTurns is how many turns a session keeps.
	MaxTurns = 10
	// MaxMessage bounds one message.
	MaxMessage = 2000
	// answerRows is how many rows the answer text spells out.
	answerRows = 3
)

// KeyPrefix is the Redis key of a session, followed by its id.
const KeyPrefix = "meshq:conv:"

// Engine gives the current graph and applies writes (the engine).
type Engine interface {
	Graph() *graph.Graph
	query.Writer
}

// Options configure a Service.
type Options struct {
	// Redis keeps sessions for every replica; nil keeps them in memory.
	Redis *redis.Client
	// TTL is how long an idle session is kept.
	TTL time.Duration
	// LLM, when set, picks the query instead of the built-in interpreter.
	LLM *LLM
}

// Turn is one exchange of a session.
type Turn struct {
	Message string         `json:"message"`
	Query   string         `json:"query,omitempty"`
	Params  map[string]any `json:"parameters,omitempty"`
}

// Session is what the store keeps.
type Session struct {
	ID      string  `json:"id"`
	User    string  `json:"user"`
	Turns   []Turn  `json:"turns"`
	Context Context `json:"context"`
}

// Service answers POST /ai/query/conversation.
type Service struct {
	reg   *query.Registry
	eng   Engine
	log   *slog.Logger
	store *jsonstore.Store[Session]
	llm   *LLM
}

// New returns a service over the registry's queries.
func New(reg *query.Registry, eng Engine, log *slog.Logger, opt Options) *Service {
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	s := &Service{reg: reg, eng: eng, log: log.With("component", "conversation"), llm: opt.LLM}
	s.store = jsonstore.New[Session](opt.Redis, KeyPrefix, opt.TTL)
	return s
}

// Handlers are the service's endpoints by operation id.
func (s *Service) Handlers() map[string]fasthttp.RequestHandler {
	return map[string]fasthttp.RequestHandler{"ai_conversation": s.handle}
}

type request struct {
	SessionID string `json:"session_id"`
	Message   string `json:"message"`
}

// Reply is the endpoint's answer.
type Reply struct {
	SessionID   string         `json:"session_id"`
	Query       *string        `json:"query"`
	Parameters  map[string]any `json:"parameters"`
	Columns     []string       `json:"columns"`
	Rows        [][]any        `json:"rows"`
	Answer      string         `json:"answer"`
	Suggestions []string       `json:"suggestions,omitempty"`
}

func (s *Service) handle(ctx *fasthttp.RequestCtx) {
	var req request
	dec := json.NewDecoder(strings.NewReader(string(ctx.PostBody())))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "body: want {\"session_id\"?: string, \"message\": string}: "+err.Error())
		return
	}
	req.Message = strings.TrimSpace(req.Message)
	switch {
	case req.Message == "":
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "message: is empty; ask a question")
		return
	case len(req.Message) > MaxMessage:
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, fmt.Sprintf("message: %d bytes, at most %d", len(req.Message), MaxMessage))
		return
	case req.SessionID != "" && !routes.ValidName(req.SessionID):
		apierror.Write(ctx, fasthttp.StatusBadRequest, apierror.BadRequest, "session_id: use the id an earlier answer gave")
		return
	}
	user := string(ctx.Request.Header.Peek(identity.HeaderUser))
	sess := &Session{User: user}
	if req.SessionID != "" {
		got, ok, err := s.store.Get(ctx, req.SessionID)
		if err != nil {
			s.log.Error("reading a session", "err", err)
			apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the session store is unavailable")
			return
		}
		// Another user's session is as unknown as an expired one.
		if !ok || got.User != user {
			apierror.Write(ctx, fasthttp.StatusNotFound, apierror.NotFound, fmt.Sprintf("session_id: no session %q (unknown, or expired); leave it out to start one", req.SessionID))
			return
		}
		sess = got
	} else {
		var id [16]byte
		_, _ = rand.Read(id[:])
		sess.ID = hex.EncodeToString(id[:])
	}
	grants, restricted := ctx.Request.Header.Peek(identity.HeaderGrants), ctx.Request.Header.Peek(identity.HeaderGrants) != nil
	allowed := func(name string) bool {
		return !restricted || Granted(identity.SplitGrants(string(grants)), name)
	}

	reply, status := s.answer(ctx, sess, req.Message, allowed)
	if status != fasthttp.StatusOK {
		return // the error is written
	}
	if err := s.store.Put(ctx, sess.ID, sess); err != nil {
		s.log.Error("storing a session", "err", err)
		apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the session store is unavailable")
		return
	}
	if reply.Query != nil {
		ctx.Response.Header.Set(identity.HeaderQueryName, *reply.Query)
	}
	httpx.WriteJSON(ctx, fasthttp.StatusOK, reply)
}

// answer interprets and runs one message, updating the session; a status
// other than 200 means the error is already written.
func (s *Service) answer(ctx *fasthttp.RequestCtx, sess *Session, msg string, allowed func(string) bool) (Reply, int) {
	g := s.eng.Graph()
	known := func(name string) bool { _, ok := s.reg.Lookup(name); return ok }
	reply := Reply{SessionID: sess.ID, Parameters: map[string]any{}, Columns: []string{}, Rows: [][]any{}}
	var u Understood
	modelText := ""
	if s.llm != nil {
		var err error
		if u, modelText, err = s.llm.Interpret(ctx, s.reg, allowed, sess.Turns, msg); err != nil {
			s.log.Warn("LLM provider failed", "err", err)
			apierror.Write(ctx, fasthttp.StatusBadGateway, apierror.BadGateway, err.Error())
			return reply, fasthttp.StatusBadGateway
		}
		if u.Intent != nil && !known(u.Intent.Query) {
			reply.Answer = fmt.Sprintf("The model asked for %q, which is not a query of this server; nothing was run.", u.Intent.Query)
			reply.Suggestions = defaultSuggestions
			return reply, fasthttp.StatusOK
		}
	} else {
		u = Interpret(g, msg, sess.Context, known)
	}
	turn := Turn{Message: msg}
	defer func() {
		sess.Turns = append(sess.Turns, turn)
		if len(sess.Turns) > MaxTurns {
			sess.Turns = sess.Turns[len(sess.Turns)-MaxTurns:]
		}
	}()
	switch {
	case u.Missing != "":
		reply.Answer = fmt.Sprintf("That sounds like %s, but it needs %s and I could not find one in your message or earlier in this conversation.", u.MatchedFor, u.Missing)
		reply.Suggestions = u.Suggestions
		return reply, fasthttp.StatusOK
	case u.Intent == nil && modelText != "":
		reply.Answer = modelText
		reply.Suggestions = u.Suggestions
		return reply, fasthttp.StatusOK
	case u.Intent == nil:
		reply.Answer = "I did not understand that. I answer questions about the network's devices, endpoints, paths, firewall rules, BGP, hygiene and blast radius; try one of the suggestions."
		reply.Suggestions = u.Suggestions
		return reply, fasthttp.StatusOK
	}
	d, _ := s.reg.Lookup(u.Intent.Query)
	// The same checks as POST /queries/{name}/execute behind the sidecar.
	if !allowed(d.Permission()) {
		apierror.Write(ctx, fasthttp.StatusForbidden, apierror.Forbidden, fmt.Sprintf("your role is not granted query %s, which this question needs", d.Name))
		return reply, fasthttp.StatusForbidden
	}
	if d.Tier != query.TierCommunity {
		apierror.Write(ctx, fasthttp.StatusForbidden, apierror.Forbidden, fmt.Sprintf("query %s needs the %s plan", d.Name, d.Tier))
		return reply, fasthttp.StatusForbidden
	}
	raw := map[string]query.RawValue{}
	for k, v := range u.Intent.Params {
		b, _ := json.Marshal(v)
		raw[k] = b
	}
	resp, err := s.reg.Execute(ctx, d, &query.Env{Graph: g, Writer: s.eng}, raw)
	name := d.Name
	reply.Query, reply.Parameters = &name, u.Intent.Params
	turn.Query, turn.Params = name, u.Intent.Params
	if err != nil {
		var qe *query.Error
		if !errors.As(err, &qe) || qe.Status >= 500 {
			s.log.Error("conversation query failed", "query", name, "err", err)
			apierror.Write(ctx, fasthttp.StatusServiceUnavailable, apierror.Unavailable, "the query "+name+" failed")
			return reply, fasthttp.StatusServiceUnavailable
		}
		// The caller's question named something the graph does not have:
		// say so as the answer, as a person would.
		reply.Answer = fmt.Sprintf("I ran %s %s, and it says: %s", name, describe(u.Intent.Params), qe.Message)
		return reply, fasthttp.StatusOK
	}
	reply.Columns, reply.Rows = resp.Columns, resp.Rows
	if reply.Rows == nil {
		reply.Rows = [][]any{}
	}
	s.remember(sess, u.Intent, resp)
	reply.Answer = summarize(name, u.Intent.Params, resp)
	return reply, fasthttp.StatusOK
}

// remember keeps the subjects of this turn for follow-ups: what it named,
// and what its first row found (the switch an address is behind).
func (s *Service) remember(sess *Session, in *Intent, resp *query.Response) {
	c := &sess.Context
	for k, v := range in.Params {
		str, _ := v.(string)
		switch k {
		case "hostname", "src_hostname":
			c.Hostname = str
		case "ip", "src_ip":
			c.IP = str
		case "mac":
			c.MAC = str
		case "subnet":
			c.Subnet = str
		case "vlan":
			c.VLAN, _ = v.(int)
		}
	}
	if len(resp.Rows) > 0 {
		for i, col := range resp.Columns {
			if col == "hostname" && i < len(resp.Rows[0]) {
				if h, ok := resp.Rows[0][i].(string); ok && h != "" {
					c.Hostname = h
				}
			}
		}
	}
}

func describe(p map[string]any) string {
	if len(p) == 0 {
		return ""
	}
	b, _ := json.Marshal(p)
	return "with " + string(b)
}

func summarize(name string, p map[string]any, resp *query.Response) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s: %d row", name, describe(p), resp.TotalRows)
	if resp.TotalRows != 1 {
		sb.WriteString("s")
	}
	if resp.Truncated {
		fmt.Fprintf(&sb, " (first %d shown)", len(resp.Rows))
	}
	for i, row := range resp.Rows {
		if i == answerRows {
			sb.WriteString("; …")
			break
		}
		sb.WriteString("; ")
		var parts []string
		for j, col := range resp.Columns {
			if j < len(row) && row[j] != nil && fmt.Sprint(row[j]) != "" {
				parts = append(parts, fmt.Sprintf("%s %v", col, row[j]))
			}
		}
		sb.WriteString(strings.Join(parts, ", "))
	}
	return strings.TrimSpace(strings.ReplaceAll(sb.String(), "  ", " "))
}

// Granted says whether any of the role's allow patterns (Python
// fnmatchcase globs, as the sidecar's policy writes them) matches name.
func Granted(patterns []string, name string) bool {
	for _, p := range patterns {
		if fnmatch(p, name) {
			return true
		}
	}
	return false
}

// fnmatch is Python's fnmatchcase: '*' any run, '?' one byte, '[seq]' and
// '[!seq]' a class with ranges; an unclosed '[' is a literal.
func fnmatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if fnmatch(p, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			p, s = p[1:], s[1:]
		case '[':
			j := 1
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++ // a ']' first is a member
			}
			k := strings.IndexByte(p[j:], ']')
			if k < 0 { // unclosed: a literal '['
				if s == "" || s[0] != '[' {
					return false
				}
				p, s = p[1:], s[1:]
				continue
			}
			if s == "" {
				return false
			}
			end := j + k
			class, neg := p[1:end], false
			if strings.HasPrefix(class, "!") {
				class, neg = class[1:], true
			}
			in := false
			for i := 0; i < len(class); i++ {
				if i+2 < len(class) && class[i+1] == '-' {
					in = in || (class[i] <= s[0] && s[0] <= class[i+2])
					i += 2
				} else if class[i] == s[0] {
					in = true
				}
			}
			if in == neg {
				return false
			}
			p, s = p[end+1:], s[1:]
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}
