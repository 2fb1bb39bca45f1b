// Command auditshipper tails the audit log the authsidecar writes and ships
// every record, at least once, to Splunk HEC, Elasticsearch, OpenSearch, a
// webhook or stdout.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshoptixiq/mesh/common/secrets"
)

func main() {
	secrets.Start("auditshipper")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "auditshipper:", err)
		os.Exit(1)
	}
}
