package tail

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
)

// BenchmarkTailRead reads a file of 1 KiB lines into batches and confirms
// them, without a sink: the tailer's own cost per byte.
func BenchmarkTailRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "a.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	line := `{"id":"` + strings.Repeat("x", 1014) + `"}` + "\n"
	const n = 32 << 10
	for range n {
		w.WriteString(line)
	}
	w.Flush()
	f.Close()
	b.SetBytes(int64(n * len(line)))
	b.ResetTimer()
	for range b.N {
		tl, err := New(Config{Pattern: path, DisableNotify: true}, checkpoint.State{}, quiet(), nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan *Batch, 4)
		done := make(chan struct{})
		go func() { defer close(done); tl.Run(ctx, out) }()
		got := 0
		for got < n {
			bt := <-out
			got += len(bt.Lines)
			tl.Confirm(bt)
		}
		cancel()
		<-done
	}
}
