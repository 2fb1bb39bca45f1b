package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// decodeJSON reads one JSON document into v with an error that says what
// is wrong with the output: a CLI error message instead of JSON, a
// truncated document, a field of the wrong type.
func decodeJSON(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return errors.New("the output is empty")
	}
	if data[0] != '{' && data[0] != '[' {
		return fmt.Errorf("not JSON: the device answered %q", firstLine(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("truncated JSON: the output ends after %d bytes inside the document", len(data))
		case errors.As(err, &se):
			return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			return fmt.Errorf("unexpected JSON: field %s is a %s, want %s", te.Field, te.Value, kindName(te.Type))
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON: more than one document in the output")
	}
	return nil
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strings.TrimSpace(s)
}

// num is a JSON number that some software versions write as a string
// ("65001") and others as a number; asdot AS numbers ("1.10") are read as
// the 32-bit number they stand for.
type num struct {
	set bool
	v   int64
}

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		return nil
	}
	if hi, lo, ok := strings.Cut(s, "."); ok {
		h, err1 := strconv.ParseUint(hi, 10, 16)
		l, err2 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil || err2 != nil {
			// A float written by the device (12.0): take its integer part
			// only when it has none.
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f != float64(int64(f)) {
				return fmt.Errorf("not a whole number: %s", b)
			}
			n.v, n.set = int64(f), true
			return nil
		}
		n.v, n.set = int64(h<<16|l), true
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	n.v, n.set = v, true
	return nil
}

// ipLen joins an address and a prefix length into an interface address;
// the unspecified address (what EOS gives for "none") is not one.
func ipLen(addr string, bits int) (netip.Prefix, bool) {
	a, err := facts.ParseAddr(addr)
	if err != nil || a.IsUnspecified() {
		return netip.Prefix{}, false
	}
	p := netip.PrefixFrom(a, bits)
	if !p.IsValid() || bits == 0 {
		return netip.Prefix{}, false
	}
	return p, true
}

// lengthOf returns the prefix length of a subnet written "net/len".
func lengthOf(subnet string) (int, bool) {
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		return 0, false
	}
	return p.Bits(), true
}

// errWrongCommand says an output parsed but is not what the command gives
// (another command's output cached under this kind, or a device answering
// an older schema).
func errWrongCommand(command, field string) error {
	return fmt.Errorf("not the output of %q: it has no %q", command, field)
}

// kindName says what JSON a Go type reads, for messages.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Pointer:
		return kindName(t.Elem())
	}
	return "a number"
}
