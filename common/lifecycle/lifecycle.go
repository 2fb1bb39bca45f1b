// Package lifecycle runs a daemon's servers and workers under one context
// and shuts them down gracefully, with a fresh deadline, when it ends.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"
)

// Listen opens "host:port" or "unix:/path" (removing a stale socket file and
// making the socket group-writable so a sidecar in the pod can reach it).
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
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
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
