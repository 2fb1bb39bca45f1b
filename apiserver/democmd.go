package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/common/facts"
)

// demoDocument generates the demo network and checks it is valid facts.
func demoDocument(devices int, seed int64) (*facts.Document, error) {
	doc := demo.Generate(demo.Options{Seed: seed, Devices: devices})
	if err := facts.Normalize(doc); err != nil {
		return nil, fmt.Errorf("the generated network is not valid facts: %w", err)
	}
	return doc, nil
}

func demoCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	devices := fs.Int("devices", demo.DefaultDevices, fmt.Sprintf("approximate number of devices (%d..%d)", demo.MinDevices, demo.MaxDevices))
	seed := fs.Int64("seed", 1, "generator seed; the same seed gives the same network")
	out := fs.String("o", "-", "output file (- for stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if *devices < demo.MinDevices || *devices > demo.MaxDevices {
		return fmt.Errorf("demo: --devices %d is outside %d..%d", *devices, demo.MinDevices, demo.MaxDevices)
	}
	doc, err := demoDocument(*devices, *seed)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("demo: writing: %w", err)
	}
	if f, ok := w.(*os.File); ok && *out != "-" {
		if err := f.Close(); err != nil {
			return fmt.Errorf("demo: writing %s: %w", *out, err)
		}
	}
	return nil
}
