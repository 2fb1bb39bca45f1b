// Command authsidecar is the only door to the apiserver: it authenticates
// every request (API keys, OIDC bearer JWTs, personal access tokens),
// authorises it against the hot-reloaded RBAC policy, rate-limits it, tells
// the apiserver who is calling through X-Meshq-* headers it alone may set,
// audits it and fires SOAR webhooks.
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
	secrets.Start("authsidecar")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "authsidecar:", err)
		os.Exit(1)
	}
}
