// Package apierror writes the JSON error envelope every daemon answers with:
// {"error": {"code": "...", "message": "..."}}. Messages are safe for
// clients; causes belong in the log.
package apierror

import (
	"encoding/json"

	"github.com/valyala/fasthttp"
)

// Codes used across the mesh.
const (
	BadRequest       = "bad_request"
	Unauthorized     = "unauthorized"
	Forbidden        = "forbidden"
	NotFound         = "not_found"
	MethodNotAllowed = "method_not_allowed"
	Conflict         = "conflict"
	TooLarge         = "payload_too_large"
	RateLimited      = "rate_limited"
	Internal         = "internal"
	Unavailable      = "unavailable"
	BadGateway       = "bad_gateway"
	Timeout          = "gateway_timeout"
	// PlanRequired: the licence's plan does not include the feature; the
	// message names the plan that does.
	PlanRequired = "plan_required"
)

// Codes lists every code above, for the OpenAPI document's enum.
var Codes = []string{BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict,
	TooLarge, RateLimited, Internal, Unavailable, BadGateway, Timeout}

// Body is the error envelope.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is the inner error object. RequestID is set where one is known so a
// user can quote it to operators.
type Detail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

// Marshal renders the envelope.
func Marshal(code, message, requestID string) []byte {
	b, _ := json.Marshal(Body{Error: Detail{Code: code, Message: message, RequestID: requestID}})
	return b
}

// Write sets status, content type and the envelope on ctx.
func Write(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.ResetBody()
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(Marshal(code, message, string(ctx.Request.Header.Peek("X-Request-Id"))))
}
