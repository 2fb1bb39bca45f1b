package fakes

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Elastic is a fake Elasticsearch/OpenSearch _bulk endpoint (Elasticsearch
// reference, "Bulk API"): NDJSON action/document pairs, a body that must end
// with a newline, create failing with 409 on an existing _id, index
// overwriting, and a response listing every item's status in order.
type Elastic struct {
	*server
	Faults
	Received *Received
	// APIKey, when set, must arrive as "Authorization: ApiKey <key>".
	APIKey string
	// MaxBody makes larger requests fail with 413 (0: 100 MiB, the
	// default http.max_content_length).
	MaxBody int64

	mu        sync.Mutex
	itemFault func(id string, seen int) int
	seen      map[string]int
	indexed   map[string]bool // "index\x00id" of stored documents
	indices   map[string]int
	conflicts int
	items     int
}

// Conflicts is how many create actions hit an existing _id (a resend of a
// document already stored).
func (e *Elastic) Conflicts() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conflicts
}

// NewElastic starts the fake; keep stores every document for Check. Without
// keep (benchmarks) documents are validated and counted only, and create
// does not detect existing ids unless an item fault is set.
func NewElastic(keep bool) (*Elastic, error) {
	e := &Elastic{Received: newReceived(keep), seen: map[string]int{}, indexed: map[string]bool{}, indices: map[string]int{}}
	s, err := newServer(http.HandlerFunc(e.serve))
	if err != nil {
		return nil, err
	}
	e.server = s
	return e, nil
}

// SetItemFault injects per-item failures: f gets the document id and how
// many times it has been seen (1 the first time) and returns a status to
// answer for that item (0 processes it normally).
func (e *Elastic) SetItemFault(f func(id string, seen int) int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.itemFault = f
}

// Indices returns how many documents were stored per index name.
func (e *Elastic) Indices() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for k, v := range e.indices {
		out[k] = v
	}
	return out
}

func esError(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"root_cause": []any{map[string]string{"type": typ, "reason": reason}}, "type": typ, "reason": reason}, "status": status})
	w.Write(b)
}

func (e *Elastic) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		esError(w, http.StatusMethodNotAllowed, "method_not_allowed", "only POST and PUT are allowed for _bulk")
		return
	}
	path := strings.Trim(r.URL.Path, "/")
	defaultIndex := ""
	switch {
	case path == "_bulk":
	case strings.HasSuffix(path, "/_bulk") && !strings.Contains(strings.TrimSuffix(path, "/_bulk"), "/"):
		defaultIndex = strings.TrimSuffix(path, "/_bulk")
	default:
		esError(w, http.StatusNotFound, "index_not_found_exception", "no handler for "+r.URL.Path)
		return
	}
	if e.APIKey != "" && r.Header.Get("Authorization") != "ApiKey "+e.APIKey {
		esError(w, http.StatusUnauthorized, "security_exception", "missing or invalid authentication credentials for REST request")
		return
	}
	_, status, retryAfter, hang := e.next()
	if hang {
		e.hang(r)
		return
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		typ := "es_rejected_execution_exception"
		if status >= 500 {
			typ = "unavailable_shards_exception"
		}
		esError(w, status, typ, "injected fault")
		return
	}
	ct := r.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/json") {
		esError(w, http.StatusNotAcceptable, "media_type_header_exception", "Content-Type header ["+ct+"] is not supported")
		return
	}
	limit := e.MaxBody
	if limit <= 0 {
		limit = 100 << 20
	}
	body, err := readBody(r, limit)
	if err == errTooLarge {
		esError(w, http.StatusRequestEntityTooLarge, "content_too_long_exception", "request body is too large")
		return
	}
	if err != nil {
		return
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		esError(w, http.StatusBadRequest, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
		return
	}
	start := time.Now()
	out := make([]byte, 0, 64+len(body)/8)
	out = append(out, `{"took":0,"errors":false,"items":[`...)
	errorsAt := len(`{"took":0,"errors":`)
	anyErr := false
	first := true
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		action := body[:i]
		body = body[i+1:]
		if len(bytes.TrimSpace(action)) == 0 {
			continue
		}
		act := gjson.ParseBytes(action)
		var op string
		var meta gjson.Result
		act.ForEach(func(k, v gjson.Result) bool { op, meta = k.String(), v; return false })
		if !gjson.ValidBytes(action) || op == "" {
			esError(w, http.StatusBadRequest, "x_content_parse_exception", "Malformed action/metadata line")
			return
		}
		if op != "create" && op != "index" && op != "delete" && op != "update" {
			esError(w, http.StatusBadRequest, "illegal_argument_exception", "Malformed action/metadata line, expected one of [create, delete, index, update] but found ["+op+"]")
			return
		}
		var doc []byte
		if op != "delete" {
			j := bytes.IndexByte(body, '\n')
			if j < 0 {
				esError(w, http.StatusBadRequest, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
				return
			}
			doc, body = body[:j], body[j+1:]
		}
		index := meta.Get("_index").String()
		if index == "" {
			index = defaultIndex
		}
		id := meta.Get("_id").String()
		if !first {
			out = append(out, ',')
		}
		first = false
		itemStatus, errType := e.item(op, index, &id, doc)
		out = append(out, `{"`...)
		out = append(out, op...)
		out = append(out, `":{"_index":`...)
		out = strconv.AppendQuote(out, index)
		out = append(out, `,"_id":`...)
		out = strconv.AppendQuote(out, id)
		out = append(out, `,"status":`...)
		out = strconv.AppendInt(out, int64(itemStatus), 10)
		if errType != "" {
			anyErr = true
			out = append(out, `,"error":{"type":`...)
			out = strconv.AppendQuote(out, errType)
			out = append(out, `,"reason":"injected or detected item failure"}`...)
		} else {
			out = append(out, `,"_version":1,"result":"created"`...)
		}
		out = append(out, "}}"...)
	}
	out = append(out, "]}"...)
	if anyErr {
		out = append(out[:errorsAt], append([]byte("true"), out[errorsAt+len("false"):]...)...)
	}
	took := strconv.Itoa(int(time.Since(start).Milliseconds()))
	out = bytes.Replace(out, []byte(`"took":0`), []byte(`"took":`+took), 1)
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// item applies one action and returns its status and error type.
func (e *Elastic) item(op, index string, id *string, doc []byte) (int, string) {
	if index == "" {
		return http.StatusBadRequest, "action_request_validation_exception"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items++
	if *id == "" {
		*id = "auto-" + strconv.Itoa(e.items)
	}
	if !e.Received.keep && e.itemFault == nil {
		// Benchmark mode: documents are checked and counted, not stored,
		// so there is no _id bookkeeping (and no 409).
		if len(doc) == 0 || doc[0] != '{' || !gjson.ValidBytes(doc) {
			return http.StatusBadRequest, "document_parsing_exception"
		}
		e.indices[index]++
		e.Received.add(*id, doc)
		return http.StatusCreated, ""
	}
	e.seen[*id]++
	if e.itemFault != nil {
		if s := e.itemFault(*id, e.seen[*id]); s != 0 {
			return s, map[bool]string{true: "es_rejected_execution_exception", false: "mapper_parsing_exception"}[s == 429 || s >= 500]
		}
	}
	if op == "delete" || op == "update" {
		return http.StatusOK, ""
	}
	// Elasticsearch's parser refuses malformed UTF-8 ("Invalid UTF-8
	// start byte") as well as malformed JSON.
	if len(doc) == 0 || doc[0] != '{' || !gjson.ValidBytes(doc) || !utf8.Valid(doc) {
		return http.StatusBadRequest, "document_parsing_exception"
	}
	key := index + "\x00" + *id
	if op == "create" && e.indexed[key] {
		e.conflicts++
		return http.StatusConflict, "version_conflict_engine_exception"
	}
	e.indexed[key] = true
	e.indices[index]++
	e.Received.add(*id, doc)
	return http.StatusCreated, ""
}
