// Command nodeagent is the mesh's privileged per-node agent: eBPF TCP
// telemetry, NVML GPU/NVLink topology and NCCL facts, reported to Redis
// streams or the apiserver, with its own /metrics, /livez and /readyz.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshoptixiq/mesh/common/secrets/launch"
)

func main() {
	// Not secrets.Start: the secrets managers' SDKs would be a third of the
	// agent's memory on every node; the helper secretsexec fetches instead.
	launch.Start("nodeagent")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodeagent:", err)
		os.Exit(1)
	}
}
