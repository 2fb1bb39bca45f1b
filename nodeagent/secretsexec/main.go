// Command secretsexec fetches the secrets of a daemon built without the
// secrets managers' SDKs (the node agent; see common/secrets/launch) and
// executes it with them merged into its environment:
//
//	secretsexec PROGRAM ARGV0 [ARGS...]
//
// The daemon's launch.Start runs it when SECRETS_PROVIDER is set; it is
// shipped beside the daemon (Dockerfile.agent, make build). Like
// secrets.Start it writes nothing to disk and puts no value in argv.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/meshoptixiq/mesh/common/secrets"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: secretsexec PROGRAM ARGV0 [ARGS...] (run by a daemon that fetches its secrets through it)")
		os.Exit(2)
	}
	program, argv := os.Args[1], os.Args[2:]
	name := filepath.Base(program)
	if err := secrets.Exec(program, argv); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
	// Nothing to fetch (no provider, or fetched already): run it as it is.
	if err := syscall.Exec(program, argv, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, name+": secretsexec: executing it:", err)
		os.Exit(1)
	}
}
