package suzieq

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Layout is how the tables are laid out on disk.
type Layout string

const (
	// LayoutPoller is what SuzieQ's poller writes: one file per table and
	// device, partitioned by sqvers, namespace and hostname.
	LayoutPoller Layout = "poller"
	// LayoutCoalesced is what SuzieQ's coalescer leaves: one file per table
	// and namespace under coalesced/, hostname a column.
	LayoutCoalesced Layout = "coalesced"
)

// DefaultNamespace is the SuzieQ namespace the tables go into unless told.
const DefaultNamespace = "meshq"

// Options says how to export.
type Options struct {
	// Namespace is SuzieQ's namespace for every device (DefaultNamespace
	// when empty). SuzieQ traces paths within one namespace.
	Namespace string
	// Layout is LayoutPoller when empty.
	Layout Layout
	// Time is the moment the facts stand for: every row's timestamp.
	// Required (SuzieQ skips rows whose timestamp is 0).
	Time time.Time
}

// Table is one SuzieQ table: its name and schema version (the sqvers
// directory).
type Table struct {
	Name    string
	Version string
}

// Tables are the tables Export writes, in the order it writes them.
var Tables = []Table{
	{"device", "4.0"}, {"interfaces", "4.0"}, {"arpnd", "2.0"}, {"macs", "2.0"},
	{"lldp", "2.0"}, {"routes", "3.0"}, {"bgp", "3.0"}, {"vlan", "3.0"},
}

// Stats is what an export wrote.
type Stats struct {
	Rows  map[string]int // rows per table
	Files int
}

// Export writes devices (normalized facts) as SuzieQ's tables into dir,
// which must not exist or be empty. The tables are written to a fresh
// directory beside dir and renamed into place, so that a failed export
// leaves nothing behind.
func Export(dir string, devices []facts.Device, opt Options) (Stats, error) {
	if opt.Namespace == "" {
		opt.Namespace = DefaultNamespace
	}
	if opt.Layout == "" {
		opt.Layout = LayoutPoller
	}
	if err := opt.validate(); err != nil {
		return Stats{}, err
	}
	if err := checkEmpty(dir); err != nil {
		return Stats{}, err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Stats{}, err
	}
	tmp, err := os.MkdirTemp(parent, ".suzieq-export-")
	if err != nil {
		return Stats{}, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	w := &writer{root: tmp, opt: opt, stats: Stats{Rows: map[string]int{}}}
	net := newNetwork(devices)
	ts := opt.Time.UnixMilli()
	if opt.Layout == LayoutCoalesced {
		var all rows
		for i := range devices {
			all.add(&devices[i], net, ts)
		}
		if err := w.write("", &all); err != nil {
			return Stats{}, err
		}
	} else {
		for i := range devices {
			var one rows
			one.add(&devices[i], net, ts)
			if err := w.write(devices[i].Hostname, &one); err != nil {
				return Stats{}, err
			}
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Stats{}, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Stats{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return Stats{}, err
	}
	return w.stats, nil
}

func (o Options) validate() error {
	var errs []error
	if strings.ContainsAny(o.Namespace, "/\\") || strings.HasPrefix(o.Namespace, ".") || strings.HasPrefix(o.Namespace, "_") {
		errs = append(errs, fmt.Errorf("namespace %q: must not contain / or \\ nor start with . or _ (SuzieQ skips such directories)", o.Namespace))
	}
	if o.Layout != LayoutPoller && o.Layout != LayoutCoalesced {
		errs = append(errs, fmt.Errorf("layout %q: want %s or %s", o.Layout, LayoutPoller, LayoutCoalesced))
	}
	if o.Time.UnixMilli() <= 0 {
		errs = append(errs, errors.New("time: required (SuzieQ ignores rows stamped 0)"))
	}
	return errors.Join(errs...)
}

// checkEmpty refuses a dir that holds anything: SuzieQ reads every file
// under a table, so an older export's devices would linger in the answers.
func checkEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%s is not empty (SuzieQ would read what is there as well); name a new or empty directory", dir)
	}
	return nil
}

// rows are the rows of every table, for one device or for all.
type rows struct {
	device     []deviceRow
	interfaces []interfaceRow
	arpnd      []arpndRow
	macs       []macRow
	lldp       []lldpRow
	routes     []routeRow
	bgp        []bgpRow
	vlan       []vlanRow
}

type writer struct {
	root  string
	opt   Options
	stats Stats
}

// write writes one file per non-empty table: for one host (the poller's
// layout) or, with host "", for the whole namespace (coalesced).
func (w *writer) write(host string, r *rows) error {
	for _, t := range Tables {
		var err error
		switch t.Name {
		case "device":
			err = writeTable(w, t, host, r.device)
		case "interfaces":
			err = writeTable(w, t, host, r.interfaces)
		case "arpnd":
			err = writeTable(w, t, host, r.arpnd)
		case "macs":
			err = writeTable(w, t, host, r.macs)
		case "lldp":
			err = writeTable(w, t, host, r.lldp)
		case "routes":
			err = writeTable(w, t, host, r.routes)
		case "bgp":
			err = writeTable(w, t, host, r.bgp)
		case "vlan":
			err = writeTable(w, t, host, r.vlan)
		}
		if err != nil {
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
	}
	return nil
}

// hourMillis is the coalescer's period (its default, 1h); its files are
// named for the period they cover, in seconds.
const hourMillis = int64(time.Hour / time.Millisecond)

func writeTable[T any](w *writer, t Table, host string, rs []T) error {
	if len(rs) == 0 {
		return nil
	}
	// Partition values are URI-encoded, as pyarrow writes and reads them.
	dir := filepath.Join(w.root, t.Name, "sqvers="+t.Version, "namespace="+url.PathEscape(w.opt.Namespace))
	name := "meshq-export-0.parquet"
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
	if host != "" {
		dir = filepath.Join(dir, "hostname="+url.PathEscape(host))
		// The hostname= directory carries it.
		opts = append(opts, &parquet.StructTagOption{ColumnPath: []string{"Hostname"}, StructTag: `parquet:"-"`})
	} else {
		dir = filepath.Join(w.root, "coalesced", t.Name, "sqvers="+t.Version, "namespace="+url.PathEscape(w.opt.Namespace))
		start := w.opt.Time.UnixMilli() / hourMillis * hourMillis
		name = fmt.Sprintf("sqc-h1-0-%d-%d.parquet", start/1000, (start+hourMillis)/1000)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	pw := parquet.NewGenericWriter[T](f, opts...)
	if _, err := pw.Write(rs); err != nil {
		f.Close()
		return err
	}
	if err := pw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	w.stats.Rows[t.Name] += len(rs)
	w.stats.Files++
	return nil
}
