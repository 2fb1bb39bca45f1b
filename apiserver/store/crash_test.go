package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/facts"
)

// The crash and full-disk tests re-execute the test binary as a child that
// writes to a store; TestMain turns the child into that writer instead of
// running the tests.
const helperEnv = "MESHQ_STORE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "crash":
		os.Exit(crashWriter(os.Getenv("MESHQ_STORE_TEST_DIR")))
	case "fsize":
		os.Exit(fullDiskWriter(os.Getenv("MESHQ_STORE_TEST_DIR")))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

const (
	crashBulk  = 60 // devices every ingest rewrites
	crashPairs = 20 // pairs of devices, one pair per ingest
)

// stamped is a device whose serial records which ingest wrote it.
func stamped(name string, n uint64) facts.Device {
	d := device(name, int(n%1000))
	d.Serial = strconv.FormatUint(n, 10)
	return d
}

// crashWriter ingests forever. Ingest number n (the store's version after
// it) rewrites every bulk device and pair n%crashPairs, all stamped n, in
// one transaction, and prints "ack n" once Ingest returned nil.
func crashWriter(dir string) int {
	s, err := OpenEmbedded(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	v, err := s.Version(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	for n := v + 1; ; n++ {
		devs := make([]facts.Device, 0, crashBulk+2)
		for i := range crashBulk {
			devs = append(devs, stamped(fmt.Sprintf("bulk-%02d", i), n))
		}
		k := n % crashPairs
		devs = append(devs, stamped(fmt.Sprintf("pair-%02d-a", k), n), stamped(fmt.Sprintf("pair-%02d-b", k), n))
		mode := ModeMerge
		if n%7 == 0 {
			// Replace also deletes (nothing here, but runs that path).
			mode = ModeReplace
			devs = devs[:crashBulk]
		}
		got, err := s.Ingest(ctx, mode, devs)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if got != n {
			fmt.Fprintf(os.Stderr, "Ingest() = version %d, want %d\n", got, n)
			return 1
		}
		fmt.Fprintf(out, "ack %d\n", n)
		out.Flush()
	}
}

// TestCrashDurability kills a writing process with SIGKILL at random
// moments, several times over the same store, and checks after each kill
// that the store opens, that every acknowledged ingest is there and that
// no ingest is there in part.
func TestCrashDurability(t *testing.T) {
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)
	var lastAck uint64
	for round := range 6 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=crash", "MESHQ_STORE_TEST_DIR="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting the writer: %v", err)
		}
		acks := make(chan uint64, 1024)
		done := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				n, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "ack "), 10, 64)
				if err != nil {
					done <- fmt.Errorf("writer said %q", sc.Text())
					return
				}
				acks <- n
			}
			done <- sc.Err()
		}()
		// Wait for the first ack (the writer is up and writing), then kill
		// it after a random delay, mid-transaction or between two.
		select {
		case n := <-acks:
			lastAck = max(lastAck, n)
		case err := <-done:
			cmd.Wait()
			t.Fatalf("round %d: writer exited before its first ack: %v", round, err)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("round %d: no ack from the writer in 30 s", round)
		}
		time.Sleep(time.Duration(rng.IntN(150_000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("killing the writer: %v", err)
		}
		if err := <-done; err != nil && err != io.EOF {
			t.Fatalf("round %d: reading acks: %v", round, err)
		}
		cmd.Wait()
		close(acks)
		for n := range acks {
			lastAck = max(lastAck, n)
		}

		s, err := OpenEmbedded(dir)
		if err != nil {
			t.Fatalf("round %d: OpenEmbedded() after kill -9 = %v", round, err)
		}
		v, devs := load(t, s)
		s.Close()
		t.Logf("round %d: last ack %d, store at version %d", round, lastAck, v)
		if v < lastAck {
			t.Fatalf("round %d: store version %d after kill, but ingest %d was acknowledged", round, v, lastAck)
		}
		// Every bulk device carries the last committed ingest's stamp; each
		// pair carries the same stamp on both devices.
		for i := range crashBulk {
			name := fmt.Sprintf("bulk-%02d", i)
			if d, ok := devs[name]; !ok || d.Serial != strconv.FormatUint(v, 10) {
				t.Errorf("round %d: %s = stamp %q (present %v), want %d", round, name, d.Serial, ok, v)
			}
		}
		for k := range crashPairs {
			a, b := devs[fmt.Sprintf("pair-%02d-a", k)], devs[fmt.Sprintf("pair-%02d-b", k)]
			if a.Serial != b.Serial {
				t.Errorf("round %d: pair %d stamped %q and %q: an ingest was applied in part", round, k, a.Serial, b.Serial)
			}
		}
		if t.Failed() {
			return
		}
	}
	if lastAck < 6 {
		t.Errorf("only %d ingests acknowledged over all rounds; the test did not exercise the store", lastAck)
	}
}

// fullDiskWriter tries a large ingest with the file size limited just above
// the store's current size, as on a full disk, and prints what happened.
func fullDiskWriter(dir string) int {
	// The kernel signals SIGXFSZ when a write passes the limit; ignored,
	// the write fails with EFBIG instead, which is what a full disk's
	// ENOSPC looks like to the store.
	signal.Ignore(syscall.SIGXFSZ)
	s, err := OpenEmbedded(dir)
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	// bbolt grows the file in 16 MB steps ahead of need, so the limit is
	// put just past the pages in use (two small devices), not past the
	// file's end: the writes of new pages are what must fail.
	const lim = 1 << 20
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
		fmt.Println("setrlimit:", err)
		return 1
	}
	var devs []facts.Device // about 3 MB
	for i := range 2000 {
		devs = append(devs, device(fmt.Sprintf("big-%04d", i), i))
	}
	_, err = s.Ingest(context.Background(), ModeReplace, devs)
	if err == nil {
		fmt.Println("ingest succeeded")
		return 0
	}
	fmt.Println("ingest failed:", err)
	if err := s.Close(); err != nil {
		fmt.Println("close:", err)
	}
	return 0
}

// TestFullDisk checks that an ingest that cannot be written fails with a
// clear error and leaves the store exactly as it was, and usable.
func TestFullDisk(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	before := []facts.Device{device("a", 1), device("b", 2)}
	ingest(t, s, ModeMerge, before...)
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=fsize", "MESHQ_STORE_TEST_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("full-disk writer: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ingest failed:") || !strings.Contains(string(out), "file too large") {
		t.Fatalf("full-disk writer said %q, want an ingest error naming the cause (file too large)", out)
	}

	s = open(t, dir)
	v, got := load(t, s)
	if len(got) != 2 || v != 1 || got["a"].MgmtIP != before[0].MgmtIP {
		t.Errorf("Load() after failed ingest = version %d, %d devices, want version 1 and the 2 devices before", v, len(got))
	}
	if v := ingest(t, s, ModeMerge, device("c", 3)); v != 2 {
		t.Errorf("Ingest() after the disk filled = version %d, want 2", v)
	}
}
