package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/authsidecar/auth"
	"github.com/meshoptixiq/mesh/authsidecar/ratelimit"
	"github.com/meshoptixiq/mesh/common/envconf"
	"github.com/meshoptixiq/mesh/common/license"
)

// config is the sidecar's whole environment (README.md has the table).
type config struct {
	ListenAddr string
	// MetricsListen, when set, serves /metrics there instead of on the
	// public port.
	MetricsListen string
	// Upstream is host:port (from http://host:port) or unix:/path.
	Upstream        string
	UpstreamDisplay string

	AuthMode    string // api_key | oidc | both
	APIKey      envconf.Secret
	APIKeysFile string

	OIDCIssuer        string
	OIDCClientID      string
	OIDCClientSecret  envconf.Secret // accepted for parity with the seeds; a resource server needs none
	OIDCGroupsClaim   string
	OIDCClockSkew     time.Duration
	OIDCMaxTokenBytes int

	PATDefaultTTL time.Duration
	PATMaxTTL     time.Duration

	RBACPolicy         string
	RBACPolicyFile     string
	RBACReloadInterval time.Duration
	RBACWatch          bool

	RedisURL envconf.Secret // may carry a password

	AuditEnabled   bool
	AuditFile      string
	AuditMaxBytes  int64
	AuditBackups   int
	AuditRequired  bool
	AuditQueueSize int

	SOARWebhookURL   string
	SOARWebhookToken envconf.Secret
	SOARRules        soarRules // soar_enterprise.go
	SOARQueueSize    int
	SOARRetryDelay   time.Duration // the seeds' 5 s; shorter in tests

	RateLimit        *ratelimit.Limit
	AuthFailureLimit *ratelimit.Limit // per client address; nil: off
	TrustedProxies   []netip.Prefix

	MaxBodyBytes       int64
	MaxIngestBodyBytes int64 // POST /graph/ingest: up to the apiserver's own limit
	MaxHeaderBytes     int64
	ClientReadTimeout  time.Duration
	ClientWriteTimeout time.Duration
	ClientIdleTimeout  time.Duration
	UpstreamDialTO     time.Duration
	UpstreamTimeout    time.Duration
	UpstreamMaxConns   int
	UpstreamProbePath  string // what /readyz asks the upstream

	// License is the licence key in force (license.None without one);
	// plan.go gates OIDC and SOAR by it.
	License *license.License

	LogLevel slog.Level
}

// loadConfig reads and validates the environment, reporting every problem.
func loadConfig(getenv func(string) string) (*config, error) {
	r := envconf.New(getenv)
	c := &config{
		ListenAddr:         r.Listen("LISTEN_ADDR", ":8000"),
		MetricsListen:      r.OptionalListen("METRICS_LISTEN"),
		AuthMode:           r.Enum("AUTH_MODE", "api_key", "api_key", "oidc", "both"),
		APIKey:             envconf.Secret(r.String("API_KEY", "")),
		APIKeysFile:        r.String("API_KEYS_FILE", ""),
		OIDCIssuer:         r.String("OIDC_ISSUER", ""),
		OIDCClientID:       r.String("OIDC_CLIENT_ID", ""),
		OIDCClientSecret:   envconf.Secret(r.String("OIDC_CLIENT_SECRET", "")),
		OIDCGroupsClaim:    r.String("OIDC_GROUPS_CLAIM", "groups"),
		OIDCClockSkew:      r.Duration("OIDC_CLOCK_SKEW", 60*time.Second, time.Second),
		OIDCMaxTokenBytes:  int(r.Bytes("OIDC_MAX_TOKEN_BYTES", 16<<10)),
		PATDefaultTTL:      r.Duration("PAT_DEFAULT_TTL", 30*24*time.Hour, time.Second),
		PATMaxTTL:          r.Duration("PAT_MAX_TTL", 90*24*time.Hour, time.Second),
		RBACPolicy:         r.String("RBAC_POLICY", ""),
		RBACPolicyFile:     r.String("RBAC_POLICY_FILE", ""),
		RBACReloadInterval: r.Duration("RBAC_RELOAD_INTERVAL", 30*time.Second, time.Second),
		RBACWatch:          r.Bool("RBAC_WATCH", true),
		RedisURL:           r.RedisURL(),
		AuditEnabled:       r.Bool("AUDIT_LOG_ENABLED", false),
		AuditFile:          r.String("AUDIT_LOG_FILE", "./var/audit/audit.jsonl"),
		AuditMaxBytes:      r.Bytes("AUDIT_LOG_MAX_BYTES", 100<<20),
		AuditBackups:       r.Int("AUDIT_LOG_BACKUPS", 5, 1, 1000),
		AuditRequired:      r.Bool("AUDIT_REQUIRED", false),
		AuditQueueSize:     r.Int("AUDIT_QUEUE_SIZE", 10000, 1, 10_000_000),
		SOARWebhookURL:     r.String("SOAR_WEBHOOK_URL", ""),
		SOARWebhookToken:   envconf.Secret(r.String("SOAR_WEBHOOK_TOKEN", "")),
		SOARQueueSize:      r.Int("SOAR_QUEUE_SIZE", 1000, 1, 1_000_000),
		SOARRetryDelay:     r.Duration("SOAR_RETRY_DELAY", 5*time.Second, time.Second),
		TrustedProxies:     r.Prefixes("TRUSTED_PROXIES"),
		MaxBodyBytes:       r.Bytes("MAX_BODY_BYTES", 10<<20),
		MaxIngestBodyBytes: r.Bytes("MAX_INGEST_BODY_BYTES", 256<<20),
		MaxHeaderBytes:     r.Bytes("MAX_HEADER_BYTES", 64<<10),
		ClientReadTimeout:  r.Duration("CLIENT_READ_TIMEOUT", 30*time.Second, time.Second),
		ClientWriteTimeout: r.Duration("CLIENT_WRITE_TIMEOUT", 60*time.Second, time.Second),
		ClientIdleTimeout:  r.Duration("CLIENT_IDLE_TIMEOUT", 120*time.Second, time.Second),
		UpstreamDialTO:     r.Duration("UPSTREAM_DIAL_TIMEOUT", 5*time.Second, time.Second),
		UpstreamTimeout:    r.Duration("UPSTREAM_TIMEOUT", 60*time.Second, time.Second),
		UpstreamMaxConns:   r.Int("UPSTREAM_MAX_CONNS", 1024, 1, 1_000_000),
		UpstreamProbePath:  r.String("UPSTREAM_PROBE_PATH", "/health"),
	}
	c.UpstreamDisplay = r.String("UPSTREAM", "http://127.0.0.1:8080")
	up, err := parseUpstream(c.UpstreamDisplay)
	if err != nil {
		r.Errorf("UPSTREAM", "%v", err)
	}
	c.Upstream = up
	c.LogLevel = r.LogLevel()

	checkOIDCEdition(r, c)
	wantKeys := c.AuthMode == "api_key" || c.AuthMode == "both"
	wantOIDC := c.AuthMode == "oidc" || c.AuthMode == "both"
	if wantKeys && c.APIKey == "" && c.APIKeysFile == "" {
		r.Errorf("API_KEY", "required when AUTH_MODE=%s (or set API_KEYS_FILE)", c.AuthMode)
	}
	if k := c.APIKey.Reveal(); k != "" && len(k) < auth.MinKeyLength {
		r.Errorf("API_KEY", "is %d characters; at least %d are required (openssl rand -hex 32)", len(k), auth.MinKeyLength)
	}
	if wantOIDC {
		if c.OIDCIssuer == "" {
			r.Errorf("OIDC_ISSUER", "required when AUTH_MODE=%s", c.AuthMode)
		} else if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.Errorf("OIDC_ISSUER", "%q is not an http(s) URL", c.OIDCIssuer)
		}
		if c.OIDCClientID == "" {
			r.Errorf("OIDC_CLIENT_ID", "required when AUTH_MODE=%s (the audience tokens must carry)", c.AuthMode)
		}
	}
	if c.OIDCMaxTokenBytes < 1024 {
		r.Errorf("OIDC_MAX_TOKEN_BYTES", "must be at least 1KiB")
	}
	if c.MaxHeaderBytes < 4096 || c.MaxHeaderBytes > 1<<20 {
		r.Errorf("MAX_HEADER_BYTES", "must be between 4KiB and 1MiB")
	}
	if int64(c.OIDCMaxTokenBytes) > c.MaxHeaderBytes {
		r.Errorf("OIDC_MAX_TOKEN_BYTES", "exceeds MAX_HEADER_BYTES")
	}
	if c.MaxBodyBytes < 1 {
		r.Errorf("MAX_BODY_BYTES", "must be positive")
	}
	if c.MaxIngestBodyBytes < 1 || c.MaxIngestBodyBytes > 2<<30 {
		r.Errorf("MAX_INGEST_BODY_BYTES", "must be between 1 byte and 2GiB (the apiserver's largest MAX_BODY_BYTES)")
	}
	if !strings.HasPrefix(c.UpstreamProbePath, "/") {
		r.Errorf("UPSTREAM_PROBE_PATH", "%q must be a path starting with /", c.UpstreamProbePath)
	}
	if c.RBACReloadInterval < 100*time.Millisecond {
		r.Errorf("RBAC_RELOAD_INTERVAL", "must be at least 0.1 seconds")
	}
	if c.PATDefaultTTL <= 0 || c.PATDefaultTTL > c.PATMaxTTL {
		r.Errorf("PAT_DEFAULT_TTL", "must be positive and at most PAT_MAX_TTL")
	}
	if c.SOARRetryDelay > time.Hour {
		r.Errorf("SOAR_RETRY_DELAY", "must be at most 1h")
	}
	if c.AuditRequired && !c.AuditEnabled {
		r.Errorf("AUDIT_REQUIRED", "true requires AUDIT_LOG_ENABLED=true")
	}
	if rl, ok := r.Lookup("RATE_LIMIT"); ok {
		l, err := ratelimit.Parse(rl)
		if err != nil {
			r.Errorf("RATE_LIMIT", "%v", err)
		} else {
			c.RateLimit = &l
		}
	}
	if afl := strings.TrimSpace(r.String("AUTH_FAILURE_LIMIT", "20/minute")); afl != "off" {
		l, err := ratelimit.Parse(afl)
		if err != nil {
			r.Errorf("AUTH_FAILURE_LIMIT", "%v (or off)", err)
		} else {
			c.AuthFailureLimit = &l
		}
	}
	c.SOARRules = loadSOARRules(r, c)
	c.License = license.Load(r, getenv("HOME"), time.Now())
	checkPlan(r, c)
	if c.SOARWebhookURL != "" {
		if u, err := url.Parse(c.SOARWebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			r.Errorf("SOAR_WEBHOOK_URL", "%q is not an http(s) URL", c.SOARWebhookURL)
		}
	}
	return c, r.Err()
}

// parseUpstream accepts http://host:port, host:port and unix:/path.
func parseUpstream(v string) (string, error) {
	if path, ok := strings.CutPrefix(v, "unix:"); ok {
		if path == "" || !strings.HasPrefix(path, "/") {
			return "", fmt.Errorf("%q: want unix:/absolute/path", v)
		}
		return v, nil
	}
	hostport := v
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "http" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", fmt.Errorf("%q: want http://host:port, host:port or unix:/path", v)
		}
		hostport = u.Host
	}
	if err := envconf.ValidateListen(hostport); err != nil || strings.HasPrefix(hostport, ":") {
		return "", fmt.Errorf("%q: want http://host:port, host:port or unix:/path", v)
	}
	return hostport, nil
}

// LogValue is the effective configuration with secrets redacted.
func (c *config) LogValue() slog.Value {
	rl, afl := "", "off"
	if c.RateLimit != nil {
		rl = c.RateLimit.String()
	}
	if c.AuthFailureLimit != nil {
		afl = c.AuthFailureLimit.String()
	}
	policy := "none (full access for authenticated users)"
	switch {
	case c.RBACPolicy != "":
		policy = "RBAC_POLICY (inline)"
	case c.RBACPolicyFile != "":
		policy = c.RBACPolicyFile
	}
	return slog.GroupValue(
		slog.String("listen_addr", c.ListenAddr),
		slog.String("metrics_listen", c.MetricsListen),
		slog.String("upstream", c.UpstreamDisplay),
		slog.String("auth_mode", c.AuthMode),
		slog.String("licence_plan", c.License.Plan),
		slog.Bool("licence_expired", c.License.Expired),
		slog.String("api_key", c.APIKey.String()),
		slog.String("api_keys_file", c.APIKeysFile),
		slog.String("oidc_issuer", c.OIDCIssuer),
		slog.String("oidc_client_id", c.OIDCClientID),
		slog.String("oidc_groups_claim", c.OIDCGroupsClaim),
		slog.String("oidc_clock_skew", c.OIDCClockSkew.String()),
		slog.String("rbac_policy", policy),
		slog.String("rbac_reload_interval", c.RBACReloadInterval.String()),
		slog.Bool("rbac_watch", c.RBACWatch),
		slog.String("redis_url", c.RedisURL.String()),
		slog.Bool("audit_log_enabled", c.AuditEnabled),
		slog.String("audit_log_file", c.AuditFile),
		slog.Bool("audit_required", c.AuditRequired),
		slog.String("soar_webhook_url", c.SOARWebhookURL),
		slog.Int("soar_rules", len(c.SOARRules)),
		slog.String("soar_retry_delay", c.SOARRetryDelay.String()),
		slog.String("rate_limit", rl),
		slog.String("auth_failure_limit", afl),
		slog.Int("trusted_proxies", len(c.TrustedProxies)),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Int64("max_ingest_body_bytes", c.MaxIngestBodyBytes),
		slog.Int64("max_header_bytes", c.MaxHeaderBytes),
		slog.String("upstream_timeout", c.UpstreamTimeout.String()),
		slog.String("upstream_probe_path", c.UpstreamProbePath),
	)
}
