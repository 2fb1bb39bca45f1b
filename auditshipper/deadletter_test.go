package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
	"github.com/meshoptixiq/mesh/auditshipper/tail"
)

func TestDeadLetterKeepsExactBytes(t *testing.T) {
	dir := t.TempDir()
	d := openDeadLetters(dir, checkpoint.SyncDir)
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

func TestDeadLetterSyncsDirectoryOfNewFile(t *testing.T) {
	// fsyncing the file is not enough for a new file: its directory entry
	// must be durable too, or a power loss can take the whole file.
	dir := t.TempDir()
	var synced []string
	fail := true
	d := openDeadLetters(dir, func(p string) error {
		synced = append(synced, p)
		if fail {
			return errors.New("injected fsync failure")
		}
		return nil
	})
	defer d.close()
	entry := []deadLetter{newDeadLetter("stdout", "invalid_json", 0, "", tail.Line{Data: []byte("x")})}
	if err := d.write(entry); err == nil {
		t.Fatal("write with a failing directory fsync = nil, want an error (the entry is not durable)")
	}
	fail = false
	if err := d.write(entry); err != nil {
		t.Fatalf("write after the directory fsync recovers = %v, want nil", err)
	}
	if err := d.write(entry); err != nil {
		t.Fatalf("write = %v, want nil", err)
	}
	if diff := cmp.Diff([]string{dir, dir}, synced); diff != "" {
		t.Errorf("directories fsynced (-want +got):\n%s", diff)
	}
	b, err := os.ReadFile(filepath.Join(dir, deadLetterName))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 2 {
		t.Errorf("dead-letter file has %d entries, want 2 (none from the failed write):\n%s", n, b)
	}
}

// On a full state disk a dead-letter write fails without leaving a
// fragment, and the retry after space returns writes each entry once.
func TestDeadLetterFullDiskLeavesNoFragment(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a small tmpfs needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a 64 KiB tmpfs: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	d := openDeadLetters(dir, checkpoint.SyncDir)
	defer d.close()
	first := []deadLetter{newDeadLetter("webhook", "rejected", 422, "", tail.Line{Data: []byte(`{"id":"first"}`), Path: "/log/a.jsonl"})}
	if err := d.write(first); err != nil {
		t.Fatal(err)
	}
	// Fill the rest of the file system.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	before := fileSize(t, d.path)
	var big []deadLetter
	for i := range 40 {
		big = append(big, newDeadLetter("webhook", "rejected", 422, "", tail.Line{Data: []byte(`{"id":"big-` + strings.Repeat("y", 200) + `"}`), Path: "/log/a.jsonl", Offset: int64(i)}))
	}
	if err := d.write(big); err == nil {
		t.Fatal("write on a full disk = nil, want an error")
	}
	if got := fileSize(t, d.path); got != before {
		t.Errorf("dead-letter file after a failed write = %d bytes, want %d (no fragment)", got, before)
	}
	os.Remove(filler)
	if err := d.write(big); err != nil {
		t.Fatalf("write after space returned = %v", err)
	}
	b, err := os.ReadFile(d.path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) != 41 {
		t.Fatalf("dead-letter file has %d lines, want 41 (1 + 40, each once)", len(lines))
	}
	for i, l := range lines {
		var dl deadLetter
		if err := json.Unmarshal(l, &dl); err != nil {
			t.Fatalf("line %d is not an entry: %v: %.80q", i+1, err, l)
		}
		if i > 0 && dl.Offset != int64(i-1) {
			t.Fatalf("line %d has offset %d, want %d", i+1, dl.Offset, i-1)
		}
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
