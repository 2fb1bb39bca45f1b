package envconf

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
)

// A daemon's --help lists the variables its configuration loader reads,
// with their defaults, by running that loader on an empty environment:
// the list cannot drift from the code that reads them.

// describing collects the Readers created while Describe runs.
var describing recorder

type recorder struct {
	mu      sync.Mutex
	active  bool
	readers []*Reader
}

func (rec *recorder) add(r *Reader) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.active {
		rec.readers = append(rec.readers, r)
	}
}

// Describe runs load (a daemon's configuration loader) on an empty
// environment and returns every variable it read, with its default. The
// loader's errors (required variables unset) are expected and ignored.
func Describe(load func(getenv func(string) string)) []Var {
	describing.mu.Lock()
	describing.active, describing.readers = true, nil
	describing.mu.Unlock()
	load(func(string) string { return "" })
	describing.mu.Lock()
	defer describing.mu.Unlock()
	describing.active = false
	var out []Var
	seen := map[string]bool{}
	for _, r := range describing.readers {
		for _, v := range r.vars {
			if !seen[v.Name] {
				seen[v.Name] = true
				out = append(out, v)
			}
		}
	}
	describing.readers = nil
	return out
}

// WriteVars prints vars as an aligned table.
func WriteVars(w io.Writer, vars []Var) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT")
	for _, v := range vars {
		def := v.Default
		if strings.TrimSpace(def) == "" {
			def = "(unset)"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", v.Name, def)
	}
	return tw.Flush()
}

// WriteHelp prints a daemon's help: intro, then the variables load reads
// with their defaults.
func WriteHelp(w io.Writer, intro string, load func(getenv func(string) string)) error {
	if _, err := fmt.Fprintf(w, "%s\n\nEnvironment variables (the README describes each):\n", strings.TrimRight(intro, "\n")); err != nil {
		return err
	}
	return WriteVars(w, Describe(load))
}
