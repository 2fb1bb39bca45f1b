package httpapi

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/valyala/bytebufferpool"

	"github.com/meshoptixiq/mesh/apiserver/query"
)

var bufPool bytebufferpool.Pool

func releaseBuf(b *bytebufferpool.ByteBuffer) { bufPool.Put(b) }

// encodeResponse renders a query answer. Rows are objects keyed by column.
// It is hand-written because it is the hot path of every query: the common
// value types are appended directly and anything else goes through
// encoding/json.
func encodeResponse(r *query.Response) *bytebufferpool.ByteBuffer {
	buf := bufPool.Get()
	b := buf.B[:0]
	b = append(b, `{"query":`...)
	b = appendString(b, r.Query)
	b = append(b, `,"graph_version":`...)
	b = strconv.AppendUint(b, r.GraphVersion, 10)
	b = append(b, `,"columns":[`...)
	keys := make([][]byte, len(r.Columns))
	for i, c := range r.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, c)
		keys[i] = append(appendString(nil, c), ':')
	}
	b = append(b, `],"rows":[`...)
	for i, row := range r.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		for j, v := range row {
			if j >= len(keys) {
				break
			}
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, keys[j]...)
			b = appendValue(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, `],"row_count":`...)
	b = strconv.AppendInt(b, int64(len(r.Rows)), 10)
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, r.Truncated)
	b = append(b, `,"next_cursor":`...)
	if r.NextCursor == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, r.NextCursor)
	}
	if r.Paged {
		b = append(b, `,"total_rows":`...)
		b = strconv.AppendInt(b, int64(r.TotalRows), 10)
	}
	extra := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		extra = append(extra, k)
	}
	slices.Sort(extra)
	for _, k := range extra {
		b = append(b, ',')
		b = appendString(b, k)
		b = append(b, ':')
		b = appendValue(b, r.Extra[k])
	}
	b = append(b, '}')
	buf.B = b
	return buf
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case bool:
		return strconv.AppendBool(b, x)
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']')
	case []int:
		b = append(b, '[')
		for i, n := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(n), 10)
		}
		return append(b, ']')
	}
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// appendString appends s as a JSON string: plain printable ASCII is copied,
// anything else is escaped by encoding/json (which also replaces invalid
// UTF-8 and escapes <, >, & and the line separators).
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
