package fakes

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// Webhook is a receiver for the shipper's webhook sink: a POSTed JSON array
// of records, a bearer token, and (with a secret) the X-Audit-Signature
// header "t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>", checked in
// constant time and within a five-minute window.
type Webhook struct {
	*server
	Faults
	Received *Received
	Token    string
	Secret   string

	mu       sync.Mutex
	badSig   int
	batchIDs map[string]int
}

// NewWebhook starts the receiver.
func NewWebhook(token, secret string) (*Webhook, error) {
	h := &Webhook{Received: newReceived(true), Token: token, Secret: secret, batchIDs: map[string]int{}}
	s, err := newServer(http.HandlerFunc(h.serve))
	if err != nil {
		return nil, err
	}
	h.server = s
	return h, nil
}

// BadSignatures is how many requests failed the signature check.
func (h *Webhook) BadSignatures() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.badSig
}

// VerifySignature checks a signature header for body.
func VerifySignature(secret, header string, body []byte, now time.Time) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(n, 0)).Abs() > 5*time.Minute {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func (h *Webhook) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.Token != "" && r.Header.Get("Authorization") != "Bearer "+h.Token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
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
		http.Error(w, "injected fault", status)
		return
	}
	body, err := readBody(r, 32<<20)
	if err == errTooLarge {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		return
	}
	if h.Secret != "" && !VerifySignature(h.Secret, r.Header.Get("X-Audit-Signature"), body, time.Now()) {
		h.mu.Lock()
		h.badSig++
		h.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(body, &recs); err != nil {
		http.Error(w, "body is not a JSON array", http.StatusBadRequest)
		return
	}
	for _, rec := range recs {
		h.Received.add(gjson.GetBytes(rec, "id").String(), rec)
	}
	h.mu.Lock()
	h.batchIDs[r.Header.Get("X-Audit-Batch-Id")]++
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
