package main

import (
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/common/license"

	"github.com/meshoptixiq/mesh/apiserver/chaos"
	"github.com/meshoptixiq/mesh/apiserver/conversation"
	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	"github.com/meshoptixiq/mesh/apiserver/netbox"
	"github.com/meshoptixiq/mesh/apiserver/spans"
	neo4jstore "github.com/meshoptixiq/mesh/apiserver/store/neo4j"
	"github.com/meshoptixiq/mesh/apiserver/store/postgres"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// config is the apiserver's whole environment, read and validated once.
type config struct {
	Listen string
	// MetricsListen, when set, also serves /metrics on a port of its own.
	MetricsListen string
	DataDir       string
	Backend       string
	RedisURL      envconf.Secret
	PostgresDSN   envconf.Secret
	// GraphPoll is how often a replica checks the store's version besides
	// the store's change notifications.
	GraphPoll    time.Duration
	LogLevel     slog.Level
	MaxBodyBytes int64
	MaxHeader    int64
	RootRoles    []string
	Demo         bool
	DemoDevices  int
	DemoSeed     int
	TelemetryTTL time.Duration
	// IdleRelease is how long without requests before free memory is
	// returned to the system (0: never).
	IdleRelease  time.Duration
	Neo4j        neo4jConfig
	License      *license.License
	NetBox       netbox.Config
	ChaosTTL     time.Duration
	ChaosWorkers int
	ChaosQueue   int
	ConvTTL      time.Duration
	LLMProvider  string
	LLMBaseURL   string
	LLMAPIKey    envconf.Secret
	LLMModel     string
	Tracing      tracingConfig
}

// tracingConfig is token-path tracing's part (TRACING_*).
type tracingConfig struct {
	SLOs          []spans.SLO
	MaxBody       int64
	MaxBatch      int
	RingSize      int
	MaxViolations int
	StreamMaxLen  int
}

// neo4jConfig is GRAPH_BACKEND=neo4j's connection.
type neo4jConfig struct {
	URI      string
	User     string
	Password envconf.Secret
	Database string
	CACert   string // PEM file of the CA that signs the server's certificate
}

// Defaults.
const (
	defaultListen       = "127.0.0.1:8080"
	defaultDataDir      = "./var/data"
	defaultMaxBodyBytes = 256 << 20
	maxMaxBodyBytes     = 2 << 30
	defaultDemoDevices  = 100
	defaultTelemetryTTL = 10 * time.Minute
	defaultIdleRelease  = 30 * time.Second
)

// loadConfig reads the environment and reports every problem at once.
func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Listen:        r.Listen("API_LISTEN", defaultListen),
		MetricsListen: r.OptionalListen("METRICS_LISTEN"),
		DataDir:       r.String("MESHQ_DATA_DIR", defaultDataDir),
		Backend:       r.Enum("GRAPH_BACKEND", "embedded", "embedded", "postgres", "neo4j"),
		RedisURL:      r.RedisURL(),
		MaxBodyBytes:  r.Bytes("MAX_BODY_BYTES", defaultMaxBodyBytes),
		MaxHeader:     r.Bytes("MAX_HEADER_BYTES", httpapi.DefaultMaxHeaderBytes),
		RootRoles:     r.List("BLAST_RADIUS_ROOT_ROLES", graph.DefaultRootRoles()),
		Demo:          r.Bool("MESHQ_DEMO", false),
		DemoDevices:   r.Int("MESHQ_DEMO_DEVICES", defaultDemoDevices, demo.MinDevices, demo.MaxDevices),
		DemoSeed:      r.Int("MESHQ_DEMO_SEED", 1, 0, 1<<31-1),
		TelemetryTTL:  r.Duration("TELEMETRY_NODE_TTL", defaultTelemetryTTL, time.Second),
		IdleRelease:   r.Duration("MEMORY_IDLE_RELEASE", defaultIdleRelease, time.Second),
		ChaosTTL:      r.Duration("CHAOS_RESULT_TTL", chaos.DefaultTTL, time.Second),
		ChaosWorkers:  r.Int("CHAOS_WORKERS", chaos.DefaultWorkers, 1, 64),
		ChaosQueue:    r.Int("CHAOS_QUEUE", chaos.DefaultQueue, 1, 10000),
		ConvTTL:       r.Duration("CONVERSATION_TTL", conversation.DefaultTTL, time.Second),
		LLMProvider:   r.Enum("LLM_PROVIDER", "builtin", "builtin", "openai"),
		LLMBaseURL:    r.String("LLM_BASE_URL", ""),
		LLMAPIKey:     envconf.Secret(r.String("LLM_API_KEY", "")),
		LLMModel:      r.String("LLM_MODEL", ""),
	}
	c.LogLevel = r.LogLevel()
	c.Tracing = tracingConfig{
		MaxBody:       r.Bytes("TRACING_MAX_BODY_BYTES", spans.DefaultMaxBody),
		MaxBatch:      r.Int("TRACING_MAX_BATCH_SPANS", spans.DefaultMaxBatch, 1, 1000000),
		RingSize:      r.Int("TRACING_RING_SPANS", spans.DefaultRingSize, 1, 10000000),
		MaxViolations: r.Int("TRACING_MAX_VIOLATIONS", spans.DefaultMaxViolations, 1, 1000000),
		StreamMaxLen:  r.Int("TRACING_STREAM_MAXLEN", spans.DefaultStreamMaxLen, 1, 100000000),
	}
	if slos, err := spans.ParseSLOs(r.String("TRACING_SLOS", "")); err != nil {
		r.Errorf("TRACING_SLOS", "%v", err)
	} else {
		c.Tracing.SLOs = slos
	}
	c.License = license.Load(r, getenv("HOME"), time.Now())
	c.NetBox = netbox.Config{
		URL:         r.String("NETBOX_URL", ""),
		Token:       envconf.Secret(r.String("NETBOX_TOKEN", "")),
		Direction:   r.Enum("NETBOX_SYNC_DIRECTION", netbox.Pull, netbox.Pull, netbox.Push, netbox.Both),
		VerifyTLS:   r.Bool("NETBOX_VERIFY_TLS", true),
		DefaultSite: r.String("NETBOX_DEFAULT_SITE", netbox.DefaultSite),
		DefaultRole: r.String("NETBOX_DEFAULT_ROLE", netbox.DefaultRole),
	}
	if c.NetBox.URL != "" {
		if u, err := url.Parse(c.NetBox.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Errorf("NETBOX_URL", "%q is not an http(s) URL", envconf.RedactURL(c.NetBox.URL))
		}
		if c.NetBox.Token.Reveal() == "" {
			r.Errorf("NETBOX_TOKEN", "required when NETBOX_URL is set")
		}
	}
	switch c.Backend {
	case "postgres":
		c.PostgresDSN = envconf.Secret(r.String("POSTGRES_DSN", ""))
		if err := postgres.ValidateDSN(c.PostgresDSN.Reveal()); err != nil {
			r.Errorf("POSTGRES_DSN", "%v", err)
		}
		c.GraphPoll = r.Duration("GRAPH_POLL_INTERVAL", postgres.DefaultPollInterval, time.Second)
		if c.GraphPoll < 100*time.Millisecond {
			r.Errorf("GRAPH_POLL_INTERVAL", "%s is below 100ms", c.GraphPoll)
		}
	case "neo4j":
		c.Neo4j = neo4jConfig{
			URI:      r.Required("NEO4J_URI"),
			User:     r.String("NEO4J_USER", ""),
			Password: envconf.Secret(r.String("NEO4J_PASSWORD", "")),
			Database: r.String("NEO4J_DATABASE", "neo4j"),
			CACert:   r.String("NEO4J_CA_CERT", ""),
		}
		if c.Neo4j.CACert != "" && c.Neo4j.URI != "" && !neo4jstore.VerifiesCertificates(c.Neo4j.URI) {
			r.Errorf("NEO4J_CA_CERT", "is set but NEO4J_URI's scheme does not verify certificates; use bolt+s:// or neo4j+s://")
		}
		c.GraphPoll = r.Duration("GRAPH_POLL_INTERVAL", neo4jstore.DefaultPollInterval, time.Second)
		if c.GraphPoll < 100*time.Millisecond {
			r.Errorf("GRAPH_POLL_INTERVAL", "%s is below 100ms", c.GraphPoll)
		}
		if c.Neo4j.URI != "" {
			if err := neo4jstore.ValidateURI(c.Neo4j.URI); err != nil {
				r.Errorf("NEO4J_URI", "%v", err)
			}
		}
		if c.Neo4j.Password != "" && c.Neo4j.User == "" {
			r.Errorf("NEO4J_USER", "must be set when NEO4J_PASSWORD is")
		}
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > maxMaxBodyBytes {
		r.Errorf("MAX_BODY_BYTES", "%d is outside 1KiB..2GiB", c.MaxBodyBytes)
	}
	if c.MaxHeader < 4<<10 || c.MaxHeader > 1<<20 {
		r.Errorf("MAX_HEADER_BYTES", "%d is outside 4KiB..1MiB", c.MaxHeader)
	}
	if c.IdleRelease < 0 {
		r.Errorf("MEMORY_IDLE_RELEASE", "%s is negative; 0 turns the release off", c.IdleRelease)
	}
	if c.TelemetryTTL < time.Second {
		r.Errorf("TELEMETRY_NODE_TTL", "%s is below 1s", c.TelemetryTTL)
	}
	if c.LLMProvider == "openai" {
		if u, err := url.Parse(c.LLMBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Errorf("LLM_BASE_URL", "%q is not an http(s) URL; LLM_PROVIDER=openai needs one (e.g. https://api.openai.com/v1)", c.LLMBaseURL)
		}
		if c.LLMModel == "" {
			r.Errorf("LLM_MODEL", "is empty; LLM_PROVIDER=openai needs a model name")
		}
	}
	if c.Tracing.MaxBody < 1024 || c.Tracing.MaxBody > c.MaxBodyBytes {
		r.Errorf("TRACING_MAX_BODY_BYTES", "%d is outside 1KiB..MAX_BODY_BYTES (%d)", c.Tracing.MaxBody, c.MaxBodyBytes)
	}
	if c.ConvTTL < time.Minute {
		r.Errorf("CONVERSATION_TTL", "%s is below 1m", c.ConvTTL)
	}
	if c.ChaosTTL < time.Minute {
		r.Errorf("CHAOS_RESULT_TTL", "%s is below 1m", c.ChaosTTL)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		r.Errorf("MESHQ_DATA_DIR", "must name a directory")
	}
	for i, role := range c.RootRoles {
		c.RootRoles[i] = strings.ToLower(role)
	}
	c.DataDir = filepath.Clean(c.DataDir)
	return c, r.Err()
}

// LogValue is the configuration as logged at start, with secrets redacted.
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("API_LISTEN", c.Listen),
		slog.String("METRICS_LISTEN", c.MetricsListen),
		slog.String("MESHQ_DATA_DIR", c.DataDir),
		slog.String("GRAPH_BACKEND", c.Backend),
		slog.String("REDIS_URL", envconf.RedactURL(c.RedisURL.Reveal())),
		slog.String("POSTGRES_DSN", envconf.RedactURL(c.PostgresDSN.Reveal())),
		slog.String("GRAPH_POLL_INTERVAL", c.GraphPoll.String()),
		slog.String("LOG_LEVEL", c.LogLevel.String()),
		slog.Int64("MAX_BODY_BYTES", c.MaxBodyBytes),
		slog.Int64("MAX_HEADER_BYTES", c.MaxHeader),
		slog.String("BLAST_RADIUS_ROOT_ROLES", strings.Join(c.RootRoles, ",")),
		slog.Bool("MESHQ_DEMO", c.Demo),
		slog.Int("MESHQ_DEMO_DEVICES", c.DemoDevices),
		slog.Int("MESHQ_DEMO_SEED", c.DemoSeed),
		slog.String("TELEMETRY_NODE_TTL", c.TelemetryTTL.String()),
		slog.String("MEMORY_IDLE_RELEASE", c.IdleRelease.String()),
		slog.String("NEO4J_URI", envconf.RedactURL(c.Neo4j.URI)),
		slog.String("NEO4J_USER", c.Neo4j.User),
		slog.Any("NEO4J_PASSWORD", c.Neo4j.Password),
		slog.String("NEO4J_DATABASE", c.Neo4j.Database),
		slog.String("NEO4J_CA_CERT", c.Neo4j.CACert),
		slog.String("licence_plan", c.License.Plan),
		slog.String("NETBOX_URL", envconf.RedactURL(c.NetBox.URL)),
		slog.Any("NETBOX_TOKEN", c.NetBox.Token),
		slog.String("NETBOX_SYNC_DIRECTION", c.NetBox.Direction),
		slog.Bool("NETBOX_VERIFY_TLS", c.NetBox.VerifyTLS),
		slog.String("NETBOX_DEFAULT_SITE", c.NetBox.DefaultSite),
		slog.String("NETBOX_DEFAULT_ROLE", c.NetBox.DefaultRole),
		slog.Int("TRACING_SLOS", len(c.Tracing.SLOs)),
		slog.Int64("TRACING_MAX_BODY_BYTES", c.Tracing.MaxBody),
		slog.Int("TRACING_MAX_BATCH_SPANS", c.Tracing.MaxBatch),
		slog.Int("TRACING_RING_SPANS", c.Tracing.RingSize),
	)
}
