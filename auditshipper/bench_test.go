package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
	"github.com/meshoptixiq/mesh/common/audit"
	"github.com/meshoptixiq/mesh/common/testenv"
)

// writeBenchFile writes n records of about 1 KiB.
func writeBenchFile(b *testing.B, path string, n int) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	var total int64
	for i := range n {
		rec := audit.Record{TS: audit.Timestamp(time.Now()), ID: fmt.Sprintf("bench-%09d", i), Event: "query", Outcome: "allow", User: "alice",
			Path: "/queries/all_devices/execute", Query: "all_devices", Params: json.RawMessage(`{"pad":"` + strings.Repeat("x", 700) + `"}`), Status: 200}
		line, _ := json.Marshal(rec)
		w.Write(line)
		w.WriteByte('\n')
		total += int64(len(line) + 1)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return total
}

// BenchmarkShipToBulkFake drives run() exactly as the binary does, from a
// file of 1 KiB records to the _bulk fake in the same process.
func BenchmarkShipToBulkFake(b *testing.B) {
	const n = 50000
	dir := b.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	size := writeBenchFile(b, path, n)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		es, err := fakes.NewElastic(false)
		if err != nil {
			b.Fatal(err)
		}
		env := map[string]string{"AUDIT_LOG_PATH": path, "AUDIT_LOG_BACKEND": "elasticsearch", "ES_URL": es.URL(),
			"SHIPPER_STATE_DIR": filepath.Join(dir, "state-"+strconv.Itoa(i)), "SHIPPER_LISTEN": "127.0.0.1:" + strconv.Itoa(testenv.FreePort(b)), "LOG_LEVEL": "ERROR"}
		// SHIPPER_* settings from the environment, for tuning runs.
		for _, kv := range os.Environ() {
			if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "SHIPPER_") && k != "SHIPPER_LISTEN" && k != "SHIPPER_STATE_DIR" {
				env[k] = v
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard, io.Discard) }()
		for {
			if got, _ := es.Received.Total(); got >= n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		es.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}
