package parse

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/meshoptixiq/mesh/common/facts"
)

// marshalDocument writes the document as meshq ingest reads it.
func marshalDocument(doc *facts.Document) ([]byte, error) {
	raw, err := json.MarshalIndent(doc, "", " ")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}

// WriteDocument writes the document as JSON.
func WriteDocument(w io.Writer, doc *facts.Document) error {
	raw, err := marshalDocument(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(raw)
	return err
}

// WriteReport writes the report for people: one line per device, one
// indented line per output or entry that did not become facts, and a
// summary line.
func WriteReport(w io.Writer, r *Report) {
	in, whole, entries := 0, 0, 0
	for _, d := range r.Devices {
		head := fmt.Sprintf("%s (%s): ", d.Hostname, d.DeviceType)
		switch {
		case !d.Included && d.Error != nil:
			fmt.Fprintf(w, "%snot in the document: %s\n", head, d.Error)
		case !d.Included:
			fmt.Fprintf(w, "%snot in the document: no output could be parsed\n", head)
		default:
			in++
			fmt.Fprintf(w, "%s%s parsed", head, plural(len(d.Parsed), "output"))
			if len(d.Problems) > 0 {
				fmt.Fprintf(w, ", %s", plural(len(d.Problems), "problem"))
			}
			fmt.Fprintln(w)
			if d.Error != nil {
				fmt.Fprintf(w, "  collection stopped early: %s\n", d.Error)
			}
		}
		for _, p := range d.Problems {
			if p.Whole {
				whole++
			} else {
				entries++
			}
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintf(w, "parse: %d of %s in the document; %s not parsed, %s skipped\n",
		in, plural(len(r.Devices), "device"), plural(whole, "output"), plural(entries, "entry"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if noun == "entry" {
		return fmt.Sprintf("%d entries", n)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
