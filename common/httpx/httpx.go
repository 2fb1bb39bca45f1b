// Package httpx is the HTTP plumbing the daemons share on fasthttp: request
// ids, JSON answers, how a request that could not be read is classified,
// the since/limit query parameters of the listing endpoints, and fasthttp's
// own log lines. Error codes are common/apierror's.
package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/common/apierror"
)

// RequestIDs makes request ids: a random per-process prefix and a counter,
// unique across pods without a random read per request.
type RequestIDs struct {
	prefix string
	n      atomic.Uint64
}

// NewRequestIDs starts a generator with a fresh prefix.
func NewRequestIDs() *RequestIDs {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &RequestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

// New returns the next id.
func (g *RequestIDs) New() string {
	var b [32]byte // one allocation, the string: prefix (13) + counter (≤ 13)
	return string(strconv.AppendUint(append(b[:0], g.prefix...), g.n.Add(1), 36))
}

// FromOrNew keeps a caller's id when it is short and plain, so the caller
// can correlate; anything else (empty, long, other characters) is replaced.
func (g *RequestIDs) FromOrNew(v []byte) string {
	if len(v) == 0 || len(v) > 128 {
		return g.New()
	}
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return g.New()
		}
	}
	return string(v)
}

// WriteJSON answers status with v as JSON.
func WriteJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		apierror.Write(ctx, fasthttp.StatusInternalServerError, apierror.Internal, "encoding the answer failed")
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// ReadFailure is why fasthttp could not read a request.
type ReadFailure int

// The read failures, each with its status and error code.
const (
	Malformed       ReadFailure = iota // 400
	BodyTooLarge                       // 413
	HeadersTooLarge                    // 431
	ReadTimeout                        // 408
)

// ClassifyReadError tells what a fasthttp read error (Server.ErrorHandler's
// argument) means, by its type.
func ClassifyReadError(err error) ReadFailure {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return BodyTooLarge
	case errors.As(err, &small):
		return HeadersTooLarge
	case errors.Is(err, fasthttp.ErrTimeout), errors.As(err, &ne) && ne.Timeout():
		return ReadTimeout
	}
	return Malformed
}

// Status is the HTTP status that answers f.
func (f ReadFailure) Status() int {
	switch f {
	case BodyTooLarge:
		return fasthttp.StatusRequestEntityTooLarge
	case HeadersTooLarge:
		return fasthttp.StatusRequestHeaderFieldsTooLarge
	case ReadTimeout:
		return fasthttp.StatusRequestTimeout
	}
	return fasthttp.StatusBadRequest
}

// Code is f's apierror code.
func (f ReadFailure) Code() string {
	switch f {
	case BodyTooLarge:
		return apierror.TooLarge
	case ReadTimeout:
		return apierror.Timeout
	}
	return apierror.BadRequest
}

// Logger sends fasthttp's own messages (connection errors that were
// already answered, such as an oversized body) to the debug log.
type Logger struct{ Log *slog.Logger }

// Printf implements fasthttp.Logger.
func (l Logger) Printf(format string, args ...any) { l.Log.Debug(fmt.Sprintf(format, args...)) }

// ReadOnly reports whether the request is a GET or HEAD; otherwise it
// answers 405 with Allow (the probes and metrics endpoints take nothing).
func ReadOnly(ctx *fasthttp.RequestCtx) bool {
	if ctx.IsGet() || ctx.IsHead() {
		return true
	}
	ctx.Response.Header.Set("Allow", "GET, HEAD")
	apierror.Write(ctx, fasthttp.StatusMethodNotAllowed, apierror.MethodNotAllowed, "use GET or HEAD")
	return false
}
