package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/auditshipper/fakes"
)

// TestFaultMatrix runs each fault scenario against the real binary, on the
// single path (the default and the Kubernetes manifest's) and on a glob,
// and checks it with an oracle: every id written reaches the sink,
// unaltered, and nothing else does. Resends are allowed (at-least-once):
// the sink answers them 409 and they are counted. Random choices are seeded per run and the seed is logged.
func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var rows []string
	t.Cleanup(func() {
		sort.Strings(rows)
		t.Logf("fault matrix (scenario, pattern: shipper runs, records written, lost, resent):\n%s", strings.Join(rows, "\n"))
	})
	for _, sc := range faultScenarios {
		for _, glob := range []bool{false, true} {
			pattern := "path"
			if glob {
				pattern = "glob"
			}
			t.Run(sc.name+"/"+pattern, func(t *testing.T) {
				t.Parallel()
				seed := uint64(time.Now().UnixNano())
				t.Logf("seed %d", seed)
				env := map[string]string{"SHIPPER_BATCH_RECORDS": "40", "SHIPPER_QUEUE_BATCHES": "2", "SHIPPER_CONCURRENCY": "2",
					"SHIPPER_POLL_INTERVAL": "50ms", "SHIPPER_REQUEST_TIMEOUT": "300ms", "SHIPPER_ROTATE_WAIT": "1s"}
				for k, v := range sc.env {
					env[k] = v
				}
				h, es := esHarness(t, env)
				if glob {
					h.env["AUDIT_LOG_PATH"] = h.logPath + "*"
				}
				f := &faultRun{h: h, es: es, rng: rand.New(rand.NewPCG(seed, 1)), runs: 0}
				sc.run(f)
				es.Set(nil, nil)
				if h.cur == nil {
					f.start()
				}
				written := h.w.written()
				deadline := time.Now().Add(90 * time.Second)
				for len(es.Received.Check(written).Missing) > 0 && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				rep := es.Received.Check(written)
				mu.Lock()
				rows = append(rows, fmt.Sprintf("  %-28s %-4s: %2d runs, %5d written, %d lost, %4d resent (409 at the sink)",
					sc.name, pattern, f.runs, len(written), len(rep.Missing), es.Conflicts()))
				mu.Unlock()
				checkReport(t, rep)
				h.stop()
			})
		}
	}
}

// faultRun drives one scenario.
type faultRun struct {
	h    *harness
	es   *fakes.Elastic
	rng  *rand.Rand
	runs int // shipper processes started
}

func (f *faultRun) start() {
	f.h.start()
	f.runs++
}

// pause waits a random time up to d.
func (f *faultRun) pause(d time.Duration) { time.Sleep(time.Duration(f.rng.Int64N(int64(d)) + 1)) }

// slowSink makes every other request hang until the request timeout.
func (f *faultRun) slowSink() { f.es.Set(nil, func(n int) bool { return n%2 == 0 }) }

var faultScenarios = []struct {
	name string
	env  map[string]string
	run  func(f *faultRun)
}{
	{name: "rename-rotation-kill9", run: func(f *faultRun) {
		// The sidecar's rotation (audit.jsonl → .1 → .2 …), a slow sink,
		// kill -9 at random moments.
		f.slowSink()
		for range 6 {
			f.start()
			for range 3 {
				f.h.w.write(150)
				f.pause(150 * time.Millisecond)
				f.h.w.shiftRotate(20)
			}
			f.pause(300 * time.Millisecond)
			f.h.kill()
			f.h.w.write(100)
		}
	}},
	{name: "copytruncate-kill9", run: func(f *faultRun) {
		f.slowSink()
		for range 6 {
			f.start()
			for range 2 {
				f.h.w.write(150)
				f.pause(150 * time.Millisecond)
				f.h.w.copyTruncate()
			}
			f.pause(300 * time.Millisecond)
			f.h.kill()
			f.h.w.write(100)
		}
	}},
	{name: "sigterm-loop-slow-sink", env: map[string]string{"SHIPPER_DRAIN_TIMEOUT": "200ms"}, run: func(f *faultRun) {
		// SIGTERM while behind: the drain deadline cuts batches in flight.
		f.slowSink()
		f.h.w.write(1000)
		for range 8 {
			f.start()
			f.h.w.write(200)
			f.h.w.shiftRotate(20)
			f.pause(400 * time.Millisecond)
			f.h.stop()
		}
	}},
	{name: "outage-many-rotations", run: func(f *faultRun) {
		// The sink is down for the whole scenario; 40 rotations, 10
		// backups kept, so the oldest are deleted after they were found.
		f.es.Stop()
		f.start()
		for i := range 40 {
			f.h.w.write(50)
			f.h.w.shiftRotate(60)
			if i%10 == 9 {
				f.h.kill()
				f.start()
			}
			time.Sleep(20 * time.Millisecond)
		}
		f.h.w.write(50)
		time.Sleep(300 * time.Millisecond)
		if err := f.es.Start(); err != nil {
			f.h.t.Fatal(err)
		}
	}},
	{name: "resetting-sink", run: func(f *faultRun) {
		// The sink drops every connection at random moments.
		f.start()
		for range 8 {
			f.h.w.write(200)
			f.pause(200 * time.Millisecond)
			f.es.Stop()
			f.pause(100 * time.Millisecond)
			if err := f.es.Start(); err != nil {
				f.h.t.Fatal(err)
			}
			f.h.w.shiftRotate(20)
		}
	}},
	{name: "full-state-disk", run: func(f *faultRun) {
		// The state directory fills up while shipping, with kills: the
		// checkpoint cannot advance, so restarts resend, never lose.
		h := f.h
		if err := os.MkdirAll(h.stateDir, 0o755); err != nil {
			h.t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", h.stateDir).CombinedOutput(); err != nil {
			h.t.Fatalf("this scenario mounts a tmpfs and needs root (CI runs as root): mount: %v: %s", err, out)
		}
		h.t.Cleanup(func() { exec.Command("umount", "-l", h.stateDir).Run() })
		f.h.w.write(200)
		f.start()
		filler := filepath.Join(h.stateDir, "filler")
		exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").Run()
		for range 3 {
			f.h.w.write(200)
			f.h.w.shiftRotate(20)
			f.pause(300 * time.Millisecond)
			f.h.kill()
			f.start()
		}
		os.Remove(filler)
	}},
	{name: "first-start-bad-credentials", run: func(f *faultRun) {
		// The usual first deployment: wrong credentials from the start,
		// rotations while it retries, then the fix and a restart.
		f.es.APIKey = "right-key"
		f.h.env["ES_API_KEY"] = "wrong-key"
		f.h.w.write(300)
		f.start()
		for range 4 {
			f.h.w.write(300)
			f.h.w.shiftRotate(20)
			f.pause(200 * time.Millisecond)
		}
		f.h.stop()
		f.h.env["ES_API_KEY"] = "right-key"
		f.start()
	}},
}

func TestFullStateDiskDoesNotStopShipping(t *testing.T) {
	t.Parallel()
	// The state directory is full, so dead letters cannot be written, and
	// one record in ten is refused by the index. Every batch holds one;
	// the good records must still all be shipped meanwhile, and the refused
	// ones dead-lettered once there is space.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "20", "SHIPPER_CONCURRENCY": "2"})
	if err := os.MkdirAll(h.stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", h.stateDir).CombinedOutput(); err != nil {
		t.Fatalf("this test mounts a tmpfs and needs root (CI runs as root): mount: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", h.stateDir).Run() })
	es.SetItemFault(func(id string, _ int) int { return map[bool]int{true: 400}[idHash(id)%10 == 0] })
	h.start()
	filler := filepath.Join(h.stateDir, "filler")
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").Run()
	h.w.write(1000)
	refused := map[string]string{}
	for id, line := range h.w.written() {
		if idHash(id)%10 == 0 {
			refused[id] = line
		}
	}
	h.w.forget(refused)
	h.expectAll(es.Received, 30*time.Second)
	if n := len(h.deadLetters()); n != 0 {
		t.Fatalf("%d dead letters written on a full disk?", n)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.waitFor(30*time.Second, fmt.Sprintf("%d dead letters once there is space", len(refused)), func() bool {
		return len(h.deadLetters()) == len(refused)
	})
	h.stop()
}
