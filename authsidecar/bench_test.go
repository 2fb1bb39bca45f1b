package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/authsidecar/fakeupstream"
	"github.com/meshoptixiq/mesh/authsidecar/reload"
	"github.com/meshoptixiq/mesh/common/httpx"
	"github.com/meshoptixiq/mesh/common/obs"
)

type nopReload struct{}

func (nopReload) Reloaded(bool) {}
func (nopReload) Valid(bool)    {}

// BenchmarkHandler drives the sidecar's request path (API key, RBAC,
// identity headers, proxy to a loopback upstream) without a client socket.
func BenchmarkHandler(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := fakeupstream.Start(ln)
	defer up.Close()
	cfg, err := loadConfig(mapEnv(map[string]string{"API_KEY": testKey, "UPSTREAM": up.Addr, "RBAC_POLICY": "roles:\n  admin:\n    allow: [\"*\"]\n"}))
	if err != nil {
		b.Fatal(err)
	}
	log := obs.NewLogger(io.Discard, slog.LevelInfo, "bench")
	m := newMetrics()
	keys, _ := auth.NewAPIKeys(testKey, nil, "")
	holder, err := reload.New(reload.Config{Inline: cfg.RBACPolicy}, nil, log, nopReload{})
	if err != nil {
		b.Fatal(err)
	}
	s := &sidecar{cfg: cfg, log: log, m: m, keys: keys, policy: holder, ids: httpx.NewRequestIDs(), upstream: newUpstream(cfg)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5555}
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Init(&ctx.Request, remote, nil)
			ctx.Request.SetRequestURI("/bench")
			ctx.Request.Header.Set("Host", "x")
			ctx.Request.Header.Set("X-API-Key", testKey)
			s.handle(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	})
	_ = context.Background
}
