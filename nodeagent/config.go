package main

import (
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshoptixiq/mesh/common/envconf"
	"github.com/meshoptixiq/mesh/nodeagent/gpu/gpufixture"
)

// config is the agent's whole environment, read and validated in one place.
type config struct {
	Listen         string
	Node           string
	RedisURL       envconf.Secret
	APIServerURL   string
	APIKey         envconf.Secret
	ReportInterval time.Duration
	ReportTimeout  time.Duration
	StreamMaxLen   int
	MaxEvents      int

	EBPF          string // auto, on, off
	RingBytes     int64
	WakeupBytes   int64
	FlushInterval time.Duration
	MaxConns      int
	ProcRoot      string

	GPUFixture string // test only: a gpufixture name instead of the real driver

	NCCLTopoFile   string
	NCCLLogs       []string // globs
	NCCLTraces     []string // globs
	HangFactor     int
	HangWindow     int
	HangMinSamples int

	LogLevel slog.Level
}

func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	host, _ := os.Hostname()
	c := config{
		Listen:         r.Listen("NODEAGENT_LISTEN", ":9103"),
		Node:           r.String("NODE_NAME", host),
		RedisURL:       r.RedisURL(),
		APIServerURL:   r.String("APISERVER_URL", "http://127.0.0.1:8080"),
		APIKey:         envconf.Secret(r.String("NODEAGENT_API_KEY", "")),
		ReportInterval: r.Duration("NODEAGENT_REPORT_INTERVAL", 10*time.Second, time.Second),
		ReportTimeout:  r.Duration("NODEAGENT_REPORT_TIMEOUT", 5*time.Second, time.Second),
		StreamMaxLen:   r.Int("NODEAGENT_STREAM_MAXLEN", 360, 1, 1_000_000),
		MaxEvents:      r.Int("NODEAGENT_MAX_EVENTS", 10000, 0, 10_000_000),
		EBPF:           r.Enum("NODEAGENT_EBPF", "auto", "auto", "on", "off"),
		RingBytes:      r.Bytes("NODEAGENT_RINGBUF_BYTES", 8<<20),
		WakeupBytes:    r.Bytes("NODEAGENT_WAKEUP_BYTES", 256<<10),
		FlushInterval:  r.Duration("NODEAGENT_FLUSH_INTERVAL", 100*time.Millisecond, time.Millisecond),
		MaxConns:       r.Int("NODEAGENT_MAX_CONNS", 1<<18, 1, 1<<24),
		ProcRoot:       r.String("NODEAGENT_PROC_ROOT", "/proc"),
		GPUFixture:     r.String("NODEAGENT_GPU_FIXTURE", ""),
		NCCLTopoFile:   r.String("NCCL_TOPO_DUMP_FILE", ""),
		NCCLLogs:       r.List("NODEAGENT_NCCL_LOGS", nil),
		NCCLTraces:     r.List("NODEAGENT_NCCL_TRACES", nil),
		HangFactor:     r.Int("NODEAGENT_NCCL_HANG_FACTOR", 10, 2, 1000),
		HangWindow:     r.Int("NODEAGENT_NCCL_HANG_WINDOW", 100, 1, 100000),
		HangMinSamples: r.Int("NODEAGENT_NCCL_HANG_MIN_SAMPLES", 3, 1, 100000),
	}
	c.LogLevel = r.LogLevel()
	c.validate(r)
	return c, r.Err()
}

func (c config) validate(r *envconf.Reader) {
	if c.Node == "" {
		r.Errorf("NODE_NAME", "required (the hostname could not be read)")
	}
	if c.RedisURL == "" {
		if path, ok := strings.CutPrefix(c.APIServerURL, "unix:"); ok {
			if path == "" {
				r.Errorf("APISERVER_URL", "unix: needs a socket path")
			}
		} else if u, err := url.Parse(c.APIServerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.Errorf("APISERVER_URL", "%q is not an http(s) URL or unix:/path", c.APIServerURL)
		}
	}
	if c.ReportInterval < 100*time.Millisecond {
		r.Errorf("NODEAGENT_REPORT_INTERVAL", "%s is under 100ms", c.ReportInterval)
	}
	if c.ReportTimeout <= 0 {
		r.Errorf("NODEAGENT_REPORT_TIMEOUT", "must be positive")
	}
	if c.RingBytes < 4096 || c.RingBytes&(c.RingBytes-1) != 0 || c.RingBytes > 1<<30 {
		r.Errorf("NODEAGENT_RINGBUF_BYTES", "%d is not a power of two between 4KiB and 1GiB", c.RingBytes)
	}
	if c.WakeupBytes < 1 || c.WakeupBytes > c.RingBytes {
		r.Errorf("NODEAGENT_WAKEUP_BYTES", "%d is not between 1 and NODEAGENT_RINGBUF_BYTES", c.WakeupBytes)
	}
	if c.FlushInterval < time.Millisecond || c.FlushInterval > 10*time.Second {
		r.Errorf("NODEAGENT_FLUSH_INTERVAL", "%s is not between 1ms and 10s", c.FlushInterval)
	}
	if c.GPUFixture != "" {
		if _, err := gpufixture.New(c.GPUFixture); err != nil {
			r.Errorf("NODEAGENT_GPU_FIXTURE", "%v", err)
		}
	}
	for _, g := range append(append([]string(nil), c.NCCLLogs...), c.NCCLTraces...) {
		if _, err := filepath.Match(g, ""); err != nil {
			r.Errorf("NODEAGENT_NCCL_LOGS/NODEAGENT_NCCL_TRACES", "%q is not a valid glob", g)
		}
	}
}

// LogValue is the effective configuration with secrets redacted: the API
// key, and any user info (user and password) in the Redis and apiserver
// URLs. Durations are logged as strings ("10s").
func (c config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("listen", c.Listen), slog.String("node", c.Node), slog.String("redis_url", envconf.RedactURL(c.RedisURL.Reveal())),
		slog.String("apiserver_url", envconf.RedactURL(c.APIServerURL)), slog.String("api_key", c.APIKey.String()),
		slog.String("report_interval", c.ReportInterval.String()), slog.String("report_timeout", c.ReportTimeout.String()),
		slog.Int("stream_maxlen", c.StreamMaxLen), slog.Int("max_events", c.MaxEvents), slog.String("ebpf", c.EBPF),
		slog.Int64("ringbuf_bytes", c.RingBytes), slog.Int64("wakeup_bytes", c.WakeupBytes),
		slog.String("flush_interval", c.FlushInterval.String()), slog.Int("max_conns", c.MaxConns), slog.String("proc_root", c.ProcRoot),
		slog.String("gpu_fixture", c.GPUFixture), slog.String("nccl_topo_dump_file", c.NCCLTopoFile),
		slog.Any("nccl_logs", c.NCCLLogs), slog.Any("nccl_traces", c.NCCLTraces),
		slog.Int("hang_factor", c.HangFactor), slog.Int("hang_window", c.HangWindow),
		slog.String("log_level", c.LogLevel.String()),
	)
}
