package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// syncCounts are the per-direction figures of a sync report.
var syncCounts = []string{"matched", "unmatched", "created", "updated", "unchanged", "failed"}

func (a *app) syncCommand() *cobra.Command {
	var (
		target, direction, output string
		dryRun                    bool
	)
	cmd := &cobra.Command{
		Use:   "sync --target netbox --direction pull|push|both [--dry-run]",
		Short: "Synchronise the graph with NetBox",
		Long: `sync asks the apiserver to synchronise with NetBox (POST /admin/netbox/sync):
pull writes NetBox's site, tenant, rack and role onto the matching devices;
push creates or updates NetBox devices from the graph; both does pull, then
push. It prints, per direction, how many objects were matched, unmatched,
created, updated, unchanged and failed, and for --dry-run every change it
would make (object, field, old, new) without writing anything.

Exit status 1 when any object failed. Needs the admin_netbox_sync permission.`,
		Example: `  meshq sync --target netbox --direction pull --dry-run
  meshq sync --target netbox --direction both
  meshq sync --target netbox --direction push -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target != "netbox" {
				return usagef("--target %s: the only target is netbox", target)
			}
			if direction != "pull" && direction != "push" && direction != "both" {
				return usagef("--direction %s: expected pull, push or both", direction)
			}
			format, err := a.outputFormat(output)
			if err != nil {
				return err
			}
			s, err := a.session(true)
			if err != nil {
				return err
			}
			resp, err := s.do(cmd.Context(), request{method: http.MethodPost, path: "/admin/netbox/sync",
				json: map[string]any{"direction": direction, "dry_run": dryRun}, client: uploadClient})
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeIndented(a.out, raw)
			}
			rep, err := parseSyncReport(raw)
			if err != nil {
				return fmt.Errorf("POST /admin/netbox/sync: %w", err)
			}
			failed := a.printSyncReport(rep, format, dryRun)
			if failed > 0 {
				fmt.Fprintf(a.errOut, "%d objects failed.\n", failed)
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "target", "netbox", "what to sync with (netbox)")
	cmd.Flags().StringVar(&direction, "direction", "pull", "pull, push or both")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would change, write nothing")
	cmd.Flags().StringVarP(&output, "output", "o", "", "table, json or csv (default table on a terminal, else json)")
	cmd.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"pull", "push", "both"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("target", cobra.FixedCompletions([]string{"netbox"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// syncDirection is one direction's part of the report.
type syncDirection struct {
	Name    string
	Counts  map[string]json.RawMessage
	Changes []map[string]json.RawMessage
	Errors  []json.RawMessage
}

// parseSyncReport reads the report: one object per direction, either at
// the top ("pull": {...}, "push": {...}), under "directions" (an object
// keyed by direction, or a list whose items name their "direction"), with
// the counts, "changes" (object, field, old, new) and "errors"/"failures"
// in each, or changes at the top carrying their "direction".
func parseSyncReport(raw []byte) ([]syncDirection, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("the report is not a JSON object: %w", err)
	}
	byName := map[string]map[string]json.RawMessage{}
	for _, d := range []string{"pull", "push"} {
		var obj map[string]json.RawMessage
		if json.Unmarshal(top[d], &obj) == nil && obj != nil {
			byName[d] = obj
		}
	}
	for _, key := range []string{"directions", "report", "results"} {
		var asMap map[string]map[string]json.RawMessage
		if json.Unmarshal(top[key], &asMap) == nil {
			for k, v := range asMap {
				byName[k] = v
			}
		}
		var asList []map[string]json.RawMessage
		if json.Unmarshal(top[key], &asList) == nil {
			for _, v := range asList {
				var name string
				json.Unmarshal(v["direction"], &name)
				if name != "" {
					byName[name] = v
				}
			}
		}
	}
	if len(byName) == 0 {
		return nil, fmt.Errorf("the report names no direction (pull, push)")
	}
	var topChanges []map[string]json.RawMessage
	json.Unmarshal(top["changes"], &topChanges)
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	// pull runs before push.
	sort.Strings(names)
	out := make([]syncDirection, 0, len(names))
	for _, n := range names {
		obj := byName[n]
		d := syncDirection{Name: n, Counts: map[string]json.RawMessage{}}
		counts := obj
		var nested map[string]json.RawMessage
		if json.Unmarshal(obj["counts"], &nested) == nil && nested != nil {
			counts = nested
		}
		for _, c := range syncCounts {
			d.Counts[c] = counts[c]
		}
		json.Unmarshal(obj["changes"], &d.Changes)
		for _, ch := range topChanges {
			var dn string
			json.Unmarshal(ch["direction"], &dn)
			if dn == n {
				d.Changes = append(d.Changes, ch)
			}
		}
		for _, key := range []string{"errors", "failures"} {
			var list []json.RawMessage
			json.Unmarshal(obj[key], &list)
			d.Errors = append(d.Errors, list...)
		}
		out = append(out, d)
	}
	return out, nil
}

// printSyncReport prints the counts table, then the changes and failures;
// it returns the number of failed objects.
func (a *app) printSyncReport(rep []syncDirection, format string, dryRun bool) int {
	header := []string{"DIRECTION"}
	for _, c := range syncCounts {
		header = append(header, strings.ToUpper(c))
	}
	var rows [][]string
	failed := 0
	for _, d := range rep {
		row := []string{d.Name}
		for _, c := range syncCounts {
			row = append(row, cell(d.Counts[c]))
		}
		if n, err := strconv.Atoi(cell(d.Counts["failed"])); err == nil {
			failed += n
		}
		rows = append(rows, row)
	}
	writeRows(a.out, format, header, rows)
	var changes [][]string
	for _, d := range rep {
		for _, ch := range d.Changes {
			changes = append(changes, []string{d.Name, cell(ch["object"]), cell(ch["field"]), cell(ch["old"]), cell(ch["new"])})
		}
	}
	if len(changes) > 0 || dryRun {
		if dryRun {
			fmt.Fprintf(a.out, "\nChanges a sync would make (dry run, nothing written): %d\n", len(changes))
		} else {
			fmt.Fprintf(a.out, "\nChanges made: %d\n", len(changes))
		}
		if len(changes) > 0 {
			writeRows(a.out, format, []string{"DIRECTION", "OBJECT", "FIELD", "OLD", "NEW"}, changes)
		}
	}
	for _, d := range rep {
		for _, e := range d.Errors {
			fmt.Fprintf(a.errOut, "%s failed: %s\n", d.Name, describeFailure(e))
		}
	}
	return failed
}

// describeFailure renders one failure: a string, or an object with
// object and message (or error).
func describeFailure(raw json.RawMessage) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return cell(raw)
	}
	msg := cell(obj["message"])
	if msg == "" {
		msg = cell(obj["error"])
	}
	if o := cell(obj["object"]); o != "" {
		return o + ": " + msg
	}
	if msg != "" {
		return msg
	}
	return cell(raw)
}
