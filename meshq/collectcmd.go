package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/meshoptixiq/mesh/meshq/collect"
	"github.com/meshoptixiq/mesh/meshq/inventory"
	"github.com/meshoptixiq/mesh/meshq/parse"
)

func (a *app) collectCommand() *cobra.Command {
	var source, cache, mode string
	var workers, retries int
	var backoff time.Duration
	var ingest bool
	c := &cobra.Command{
		Use:   "collect --source inventory.yaml --cache DIR [--ingest]",
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
or refused any command (its summary line says which and why).

--ingest runs the rest of the pipeline: the cache is parsed as "meshq parse"
does (its report on standard error) and the devices that gave facts are
uploaded as "meshq ingest" does (--mode merge, the default, or replace), so
that a failed device keeps the facts the graph had of it. Exit status 1 as
above, else 3 when the parse left something out, else 0; nothing is
uploaded when no device gave any facts.`,
		Example: `  meshq collect --source inventory.yaml --cache var/collect
  meshq collect --source inventory.yaml --cache var/collect --workers 32 --retries 3
  meshq collect --source inventory.yaml --cache var/collect --ingest`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source == "" {
				return usagef("collect needs --source inventory.yaml")
			}
			if workers < 1 || retries < 0 {
				return usagef("--workers must be at least 1 and --retries at least 0")
			}
			if mode != "merge" && mode != "replace" {
				return usagef("--mode %s: expected merge or replace", mode)
			}
			inv, err := inventory.Load(source, a.getenv)
			if err != nil {
				return err
			}
			var s *session
			if ingest {
				// Before any device is touched: an upload that cannot
				// happen should not cost a collection first.
				if s, err = a.session(true); err != nil {
					return err
				}
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
			failed := a.printCollectSummary(results)
			if ingest {
				clean, err := a.parseAndIngest(cmd.Context(), s, cache, mode)
				if err != nil {
					return err
				}
				if failed == 0 && !clean {
					return exitError{exitPartial}
				}
			}
			if failed > 0 {
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
	c.Flags().BoolVar(&ingest, "ingest", false, "parse the cache and upload the facts (meshq parse | meshq ingest -)")
	c.Flags().StringVar(&mode, "mode", "merge", "with --ingest: merge or replace")
	return c
}

// parseAndIngest parses the cache, prints the report and uploads the
// document; it reports whether the parse left nothing out.
func (a *app) parseAndIngest(ctx context.Context, s *session, cache, mode string) (bool, error) {
	doc, rep, err := parse.CacheWith(cache, parse.Options{NTCTemplates: a.getenv(parse.NTCTemplatesEnv)})
	if err != nil {
		return false, err
	}
	parse.WriteReport(a.errOut, rep)
	if len(doc.Devices) == 0 {
		return false, fmt.Errorf("no device in %s gave any facts; nothing uploaded", cache)
	}
	var buf bytes.Buffer
	if err := parse.WriteDocument(&buf, doc); err != nil {
		return false, err
	}
	gzipOK := true
	if err := a.ingestOne(ctx, s, "collected facts", buf.Bytes(), mode, &gzipOK); err != nil {
		return false, fmt.Errorf("uploading the collected facts: %w", err)
	}
	return rep.Clean(), nil
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
