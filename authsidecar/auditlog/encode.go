package auditlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/meshoptixiq/mesh/common/audit"
)

// appendRecord appends r as json.Marshal(r) would write it, byte for byte
// (field order, HTML-safe string escaping, float format, compacted params),
// without reflection or allocations: the writer encodes every request's
// record, and encoding/json was its largest cost. scratch holds the
// compacted params between calls. TestAppendRecordMatchesMarshal and
// FuzzAppendRecord hold it to encoding/json.
func appendRecord(dst []byte, r *audit.Record, scratch *bytes.Buffer) ([]byte, error) {
	dst = append(dst, `{"ts":`...)
	dst = appendString(dst, r.TS)
	dst = append(dst, `,"id":`...)
	dst = appendString(dst, r.ID)
	dst = append(dst, `,"event":`...)
	dst = appendString(dst, r.Event)
	dst = append(dst, `,"outcome":`...)
	dst = appendString(dst, r.Outcome)
	dst = append(dst, `,"user":`...)
	dst = appendString(dst, r.User)
	dst = append(dst, `,"auth":`...)
	dst = appendString(dst, r.Auth)
	dst = append(dst, `,"key_fp":`...)
	dst = appendString(dst, r.KeyFP)
	dst = append(dst, `,"role":`...)
	dst = appendString(dst, r.Role)
	dst = append(dst, `,"groups":`...)
	if r.Groups == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, g := range r.Groups {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, g)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"client_ip":`...)
	dst = appendString(dst, r.ClientIP)
	dst = append(dst, `,"method":`...)
	dst = appendString(dst, r.Method)
	dst = append(dst, `,"path":`...)
	dst = appendString(dst, r.Path)
	dst = append(dst, `,"query":`...)
	dst = appendString(dst, r.Query)
	dst = append(dst, `,"params":`...)
	if r.Params == nil {
		dst = append(dst, "null"...)
	} else {
		// As encoding/json does for a RawMessage: validate, compact and
		// escape <, >, &, U+2028 and U+2029.
		scratch.Reset()
		if err := json.Compact(scratch, r.Params); err != nil {
			return dst, err
		}
		dst = appendHTMLEscaped(dst, scratch.Bytes())
	}
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, `,"elapsed_ms":`...)
	var err error
	if dst, err = appendFloat(dst, r.ElapsedMS); err != nil {
		return dst, err
	}
	dst = append(dst, `,"row_count":`...)
	dst = strconv.AppendInt(dst, r.RowCount, 10)
	dst = append(dst, `,"plan_tier":`...)
	dst = appendString(dst, r.PlanTier)
	dst = append(dst, `,"matched_pattern":`...)
	dst = appendString(dst, r.MatchedPattern)
	dst = append(dst, `,"policy_version":`...)
	dst = appendString(dst, r.PolicyVersion)
	if r.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, r.Reason)
	}
	return append(dst, '}'), nil
}

var errFloat = errors.New("elapsed_ms is not a finite number")

// appendFloat formats f as encoding/json does a float64.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, errFloat
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}

// appendHTMLEscaped appends compact JSON src with <, >, &, U+2028 and
// U+2029 escaped, as json.HTMLEscape does.
func appendHTMLEscaped(dst, src []byte) []byte {
	start := 0
	for i, c := range src {
		if c == '<' || c == '>' || c == '&' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		}
		// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
		if c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			start = i + 3
		}
	}
	return append(dst, src[start:]...)
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes a JSON string carries unescaped.
var plain = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendString quotes s as encoding/json does with HTML escaping on.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if plain[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
