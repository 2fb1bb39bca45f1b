// Command meshq is the command-line client of the MeshOptixIQ pod: it logs
// in through the sidecar (OIDC device flow, then a personal access token),
// runs named queries, uploads and validates facts documents and starts
// NetBox syncs. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/meshoptixiq/mesh/common/obs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// app is one invocation: its environment, streams and global flags.
type app struct {
	getenv func(string) string
	in     io.Reader
	out    io.Writer
	errOut io.Writer
	// terminal reports whether w is a terminal (tables, prompts, progress).
	terminal func(w any) bool
	server   string
	timeout  time.Duration
}

// exitError carries an exit status; its message is already printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes one command line and returns the exit status: 0 success,
// 1 a failed operation (the server's message is printed), 2 a usage error.
func run(ctx context.Context, args []string, getenv func(string) string, in io.Reader, out, errOut io.Writer) int {
	a := &app{getenv: getenv, in: in, out: out, errOut: errOut, terminal: isTerminal}
	root := a.rootCommand()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		fmt.Fprintln(errOut, "meshq:", err)
		fmt.Fprintln(errOut, "Run 'meshq --help' for usage.")
		return 2
	}
	fmt.Fprintln(errOut, "meshq:", err)
	return 1
}

// usageError is a command line that cannot be carried out as written.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// isCobraUsage recognises cobra's complaint about an unknown command,
// which it returns as a plain error (flag and argument errors are turned
// into usageError where they arise).
func isCobraUsage(err error) bool {
	return strings.HasPrefix(err.Error(), "unknown command ")
}

// usageArgs makes every argument-count error a usage error.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err.Error()}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "meshq",
		Short: "Command-line client of the MeshOptixIQ pod",
		Long: `meshq talks to a MeshOptixIQ pod through its sidecar: log in once, then run
named queries, upload or check facts documents and sync with NetBox.

The server is --server, else $MESHQ_URL, else the one you logged in to.
Credentials live in $XDG_CONFIG_HOME/meshq/credentials (~/.config/meshq/credentials);
an API key in $MESHQ_API_KEY is used instead when set (CI).`,
		Example: `  meshq login --server https://meshq.example.net
  meshq queries
  meshq query all_devices limit=5
  meshq ingest facts.json
  meshq completion bash > /etc/bash_completion.d/meshq`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Before the completion command is made: it keeps the writer it finds.
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	root.PersistentFlags().StringVar(&a.server, "server", "", "pod URL, e.g. https://meshq.example.net (default $MESHQ_URL, else the credentials file's)")
	root.PersistentFlags().DurationVar(&a.timeout, "timeout", 60*time.Second, "limit for each request (uploads excepted)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.SetHelpCommand(&cobra.Command{Use: "help [command]", Short: "Help about any command", Example: "  meshq help query",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, _, err := c.Root().Find(args)
			if err != nil || cmd == nil {
				return usagef("unknown help topic %q", args)
			}
			return cmd.Help()
		}})
	root.AddCommand(a.loginCommand(), a.logoutCommand(), a.whoamiCommand(),
		a.queriesCommand(), a.queryCommand(), a.ingestCommand(), a.validateCommand(), a.syncCommand(), a.collectCommand(),
		a.versionCommand())
	root.AddCommand(a.parseCommand())
	// Cobra's completion command, with examples like every other.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  meshq completion bash > /etc/bash_completion.d/meshq\n  meshq completion zsh > \"${fpath[1]}/_meshq\""
		for _, sh := range c.Commands() {
			sh.Example = "  source <(meshq completion " + sh.Name() + ")"
		}
	}
	usageArgs(root)
	return root
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print meshq's version and VCS revision",
		Example: "  meshq version",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(a.out, "meshq", obs.ReadBuild())
			return err
		},
	}
}

// httpClient is the client for ordinary requests (bounded by --timeout).
func (a *app) httpClient() *http.Client {
	return &http.Client{Timeout: a.timeout}
}
