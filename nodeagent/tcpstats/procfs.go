// Package tcpstats turns the kernel's TCP view into report figures and
// Prometheus metrics: from the eBPF tracer when it loaded, else from
// /proc/net/snmp and /proc/net/netstat. It also queues connection events
// between reports, bounded, counting what it drops.
package tcpstats

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ProcCounters parses the header/value line pairs of /proc/net/snmp and
// /proc/net/netstat under root (normally /proc): "Tcp" → "RetransSegs" → n.
func ProcCounters(root string) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	for _, name := range []string{"net/snmp", "net/netstat"} {
		if err := parsePairs(filepath.Join(root, name), out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parsePairs(path string, out map[string]map[string]int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading tcp counters: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var header []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.HasSuffix(fields[0], ":") {
			return fmt.Errorf("reading tcp counters: %s: malformed line %q", path, sc.Text())
		}
		if header == nil {
			header = fields
			continue
		}
		if fields[0] != header[0] || len(fields) != len(header) {
			return fmt.Errorf("reading tcp counters: %s: values for %s do not match header %s", path, fields[0], header[0])
		}
		proto := strings.TrimSuffix(header[0], ":")
		m := out[proto]
		if m == nil {
			m = map[string]int64{}
			out[proto] = m
		}
		for i := 1; i < len(fields); i++ {
			v, err := strconv.ParseInt(fields[i], 10, 64)
			if err != nil {
				return fmt.Errorf("reading tcp counters: %s: %s %s = %q is not a number", path, proto, header[i], fields[i])
			}
			m[header[i]] = v
		}
		header = nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading tcp counters: %s: %w", path, err)
	}
	if header != nil {
		return fmt.Errorf("reading tcp counters: %s: header %s without values", path, header[0])
	}
	return nil
}
