package fakes

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/tidwall/gjson"
)

// HEC is a fake Splunk HTTP Event Collector (Splunk docs: "Format events
// for HTTP Event Collector", "HTTP Event Collector indexer
// acknowledgment", and the HEC status-code table). Events are JSON objects
// with a non-blank "event", concatenated in the body; the token comes as
// "Authorization: Splunk <token>"; with acknowledgement on, a request needs
// X-Splunk-Request-Channel, the answer carries an ackId, and events count as
// indexed only once the ack endpoint says so.
type HEC struct {
	*server
	Faults
	Received *Received
	Token    string
	Ack      bool
	// MaxBody is the collector's max_content_length: larger requests get
	// 413. NewHEC sets 1,000,000 bytes, the limit the shipper keeps to.
	MaxBody int64

	mu      sync.Mutex
	nextAck map[string]int64
	pending map[string]map[int64][]hecEvent // channel → ackId → events
	loseAck func(ackID int64) bool
	lost    int
	polls   int
	events  int
}

type hecEvent struct {
	id  string
	raw []byte
}

// NewHEC starts the fake.
func NewHEC(token string, ack bool) (*HEC, error) {
	h := &HEC{Received: newReceived(true), Token: token, Ack: ack, MaxBody: 1_000_000, nextAck: map[string]int64{}, pending: map[string]map[int64][]hecEvent{}}
	s, err := newServer(http.HandlerFunc(h.serve))
	if err != nil {
		return nil, err
	}
	h.server = s
	return h, nil
}

// SetLoseAck makes the indexer lose the events of the requests for which
// f returns true: their ack never turns true and they are never indexed.
func (h *HEC) SetLoseAck(f func(ackID int64) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.loseAck = f
}

// Lost is how many requests' events the indexer lost.
func (h *HEC) Lost() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

func hecReply(w http.ResponseWriter, status int, text string, code int, extra string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"text":`+strconv.Quote(text)+`,"code":`+strconv.Itoa(code)+extra+"}")
}

func (h *HEC) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimRight(r.URL.Path, "/")
	if r.Method != http.MethodPost {
		hecReply(w, http.StatusMethodNotAllowed, "Method not allowed", 0, "")
		return
	}
	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		hecReply(w, http.StatusUnauthorized, "Token is required", 2, "")
		return
	case !strings.HasPrefix(auth, "Splunk "):
		hecReply(w, http.StatusUnauthorized, "Invalid authorization", 3, "")
		return
	case strings.TrimPrefix(auth, "Splunk ") != h.Token:
		hecReply(w, http.StatusForbidden, "Invalid token", 4, "")
		return
	}
	channel := r.Header.Get("X-Splunk-Request-Channel")
	if channel == "" {
		channel = r.URL.Query().Get("channel")
	}
	switch path {
	case "/services/collector/ack":
		h.serveAck(w, r, channel)
		return
	case "/services/collector/event", "/services/collector", "/services/collector/event/1.0":
	default:
		hecReply(w, http.StatusNotFound, "The requested URL was not found on this server.", 404, "")
		return
	}
	_, status, retryAfter, hang := h.next()
	if hang {
		h.hang(r)
		return
	}
	if status != 0 {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		text, code := "Server is busy", 9
		if status == http.StatusInternalServerError {
			text, code = "Internal server error", 8
		}
		hecReply(w, status, text, code, "")
		return
	}
	if h.Ack && channel == "" {
		hecReply(w, http.StatusBadRequest, "Data channel is missing", 10, "")
		return
	}
	body, err := readBody(r, h.MaxBody)
	if errors.Is(err, errTooLarge) {
		hecReply(w, http.StatusRequestEntityTooLarge, "Content too large", 413, "")
		return
	}
	if err != nil {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var events []hecEvent
	for n := 0; ; n++ {
		var ev struct {
			Event json.RawMessage `json:"event"`
		}
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			if n == 0 {
				hecReply(w, http.StatusBadRequest, "No data", 5, "")
				return
			}
			break
		}
		if err != nil {
			hecReply(w, http.StatusBadRequest, "Invalid data format", 6, `,"invalid-event-number":`+strconv.Itoa(n))
			return
		}
		if ev.Event == nil {
			hecReply(w, http.StatusBadRequest, "Event field is required", 12, `,"invalid-event-number":`+strconv.Itoa(n))
			return
		}
		if t := bytes.TrimSpace(ev.Event); string(t) == `""` || string(t) == "null" {
			hecReply(w, http.StatusBadRequest, "Event field cannot be blank", 13, `,"invalid-event-number":`+strconv.Itoa(n))
			return
		}
		events = append(events, hecEvent{id: gjson.GetBytes(ev.Event, "id").String(), raw: append([]byte(nil), ev.Event...)})
	}
	h.mu.Lock()
	h.events += len(events)
	if !h.Ack {
		h.mu.Unlock()
		for _, ev := range events {
			h.Received.add(ev.id, ev.raw)
		}
		hecReply(w, http.StatusOK, "Success", 0, "")
		return
	}
	id := h.nextAck[channel]
	h.nextAck[channel] = id + 1
	if h.loseAck != nil && h.loseAck(id) {
		h.lost++
	} else {
		if h.pending[channel] == nil {
			h.pending[channel] = map[int64][]hecEvent{}
		}
		h.pending[channel][id] = events
	}
	h.mu.Unlock()
	hecReply(w, http.StatusOK, "Success", 0, `,"ackId":`+strconv.FormatInt(id, 10))
}

// serveAck answers an ack query. Polling an ack indexes its events (the
// indexer commits them) and reports true; lost acks stay false forever.
func (h *HEC) serveAck(w http.ResponseWriter, r *http.Request, channel string) {
	if !h.Ack {
		hecReply(w, http.StatusBadRequest, "ACK is disabled", 14, "")
		return
	}
	if channel == "" {
		hecReply(w, http.StatusBadRequest, "Data channel is missing", 10, "")
		return
	}
	var q struct {
		Acks []int64 `json:"acks"`
	}
	body, err := readBody(r, 1<<20)
	if err != nil || json.Unmarshal(body, &q) != nil {
		hecReply(w, http.StatusBadRequest, "Invalid data format", 6, "")
		return
	}
	h.mu.Lock()
	h.polls++
	res := map[string]bool{}
	var commit [][]hecEvent
	for _, id := range q.Acks {
		evs, ok := h.pending[channel][id]
		res[strconv.FormatInt(id, 10)] = ok
		if ok {
			commit = append(commit, evs)
			delete(h.pending[channel], id)
		}
	}
	h.mu.Unlock()
	for _, evs := range commit {
		for _, ev := range evs {
			h.Received.add(ev.id, ev.raw)
		}
	}
	// Splunk answers true only once; a later query for the same id is
	// false. Keep the committed ones true for this answer.
	b, _ := json.Marshal(map[string]any{"acks": res})
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
