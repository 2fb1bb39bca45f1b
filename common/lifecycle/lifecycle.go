// Package lifecycle runs a daemon's servers and workers under one context
// and shuts them down gracefully, with a fresh deadline, when it ends.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"
)

// Listen opens "host:port" or "unix:/path" (removing a stale socket file and
// making the socket group-writable so a sidecar in the pod can reach it).
// Its connections close with a linger (see lingerConn).
func Listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing stale socket %s: %w", path, err)
		}
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", addr, err)
		}
		if err := os.Chmod(path, 0o660); err != nil {
			ln.Close()
			return nil, fmt.Errorf("setting mode of %s: %w", path, err)
		}
		return lingerListener{ln}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return lingerListener{ln}, nil
}

// Bounds of a lingering close: how long and how much unread input is
// drained before the socket is closed for good.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 1 << 20
)

// lingerListener gives each accepted connection a lingering close.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return &lingerConn{Conn: c, closeWrite: cw.CloseWrite}, nil
	}
	return c, nil
}

// lingerConn closes like nginx's lingering_close. A server that refuses a
// request early (431 for headers over the limit, 413 for a body) closes
// while the client is still sending; closing a socket with unread input
// makes the kernel answer with a reset, which destroys the error response
// before the client reads it. So Close sends FIN first and drains the input
// briefly, off the caller's goroutine, before closing.
//
// A Close from another goroutine while a Read is blocked (a server shutting
// down its idle keep-alive connections) closes at once: that connection has
// nothing to drain, and Close must wake the reader.
type lingerConn struct {
	net.Conn
	closeWrite func() error
	reading    atomic.Int32
	once       sync.Once
}

func (c *lingerConn) Read(b []byte) (int, error) {
	c.reading.Add(1)
	defer c.reading.Add(-1)
	return c.Conn.Read(b)
}

func (c *lingerConn) Close() error {
	var err error
	c.once.Do(func() {
		if c.reading.Load() > 0 {
			err = c.Conn.Close()
			return
		}
		if err = c.closeWrite(); err != nil {
			err = c.Conn.Close()
			return
		}
		go func() {
			c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
			io.CopyN(io.Discard, c.Conn, lingerBytes)
			c.Conn.Close()
		}()
	})
	return err
}

// ShutdownTimeout bounds graceful shutdown of each server.
const ShutdownTimeout = 10 * time.Second

// ServeHTTP serves srv on ln until ctx ends, then shuts it down with a fresh
// timeout so in-flight requests can finish.
func ServeHTTP(ctx context.Context, srv *fasthttp.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.ShutdownWithContext(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return <-errc
}

// Group is an errgroup whose context ends when the first member fails or the
// parent ends: every goroutine of a daemon has this one owner.
type Group struct {
	*errgroup.Group
	Ctx context.Context
}

// NewGroup derives a Group from ctx.
func NewGroup(ctx context.Context) *Group {
	g, gctx := errgroup.WithContext(ctx)
	return &Group{Group: g, Ctx: gctx}
}
