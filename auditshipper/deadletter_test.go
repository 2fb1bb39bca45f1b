package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/meshoptixiq/mesh/auditshipper/tail"
)

func TestDeadLetterKeepsExactBytes(t *testing.T) {
	dir := t.TempDir()
	d := openDeadLetters(dir)
	defer d.close()
	type want struct{ record, line string }
	type dlCase struct {
		data []byte
		want want
	}
	cases := []dlCase{
		// Valid JSON: readable copy compacted, HTML characters kept.
		{[]byte(`{"id":"a", "q":"<a & b>"}`), want{record: `{"id":"a","q":"<a & b>"}`}},
		// Not JSON, valid UTF-8: readable as a string.
		{[]byte("plain text"), want{line: "plain text"}},
		// Not JSON, invalid UTF-8: a string would turn \xff into U+FFFD.
		{[]byte("not json \xff\xfe"), want{}},
		// JSON with invalid UTF-8 in a string: Record would put invalid
		// UTF-8 in the dead-letter file.
		{[]byte("{\"id\":\"b\",\"user\":\"\xc3\x28\"}"), want{}},
	}
	var ds []deadLetter
	for i, c := range cases {
		ds = append(ds, newDeadLetter("elasticsearch", "rejected", 400, "mapper_parsing_exception", tail.Line{Data: c.data, Path: "/log/a.jsonl", Offset: int64(i)}))
	}
	// A Record that is not JSON (the sink path trusts its own validator)
	// must not make the entry unwritable: that retried forever.
	broken := newDeadLetter("webhook", "rejected", 400, "", tail.Line{Data: []byte(`{"id":"c"`)})
	broken.Record = json.RawMessage(`{"id":"c"`)
	ds = append(ds, broken)
	cases = append(cases, dlCase{[]byte(`{"id":"c"`), want{}})

	if err := d.write(ds); err != nil {
		t.Fatalf("deadLetters.write = %v, want nil", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, deadLetterName))
	if err != nil {
		t.Fatal(err)
	}
	got := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(got) != len(cases) {
		t.Fatalf("dead-letter file has %d lines, want %d:\n%s", len(got), len(cases), b)
	}
	for i, line := range got {
		if !utf8.Valid(line) || !json.Valid(line) {
			t.Errorf("dead-letter line %d = %q, want valid UTF-8 JSON", i, line)
			continue
		}
		var dl deadLetter
		if err := json.Unmarshal(line, &dl); err != nil {
			t.Fatalf("dead-letter line %d: %v", i, err)
		}
		if !bytes.Equal(dl.Raw, cases[i].data) {
			t.Errorf("dead letter %d line_base64 = %q, want %q", i, dl.Raw, cases[i].data)
		}
		if string(dl.Record) != cases[i].want.record || dl.Line != cases[i].want.line {
			t.Errorf("dead letter %d record, line = %q, %q, want %q, %q", i, dl.Record, dl.Line, cases[i].want.record, cases[i].want.line)
		}
		if dl.Reason != "rejected" || dl.Time == "" {
			t.Errorf("dead letter %d reason, time = %q, %q, want rejected and a time", i, dl.Reason, dl.Time)
		}
	}
}
