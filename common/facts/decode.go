package facts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
// for "ips") silently dropped is a fact silently lost. Every problem is
// reported as an *Error whose paths name the JSON location, whether the
// problem is a wrong type, an unknown field or a bad value.
func Parse(data []byte) (*Document, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Problems: []Problem{{Message: "empty document"}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, decodeError(data, err)
	}
	if rest := bytes.TrimSpace(data[dec.InputOffset():]); len(rest) > 0 {
		line, col := position(data, int(dec.InputOffset())+bytes.Index(data[dec.InputOffset():], rest[:1]))
		return nil, &Error{Problems: []Problem{{Message: fmt.Sprintf("unexpected data after the document at line %d, column %d", line, col)}}}
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

// decodeError turns an encoding/json error into problems with paths. Syntax
// errors get a line and column; anything else (wrong types, unknown fields)
// is located by walking the document against the Go types, which finds
// every such problem and not only the first.
func decodeError(data []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line, col := position(data, int(syn.Offset)-1) // Offset is just past the bad byte
		msg := strings.TrimPrefix(syn.Error(), "json: ")
		return &Error{Problems: []Problem{{Message: fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, msg)}}}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Problems: []Problem{{Message: "malformed JSON: unexpected end of input"}}}
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
	return &Error{Problems: []Problem{{Message: "invalid document: " + strings.TrimPrefix(err.Error(), "json: ")}}}
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
// with encoding/json's rules: null is accepted anywhere, field names match
// case-insensitively, integers must fit.
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

func fieldByJSONName(t reflect.Type, key string) (reflect.StructField, bool) {
	var fold reflect.StructField
	found := false
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if name == key {
			return f, true
		}
		if !found && strings.EqualFold(name, key) {
			fold, found = f, true
		}
	}
	return fold, found
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
