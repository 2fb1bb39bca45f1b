package main

import (
	"strings"
	"testing"
	"time"
)

// Restarts while the shipper is behind: rotated files it has discovered
// but not read yet must be read after the restart, whatever the checkpoint
// held when the process died.

func TestKill9WhileBehindReadsDiscoveredRotatedFiles(t *testing.T) {
	t.Parallel()
	// A slow sink (every request hangs until the timeout, one in three
	// answers) keeps the shipper behind; the single live path is rotated
	// the sidecar's way while it is, and the process is killed between
	// rotations. Every record written must reach the sink.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "50", "SHIPPER_QUEUE_BATCHES": "1", "SHIPPER_CONCURRENCY": "1",
		"SHIPPER_REQUEST_TIMEOUT": "150ms", "SHIPPER_POLL_INTERVAL": "50ms"})
	es.Set(nil, func(n int) bool { return n%3 != 0 })
	for round := range 5 {
		h.w.write(400)
		h.start()
		for range 3 {
			time.Sleep(120 * time.Millisecond)
			h.w.write(300)
			h.w.shiftRotate(40)
		}
		time.Sleep(time.Duration(60+40*round) * time.Millisecond)
		h.kill()
	}
	es.Set(nil, nil)
	h.start()
	h.expectAll(es.Received, 60*time.Second)
	h.stop()
}

func TestFirstStartWithSinkUnreachableThenRestart(t *testing.T) {
	t.Parallel()
	// The usual first deployment: the sink refuses every request from the
	// start (a wrong URL here), the log rotates while the shipper retries,
	// then the operator fixes the configuration and restarts it. No
	// checkpoint was ever confirmed; the files rotated meanwhile must
	// still be read.
	h, es := esHarness(t, map[string]string{"SHIPPER_BATCH_RECORDS": "50", "SHIPPER_QUEUE_BATCHES": "1", "SHIPPER_CONCURRENCY": "1",
		"SHIPPER_POLL_INTERVAL": "50ms"})
	good := h.env["ES_URL"]
	h.env["ES_URL"] = good + "/wrong/prefix"
	h.w.write(500)
	h.start()
	h.waitFor(10*time.Second, "a failed delivery", func() bool {
		return strings.Contains(h.cur.stderr.String(), "retrying")
	})
	for range 4 {
		h.w.write(500)
		h.w.shiftRotate(10)
		time.Sleep(150 * time.Millisecond)
	}
	h.w.write(100)
	h.stop()
	h.env["ES_URL"] = good
	h.start()
	h.expectAll(es.Received, 60*time.Second)
	h.stop()
}

func TestLongOutageManyRotationsUnderDescriptorLimit(t *testing.T) {
	t.Parallel()
	// A hard RLIMIT_NOFILE of 64 and an outage with 150 rename rotations:
	// the rotated files cannot all be held open, the sink must still get
	// a descriptor when it is back, and memory must not grow with the
	// number of files waiting.
	h, es := esHarness(t, map[string]string{"SHIPPER_POLL_INTERVAL": "20ms", "SHIPPER_ROTATE_WAIT": "1s"})
	h.nofile = 64
	es.Stop()
	h.w.write(50)
	h.start()
	const rotations = 150
	for range rotations {
		h.w.write(50)
		h.w.renameRotate()
		time.Sleep(5 * time.Millisecond)
	}
	h.w.write(50)
	h.waitFor(20*time.Second, "every rotated file registered", func() bool {
		return h.metric("auditshipper_files_tracked", "") >= rotations+1
	})
	if open, budget := h.metric("auditshipper_files_open", ""), float64(64/2-16); open > budget+1 {
		t.Errorf("log files open during the outage = %v, want at most %v rotated plus the live one", open, budget)
	}
	if err := es.Start(); err != nil {
		t.Fatal(err)
	}
	h.expectAll(es.Received, 60*time.Second)
	rss := h.peakRSS()
	t.Logf("peak RSS with %d rotated files: %.1f MiB", rotations, float64(rss)/(1<<20))
	if rss > 48<<20 {
		t.Errorf("peak RSS = %.1f MiB with %d rotated files, want under 48 MiB", float64(rss)/(1<<20), rotations)
	}
	if lost := h.metric("auditshipper_files_lost_total", ""); lost != 0 {
		t.Errorf("auditshipper_files_lost_total = %v, want 0", lost)
	}
	h.stop()
}
