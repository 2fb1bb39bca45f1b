package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// queryDef is one entry of GET /queries/.
type queryDef struct {
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Tier        string     `json:"tier"`
	Paged       bool       `json:"paged"`
	Write       bool       `json:"write"`
	Columns     []string   `json:"columns"`
	Parameters  []paramDef `json:"parameters"`
}

type paramDef struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Default     any      `json:"default"`
	Description string   `json:"description"`
	Enum        []string `json:"enum"`
}

// outputFlag is -o table|json|csv; "" picks table on a terminal, JSON
// otherwise (for pipes and scripts).
func (a *app) outputFormat(flag string) (string, error) {
	switch flag {
	case "table", "json", "csv":
		return flag, nil
	case "":
		if a.terminal(a.out) {
			return "table", nil
		}
		return "json", nil
	}
	return "", usagef("-o %s: expected table, json or csv", flag)
}

func (a *app) queriesCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "queries",
		Short: "List the named queries and their parameters",
		Long: `queries lists the named queries the server offers (GET /queries/), with their
parameters: name:type, a * marking the required ones.`,
		Example: `  meshq queries
  meshq queries -o json | jq -r '.queries[].name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := a.outputFormat(output)
			if err != nil {
				return err
			}
			s, err := a.session(true)
			if err != nil {
				return err
			}
			resp, err := s.do(cmd.Context(), request{method: http.MethodGet, path: "/queries/"})
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
			var list struct {
				Queries []queryDef `json:"queries"`
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				return fmt.Errorf("GET /queries/: %w", err)
			}
			rows := make([][]string, 0, len(list.Queries))
			for _, q := range list.Queries {
				var ps []string
				for _, p := range q.Parameters {
					mark := ""
					if p.Required {
						mark = "*"
					}
					ps = append(ps, p.Name+mark+":"+p.Type)
				}
				rows = append(rows, []string{q.Name, strings.Join(ps, " "), q.Description})
			}
			return writeRows(a.out, format, []string{"NAME", "PARAMETERS", "DESCRIPTION"}, rows)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "table, json or csv (default table on a terminal, else json)")
	return cmd
}

func (a *app) queryCommand() *cobra.Command {
	var (
		output string
		all    bool
	)
	cmd := &cobra.Command{
		Use:   "query NAME [PARAMETER=VALUE...]",
		Short: "Run a named query",
		Long: `query runs a named query (POST /queries/NAME/execute). Parameters are
PARAMETER=VALUE words, converted to the type the query declares: int, bool
(true/false), object (JSON), string, ip, prefix and mac as written.

A paged query answers one page; --all follows next_cursor to the end and
prints every row. Errors are the server's message, with a non-zero exit.`,
		Example: `  meshq query summary_stats
  meshq query all_devices limit=5
  meshq query all_devices --all -o csv > devices.csv
  meshq query path_analysis src_ip=10.0.1.10 dst_ip=10.0.2.20 -o json`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			return a.completeQuery(cmd.Context(), args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := a.outputFormat(output)
			if err != nil {
				return err
			}
			s, err := a.session(true)
			if err != nil {
				return err
			}
			return a.runQuery(cmd.Context(), s, args[0], args[1:], all, format)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "table, json or csv (default table on a terminal, else json)")
	cmd.Flags().BoolVar(&all, "all", false, "follow next_cursor and print every page")
	return cmd
}

// completeQuery completes query names, then PARAMETER= of the query named.
func (a *app) completeQuery(ctx context.Context, args []string) ([]string, cobra.ShellCompDirective) {
	s, err := a.session(true)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	if len(args) == 0 {
		var list struct {
			Queries []queryDef `json:"queries"`
		}
		if s.getJSON(ctx, "/queries/", &list) != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, q := range list.Queries {
			out = append(out, q.Name+"\t"+q.Description)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	var def queryDef
	if s.getJSON(ctx, "/queries/"+url.PathEscape(args[0]), &def) != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, p := range def.Parameters {
		out = append(out, p.Name+"=\t"+p.Type+" "+p.Description)
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

func (a *app) runQuery(ctx context.Context, s *session, name string, words []string, all bool, format string) error {
	var def queryDef
	if err := s.getJSON(ctx, "/queries/"+url.PathEscape(name), &def); err != nil {
		return err
	}
	params, err := convertParams(def, words)
	if err != nil {
		return err
	}
	var (
		columns []string
		rows    []map[string]json.RawMessage
		first   map[string]json.RawMessage // the first page's other keys, for -o json
	)
	for {
		resp, err := s.do(ctx, request{method: http.MethodPost, path: "/queries/" + url.PathEscape(name) + "/execute",
			json: map[string]any{"parameters": params}})
		if err != nil {
			return err
		}
		var page map[string]json.RawMessage
		err = decodeBody(resp, &page)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var pageRows []map[string]json.RawMessage
		json.Unmarshal(page["rows"], &pageRows)
		rows = append(rows, pageRows...)
		if first == nil {
			first = page
			json.Unmarshal(page["columns"], &columns)
		}
		var next *string
		json.Unmarshal(page["next_cursor"], &next)
		if next == nil || *next == "" {
			break
		}
		if !all {
			fmt.Fprintf(a.errOut, "More rows follow: add --all to fetch every page, or cursor=%s for the next one.\n", *next)
			break
		}
		params["cursor"] = *next
	}
	if format == "json" {
		first["rows"], _ = json.Marshal(rows)
		first["row_count"] = json.RawMessage(strconv.Itoa(len(rows)))
		if all {
			first["next_cursor"] = json.RawMessage("null")
		}
		b, _ := json.Marshal(first)
		return writeIndented(a.out, b)
	}
	if len(columns) == 0 && len(rows) > 0 {
		for k := range rows[0] {
			columns = append(columns, k)
		}
	}
	table := make([][]string, len(rows))
	for i, r := range rows {
		table[i] = make([]string, len(columns))
		for j, c := range columns {
			table[i][j] = cell(r[c])
		}
	}
	header := columns
	if format == "table" {
		header = make([]string, len(columns))
		for i, c := range columns {
			header[i] = strings.ToUpper(c)
		}
	}
	if err := writeRows(a.out, format, header, table); err != nil {
		return err
	}
	if format != "table" {
		return nil
	}
	fmt.Fprintf(a.errOut, "(%s)\n", plural(len(rows), "row"))
	return a.printExtras(first)
}

// standardKeys are the parts of a query answer the rows table shows.
var standardKeys = map[string]bool{"query": true, "columns": true, "rows": true, "row_count": true, "truncated": true,
	"next_cursor": true, "total_rows": true, "graph_version": true}

// printExtras shows what a query answers besides its rows (path_analysis's
// per-path verdicts): a list of objects as a table, anything else as a line.
func (a *app) printExtras(page map[string]json.RawMessage) error {
	keys := make([]string, 0, len(page))
	for k := range page {
		if !standardKeys[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var tables []string
	scalars := false
	for _, k := range keys {
		var list []map[string]json.RawMessage
		if json.Unmarshal(page[k], &list) == nil && len(list) > 0 {
			tables = append(tables, k)
			continue
		}
		if !scalars {
			fmt.Fprintln(a.out)
			scalars = true
		}
		fmt.Fprintf(a.out, "%s: %s\n", k, cell(page[k]))
	}
	for _, k := range tables {
		var list []map[string]json.RawMessage
		json.Unmarshal(page[k], &list)
		var cols []string
		seen := map[string]bool{}
		for _, item := range list {
			for c := range item {
				if !seen[c] {
					seen[c] = true
					cols = append(cols, c)
				}
			}
		}
		sort.Strings(cols)
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = strings.ToUpper(c)
		}
		table := make([][]string, len(list))
		for i, item := range list {
			table[i] = make([]string, len(cols))
			for j, c := range cols {
				table[i][j] = cell(item[c])
			}
		}
		fmt.Fprintf(a.out, "\n%s:\n", k)
		if err := writeRows(a.out, "table", header, table); err != nil {
			return err
		}
	}
	return nil
}

// convertParams turns PARAMETER=VALUE words into JSON values of the types
// the query declares. Names the query does not declare go as strings: the
// server names the parameters it takes in its answer.
func convertParams(def queryDef, words []string) (map[string]any, error) {
	types := map[string]string{}
	for _, p := range def.Parameters {
		types[p.Name] = p.Type
	}
	out := map[string]any{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, usagef("%q: parameters are written NAME=VALUE", w)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("parameter %s given twice", k)
		}
		switch types[k] {
		case "int":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, usagef("parameter %s: expected an integer, got %q", k, v)
			}
			out[k] = n
		case "bool":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, usagef("parameter %s: expected true or false, got %q", k, v)
			}
			out[k] = b
		case "object":
			var o map[string]any
			if err := json.Unmarshal([]byte(v), &o); err != nil || o == nil {
				return nil, usagef("parameter %s: expected a JSON object such as {\"key\":\"value\"}, got %q", k, v)
			}
			out[k] = o
		default:
			out[k] = v
		}
	}
	return out, nil
}

// cell renders one JSON value for a table or CSV: strings bare, null
// empty, everything else as compact JSON.
func cell(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return ""
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) == nil {
		return buf.String()
	}
	return string(v)
}

// writeRows prints a table (aligned columns) or CSV.
func writeRows(w io.Writer, format string, header []string, rows [][]string) error {
	if format == "csv" {
		cw := csv.NewWriter(w)
		cw.Write(header)
		cw.WriteAll(rows)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			// A tab or newline inside a value would break the alignment.
			r[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(r[i])
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func writeIndented(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
