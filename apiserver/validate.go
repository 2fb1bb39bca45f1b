package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/common/facts"
)

// validateCmd checks facts files offline with the ingest's own checks
// (facts.Parse, then the files together as one document, then the graph's
// warnings) and prints every problem with its path. It touches no store.
func validateCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("validate: name at least one facts file (- for standard input)")
	}
	bad := 0
	type file struct {
		name    string
		devices []facts.Device
	}
	var ok []file
	for _, name := range fs.Args() {
		data, err := readFactsFile(name, nil)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", name, err)
			bad++
			continue
		}
		doc, err := facts.Parse(data)
		var fe *facts.Error
		switch {
		case errors.As(err, &fe):
			for _, p := range fe.Problems {
				fmt.Fprintf(stdout, "%s: %s\n", name, p)
			}
			if fe.More > 0 {
				fmt.Fprintf(stdout, "%s: and %d more problems (the ingest lists the first %d as well)\n", name, fe.More, facts.MaxProblems)
			}
			bad++
			continue
		case err != nil:
			fmt.Fprintf(stdout, "%s: %v\n", name, err)
			bad++
			continue
		}
		ok = append(ok, file{name, doc.Devices})
	}
	// The files together are one ingest: a hostname in two of them is a
	// problem there too.
	all := facts.Document{Schema: facts.Schema}
	for _, f := range ok {
		all.Devices = append(all.Devices, f.devices...)
	}
	together := true
	if len(ok) > 1 {
		var fe *facts.Error
		if err := facts.Normalize(&all); errors.As(err, &fe) {
			for _, p := range fe.Problems {
				fmt.Fprintf(stdout, "the files together: %s\n", p)
			}
			together = false
		}
	}
	// The warnings of the files as one network, as the ingest gives them;
	// files that clash are each a network of their own.
	g := graph.Build(1, all.Devices, graph.Options{})
	for _, f := range ok {
		if !together {
			g = graph.Build(1, f.devices, graph.Options{})
		}
		for _, w := range g.WarningsFor(f.devices) {
			fmt.Fprintf(stdout, "%s: warning: %s\n", f.name, w)
		}
		fmt.Fprintf(stdout, "%s: valid (%d devices)\n", f.name, len(f.devices))
	}
	switch {
	case bad > 0 && !together:
		return fmt.Errorf("validate: problems in %d of %d files, and the files together clash", bad, fs.NArg())
	case bad > 0:
		return fmt.Errorf("validate: problems in %d of %d files", bad, fs.NArg())
	case !together:
		return errors.New("validate: each file is valid, but together they clash")
	}
	return nil
}
