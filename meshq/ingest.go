package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/meshoptixiq/mesh/common/facts"
)

// readFacts reads FILE, or standard input for "-".
func (a *app) readFacts(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(a.in)
	}
	return os.ReadFile(name)
}

// checkFacts runs the server's own parser and normalisation on a document.
func checkFacts(data []byte) (*facts.Document, error) { return facts.Parse(data) }

func (a *app) printProblems(name string, err error) {
	var fe *facts.Error
	if !errors.As(err, &fe) {
		fmt.Fprintf(a.errOut, "%s: %v\n", name, err)
		return
	}
	fmt.Fprintf(a.errOut, "%s: invalid, %d problem(s):\n", name, len(fe.Problems)+fe.More)
	for _, p := range fe.Problems {
		fmt.Fprintf(a.errOut, "  %s\n", p)
	}
	if fe.More > 0 {
		fmt.Fprintf(a.errOut, "  … and %d more\n", fe.More)
	}
}

func (a *app) validateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check meshq.facts/v1 documents offline, with the server's own checks",
		Long: `validate parses and normalises each document exactly as the apiserver's
POST /graph/ingest does (the same code), without a server: unknown fields,
wrong types, bad addresses, MACs, names and firewall references are reported
with their JSON paths. "-" reads standard input. Exit status 1 if any file is
invalid.`,
		Example: `  meshq validate facts.json
  meshq validate site-a.json site-b.json
  collector --dump | meshq validate -`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, files []string) error {
			bad := 0
			for _, name := range files {
				data, err := a.readFacts(name)
				if err != nil {
					fmt.Fprintf(a.errOut, "%s: %v\n", name, err)
					bad++
					continue
				}
				doc, err := checkFacts(data)
				if err != nil {
					a.printProblems(name, err)
					bad++
					continue
				}
				fmt.Fprintf(a.out, "%s: valid, %s\n", name, plural(len(doc.Devices), "device"))
			}
			if bad > 0 {
				return exitError{1}
			}
			return nil
		},
	}
}

func (a *app) ingestCommand() *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "ingest FILE...",
		Short: "Upload meshq.facts/v1 documents into the graph",
		Long: `ingest checks each document as validate does (nothing is sent if any is
invalid), then uploads it gzip-compressed (Content-Encoding: gzip) to
POST /graph/ingest. A server that does not take gzip (415, or 400 to the
compressed body) gets the plain document instead, and meshq says so.

--mode merge (the default) adds or replaces the devices of each document;
--mode replace makes the graph exactly the documents given: the first file
replaces the graph, the others are merged into it. A progress bar is shown
on a terminal. "-" reads standard input.`,
		Example: `  meshq ingest facts.json
  meshq ingest --mode replace site-a.json site-b.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if mode != "merge" && mode != "replace" {
				return usagef("--mode %s: expected merge or replace", mode)
			}
			docs := make([][]byte, len(files))
			bad := 0
			for i, name := range files {
				data, err := a.readFacts(name)
				if err == nil {
					_, err = checkFacts(data)
				}
				if err != nil {
					a.printProblems(name, err)
					bad++
				}
				docs[i] = data
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d files invalid; nothing uploaded", bad, len(files))
			}
			s, err := a.session(true)
			if err != nil {
				return err
			}
			gzipOK := true
			for i, name := range files {
				m := mode
				if mode == "replace" && i > 0 {
					m = "merge"
				}
				if err := a.ingestOne(cmd.Context(), s, name, docs[i], m, &gzipOK); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mode, "mode", "merge", "merge or replace")
	return cmd
}

// uploadClient has no overall timeout: a large upload takes as long as
// the link needs (the server bounds how slowly it may arrive).
var uploadClient = &http.Client{}

func (a *app) ingestOne(ctx context.Context, s *session, name string, data []byte, mode string, gzipOK *bool) error {
	path := "/graph/ingest?mode=" + mode
	if *gzipOK {
		gz, err := gzipped(data)
		if err != nil {
			return err
		}
		resp, err := s.do(ctx, request{method: http.MethodPost, path: path, client: uploadClient,
			body: a.progress(name+" (gzip)", bytes.NewReader(gz), int64(len(gz))), length: int64(len(gz)),
			headers: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}})
		var ae *apiError
		if !errors.As(err, &ae) || (ae.Status != http.StatusUnsupportedMediaType && ae.Status != http.StatusBadRequest) {
			return a.ingestResult(name, resp, err)
		}
		// The document passed the server's own checks here, so a 400
		// means the server read the compressed bytes as JSON.
		fmt.Fprintf(a.errOut, "The server does not take gzip uploads (HTTP %d: %s); sending uncompressed.\n", ae.Status, ae.Message)
		*gzipOK = false
	}
	resp, err := s.do(ctx, request{method: http.MethodPost, path: path, client: uploadClient,
		body: a.progress(name, bytes.NewReader(data), int64(len(data))), length: int64(len(data)),
		headers: map[string]string{"Content-Type": "application/json"}})
	return a.ingestResult(name, resp, err)
}

// gzipped compresses a document whole before it is sent: facts compress
// about tenfold, and a known length is declared to the sidecar.
func gzipped(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// progress wraps r in a progress bar on a terminal.
func (a *app) progress(name string, r io.Reader, size int64) io.Reader {
	if !a.terminal(a.errOut) {
		return r
	}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(a.errOut), progressbar.OptionSetDescription(name),
		progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100_000_000))
	pr := progressbar.NewReader(r, bar)
	return &pr
}

func (a *app) ingestResult(name string, resp *http.Response, err error) error {
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			for _, p := range ae.Problems {
				fmt.Fprintf(a.errOut, "  %s: %s\n", p.Path, p.Message)
			}
		}
		return err
	}
	defer resp.Body.Close()
	var res struct {
		Mode            string          `json:"mode"`
		GraphVersion    uint64          `json:"graph_version"`
		IngestedDevices int             `json:"ingested_devices"`
		Graph           map[string]any  `json:"graph"`
		Warnings        []facts.Problem `json:"warnings"`
	}
	if err := decodeBody(resp, &res); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "%s: %s ingested (%s), graph version %d", name, plural(res.IngestedDevices, "device"), res.Mode, res.GraphVersion)
	if n, ok := res.Graph["devices"].(float64); ok {
		fmt.Fprintf(a.out, ", %s in the graph", plural(int(n), "device"))
	}
	fmt.Fprintln(a.out)
	for _, w := range res.Warnings {
		fmt.Fprintf(a.out, "  warning: %s\n", w)
	}
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
