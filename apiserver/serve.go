package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meshoptixiq/mesh/common/tracing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/apiserver/broadcast"
	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/engine"
	"github.com/meshoptixiq/mesh/apiserver/firewall/fwquery"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/pathanalysis"
	"github.com/meshoptixiq/mesh/apiserver/query"
	"github.com/meshoptixiq/mesh/apiserver/spans"
	"github.com/meshoptixiq/mesh/apiserver/store"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
	"github.com/meshoptixiq/mesh/common/facts"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/obs"
)

// newRegistry is every named query the server answers: the built-in ones
// and those other packages define.
func newRegistry(paths *pathanalysis.Cache) (*query.Registry, error) {
	reg := query.NewBuiltin()
	// Firewall, hygiene and path-analysis queries (apiserver/firewall/fwquery).
	if err := reg.Register(fwquery.Definitions(paths)...); err != nil {
		return nil, err
	}
	return reg, nil
}

func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := obs.NewLogger(stderr, cfg.LogLevel, "apiserver")
	log.Info("starting", "config", cfg)
	if l := cfg.License; l.Expired {
		log.Warn("the licence has expired; community features keep working", "plan", l.Plan, "expired", l.Expires)
	} else if !l.Demo {
		log.Info("licensed", "plan", l.Plan, "licensee", l.Licensee, "devices_limit", l.Devices, "expires", l.Expires)
	}
	warnInsecureStore(cfg, log)

	trc, err := tracing.Setup(ctx, "apiserver", getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		trc.Shutdown(sctx)
	}()
	st, err := openStore(cfg, trc.Tracer)
	if err != nil {
		return err
	}
	defer st.Close()
	eng := engine.New(st, graph.Options{RootRoles: cfg.RootRoles}, log)
	// One path-analysis index per graph version, for the queries and the
	// chaos runs alike.
	paths := pathanalysis.NewCache()
	reg, err := newRegistry(paths)
	if err != nil {
		return err
	}
	metrics := obs.NewRegistry("apiserver")
	if _, ok := cfg.License.DaysRemaining(time.Now()); ok {
		metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meshoptixiq_license_days_remaining",
			Help: "Whole days until the licence key expires (negative once expired)."}, func() float64 {
			d, _ := cfg.License.DaysRemaining(time.Now())
			return float64(d)
		}))
	}

	var bc *broadcast.Broadcaster
	var redisPing func(context.Context) error
	if url := cfg.RedisURL.Reveal(); url != "" {
		if bc, err = broadcast.New(url, log); err != nil {
			return err
		}
		defer bc.Close()
		eng.OnChange(bc.Notify)
		redisPing = bc.Ping
	}

	// Node-agent telemetry: reports arrive by HTTP, or through Redis
	// streams when Redis is configured.
	tel := telemetry.New(log, telemetry.Options{NodeTTL: cfg.TelemetryTTL})
	var telRedis *redis.Client
	if url := cfg.RedisURL.Reveal(); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		telRedis = redis.NewClient(opt)
		defer telRedis.Close()
	}

	// NetBox sync: its endpoint exists either way and says 503 until
	// NETBOX_URL is set.
	nb, err := netbox.New(cfg.NetBox, eng, log)
	if err != nil {
		return err
	}
	handlers := tel.Handlers()
	maps.Copy(handlers, nb.Handlers())
	// Chaos results live in Redis when there is one, so any replica
	// answers for a run another computed; a scenario naming no jobs runs
	// against the NCCL jobs the node agents report.
	chaosSvc := chaos.New(eng, log, chaos.Options{Redis: telRedis, TTL: cfg.ChaosTTL,
		Workers: cfg.ChaosWorkers, Queue: cfg.ChaosQueue, Paths: paths, Agents: tel})
	maps.Copy(handlers, chaosSvc.Handlers())
	convOpt := conversation.Options{Redis: telRedis, TTL: cfg.ConvTTL}
	if cfg.LLMProvider == "openai" {
		convOpt.LLM = &conversation.LLM{BaseURL: cfg.LLMBaseURL, APIKey: cfg.LLMAPIKey.Reveal(), Model: cfg.LLMModel}
	}
	maps.Copy(handlers, conversation.New(reg, eng, log, convOpt).Handlers())
	// Token-path tracing: spans correlated with the node telemetry above
	// and the graph's paths.
	maps.Copy(handlers, spans.New(log, spans.Options{SLOs: cfg.Tracing.SLOs, Redis: telRedis,
		StreamMaxLen: int64(cfg.Tracing.StreamMaxLen), MaxBody: int(cfg.Tracing.MaxBody), MaxBatch: cfg.Tracing.MaxBatch,
		RingSize: cfg.Tracing.RingSize, MaxViolations: cfg.Tracing.MaxViolations, Telemetry: tel, Graph: eng, Paths: paths}).Handlers())

	var ready atomic.Bool
	api, err := httpapi.New(httpapi.Options{
		Engine: eng, Registry: reg, Log: log, Metrics: metrics,
		MaxBodyBytes: int(cfg.MaxBodyBytes), MaxHeaderBytes: int(cfg.MaxHeader), RedisPing: redisPing, Ready: ready.Load,
		Handlers: handlers, Stop: ctx.Done(), License: cfg.License, Tracer: trc.Tracer,
	})
	if err != nil {
		return err
	}
	fasthttp.SetBodySizePoolLimit(httpapi.PooledBodyBytes, httpapi.PooledBodyBytes)
	ln, err := lifecycle.Listen(cfg.Listen)
	if err != nil {
		return err
	}
	log.Info("listening", "addr", ln.Addr().String())
	// In the pod the API listens on a socket only the sidecar reaches; a
	// metrics port of its own lets Prometheus scrape it directly.
	var mln net.Listener
	if cfg.MetricsListen != "" {
		if mln, err = lifecycle.Listen(cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_LISTEN: %w", err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
	}

	g := lifecycle.NewGroup(ctx)
	g.Go(func() error { return lifecycle.ServeHTTP(g.Ctx, api.Server(), ln) })
	if mln != nil {
		g.Go(func() error { return lifecycle.ServeHTTP(g.Ctx, obs.MetricsServer(metrics), mln) })
	}
	g.Go(func() error { return chaosSvc.Run(g.Ctx) })
	g.Go(func() error { return releaseWhenIdle(g.Ctx, log, cfg.IdleRelease, api.Requests) })
	g.Go(func() error {
		if err := loadGraph(g.Ctx, cfg, eng, log); err != nil {
			return err
		}
		ready.Store(true)
		return nil
	})
	if telRedis != nil {
		g.Go(func() error { return tel.RunRedis(g.Ctx, telRedis) })
	}
	if w, ok := st.(watcher); ok {
		g.Go(func() error {
			return w.Watch(g.Ctx, log, func(ctx context.Context, version uint64) {
				reloadFromStore(ctx, eng, log, version)
			})
		})
	}
	if bc != nil {
		g.Go(func() error { return bc.RunPublisher(g.Ctx) })
		g.Go(func() error {
			return bc.RunSubscriber(g.Ctx, func(ctx context.Context, version uint64) {
				reloadFromStore(ctx, eng, log, version)
			})
		})
	}
	return g.Wait()
}

// reloadFromStore swaps in the store's graph when it holds a version newer
// than memory's (a change another replica made).
func reloadFromStore(ctx context.Context, eng *engine.Engine, log *slog.Logger, version uint64) {
	swapped, err := eng.Reload(ctx, version)
	if err != nil {
		log.Error("reloading after another replica's change", "graph_version", version, "err", err)
		return
	}
	if swapped {
		log.Info("reloaded after another replica's change", "graph_version", eng.Graph().Version)
	}
}

// loadGraph reads the store into memory and, with MESHQ_DEMO, loads the
// demo network into an empty store. A store that cannot be reached yet (a
// database still starting) is retried until it answers; /health/ready says
// loading meanwhile.
func loadGraph(ctx context.Context, cfg config, eng *engine.Engine, log *slog.Logger) error {
	start := time.Now()
	for {
		err := eng.Load(ctx)
		var ue *store.UnavailableError
		if err == nil || !errors.As(err, &ue) {
			if err != nil {
				return err
			}
			break
		}
		log.Warn("the graph store is unavailable; retrying", "reason", ue.Reason, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	g := eng.Graph()
	log.Info("graph loaded", "graph_version", g.Version, "devices", g.Stats().Devices, "elapsed_ms", time.Since(start).Milliseconds())
	if cfg.Demo && g.Stats().Devices == 0 {
		doc, err := demoDocument(cfg.DemoDevices, int64(cfg.DemoSeed))
		if err != nil {
			return fmt.Errorf("generating the demo network: %w", err)
		}
		if _, err := eng.Ingest(ctx, engine.ModeReplace, doc.Devices); err != nil {
			return fmt.Errorf("loading the demo network: %w", err)
		}
		log.Info("demo network loaded", "graph_version", eng.Graph().Version, "devices", eng.Graph().Stats().Devices)
	}
	return nil
}

func ingestCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", engine.ModeMerge, "merge (upsert the devices given) or replace (the files are the whole network)")
	showProgress := fs.Bool("progress", false, "print progress to standard error (shown by itself on a terminal for files of 32 MiB or more)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != engine.ModeMerge && *mode != engine.ModeReplace {
		return fmt.Errorf("ingest: --mode %q is not merge or replace", *mode)
	}
	if fs.NArg() == 0 {
		return errors.New("ingest: name at least one facts file")
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	var prog *progress
	if wantProgress(*showProgress, stderr, fs.Args()) {
		prog = &progress{w: stderr, start: time.Now()}
	}
	// All files make one document, ingested atomically.
	doc := facts.Document{Schema: facts.Schema}
	for _, name := range fs.Args() {
		data, err := readFactsFile(name, prog)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		d, err := facts.Parse(data)
		if err != nil {
			return fmt.Errorf("ingest: %s: %w", name, err)
		}
		if prog != nil {
			prog.printf("parsed %s: %d devices", name, len(d.Devices))
		}
		doc.Devices = append(doc.Devices, d.Devices...)
	}
	if err := facts.Normalize(&doc); err != nil {
		return fmt.Errorf("ingest: the files together: %w", err)
	}
	st, err := openStore(cfg, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if prog != nil {
		prog.printf("writing %d devices to the store (%s)", len(doc.Devices), *mode)
	}
	v, err := st.Ingest(ctx, *mode, doc.Devices)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	if prog != nil {
		prog.printf("stored as graph version %d; building the graph for its warnings", v)
	}
	fmt.Fprintf(stdout, "ingested %d devices from %s (%s); the store is at graph version %d\n",
		len(doc.Devices), strings.Join(fs.Args(), ", "), *mode, v)
	// What the graph found doubtful, as the HTTP ingest answers it.
	lv, devs, err := st.Load(ctx)
	if err != nil {
		return fmt.Errorf("ingest: reading back for warnings: %w", err)
	}
	for _, w := range graph.Build(lv, devs, graph.Options{RootRoles: cfg.RootRoles}).WarningsFor(doc.Devices) {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	return nil
}
