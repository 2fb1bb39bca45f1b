package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/meshoptixiq/mesh/common/tracing"

	"github.com/meshoptixiq/mesh/common/envconf"
	"github.com/meshoptixiq/mesh/common/httpx"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/meshoptixiq/mesh/authsidecar/auditlog"
	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/authsidecar/pat"
	"github.com/meshoptixiq/mesh/authsidecar/ratelimit"
	"github.com/meshoptixiq/mesh/authsidecar/reload"
	"github.com/meshoptixiq/mesh/common/identity"
	"github.com/meshoptixiq/mesh/common/lifecycle"
	"github.com/meshoptixiq/mesh/common/obs"
)

// run is the whole daemon; main and the tests call it the same way.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if obs.IsHelpFlag(args) {
		return envconf.WriteHelp(stdout, "usage: authsidecar\n\nThe pod's only public door: authenticates, authorises and audits every request\nand proxies it to the apiserver. Configured by environment variables only.\n",
			func(getenv func(string) string) { _, _ = loadConfig(getenv) })
	}
	if obs.IsVersionFlag(args) {
		_, err := fmt.Fprintln(stdout, "authsidecar", obs.ReadBuild())
		return err
	}
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q: the sidecar is configured through its environment (see README.md)", args)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := obs.NewLogger(stdout, cfg.LogLevel, "authsidecar")
	log.Info("starting", "config", cfg)
	m := newMetrics()

	var rdb, rateRDB *redis.Client
	if u := cfg.RedisURL.Reveal(); u != "" {
		opts, err := redis.ParseURL(u)
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		// go-redis logs (failed dials, reconnects) as plain text on
		// stderr by default; ours are JSON lines.
		redis.SetLogger(redisLogger{log.With("component", "redis")})
		// The rate limiters ask Redis on the request path: a client of
		// their own that fails fast (one dial, no retries, short timeouts),
		// so the request that meets an outage is not held for long and the
		// breaker opens at once. Copied before NewClient fills in opts
		// (its default dialer keeps the options it was made from).
		fast := *opts
		fast.DialTimeout, fast.ReadTimeout, fast.WriteTimeout, fast.PoolTimeout = rateLimitRedisTimeout, rateLimitRedisTimeout, rateLimitRedisTimeout, rateLimitRedisTimeout
		fast.MaxRetries, fast.DialerRetries = -1, 1
		rateRDB = redis.NewClient(&fast)
		defer rateRDB.Close()
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		rdb = redis.NewClient(opts)
		defer rdb.Close()
	}

	keys, err := auth.LoadAPIKeysFile(cfg.APIKey.Reveal(), cfg.APIKeysFile)
	if err != nil {
		return fmt.Errorf("loading API keys: %w", err)
	}
	if keys.Len() > 0 {
		log.Info("api keys loaded", "fingerprints", keys.Fingerprints())
	}
	holder, err := reload.New(reload.Config{Inline: cfg.RBACPolicy, File: cfg.RBACPolicyFile, Interval: cfg.RBACReloadInterval, Watch: cfg.RBACWatch},
		rdb, log.With("component", "rbac"), reloadMetrics{m})
	if err != nil {
		return err
	}
	pol := holder.Policy()
	if err := keys.CheckRoles(func(role string) error {
		if pol.Unrestricted {
			return fmt.Errorf("role %q needs an RBAC policy (RBAC_POLICY or RBAC_POLICY_FILE); without one every key has full access", role)
		}
		if _, ok := pol.RoleSetOf(role); !ok {
			return fmt.Errorf("role %q is not in the RBAC policy (roles: %s)", role, strings.Join(pol.Roles(), ", "))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("API_KEYS_FILE: %w", err)
	}

	trc, err := tracing.Setup(ctx, "authsidecar", getenv, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		trc.Shutdown(sctx)
	}()
	s := &sidecar{cfg: cfg, log: log, m: m, keys: keys, policy: holder, ids: httpx.NewRequestIDs(), tracer: trc.Tracer}
	if rdb != nil {
		s.pats = pat.NewRedis(rdb)
	} else {
		s.pats = pat.NewMemory()
	}
	httpClient := &http.Client{Timeout: 10 * time.Second}
	if cfg.AuthMode != "api_key" {
		if s.oidc, err = newBearerVerifier(cfg, httpClient, log.With("component", "oidc"), m); err != nil {
			return err
		}
	}
	if cfg.AuditEnabled {
		s.audit, err = auditlog.Open(auditlog.Config{Path: cfg.AuditFile, MaxBytes: cfg.AuditMaxBytes, Backups: cfg.AuditBackups, QueueSize: cfg.AuditQueueSize},
			log.With("component", "audit"), auditMetrics{m})
		if err != nil {
			return err
		}
	}
	switch {
	case cfg.SOARWebhookURL == "" || len(cfg.SOARRules) == 0:
	case !cfg.License.Has(featureSOAR):
		// Only an expired key gets here (checkPlan refuses the others).
		log.Warn("SOAR webhooks are off: the licence key has expired and its community plan has no soar_webhooks",
			"plan", cfg.License.Plan, "expires", cfg.License.Expires)
	default:
		s.soar = newSOAR(cfg, httpClient, log.With("component", "soar"), m)
	}
	if cfg.AuthMode != "api_key" && !cfg.License.Has(featureOIDC) {
		log.Warn("OIDC sign-in answers 403 plan_required: the licence key has expired and its community plan has no oidc_sso",
			"plan", cfg.License.Plan, "expires", cfg.License.Expires)
	}
	// One circuit breaker for the limiters of one Redis.
	var limiters *ratelimit.Limiter
	newLimiter := func(l ratelimit.Limit) *ratelimit.Limiter {
		if limiters == nil {
			limiters = ratelimit.New(l, rateRDB, log.With("component", "ratelimit"), rateMetrics{m})
			return limiters
		}
		return limiters.With(l)
	}
	if cfg.RateLimit != nil {
		s.limiter = newLimiter(*cfg.RateLimit)
	}
	if cfg.AuthFailureLimit != nil {
		s.authFail = newAuthThrottle(newLimiter(*cfg.AuthFailureLimit))
	}
	if limiters != nil {
		defer limiters.Close() // the breaker's probe of Redis
	}
	s.upstream = newUpstream(cfg)
	s.metricsHandler = obs.MetricsHandler(m.reg)

	ln, err := lifecycle.Listen(cfg.ListenAddr)
	if err != nil {
		return err
	}
	srv := s.server()
	log.Info("listening", "addr", ln.Addr().String(), "upstream", cfg.UpstreamDisplay, "policy_version", holder.Policy().Version)

	var mln net.Listener
	if cfg.MetricsListen != "" {
		if mln, err = lifecycle.Listen(cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_LISTEN: %w", err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
	}

	g := lifecycle.NewGroup(ctx)
	g.Go(func() error { return lifecycle.ServeHTTP(g.Ctx, srv, ln) })
	if mln != nil {
		g.Go(func() error { return lifecycle.ServeHTTP(g.Ctx, obs.MetricsServer(m.reg), mln) })
	}
	g.Go(func() error { return holder.Run(g.Ctx) })
	if s.oidc != nil {
		g.Go(func() error { return s.oidc.Run(g.Ctx) })
	}
	// The audit writer and SOAR drain after the server has stopped, so
	// the last requests are still recorded.
	drain := lifecycle.NewDrain(ctx)
	if s.audit != nil {
		drain.Go(s.audit.Run)
	}
	if s.soar != nil {
		drain.Go(s.soar.Run)
	}
	err = g.Wait()
	if _, derr := drain.Stop(0); err == nil {
		err = derr
	}
	s.upstream.close()
	log.Info("stopped")
	return err
}

// rateLimitRedisTimeout bounds each Redis step of a rate-limit check
// (dial, read, write, waiting for a pooled connection): a check slower than
// this is better decided locally.
const rateLimitRedisTimeout = 250 * time.Millisecond

// redisLogger routes go-redis's log lines into slog. go-redis has one
// logger per process: the last sidecar started in a process owns it.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn("redis client", "detail", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

// upstream talks to the apiserver: fasthttp for ordinary requests, and
// net/http for server-sent events, whose bodies never end and must be
// relayed as they arrive and abandoned when the client leaves.
type upstream struct {
	hc     *fasthttp.HostClient
	stream *http.Client
	base   string // scheme://host for the stream client
	host   string // host:port, or "apiserver" for a unix socket

	probePath string
	probeTO   time.Duration
	probe     struct {
		sync.Mutex
		at     time.Time
		ok     bool
		detail string
	}
}

func newUpstream(cfg *config) *upstream {
	dial := func(addr string) (net.Conn, error) { return fasthttp.DialTimeout(addr, cfg.UpstreamDialTO) }
	netDial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: cfg.UpstreamDialTO}
		return d.DialContext(ctx, "tcp", cfg.Upstream)
	}
	addr := cfg.Upstream
	if path, ok := strings.CutPrefix(cfg.Upstream, "unix:"); ok {
		dial = func(string) (net.Conn, error) { return net.DialTimeout("unix", path, cfg.UpstreamDialTO) }
		netDial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: cfg.UpstreamDialTO}
			return d.DialContext(ctx, "unix", path)
		}
		addr = "apiserver"
	}
	return &upstream{
		hc: &fasthttp.HostClient{
			Addr:                     addr,
			Dial:                     dial,
			MaxConns:                 cfg.UpstreamMaxConns,
			MaxConnWaitTimeout:       cfg.UpstreamDialTO,
			ReadTimeout:              cfg.UpstreamTimeout,
			WriteTimeout:             cfg.UpstreamTimeout,
			MaxIdleConnDuration:      90 * time.Second,
			ReadBufferSize:           16 << 10,
			WriteBufferSize:          16 << 10,
			NoDefaultUserAgentHeader: true,
		},
		stream: &http.Client{Transport: &http.Transport{DialContext: netDial, ResponseHeaderTimeout: cfg.UpstreamTimeout,
			MaxIdleConnsPerHost: 4, DisableCompression: true}},
		base:      "http://" + addr,
		host:      addr,
		probePath: cfg.UpstreamProbePath,
		probeTO:   min(cfg.UpstreamTimeout, 2*time.Second),
	}
}

// upstreamProbeTTL is how long /readyz reuses the upstream's last answer,
// so that frequent probes do not become as many requests upstream.
const upstreamProbeTTL = time.Second

// ready asks the upstream (GET UPSTREAM_PROBE_PATH) whether it answers,
// at most once per upstreamProbeTTL; concurrent callers wait for one probe.
// The detail says what failed but not the dial error: /readyz is public.
func (u *upstream) ready(log *slog.Logger) (bool, string) {
	u.probe.Lock()
	defer u.probe.Unlock()
	if !u.probe.at.IsZero() && time.Since(u.probe.at) < upstreamProbeTTL {
		return u.probe.ok, u.probe.detail
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + u.host + u.probePath)
	req.Header.Set(identity.HeaderRequestID, "readyz-probe")
	err := u.hc.DoTimeout(req, resp, u.probeTO)
	ok := err == nil && resp.StatusCode() >= 200 && resp.StatusCode() < 300
	detail := "GET " + u.probePath + ": " + strconv.Itoa(resp.StatusCode())
	switch {
	case err != nil && (errors.Is(err, fasthttp.ErrTimeout) || isTimeout(err)):
		detail = "GET " + u.probePath + ": no answer within " + u.probeTO.String()
	case err != nil:
		detail = "GET " + u.probePath + ": apiserver not reachable"
	}
	if ok != u.probe.ok || u.probe.at.IsZero() {
		if ok {
			log.Info("upstream ready", "probe", u.probePath)
		} else {
			log.Warn("upstream not ready: /readyz answers 503", "probe", u.probePath, "status", resp.StatusCode(), "err", err)
		}
	}
	u.probe.at, u.probe.ok, u.probe.detail = time.Now(), ok, detail
	return ok, detail
}

func (u *upstream) close() {
	u.hc.CloseIdleConnections()
	u.stream.CloseIdleConnections()
}
