package httpx

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRequestIDs(t *testing.T) {
	g := NewRequestIDs()
	a, b := g.New(), g.New()
	if a != g.prefix+"1" || b != g.prefix+"2" || len(g.prefix) != 13 {
		t.Errorf("ids %q, %q: want the 12-digit process prefix, a dash and the counter in base 36", a, b)
	}
	g.n.Store(math.MaxUint64 - 1)
	if got, want := g.New(), g.prefix+strconv.FormatUint(math.MaxUint64, 36); got != want {
		t.Errorf("the last id = %q, want %q", got, want)
	}
	for in, keep := range map[string]bool{"req-42": true, "a.b:c_d": true, "": false, "has space": false,
		strings.Repeat("x", 129): false, "new\nline": false, "<script>": false} {
		if got := g.FromOrNew([]byte(in)); (got == in) != keep {
			t.Errorf("FromOrNew(%q) = %q, keep = %v", in, got, keep)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestClassifyReadError(t *testing.T) {
	for _, c := range []struct {
		err    error
		want   ReadFailure
		status int
	}{
		{fasthttp.ErrBodyTooLarge, BodyTooLarge, 413},
		{fmt.Errorf("reading body: %w", fasthttp.ErrBodyTooLarge), BodyTooLarge, 413},
		{fmt.Errorf("reading headers: %w", &fasthttp.ErrSmallBuffer{}), HeadersTooLarge, 431},
		{timeoutErr{}, ReadTimeout, 408},
		{fasthttp.ErrTimeout, ReadTimeout, 408},
		// A message that merely mentions a limit is not one.
		{errors.New("header value too big for the small read buffer"), Malformed, 400},
	} {
		got := ClassifyReadError(c.err)
		if got != c.want || got.Status() != c.status {
			t.Errorf("ClassifyReadError(%v) = %v (%d), want %v (%d)", c.err, got, got.Status(), c.want, c.status)
		}
	}
}
