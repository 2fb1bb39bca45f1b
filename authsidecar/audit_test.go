package main

import (
	"bufio"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/audit"
)

// readAudit waits for at least n records in path and returns them.
func readAudit(t *testing.T, path string, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	eventually(t, "audit records written", 10*time.Second, func() (bool, string) {
		recs = nil
		f, err := os.Open(path)
		if err != nil {
			return false, err.Error()
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			recs = append(recs, decode[audit.Record](t, sc.Bytes()))
		}
		return len(recs) >= n, fmt.Sprintf("have %d", len(recs))
	})
	return recs
}
