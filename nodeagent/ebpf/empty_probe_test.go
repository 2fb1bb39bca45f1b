package ebpf

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

func TestEmptyProbeCost(t *testing.T) {
	st, err := EnableStats()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "tcp_probe", License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: p})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln, _ := net.Listen("tcp4", "127.0.0.95:0")
	defer ln.Close()
	go func() { c, _ := ln.Accept(); io.Copy(c, c) }()
	c, _ := net.Dial("tcp4", ln.Addr().String())
	buf := make([]byte, 64)
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		c.Write(buf)
		io.ReadFull(c, buf)
	}
	s, _ := p.Stats()
	t.Logf("empty: %d runs, %.1f ns/run", s.RunCount, float64(s.Runtime.Nanoseconds())/float64(s.RunCount))
}
