package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// validate prints every problem of every file with its path, the
// ingest's warnings, and fails when any file has a problem; it needs no
// store and no configuration.
func TestValidateSubcommand(t *testing.T) {
	good := campusFile(t)
	warn := writeFile(t, "edge.json", `{"schema":"meshq.facts/v1","devices":[{"hostname":"edge9","interfaces":[{"name":"Gi1"}],
		"neighbors":[{"local_interface":"Gi1","remote_hostname":"core1","remote_interface":"-"}]}]}`)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"validate", good, warn}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("validate(campus, edge) = %v, want nil (warnings are no errors); printed %s", err, out.String())
	}
	for _, want := range []string{
		good + ": valid (6 devices)",
		warn + `: warning: devices[0].neighbors[0].remote_interface: core1 has no interface "-"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("validate printed\n%s\nwant a line %q", out.String(), want)
		}
	}

	bad := writeFile(t, "bad.json", `{"schema":"meshq.facts/v1","devices":[{"hostname":"x","mgmt_ip":"300.1.1.1",
		"routes":[{"prefix":"10.0.0.0/8","action":"police"}],"vxlan":{"vnis":[{"vni":0,"vlan":10}]}}]}`)
	dup := writeFile(t, "dup.json", `{"schema":"meshq.facts/v1","devices":[{"hostname":"core1"}]}`)
	out.Reset()
	err := run(context.Background(), []string{"validate", bad, good, dup}, env(nil), &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "problems in 1 of 3 files, and the files together clash") {
		t.Errorf("validate(bad, campus, dup) = %v, want problems in 1 of 3 files and a clash", err)
	}
	for _, want := range []string{
		bad + ": devices[0].mgmt_ip: not an IP address",
		bad + `: devices[0].routes[0].action: unknown route action "police"`,
		bad + ": devices[0].vxlan.vnis[0].vni: not a VNI",
		`the files together: devices[6].hostname: duplicate hostname "core1" (first at devices[0])`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("validate printed\n%s\nwant a line %q", out.String(), want)
		}
	}
	if err := run(context.Background(), []string{"validate"}, env(nil), &out, io.Discard); err == nil {
		t.Error("validate with no file = nil, want an error")
	}
	if err := run(context.Background(), []string{"validate", filepath.Join(t.TempDir(), "missing.json")}, env(nil), io.Discard, io.Discard); err == nil {
		t.Error("validate(missing file) = nil, want an error")
	}
}

// ingest reads gzip files and, with --progress, says what it is doing on
// standard error (never on standard output).
func TestIngestGzipFileWithProgress(t *testing.T) {
	data, err := os.ReadFile(campusFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	gz := writeFile(t, "campus.json.gz", z.String())
	var out, errOut bytes.Buffer
	vars := map[string]string{"MESHQ_DATA_DIR": t.TempDir()}
	if err := run(context.Background(), []string{"ingest", "--progress", gz}, env(vars), &out, &errOut); err != nil {
		t.Fatalf("ingest(gzip) = %v", err)
	}
	if !strings.Contains(out.String(), "ingested 6 devices") || strings.Contains(out.String(), "ingest: read") {
		t.Errorf("ingest printed %q on stdout", out.String())
	}
	for _, want := range []string{"ingest: read " + gz, "ingest: parsed " + gz + ": 6 devices", "ingest: writing 6 devices to the store (merge)", "stored as graph version 1"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("progress\n%s\nlacks %q", errOut.String(), want)
		}
	}
	// Not a terminal and no flag: no progress.
	errOut.Reset()
	if err := run(context.Background(), []string{"ingest", gz}, env(vars), io.Discard, &errOut); err != nil || errOut.Len() != 0 {
		t.Errorf("ingest without --progress = %v, printed %q on stderr; want nothing", err, errOut.String())
	}
	corrupt := writeFile(t, "bad.json.gz", "\x1f\x8bnot really gzip")
	if err := run(context.Background(), []string{"ingest", corrupt}, env(vars), io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "not a valid gzip file") {
		t.Errorf("ingest(corrupt gzip) = %v, want a gzip error", err)
	}
}
