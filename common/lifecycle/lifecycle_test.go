package lifecycle

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestServeHTTPOnUnixSocketAndShutdown(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeHTTP(ctx, srv, ln) }()

	client := &fasthttp.HostClient{Addr: sock, Dial: func(addr string) (net.Conn, error) { return net.Dial("unix", addr) }}
	status, body, err := client.Get(nil, "http://x/")
	if err != nil || status != 200 || string(body) != "ok" {
		t.Fatalf("GET over socket = %d %q %v, want 200 ok", status, body, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeHTTP after cancel = %v, want nil", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	for i := 0; i < 2; i++ {
		ln, err := Listen("unix:" + sock)
		if err != nil {
			t.Fatalf("Listen #%d: %v", i, err)
		}
		// Leave the file behind as a crashed process would.
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
}
