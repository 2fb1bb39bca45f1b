package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/httpapi"
	neo4jstore "github.com/meshoptixiq/mesh/apiserver/store/neo4j"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// config is the apiserver's whole environment, read and validated once.
type config struct {
	Listen       string
	DataDir      string
	Backend      string
	RedisURL     envconf.Secret
	LogLevel     slog.Level
	MaxBodyBytes int64
	MaxHeader    int64
	RootRoles    []string
	Demo         bool
	DemoDevices  int
	DemoSeed     int
	TelemetryTTL time.Duration
	Neo4j        neo4jConfig
}

// neo4jConfig is GRAPH_BACKEND=neo4j's connection.
type neo4jConfig struct {
	URI      string
	User     string
	Password envconf.Secret
	Database string
}

// Defaults.
const (
	defaultListen       = "127.0.0.1:8080"
	defaultDataDir      = "./var/data"
	defaultMaxBodyBytes = 256 << 20
	maxMaxBodyBytes     = 2 << 30
	defaultDemoDevices  = 100
	defaultTelemetryTTL = 10 * time.Minute
)

// loadConfig reads the environment and reports every problem at once.
func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	c := config{
		Listen:       r.Listen("API_LISTEN", defaultListen),
		DataDir:      r.String("MESHQ_DATA_DIR", defaultDataDir),
		Backend:      r.Enum("GRAPH_BACKEND", "embedded", "embedded", "postgres", "neo4j"),
		RedisURL:     r.RedisURL(),
		MaxBodyBytes: r.Bytes("MAX_BODY_BYTES", defaultMaxBodyBytes),
		MaxHeader:    r.Bytes("MAX_HEADER_BYTES", httpapi.DefaultMaxHeaderBytes),
		RootRoles:    r.List("BLAST_RADIUS_ROOT_ROLES", graph.DefaultRootRoles()),
		Demo:         r.Bool("MESHQ_DEMO", false),
		DemoDevices:  r.Int("MESHQ_DEMO_DEVICES", defaultDemoDevices, 24, 20000),
		DemoSeed:     r.Int("MESHQ_DEMO_SEED", 1, 0, 1<<31-1),
		TelemetryTTL: r.Duration("TELEMETRY_NODE_TTL", defaultTelemetryTTL, time.Second),
	}
	c.LogLevel = r.LogLevel()
	switch c.Backend {
	case "postgres":
		r.Errorf("GRAPH_BACKEND", "%q is not available in this build (only embedded is)", c.Backend)
	case "neo4j":
		c.Neo4j = neo4jConfig{
			URI:      r.Required("NEO4J_URI"),
			User:     r.String("NEO4J_USER", ""),
			Password: envconf.Secret(r.String("NEO4J_PASSWORD", "")),
			Database: r.String("NEO4J_DATABASE", "neo4j"),
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
	if c.TelemetryTTL < time.Second {
		r.Errorf("TELEMETRY_NODE_TTL", "%s is below 1s", c.TelemetryTTL)
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
		slog.String("MESHQ_DATA_DIR", c.DataDir),
		slog.String("GRAPH_BACKEND", c.Backend),
		slog.String("REDIS_URL", envconf.RedactURL(c.RedisURL.Reveal())),
		slog.String("LOG_LEVEL", c.LogLevel.String()),
		slog.Int64("MAX_BODY_BYTES", c.MaxBodyBytes),
		slog.Int64("MAX_HEADER_BYTES", c.MaxHeader),
		slog.String("BLAST_RADIUS_ROOT_ROLES", strings.Join(c.RootRoles, ",")),
		slog.Bool("MESHQ_DEMO", c.Demo),
		slog.Int("MESHQ_DEMO_DEVICES", c.DemoDevices),
		slog.Int("MESHQ_DEMO_SEED", c.DemoSeed),
		slog.String("TELEMETRY_NODE_TTL", c.TelemetryTTL.String()),
		slog.String("NEO4J_URI", envconf.RedactURL(c.Neo4j.URI)),
		slog.String("NEO4J_USER", c.Neo4j.User),
		slog.Any("NEO4J_PASSWORD", c.Neo4j.Password),
		slog.String("NEO4J_DATABASE", c.Neo4j.Database),
	)
}
