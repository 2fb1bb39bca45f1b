package httpapi

import (
	"bufio"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// The event stream (GET /events) tells dashboards and clients when the
// graph changes, as server-sent events: one "graph" event on connect and
// one per new graph version, whether the change was ingested here or on
// another replica, with a comment line as keep-alive. A client reconnecting
// with Last-Event-ID (the version it saw) gets no event until the graph
// moves on.

// Stream timing: how often the graph version is looked at (an atomic load)
// and how long a quiet stream waits before a keep-alive, which also finds
// clients that went away.
const (
	eventPoll      = 200 * time.Millisecond
	eventKeepAlive = 15 * time.Second
)

func (a *API) events(ctx *fasthttp.RequestCtx) {
	last, _ := strconv.ParseUint(string(ctx.Request.Header.Peek("Last-Event-ID")), 10, 64)
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	// Proxies such as nginx must not buffer the stream.
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	stop := a.opt.Stop
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		// The reconnection delay, flushed at once so the client has the
		// response head even while the graph stays still.
		if _, err := w.WriteString("retry: 3000\n\n"); err != nil || w.Flush() != nil {
			return
		}
		poll := time.NewTicker(eventPoll)
		defer poll.Stop()
		quietSince := time.Now()
		sent, announced := last, last != 0
		for {
			if v := a.opt.Engine.Graph().Version; !announced || v != sent {
				fmt.Fprintf(w, "event: graph\nid: %d\ndata: {\"graph_version\":%d}\n\n", v, v)
				if w.Flush() != nil {
					return
				}
				sent, announced, quietSince = v, true, time.Now()
			} else if time.Since(quietSince) >= eventKeepAlive {
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					return
				}
				quietSince = time.Now()
			}
			select {
			case <-stop:
				return
			case <-poll.C:
			}
		}
	})
}
