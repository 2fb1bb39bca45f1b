package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/meshoptixiq/mesh/meshq/parse"
)

// Exit status of meshq parse when the document was written but something
// was left out (a device failed, an output was not parsed, entries were
// skipped): distinct from 1, so that a script can tell "partial" from
// "nothing".
const exitPartial = 3

func (a *app) parseCommand() *cobra.Command {
	var cacheDir, outFile string
	cmd := &cobra.Command{
		Use:   "parse --cache DIR [-o FILE]",
		Short: "Turn a meshq collect cache into one meshq.facts/v1 document",
		Long: `parse reads the raw cache that meshq collect writes (one directory per
device) and turns every cached output into facts with the parser of the
device's platform: structured output where the platform has it (EOS and
NX-OS JSON), screen text through the TextFSM templates of ntc-templates
(IOS, IOS XE, ASA, FTD, ArubaOS, PAN-OS, FortiOS, Gaia), and ASA
firewall configuration recognised by its content. The templates are
read from $MESHQ_NTC_TEMPLATES, by default var/ntc-templates/templates
(where make run and make test install them).
The document goes to standard output (or -o FILE), ready for
"meshq ingest -"; the report goes to standard error: per device what was
parsed and, per command, what was not (and why), never guessed.

A device whose collection failed before any output is left out of the
document (an empty device would erase its facts on ingest) and reported.

Exit status: 0 everything parsed; 3 the document was written but the
report lists something left out; 1 no document (the cache cannot be read,
or no device gave any facts); 2 usage.`,
		Example: `  meshq parse --cache ./cache > facts.json
  meshq parse --cache ./cache | meshq ingest -
  meshq parse --cache ./cache -o facts.json && meshq validate facts.json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if cacheDir == "" {
				return usagef("--cache DIR is required")
			}
			doc, rep, err := parse.CacheWith(cacheDir, parse.Options{NTCTemplates: a.getenv(parse.NTCTemplatesEnv)})
			if err != nil {
				return err
			}
			parse.WriteReport(a.errOut, rep)
			if len(doc.Devices) == 0 {
				return fmt.Errorf("no device in %s gave any facts; nothing written", cacheDir)
			}
			var buf bytes.Buffer
			if err := parse.WriteDocument(&buf, doc); err != nil {
				return err
			}
			if outFile == "" || outFile == "-" {
				if _, err := a.out.Write(buf.Bytes()); err != nil {
					return err
				}
			} else if err := writeFileAtomic(outFile, buf.Bytes()); err != nil {
				return err
			}
			if !rep.Clean() {
				return exitError{exitPartial}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&cacheDir, "cache", "", "the cache directory meshq collect wrote")
	cmd.Flags().StringVarP(&outFile, "output", "o", "", "write the document to FILE instead of standard output")
	return cmd
}

// writeFileAtomic replaces name with data as a whole, so that a reader
// never sees half a document.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".meshq-parse-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
