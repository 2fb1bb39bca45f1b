package store

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/meshoptixiq/mesh/common/facts"
)

// mappedRSS is how much of path's memory map is resident, from smaps.
func mappedRSS(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatalf("reading smaps: %v", err)
	}
	total, in := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = strings.HasSuffix(line, " "+path)
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, _ := strconv.Atoi(fields[1])
			total += kb << 10
		}
	}
	return total
}

func TestLoadReleasesMappedPages(t *testing.T) {
	s := open(t, t.TempDir())
	var devs []facts.Device
	for i := range 4000 {
		devs = append(devs, device(fmt.Sprintf("d%04d", i), i))
	}
	ingest(t, s, ModeReplace, devs...)
	st, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := s.Load(context.Background()); err != nil || len(got) != len(devs) {
		t.Fatalf("Load() = %d devices, %v", len(got), err)
	}
	// Load touched every page; afterwards at most the meta pages and the
	// root should be resident, not the file's megabytes.
	if got := mappedRSS(t, s.Path()); got > 256<<10 {
		t.Errorf("after Load, %d bytes of the %d-byte store file are resident, want under 256 KiB", got, st.Size())
	}
}
