// Command apiserver answers named queries over the network graph held in
// the embedded store. With no arguments it serves HTTP on
// API_LISTEN; "apiserver ingest FILE..." loads facts into the store
// offline, "apiserver validate FILE..." checks them without a store, and
// "apiserver demo" writes a generated demo network.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshoptixiq/mesh/common/envconf"
	"github.com/meshoptixiq/mesh/common/secrets"

	"github.com/meshoptixiq/mesh/common/obs"
)

func main() {
	secrets.Start("apiserver")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "apiserver:", err)
		os.Exit(1)
	}
}

// usage is printed for -h and unknown subcommands.
const usage = `usage:
  apiserver                                   serve the API on API_LISTEN
  apiserver ingest [--mode merge|replace] [--progress] FILE...
                                              load meshq.facts/v1 documents (plain or gzip; - for stdin) into the store
  apiserver validate FILE...                  check documents offline with the ingest's checks; every problem
                                              with its path, and the ingest's warnings; exit 1 on problems
  apiserver demo [--devices N] [--seed S] [-o FILE]
                                              write a generated demo network (facts document)
  apiserver migrate                           apply the store's schema migrations (GRAPH_BACKEND=postgres;
                                              the server also applies them at start)
  apiserver export suzieq [--facts FILE]... [--namespace NS] [--layout poller|coalesced] DIR
                                              write the store's network (or the facts files) as SuzieQ's parquet
                                              tables into DIR, which must be new or empty
  apiserver version                           print the version and VCS revision
  apiserver license keygen --private-key FILE make a licence signing key pair
  apiserver license issue --private-key FILE --plan P [--expires YYYY-MM-DD] [--devices N] [--licensee NAME]
                                              sign a licence key (printed)
  apiserver probe [PATH]                      exit 0 if the server on API_LISTEN answers 200 on PATH
                                              (default /health/ready): the pod's exec probe
`

// run is the whole daemon; main and the tests drive it the same way.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return serve(ctx, getenv, stderr)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, getenv, stderr)
	case "ingest":
		return ingestCmd(ctx, args[1:], getenv, stdout, stderr)
	case "validate":
		return validateCmd(args[1:], stdout, stderr)
	case "demo":
		return demoCmd(args[1:], stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, getenv, stdout)
	case "export":
		return exportCmd(ctx, args[1:], getenv, stdout, stderr)
	case "license":
		return licenseCmd(args[1:], stdout, stderr)
	case "probe":
		return probeCmd(ctx, args[1:], getenv, stdout)
	case "version", "--version", "-version":
		_, err := fmt.Fprintln(stdout, "apiserver", obs.ReadBuild())
		return err
	case "-h", "--help", "help":
		return envconf.WriteHelp(stdout, usage, func(getenv func(string) string) { _, _ = loadConfig(getenv) })
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown subcommand %q", args[0])
}
