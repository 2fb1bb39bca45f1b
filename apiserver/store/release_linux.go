package store

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseMapped drops this process's page-table entries for the store
// file's memory map (madvise MADV_DONTNEED on each mapping of path). Load
// reads every page once; without this those pages stay in the process's
// resident set (85 MB at 10,000 devices) although nothing reads them again
// until the next load. The map is read-only and shared, so the kernel
// refills a page from the page cache on its next read: correctness does not
// depend on this, which is why errors are ignored.
func releaseMapped(path string) {
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer maps.Close()
	sc := bufio.NewScanner(maps)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		// "start-end perms offset dev inode   path"
		if !bytes.HasSuffix(line, []byte(" "+path)) {
			continue
		}
		rng, _, _ := strings.Cut(string(line), " ")
		from, to, ok := strings.Cut(rng, "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(from, 16, 64)
		end, err2 := strconv.ParseUint(to, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		madviseDontNeed(uintptr(start), uintptr(end-start))
	}
}

func madviseDontNeed(addr, length uintptr) {
	unix.Syscall(unix.SYS_MADVISE, addr, length, unix.MADV_DONTNEED)
}
