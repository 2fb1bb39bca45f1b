package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportSuzieQ drives "apiserver export suzieq" as the binary runs:
// from the store after an ingest, and from a facts file.
func TestExportSuzieQ(t *testing.T) {
	vars := map[string]string{"MESHQ_DATA_DIR": t.TempDir()}
	ctx := context.Background()
	if err := run(ctx, []string{"export", "suzieq", filepath.Join(t.TempDir(), "empty")}, env(vars), io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "the store is empty") {
		t.Errorf("export of an empty store = %v, want an error saying the store is empty", err)
	}
	campus := campusFile(t)
	if err := run(ctx, []string{"ingest", "--mode", "replace", campus}, env(vars), io.Discard, io.Discard); err != nil {
		t.Fatalf("ingest: %v", err)
	}
	var out bytes.Buffer
	dir := filepath.Join(t.TempDir(), "sq")
	if err := run(ctx, []string{"export", "suzieq", "--namespace", "campus", dir}, env(vars), &out, io.Discard); err != nil {
		t.Fatalf("export from the store: %v", err)
	}
	if !strings.HasPrefix(out.String(), "wrote 6 devices to "+dir+" (namespace campus, poller layout") {
		t.Errorf("export printed %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "device", "sqvers=4.0", "namespace=campus", "hostname=core1", "meshq-export-0.parquet")); err != nil {
		t.Errorf("no device file for core1: %v", err)
	}
	out.Reset()
	dir2 := filepath.Join(t.TempDir(), "sq")
	if err := run(ctx, []string{"export", "suzieq", "--facts", campus, "--layout", "coalesced", dir2}, env(nil), &out, io.Discard); err != nil {
		t.Fatalf("export from a facts file: %v", err)
	}
	if !strings.Contains(out.String(), "wrote 6 devices") || !strings.Contains(out.String(), "coalesced layout, 8 files") {
		t.Errorf("export --facts printed %q", out.String())
	}
	for _, args := range [][]string{{"export"}, {"export", "csv", dir}, {"export", "suzieq"}, {"export", "suzieq", dir}} {
		if err := run(ctx, args, env(vars), io.Discard, io.Discard); err == nil {
			t.Errorf("apiserver %s succeeded, want an error", strings.Join(args, " "))
		}
	}
}
