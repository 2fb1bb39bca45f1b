package obs

import (
	"bytes"
	"fmt"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// Lint checks a /metrics exposition with Prometheus' own linter and
// returns its problems as "metric: text" lines. Every daemon's metrics are
// checked with it in the tests, so names stay clean and consistent.
func Lint(exposition []byte) ([]string, error) {
	problems, err := promlint.New(bytes.NewReader(exposition)).Lint()
	if err != nil {
		return nil, fmt.Errorf("parsing the exposition: %w", err)
	}
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = p.Metric + ": " + p.Text
	}
	return out, nil
}
