package query

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Type is a parameter's type.
type Type string

// Parameter types.
const (
	TypeString Type = "string"
	TypeInt    Type = "int"
	TypeBool   Type = "bool"
	TypeIP     Type = "ip"
	TypePrefix Type = "prefix"
	TypeMAC    Type = "mac"
	TypeObject Type = "object"
)

// expected says what a value of the type looks like, for error messages.
func (t Type) expected() string {
	switch t {
	case TypeInt:
		return "an integer"
	case TypeBool:
		return "true or false"
	case TypeIP:
		return "an IP address such as 10.1.2.3 or 2001:db8::1"
	case TypePrefix:
		return "an IP prefix such as 10.1.2.0/24"
	case TypeMAC:
		return "a MAC address such as aa:bb:cc:00:00:01"
	case TypeObject:
		return "a JSON object"
	}
	return "a string"
}

// Param is one typed parameter.
type Param struct {
	Name        string
	Type        Type
	Required    bool
	Default     any // typed as the parameter (int for TypeInt)
	Description string
	// Min and Max bound integers when Max > Min.
	Min, Max int
	// Enum restricts strings to these values when set.
	Enum []string
	// Example is a value for the OpenAPI document's examples (one that
	// answers against the test campus, graphtest.Campus); nil takes the
	// default or a value of the type.
	Example any
}

// MaxStringBytes bounds a string parameter (UTF-8 bytes): no hostname,
// address or search term comes near it, and it keeps a query from
// carrying megabytes into a substring scan.
const MaxStringBytes = 4096

// RawValue is one parameter as the client sent it (JSON).
type RawValue = json.RawMessage

// Args are validated, typed parameter values.
type Args struct {
	v map[string]any
}

// String returns a string parameter ("" when absent).
func (a Args) String(name string) string { s, _ := a.v[name].(string); return s }

// Int returns an integer parameter (0 when absent).
func (a Args) Int(name string) int { n, _ := a.v[name].(int); return n }

// Bool returns a boolean parameter.
func (a Args) Bool(name string) bool { b, _ := a.v[name].(bool); return b }

// Has reports whether the parameter was given or has a default.
func (a Args) Has(name string) bool { _, ok := a.v[name]; return ok }

// IP returns an ip parameter.
func (a Args) IP(name string) netip.Addr { ip, _ := a.v[name].(netip.Addr); return ip }

// Prefix returns a prefix parameter (masked).
func (a Args) Prefix(name string) netip.Prefix { p, _ := a.v[name].(netip.Prefix); return p }

// Object returns an object parameter.
func (a Args) Object(name string) map[string]any { o, _ := a.v[name].(map[string]any); return o }

// ArgsOf builds Args from already-typed values, for callers (tests,
// benchmarks) that skip JSON.
func ArgsOf(v map[string]any) Args { return Args{v: v} }

func parseArgs(d *Definition, raw map[string]RawValue) (Args, error) {
	params := d.AllParams()
	for name := range raw {
		if !slices.ContainsFunc(params, func(p Param) bool { return p.Name == name }) {
			names := make([]string, len(params))
			for i, p := range params {
				names[i] = p.Name
			}
			if len(names) == 0 {
				return Args{}, BadParam(name, "unknown parameter: %s takes no parameters", d.Name)
			}
			return Args{}, BadParam(name, "unknown parameter: %s takes %s", d.Name, strings.Join(names, ", "))
		}
	}
	args := Args{v: make(map[string]any, len(params))}
	for _, p := range params {
		r, ok := raw[p.Name]
		if ok && isNull(r) {
			// An explicit null is not "absent": a client that sends
			// "limit": null meant something, and it is not a limit.
			return Args{}, BadParam(p.Name, "expected %s, got null (leave the parameter out to omit it)", p.Type.expected())
		}
		if !ok {
			if p.Required {
				return Args{}, BadParam(p.Name, "required: %s", p.Type.expected())
			}
			if p.Default != nil {
				args.v[p.Name] = p.Default
			}
			continue
		}
		v, err := parseValue(p, r)
		if err != nil {
			return Args{}, err
		}
		args.v[p.Name] = v
	}
	return args, nil
}

func isNull(r RawValue) bool {
	return len(bytes.TrimSpace(r)) == 0 || string(bytes.TrimSpace(r)) == "null"
}

// parseValue decodes one raw value as p's type. Types are strict: "10" is
// a string, not an integer.
func parseValue(p Param, r RawValue) (any, error) {
	want := func() error {
		return BadParam(p.Name, "expected %s, got %s", p.Type.expected(), DescribeJSON(r))
	}
	switch p.Type {
	case TypeInt:
		var n json.Number
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] == '"' || json.Unmarshal(t, &n) != nil {
			return nil, want()
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || i < math.MinInt32 || i > math.MaxInt32 {
			return nil, want()
		}
		if p.Max > p.Min && (int(i) < p.Min || int(i) > p.Max) {
			return nil, BadParam(p.Name, "expected an integer from %d to %d, got %d", p.Min, p.Max, i)
		}
		return int(i), nil
	case TypeBool:
		var b bool
		if err := json.Unmarshal(r, &b); err != nil {
			return nil, want()
		}
		return b, nil
	case TypeObject:
		if t := bytes.TrimSpace(r); len(t) == 0 || t[0] != '{' {
			return nil, want()
		}
		var o map[string]any
		if err := json.Unmarshal(r, &o); err != nil {
			return nil, want()
		}
		return o, nil
	}
	s, ok := plainString(r)
	if !ok {
		if err := json.Unmarshal(r, &s); err != nil {
			return nil, want()
		}
	}
	if len(s) > MaxStringBytes {
		return nil, BadParam(p.Name, "longer than %d bytes", MaxStringBytes)
	}
	switch p.Type {
	case TypeIP:
		a, err := facts.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return nil, BadParam(p.Name, "expected %s, got %q", p.Type.expected(), clip(s))
		}
		return a, nil
	case TypePrefix:
		pr, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, BadParam(p.Name, "expected %s, got %q", p.Type.expected(), clip(s))
		}
		if a := pr.Addr(); a.Is4In6() && pr.Bits() >= 96 {
			pr = netip.PrefixFrom(a.Unmap(), pr.Bits()-96)
		}
		return pr.Masked(), nil
	case TypeMAC:
		m, ok := canonMAC(s)
		if !ok {
			return nil, BadParam(p.Name, "expected %s, got %q", p.Type.expected(), clip(s))
		}
		return m, nil
	}
	if len(p.Enum) > 0 && !slices.Contains(p.Enum, s) {
		return nil, BadParam(p.Name, "expected one of %s, got %q", strings.Join(p.Enum, ", "), clip(s))
	}
	return s, nil
}

// plainString decodes a JSON string without escapes or control
// characters, the usual parameter, without going through encoding/json.
func plainString(r RawValue) (string, bool) {
	if len(r) < 2 || r[0] != '"' || r[len(r)-1] != '"' {
		return "", false
	}
	body := r[1 : len(r)-1]
	for _, c := range body {
		if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}

// DescribeJSON names the JSON type of r (with a clipped value for strings
// and numbers) for error messages.
func DescribeJSON(r RawValue) string {
	t := bytes.TrimSpace(r)
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '"':
		var s string
		_ = json.Unmarshal(t, &s)
		return fmt.Sprintf("the string %q", clip(s))
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "the number " + clip(string(t))
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// fingerprint identifies the query and its parameters (paging aside), so a
// cursor cannot be replayed against a different question.
func (a Args) fingerprint(d *Definition) uint64 {
	h := fnv.New64a()
	h.Write([]byte(d.Name))
	for _, p := range d.Params {
		if v, ok := a.v[p.Name]; ok {
			fmt.Fprintf(h, "\x00%s=%v", p.Name, v)
		}
	}
	return h.Sum64()
}

// cursor addresses a position in one query's answer at one graph version.
// It is opaque to clients: base64url of version, offset and fingerprint.
type cursor struct {
	version uint64
	offset  int
	query   uint64
}

const cursorMagic = 0x01

func encodeCursor(c cursor) string {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64)
	b = append(b, cursorMagic)
	b = binary.AppendUvarint(b, c.version)
	b = binary.AppendUvarint(b, uint64(c.offset))
	b = binary.BigEndian.AppendUint64(b, c.query)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errBadCursor = errors.New("not a cursor issued by this server")

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1 || b[0] != cursorMagic {
		return cursor{}, errBadCursor
	}
	b = b[1:]
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return cursor{}, errBadCursor
	}
	b = b[n:]
	off, n := binary.Uvarint(b)
	if n <= 0 || off > math.MaxInt32 {
		return cursor{}, errBadCursor
	}
	b = b[n:]
	if len(b) != 8 {
		return cursor{}, errBadCursor
	}
	return cursor{version: v, offset: int(off), query: binary.BigEndian.Uint64(b)}, nil
}
