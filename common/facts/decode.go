package facts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Parse decodes one meshq.facts/v1 document and normalizes it. Unknown
// fields are rejected rather than ignored, because a misspelt field ("ip"
// for "ips") silently dropped is a fact silently lost; so are duplicate
// keys and invalid UTF-8. Every problem is reported as an *Error whose
// paths name the JSON location, whether the problem is a wrong type, an
// unknown field or a bad value.
//
// Decoding uses encoding/json/v2 (through its mirror module, which becomes
// the standard library's package from Go 1.27): strict by default and more
// than twice as fast as encoding/json on large documents.
func Parse(data []byte) (*Document, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Problems: []Problem{{Message: "empty document"}}}
	}
	var doc Document
	if err := jsonv2.Unmarshal(data, &doc, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, decodeError(data, err)
	}
	if err := Normalize(&doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// Decode reads all of r and Parses it.
func Decode(r io.Reader) (*Document, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading facts: %w", err)
	}
	return Parse(data)
}

// decodeError turns a decoding error into problems with paths. Syntax
// errors get a line and column; anything else (wrong types, unknown fields)
// is located by walking the document against the Go types, which finds
// every such problem and not only the first.
func decodeError(data []byte, err error) error {
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		if errors.Is(syn.Err, io.ErrUnexpectedEOF) {
			return &Error{Problems: []Problem{{Message: "malformed JSON: unexpected end of input"}}}
		}
		line, col := position(data, int(syn.ByteOffset))
		msg := "malformed JSON"
		if syn.Err != nil {
			msg += ": " + strings.TrimPrefix(syn.Err.Error(), "jsontext: ")
		}
		return &Error{Problems: []Problem{{Path: pointerPath(syn.JSONPointer), Message: fmt.Sprintf("%s (line %d, column %d)", msg, line, col)}}}
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if derr := dec.Decode(&raw); derr == nil {
		var ps problems
		walk(&ps, "", raw, reflect.TypeFor[Document]())
		if e := ps.err(); e != nil {
			return e
		}
	}
	var sem *jsonv2.SemanticError
	if errors.As(err, &sem) {
		msg := "invalid value"
		if sem.Err != nil {
			msg = strings.TrimPrefix(sem.Err.Error(), "json: ")
		}
		return &Error{Problems: []Problem{{Path: pointerPath(sem.JSONPointer), Message: msg}}}
	}
	return &Error{Problems: []Problem{{Message: "invalid document"}}}
}

// pointerPath writes a JSON pointer (/devices/3/interfaces/0) as a path
// (devices[3].interfaces[0]).
func pointerPath(p jsontext.Pointer) string {
	var parts []any
	for tok := range p.Tokens() {
		if n, err := strconv.Atoi(tok); err == nil && n >= 0 {
			parts = append(parts, n)
		} else {
			parts = append(parts, tok)
		}
	}
	return at(parts...)
}

// position converts a byte offset to a 1-based line and column.
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = off - bytes.LastIndexByte(before, '\n')
	return line, col
}

var timeType = reflect.TypeFor[time.Time]()

// walk checks a generic JSON value against the Go type the decoder fills,
// with the decoder's rules: null is accepted anywhere, field names match
// exactly, integers must fit.
func walk(ps *problems, path string, v any, t reflect.Type) {
	if v == nil {
		return
	}
	if t == timeType {
		s, ok := v.(string)
		if !ok {
			ps.add(path, "want an RFC 3339 time string, got "+kind(v))
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			ps.add(path, "not an RFC 3339 time")
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		walk(ps, path, v, t.Elem())
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "want an object, got "+kind(v))
			return
		}
		for key, val := range sortedKeys(obj) {
			f, ok := fieldByJSONName(t, key)
			if !ok {
				ps.add(at(path, key), "unknown field")
				continue
			}
			walk(ps, at(path, key), val, f.Type)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			ps.add(path, "want an array, got "+kind(v))
			return
		}
		for i, el := range arr {
			walk(ps, path+"["+strconv.Itoa(i)+"]", el, t.Elem())
		}
	case reflect.Map:
		if _, ok := v.(map[string]any); !ok {
			ps.add(path, "want an object, got "+kind(v))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(path, "want a string, got "+kind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(path, "want true or false, got "+kind(v))
		}
	case reflect.Int, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "want an integer, got "+kind(v))
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || (t.Kind() == reflect.Int && (i < math.MinInt || i > math.MaxInt)) {
			ps.add(path, "want an integer, got "+string(n))
		}
	}
}

// sortedKeys iterates an object's keys in order, so problems come out in
// the same order every time.
func sortedKeys(obj map[string]any) func(func(string, any) bool) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return func(yield func(string, any) bool) {
		for _, k := range keys {
			if !yield(k, obj[k]) {
				return
			}
		}
	}
}

// fieldByJSONName finds the field a key decodes into; names match exactly,
// as encoding/json/v2 matches them.
func fieldByJSONName(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key && name != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func kind(v any) string {
	switch v := v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "the number " + clip(string(v))
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "null"
}
