package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/meshoptixiq/mesh/meshq/collect"
	"github.com/meshoptixiq/mesh/meshq/inventory"
)

func (a *app) collectCommand() *cobra.Command {
	var source, cache string
	var workers, retries int
	var backoff time.Duration
	c := &cobra.Command{
		Use:   "collect --source inventory.yaml --cache DIR",
		Short: "Log in to the inventory's devices over SSH and cache their raw output",
		Long: `collect connects to every device of the inventory over SSH (through its jump
hosts), learns the prompt, enters enable mode where the platform has one, turns
paging off and runs the platform's commands; each device's raw output is
written to the cache directory (DIR/<hostname>/meta.json and one file per
command, with the time collected) for "meshq parse".

Host keys are checked against known_hosts unless the inventory sets
insecure_ignore_host_key. A connect failure or a timeout is retried with
backoff; refused credentials, host keys and rejected commands are not. One
failed device never stops the others. Exit status 1 when any device failed,
or refused any command (its summary line says which and why).`,
		Example: `  meshq collect --source inventory.yaml --cache var/collect
  meshq collect --source inventory.yaml --cache var/collect --workers 32 --retries 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source == "" {
				return usagef("collect needs --source inventory.yaml")
			}
			if workers < 1 || retries < 0 {
				return usagef("--workers must be at least 1 and --retries at least 0")
			}
			inv, err := inventory.Load(source, a.getenv)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			if a.terminal(a.errOut) {
				bar = progressbar.NewOptions(len(inv.Devices), progressbar.OptionSetWriter(a.errOut),
					progressbar.OptionSetDescription("collecting"), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
			}
			results, err := collect.Run(cmd.Context(), inv.Devices, collect.Options{Cache: cache, Workers: workers,
				Retries: retries, Backoff: backoff, Done: func(collect.Result) {
					if bar != nil {
						_ = bar.Add(1)
					}
				}})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			if a.printCollectSummary(results) > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	c.Flags().StringVar(&source, "source", "", "the inventory (inventory.yaml)")
	c.Flags().StringVar(&cache, "cache", "meshq-cache", "the raw cache directory")
	c.Flags().IntVar(&workers, "workers", 8, "devices collected at once")
	c.Flags().IntVar(&retries, "retries", 2, "more sessions after a connect failure or timeout")
	c.Flags().DurationVar(&backoff, "backoff", 2*time.Second, "wait before the first retry (doubles after each)")
	return c
}

// printCollectSummary prints one line per device and the totals, and
// returns how many devices failed (partly or wholly).
func (a *app) printCollectSummary(results []collect.Result) int {
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tTYPE\tSTATUS\tCOMMANDS\tATTEMPTS\tWHY")
	classes := map[string]int{}
	failed := 0
	for _, r := range results {
		status, why := "ok", ""
		if r.Err != nil {
			failed++
			classes[r.Err.Class]++
			status, why = "failed", r.Err.Class+": "+r.Err.Message
			if r.Partial {
				status = "partial"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%d\t%s\n", r.Hostname, r.DeviceType, status, r.Collected, r.Collected+r.Failed, r.Attempts, why)
	}
	_ = tw.Flush()
	line := fmt.Sprintf("%s: %d ok, %d failed", plural(len(results), "device"), len(results)-failed, failed)
	if failed > 0 {
		var parts []string
		for _, c := range sortedClasses(classes) {
			parts = append(parts, fmt.Sprintf("%s %d", c, classes[c]))
		}
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	fmt.Fprintln(a.out, line)
	return failed
}

func sortedClasses(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
