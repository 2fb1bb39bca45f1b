package main

import (
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/tail"
	"github.com/meshoptixiq/mesh/common/envconf"
)

// config is the whole environment of the shipper, read in one place.
type config struct {
	LogLevel slog.Level

	Path     string // AUDIT_LOG_PATH
	Backend  string // AUDIT_LOG_BACKEND
	Listen   string // SHIPPER_LISTEN
	StateDir string // SHIPPER_STATE_DIR

	SplunkURL        string
	SplunkToken      envconf.Secret
	SplunkAck        bool
	SplunkChannel    string
	SplunkIndex      string
	SplunkSource     string
	SplunkSourcetype string
	SplunkAckPoll    time.Duration
	SplunkAckTimeout time.Duration

	ESURL      string
	ESIndex    string
	ESAPIKey   envconf.Secret
	ESUsername string
	ESPassword envconf.Secret

	WebhookURL    string
	WebhookToken  envconf.Secret
	WebhookSecret envconf.Secret

	TLSCAFile     string
	TLSRootCAs    *x509.CertPool // SHIPPER_TLS_CA_FILE parsed; nil means the system roots
	TLSSkipVerify bool

	BatchBytes     int
	BatchRecords   int
	Concurrency    int
	QueueBatches   int
	MaxLineBytes   int
	MaxOpenFiles   int
	PollInterval   time.Duration
	RotateWait     time.Duration
	StartAtEnd     bool
	DisableNotify  bool
	RetryMin       time.Duration
	RetryMax       time.Duration
	AuthRetry      time.Duration
	RequestTimeout time.Duration
	DrainTimeout   time.Duration
}

// loadConfig reads and validates the environment, reporting every problem.
func loadConfig(getenv func(string) string) (config, error) {
	r := envconf.New(getenv)
	var c config
	c.LogLevel = r.LogLevel()

	c.Path = r.String("AUDIT_LOG_PATH", "./var/audit/audit.jsonl")
	if _, err := filepath.Match(c.Path, ""); err != nil {
		r.Errorf("AUDIT_LOG_PATH", "%q is not a valid path or glob: %v", c.Path, err)
	}
	c.Backend = r.Enum("AUDIT_LOG_BACKEND", "stdout", "stdout", "splunk", "elasticsearch", "opensearch", "webhook")
	c.Listen = r.Listen("SHIPPER_LISTEN", ":9102")
	c.StateDir = r.String("SHIPPER_STATE_DIR", "./var/shipper")

	switch c.Backend {
	case "splunk":
		c.SplunkURL = httpURL(r, "SPLUNK_HEC_URL", true)
		c.SplunkToken = envconf.Secret(r.Required("SPLUNK_HEC_TOKEN"))
	case "elasticsearch", "opensearch":
		c.ESURL = httpURL(r, "ES_URL", true)
	case "webhook":
		c.WebhookURL = httpURL(r, "AUDIT_WEBHOOK_URL", true)
	}
	c.SplunkAck = r.Bool("SPLUNK_HEC_ACK", false)
	c.SplunkChannel = r.String("SPLUNK_HEC_CHANNEL", "")
	c.SplunkIndex = r.String("SPLUNK_HEC_INDEX", "")
	c.SplunkSource = r.String("SPLUNK_HEC_SOURCE", "meshq-auditshipper")
	c.SplunkSourcetype = r.String("SPLUNK_HEC_SOURCETYPE", "meshq:audit")
	c.SplunkAckPoll = positive(r, "SPLUNK_HEC_ACK_POLL", 500*time.Millisecond)
	c.SplunkAckTimeout = positive(r, "SPLUNK_HEC_ACK_TIMEOUT", time.Minute)
	c.ESIndex = r.String("ES_INDEX", "meshq-audit")
	if enterpriseBackend(c.Backend) {
		checkEnterpriseBackend(r, c)
	}
	c.ESAPIKey = envconf.Secret(r.String("ES_API_KEY", ""))
	c.ESUsername = r.String("ES_USERNAME", "")
	c.ESPassword = envconf.Secret(r.String("ES_PASSWORD", ""))
	c.WebhookToken = envconf.Secret(r.String("AUDIT_WEBHOOK_TOKEN", ""))
	c.WebhookSecret = envconf.Secret(r.String("AUDIT_WEBHOOK_SECRET", ""))
	c.TLSCAFile = r.String("SHIPPER_TLS_CA_FILE", "")
	if c.TLSCAFile != "" {
		pool, err := loadCABundle(c.TLSCAFile)
		if err != nil {
			r.Errorf("SHIPPER_TLS_CA_FILE", "%v", err)
		}
		c.TLSRootCAs = pool
	}
	c.TLSSkipVerify = r.Bool("SHIPPER_TLS_SKIP_VERIFY", false)

	c.BatchBytes = int(r.Bytes("SHIPPER_BATCH_BYTES", 1<<20))
	if c.BatchBytes < 1024 || c.BatchBytes > 64<<20 {
		r.Errorf("SHIPPER_BATCH_BYTES", "%d is outside 1KiB..64MiB", c.BatchBytes)
	}
	c.BatchRecords = r.Int("SHIPPER_BATCH_RECORDS", 5000, 1, 1_000_000)
	c.Concurrency = r.Int("SHIPPER_CONCURRENCY", 2, 1, 64)
	c.QueueBatches = r.Int("SHIPPER_QUEUE_BATCHES", 2, 1, 1024)
	c.MaxLineBytes = int(r.Bytes("SHIPPER_MAX_LINE_BYTES", 1<<20))
	if c.MaxLineBytes < 1024 || c.MaxLineBytes > 64<<20 {
		r.Errorf("SHIPPER_MAX_LINE_BYTES", "%d is outside 1KiB..64MiB", c.MaxLineBytes)
	}
	c.MaxOpenFiles = r.Int("SHIPPER_MAX_OPEN_FILES", tail.DefaultMaxOpenFiles(), 1, 65536)
	c.PollInterval = positive(r, "SHIPPER_POLL_INTERVAL", 250*time.Millisecond)
	c.RotateWait = r.Duration("SHIPPER_ROTATE_WAIT", 5*time.Second, time.Second)
	c.StartAtEnd = r.Enum("SHIPPER_START_AT", "beginning", "beginning", "end") == "end"
	c.DisableNotify = !r.Bool("SHIPPER_FSNOTIFY", true)
	c.RetryMin = positive(r, "SHIPPER_RETRY_MIN", 200*time.Millisecond)
	c.RetryMax = positive(r, "SHIPPER_RETRY_MAX", 30*time.Second)
	if c.RetryMax < c.RetryMin {
		r.Errorf("SHIPPER_RETRY_MAX", "%s is less than SHIPPER_RETRY_MIN %s", c.RetryMax, c.RetryMin)
	}
	c.AuthRetry = positive(r, "SHIPPER_AUTH_RETRY", time.Minute)
	c.RequestTimeout = positive(r, "SHIPPER_REQUEST_TIMEOUT", 30*time.Second)
	c.DrainTimeout = r.Duration("SHIPPER_DRAIN_TIMEOUT", 10*time.Second, time.Second)
	return c, r.Err()
}

// enterpriseBackend reports whether backend is one of the enterprise sinks
// (sinks_enterprise.go), which the standard build leaves out.
func enterpriseBackend(backend string) bool {
	return backend == "splunk" || backend == "elasticsearch" || backend == "opensearch"
}

// loadCABundle reads a PEM bundle; a file without a single certificate is
// an error rather than an empty pool that trusts nothing.
func loadCABundle(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no PEM certificates in %s", path)
	}
	return pool, nil
}

func positive(r *envconf.Reader, name string, def time.Duration) time.Duration {
	d := r.Duration(name, def, time.Second)
	if d <= 0 {
		r.Errorf(name, "must be greater than zero")
		return def
	}
	return d
}

func httpURL(r *envconf.Reader, name string, required bool) string {
	var v string
	if required {
		v = r.Required(name)
	} else {
		v = r.String(name, "")
	}
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.Errorf(name, "%q is not an http(s) URL", v)
	}
	return v
}

// LogValue is the effective configuration with secrets redacted.
func (c config) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("AUDIT_LOG_PATH", c.Path), slog.String("AUDIT_LOG_BACKEND", c.Backend),
		slog.String("SHIPPER_LISTEN", c.Listen), slog.String("SHIPPER_STATE_DIR", c.StateDir),
		slog.Int("SHIPPER_BATCH_BYTES", c.BatchBytes), slog.Int("SHIPPER_BATCH_RECORDS", c.BatchRecords),
		slog.Int("SHIPPER_CONCURRENCY", c.Concurrency), slog.Int("SHIPPER_QUEUE_BATCHES", c.QueueBatches),
		slog.Int("SHIPPER_MAX_OPEN_FILES", c.MaxOpenFiles),
		slog.String("SHIPPER_POLL_INTERVAL", c.PollInterval.String()), slog.String("SHIPPER_ROTATE_WAIT", c.RotateWait.String()),
		slog.String("SHIPPER_REQUEST_TIMEOUT", c.RequestTimeout.String()), slog.String("SHIPPER_DRAIN_TIMEOUT", c.DrainTimeout.String()),
		slog.String("SHIPPER_RETRY_MIN", c.RetryMin.String()), slog.String("SHIPPER_RETRY_MAX", c.RetryMax.String()),
		slog.String("SHIPPER_AUTH_RETRY", c.AuthRetry.String()),
	}
	switch c.Backend {
	case "splunk":
		attrs = append(attrs, slog.String("SPLUNK_HEC_URL", c.SplunkURL), slog.String("SPLUNK_HEC_TOKEN", c.SplunkToken.String()),
			slog.Bool("SPLUNK_HEC_ACK", c.SplunkAck), slog.String("SPLUNK_HEC_INDEX", c.SplunkIndex))
	case "elasticsearch", "opensearch":
		attrs = append(attrs, slog.String("ES_URL", c.ESURL), slog.String("ES_INDEX", c.ESIndex),
			slog.String("ES_API_KEY", c.ESAPIKey.String()), slog.String("ES_USERNAME", c.ESUsername), slog.String("ES_PASSWORD", c.ESPassword.String()))
	case "webhook":
		attrs = append(attrs, slog.String("AUDIT_WEBHOOK_URL", c.WebhookURL), slog.String("AUDIT_WEBHOOK_TOKEN", c.WebhookToken.String()),
			slog.String("AUDIT_WEBHOOK_SECRET", c.WebhookSecret.String()))
	}
	return slog.GroupValue(attrs...)
}
