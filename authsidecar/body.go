package main

import (
	"errors"
	"io"
	"strconv"

	"github.com/meshoptixiq/mesh/common/audit"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/rbac"
	"github.com/meshoptixiq/mesh/common/apierror"
	"github.com/meshoptixiq/mesh/common/identity"
)

// auditBodyBytes is the largest query-execution body kept for the audit
// record's params and SOAR; a larger one is forwarded but not kept.
const auditBodyBytes = 64 << 10

// errBodyTooLarge: the body passed its permission's limit while streaming.
var errBodyTooLarge = errors.New("request body too large")

// bodyLimit is the largest body the request's permission may send and the
// variable that sets it: an ingest of facts may be as large as the
// apiserver accepts, everything else is small.
func (s *sidecar) bodyLimit(p rbac.Permission) (int64, string) {
	if p.Name == rbac.PermGraphIngest {
		return s.cfg.MaxIngestBodyBytes, "MAX_INGEST_BODY_BYTES"
	}
	return s.cfg.MaxBodyBytes, "MAX_BODY_BYTES"
}

// admitBody refuses, before any of it is read, a body whose declared
// length is over the limit. A chunked body is checked as it streams.
func (s *sidecar) admitBody(ctx *fasthttp.RequestCtx, r *reqState) bool {
	limit, _ := s.bodyLimit(r.perm)
	if int64(ctx.Request.Header.ContentLength()) > limit {
		s.bodyError(ctx, r, errBodyTooLarge)
		return false
	}
	return true
}

// streamBody hands the client's body to the upstream request as a stream
// that enforces the limit (and keeps the start of a query's body for the
// audit); nil when the request has no body.
func (s *sidecar) streamBody(ctx *fasthttp.RequestCtx, r *reqState) *requestBody {
	src := ctx.RequestBodyStream()
	length := ctx.Request.Header.ContentLength() // -1: chunked
	if src == nil || length == 0 {
		return nil
	}
	limit, _ := s.bodyLimit(r.perm)
	b := &requestBody{src: src, limit: limit, length: int64(length)}
	if r.perm.Query != "" && (s.audit != nil || s.soar != nil) {
		b.captureMax = auditBodyBytes
	}
	ctx.Request.SetBodyStream(b, length)
	return b
}

// readBody reads the whole body of a request the sidecar answers itself,
// within its limit.
func (s *sidecar) readBody(ctx *fasthttp.RequestCtx, r *reqState) ([]byte, error) {
	src := ctx.RequestBodyStream()
	if src == nil {
		return nil, nil
	}
	limit, _ := s.bodyLimit(r.perm)
	b := &requestBody{src: src, limit: limit, length: int64(ctx.Request.Header.ContentLength())}
	out, _ := io.ReadAll(b)
	return out, b.err
}

// requestBody is the client's body on its way to the upstream: it stops
// at the limit and remembers why reading from the client failed, so that
// the failure is answered as the client's (413, 408, 400), not as a 502.
type requestBody struct {
	src    io.Reader
	limit  int64
	length int64 // declared; -1: chunked
	read   int64
	// err is the first failure reading from the client (nil at EOF).
	err error

	captureMax int
	capture    []byte
	overflow   bool // more than captureMax bytes: nothing kept
}

func (b *requestBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	b.read += int64(n)
	if b.read > b.limit {
		b.err = errBodyTooLarge
		return 0, b.err
	}
	if b.captureMax > 0 && !b.overflow {
		if len(b.capture)+n > b.captureMax {
			b.overflow, b.capture = true, nil
		} else {
			b.capture = append(b.capture, p[:n]...)
		}
	}
	if err == io.EOF && b.length >= 0 && b.read < b.length {
		// fasthttp ends a fixed-length stream at EOF even when the
		// client left before sending all of it: that is no body.
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// captured is the whole body when it was kept, else nil.
func (b *requestBody) captured() []byte {
	if b.overflow || b.err != nil || len(b.capture) == 0 {
		return nil
	}
	return b.capture
}

// bodyError answers a request whose body could not be taken: 413 over the
// limit (naming the variable to raise), 408 too slow, 400 malformed. The
// connection is closed: the rest of the body is not read.
func (s *sidecar) bodyError(ctx *fasthttp.RequestCtx, r *reqState, err error) {
	status, code, msg := fasthttp.StatusBadRequest, apierror.BadRequest, "malformed request body"
	switch {
	case errors.Is(err, errBodyTooLarge):
		limit, variable := s.bodyLimit(r.perm)
		status, code, msg = fasthttp.StatusRequestEntityTooLarge, apierror.TooLarge,
			"request body larger than "+strconv.FormatInt(limit, 10)+" bytes; raise "+variable+" to accept it"
	case errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err):
		status, code, msg = fasthttp.StatusRequestTimeout, apierror.Timeout,
			"request body not received within "+s.cfg.ClientReadTimeout.String()+"; raise CLIENT_READ_TIMEOUT for slower clients"
	}
	s.log.Debug("request body refused", "request_id", r.id, "status", status, "err", err)
	r.reason, r.readFailed, r.outcome = msg, true, audit.OutcomeError
	ctx.Response.Reset()
	ctx.Response.Header.Set(identity.HeaderRequestID, r.id)
	ctx.SetConnectionClose()
	apierror.Write(ctx, status, code, msg)
}
