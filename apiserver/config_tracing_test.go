package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfigTracing(t *testing.T) {
	c, err := loadConfig(env(map[string]string{"HOME": t.TempDir(),
		"TRACING_SLOS":            `[{"name":"chat","service":"inference-*","latency_ms":500},{"name":"p99","percentile":99,"latency_ms":800,"window":"5m"}]`,
		"TRACING_MAX_BATCH_SPANS": "500", "TRACING_MAX_BODY_BYTES": "1MiB",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tracing.SLOs) != 2 || c.Tracing.SLOs[1].Name != "p99" || time.Duration(c.Tracing.SLOs[1].Window) != 5*time.Minute ||
		c.Tracing.MaxBatch != 500 || c.Tracing.MaxBody != 1<<20 || c.Tracing.RingSize != 65536 {
		t.Errorf("tracing config = %+v", c.Tracing)
	}
	// A bad SLO list stops the start naming the variable, the entry and the
	// field; so does a body limit above MAX_BODY_BYTES.
	_, err = loadConfig(env(map[string]string{"HOME": t.TempDir(),
		"TRACING_SLOS":           `[{"name":"chat","latency_ms":500},{"name":"p99","percentile":99,"latency_ms":800}]`,
		"TRACING_MAX_BODY_BYTES": "2MiB", "MAX_BODY_BYTES": "1MiB",
	}))
	for _, want := range []string{`TRACING_SLOS`, `entry 1 ("p99"): field window: is required with percentile`,
		"TRACING_MAX_BODY_BYTES: 2097152 is outside 1KiB..MAX_BODY_BYTES (1048576)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("loadConfig = %v, want it to say %q", err, want)
		}
	}
}
