package httpx

import (
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// ParamError is a query parameter the caller got wrong; its message names
// the parameter.
type ParamError struct{ Msg string }

func (e *ParamError) Error() string { return e.Msg }

// Since reads the query parameter "since": an RFC 3339 time, or a
// duration ago from now (5m). Absent is the zero time.
func Since(q *fasthttp.Args, now time.Time) (time.Time, error) {
	v := string(q.Peek("since"))
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.Time{}, &ParamError{"parameter since: not an RFC 3339 time or a duration such as 5m"}
}

// Limit reads the query parameter "limit", an integer from 1 to max; def
// when absent.
func Limit(q *fasthttp.Args, def, max int) (int, error) {
	v := string(q.Peek("limit"))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, &ParamError{fmt.Sprintf("parameter limit: an integer from 1 to %d", max)}
	}
	return n, nil
}
