package lifecycle

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

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
		ln.(lingerListener).Listener.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
}

// TestRefusalReachesAClientStillSending is the 431/413 case: the server
// answers and closes while the client is still writing. Without a
// lingering close the kernel resets the connection and the client never
// reads the answer.
func TestRefusalReachesAClientStillSending(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		// Read the start of the request, as a server reads headers,
		// then refuse it with the rest unread.
		io.ReadFull(c, make([]byte, 1024))
		c.Write([]byte("refused\n"))
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(make([]byte, 512<<10)); err != nil {
		t.Fatalf("writing the request: %v (the server reset the connection)", err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "refused\n" {
		t.Fatalf("reading the answer = %q, %v; want \"refused\\n\" then EOF", got, err)
	}
}
