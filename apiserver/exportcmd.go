package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/suzieq"
	"github.com/meshoptixiq/mesh/common/facts"
)

// exportCmd is "apiserver export FORMAT ...": the network in another
// tool's format. SuzieQ is the one format.
func exportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "suzieq" {
		return errors.New("export: name the format: apiserver export suzieq [--facts FILE]... [--namespace NS] [--layout poller|coalesced] DIR")
	}
	return exportSuzieQ(ctx, args[1:], getenv, stdout, stderr)
}

// multiFlag is a flag given any number of times.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func exportSuzieQ(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export suzieq", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files multiFlag
	fs.Var(&files, "facts", "export this facts file (plain or gzip; - for stdin) instead of the store; may be repeated")
	ns := fs.String("namespace", suzieq.DefaultNamespace, "SuzieQ namespace of every device")
	layout := fs.String("layout", string(suzieq.LayoutPoller), "poller (a file per table and device) or coalesced (a file per table, as SuzieQ's coalescer leaves them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("export suzieq: name one output directory")
	}
	dir := fs.Arg(0)
	var devices []facts.Device
	stamp := time.Now()
	if len(files) > 0 {
		doc := facts.Document{Schema: facts.Schema}
		for _, name := range files {
			data, err := readFactsFile(name, nil)
			if err != nil {
				return fmt.Errorf("export suzieq: %w", err)
			}
			d, err := facts.Parse(data)
			if err != nil {
				return fmt.Errorf("export suzieq: %s: %w", name, err)
			}
			doc.Devices = append(doc.Devices, d.Devices...)
			// The newest collection time stands for the whole export.
			if d.CollectedAt.After(doc.CollectedAt) {
				doc.CollectedAt = d.CollectedAt
			}
		}
		if err := facts.Normalize(&doc); err != nil {
			return fmt.Errorf("export suzieq: the files together: %w", err)
		}
		devices = doc.Devices
		if !doc.CollectedAt.IsZero() {
			stamp = doc.CollectedAt
		}
	} else {
		cfg, err := loadConfig(getenv)
		if err != nil {
			return fmt.Errorf("invalid configuration:\n%w", err)
		}
		st, err := openStore(cfg, nil)
		if err != nil {
			return fmt.Errorf("export suzieq: %w", err)
		}
		defer st.Close()
		if _, devices, err = st.Load(ctx); err != nil {
			return fmt.Errorf("export suzieq: loading the store: %w", err)
		}
	}
	if len(devices) == 0 {
		return errors.New("export suzieq: no devices to export (the store is empty; ingest facts first or name them with --facts)")
	}
	stats, err := suzieq.Export(dir, devices, suzieq.Options{Namespace: *ns, Layout: suzieq.Layout(*layout), Time: stamp})
	if err != nil {
		return fmt.Errorf("export suzieq: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d devices to %s (namespace %s, %s layout, %d files):", len(devices), dir, *ns, *layout, stats.Files)
	for _, t := range suzieq.Tables {
		fmt.Fprintf(stdout, " %s %d", t.Name, stats.Rows[t.Name])
	}
	fmt.Fprintln(stdout)
	return nil
}
