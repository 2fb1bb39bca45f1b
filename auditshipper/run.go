package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshoptixiq/mesh/common/tracing"

	"github.com/meshoptixiq/mesh/common/envconf"
	"github.com/meshoptixiq/mesh/common/httpx"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/semaphore"

	"github.com/meshoptixiq/mesh/auditshipper/checkpoint"
	"github.com/meshoptixiq/mesh/auditshipper/sink"
	"github.com/meshoptixiq/mesh/auditshipper/tail"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/obs"
)

// run is the whole daemon: main only supplies the signal context and the
// process environment, so tests drive it exactly as the binary does.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if obs.IsHelpFlag(args) {
		return envconf.WriteHelp(stdout, "usage: auditshipper | auditshipper replay [--timeout 5m] | auditshipper version\n\nShips every audit record the sidecar writes to the configured sink, losing nothing.\nConfigured by environment variables only.\n",
			func(getenv func(string) string) { _, _ = loadConfig(getenv) })
	}
	if obs.IsVersionFlag(args) {
		_, err := fmt.Fprintln(stdout, "auditshipper", obs.ReadBuild())
		return err
	}
	if len(args) > 0 && args[0] == "replay" {
		return runReplay(ctx, args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: auditshipper is configured by environment variables (see auditshipper/README.md)", args)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	// With the stdout sink, stdout carries records; logs go to stderr.
	log := obs.NewLogger(stderr, cfg.LogLevel, "auditshipper")
	log.Info("starting", "config", cfg)

	store, err := checkpoint.Open(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("SHIPPER_STATE_DIR: %w", err)
	}
	state, err := store.Load()
	if err != nil {
		return fmt.Errorf("SHIPPER_STATE_DIR: %w (move the damaged checkpoint files away to start over from the beginning of the logs)", err)
	}
	reg := obs.NewRegistry("auditshipper")
	tailer, err := tail.New(tail.Config{
		Pattern: cfg.Path, PollInterval: cfg.PollInterval, RotateWait: cfg.RotateWait,
		BatchBytes: cfg.BatchBytes, BatchRecords: cfg.BatchRecords, MaxLineBytes: cfg.MaxLineBytes, MaxOpenFiles: cfg.MaxOpenFiles,
		StartAtEnd: cfg.StartAtEnd, DisableNotify: cfg.DisableNotify,
	}, state, log.With("component", "tail"), prometheus.WrapRegistererWith(prometheus.Labels{"sink": cfg.Backend}, reg))
	if err != nil {
		return fmt.Errorf("AUDIT_LOG_PATH: %w", err)
	}
	// The files found at start are saved before any is read: without this,
	// a crash before the first confirmation would leave no checkpoint, and
	// the next start would take the files rotated meanwhile for old ones.
	ck := &checkpointer{store: store, tailer: tailer, log: log.With("component", "checkpoint"), seq: state.Seq, retry: time.Second}
	if err := ck.write(); err != nil {
		if !state.Inventory && len(state.Files) == 0 {
			return fmt.Errorf("SHIPPER_STATE_DIR: cannot write the first checkpoint, which must list the files found before any is read: %w", err)
		}
		// The checkpoint on disk still lists what was known then: files
		// that appeared since are new to it and will be read after a
		// crash. Keep shipping and retry the write.
		log.Error("checkpoint write failed; the previous checkpoint stays in force", "err", err)
		ck.dirty = true
	}
	snk, err := buildSink(cfg, stdout, reg)
	if err != nil {
		return err
	}
	m, err := newShipMetrics(reg, tailer)
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	trc, err := tracing.Setup(ctx, "auditshipper", getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		trc.Shutdown(sctx)
	}()
	ln, err := lifecycle.Listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("SHIPPER_LISTEN: %w", err)
	}
	dead := openDeadLetters(cfg.StateDir, checkpoint.SyncDir)
	defer dead.close()

	var ready atomic.Bool
	srv := &fasthttp.Server{Handler: httpHandler(reg, &ready), Name: "auditshipper", NoDefaultServerHeader: true, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	g := lifecycle.NewGroup(ctx)
	g.Go(func() error { return lifecycle.ServeHTTP(g.Ctx, srv, ln) })

	batches := make(chan *tail.Batch, cfg.QueueBatches)
	confirm := make(chan time.Time, 1)
	sh := &shipper{sink: snk, tailer: tailer, dead: dead, log: log.With("component", "ship"), m: m,
		retry: retryPolicy{min: cfg.RetryMin, max: cfg.RetryMax, auth: cfg.AuthRetry}, confirm: confirm,
		parked: make(chan parked, 1024), parkRoom: semaphore.NewWeighted(parkBytes), tracer: trc.Tracer}
	ck.m = m

	g.Go(func() error {
		defer close(batches)
		return tailer.Run(g.Ctx, batches)
	})
	// Senders outlive the read side by up to SHIPPER_DRAIN_TIMEOUT, so
	// what was read before SIGTERM gets its chance to be confirmed.
	senders := lifecycle.NewDrain(ctx)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		senders.Go(func(ctx context.Context) error {
			defer wg.Done()
			sh.run(ctx, batches)
			return nil
		})
	}
	senders.Go(func(ctx context.Context) error {
		sh.runParked(ctx) // until the senders are gone and parked is empty
		return nil
	})
	senders.Go(func(context.Context) error {
		wg.Wait()
		close(sh.parked)
		return nil
	})
	checkpointed := make(chan struct{})
	go func() { // owned: joined through checkpointed before run returns
		defer close(checkpointed)
		ck.run(confirm, tailer.Changed(), senders.Done())
	}()
	ready.Store(true)
	log.Info("shipping", "sink", snk.Name(), "path", cfg.Path, "listen", ln.Addr().String(), "files_resumed", len(state.Files))
	err = g.Wait()
	log.Info("stopping: draining in-flight batches", "timeout", cfg.DrainTimeout.String())
	if cut, _ := senders.Stop(cfg.DrainTimeout); cut {
		log.Warn("drain timeout: unconfirmed records will be read again on the next start")
	}
	<-checkpointed
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info("stopped")
	return err
}

func httpHandler(reg *prometheus.Registry, ready *atomic.Bool) fasthttp.RequestHandler {
	metrics := obs.MetricsHandler(reg)
	return func(c *fasthttp.RequestCtx) {
		if p := string(c.Path()); (p == "/metrics" || p == "/livez" || p == "/readyz") && !httpx.ReadOnly(c) {
			return
		}
		switch string(c.Path()) {
		case "/metrics":
			metrics(c)
		case "/livez":
			c.SetBodyString("ok\n")
		case "/readyz":
			if !ready.Load() {
				c.SetStatusCode(fasthttp.StatusServiceUnavailable)
				c.SetBodyString("starting\n")
				return
			}
			c.SetBodyString("ok\n")
		default:
			c.SetStatusCode(fasthttp.StatusNotFound)
			c.SetBodyString("not found\n")
		}
	}
}

func buildSink(cfg config, stdout io.Writer, reg prometheus.Registerer) (sink.Sink, error) {
	if cfg.Backend == "stdout" {
		return sink.NewStdout(stdout), nil
	}
	requests, err := sink.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	opts := sink.HTTPOptions{Client: httpClient(cfg), Timeout: cfg.RequestTimeout, Requests: requests}
	if enterpriseBackend(cfg.Backend) {
		return enterpriseSink(cfg, opts)
	}
	if cfg.Backend == "webhook" {
		return sink.NewWebhook(sink.WebhookConfig{URL: cfg.WebhookURL, Token: cfg.WebhookToken.Reveal(), Secret: cfg.WebhookSecret.Reveal(), HTTP: opts}), nil
	}
	return nil, fmt.Errorf("AUDIT_LOG_BACKEND: unknown backend %q", cfg.Backend)
}

func httpClient(cfg config) *http.Client {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSSkipVerify} //nolint:gosec // operator's explicit choice
	tlsCfg.RootCAs = cfg.TLSRootCAs                                                            // parsed by loadConfig
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		MaxIdleConnsPerHost:   cfg.Concurrency + 2,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr}
}
