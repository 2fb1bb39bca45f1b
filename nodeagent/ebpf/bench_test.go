package ebpf

import (
	"encoding/binary"
	"testing"
)

// BenchmarkDecodeJoin is the reader's per-event user-space work: decode a
// record and join it to its connection (an open and its close).
func BenchmarkDecodeJoin(b *testing.B) {
	t := &Tracer{conns: map[uint64]connInfo{}, maxConns: 1 << 18}
	open := make([]byte, eventSize)
	closeRec := make([]byte, eventSize)
	for _, r := range [][]byte{open, closeRec} {
		binary.NativeEndian.PutUint16(r[52:], 2) // AF_INET
		copy(r[64:], []byte{10, 0, 0, 1})
		copy(r[80:], []byte{10, 0, 0, 2})
		copy(r[96:], "curl")
	}
	open[58] = byte(KindOpenActive)
	closeRec[58] = byte(KindClose)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.NativeEndian.PutUint64(open[8:], uint64(i))
		binary.NativeEndian.PutUint64(closeRec[8:], uint64(i))
		binary.NativeEndian.PutUint64(open[0:], uint64(i))
		binary.NativeEndian.PutUint64(closeRec[0:], uint64(i)+1000)
		ev, _ := t.decode(open)
		t.join(&ev)
		ev, _ = t.decode(closeRec)
		t.join(&ev)
		if ev.Duration != 1000 {
			b.Fatalf("duration = %d, want 1000", ev.Duration)
		}
	}
}
