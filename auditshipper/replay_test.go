package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// replay runs `auditshipper replay` with the harness's environment.
func (h *harness) replay(args ...string) (string, error) {
	h.t.Helper()
	cmd := exec.Command(shipperBinary(h.t), append([]string{"replay"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range h.env {
		if k != "SHIPPER_LISTEN" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestReplayDeadLetters(t *testing.T) {
	t.Parallel()
	h, es := esHarness(t, nil)
	// The index refuses one record in ten (a mapping conflict, say).
	refuse := func(k uint32) {
		es.SetItemFault(func(id string, _ int) int { return map[bool]int{true: 400}[idHash(id)%k == 0] })
	}
	refuse(10)
	h.w.write(600)
	h.start()
	var refused int
	for id := range h.w.written() {
		if idHash(id)%10 == 0 {
			refused++
		}
	}
	h.waitFor(20*time.Second, "the refused records dead-lettered", func() bool { return len(h.deadLetters()) == refused })

	// The mapping is half fixed: replay beside the running daemon sends
	// what the index now takes and dead-letters the rest again.
	refuse(20)
	out, err := h.replay()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	var still int
	for id := range h.w.written() {
		if idHash(id)%20 == 0 {
			still++
		}
	}
	if want := "replayed " + itoa(refused) + " dead letters: " + itoa(refused-still) + " handed to the sink, " + itoa(still) + " dead-lettered again"; !strings.Contains(out, want) {
		t.Errorf("replay output %q, want it to say %q", out, want)
	}
	if got := len(h.deadLetters()); got != still {
		t.Errorf("dead letters after the first replay = %d, want %d", got, still)
	}
	// The daemon goes on dead-lettering into the new file.
	h.w.write(200)
	h.waitFor(20*time.Second, "new dead letters from the daemon", func() bool {
		n := 0
		for id := range h.w.written() {
			if idHash(id)%20 == 0 {
				n++
			}
		}
		return len(h.deadLetters()) == n
	})

	// A replay that cannot reach the sink stops and keeps its work.
	es.Stop()
	out, err = h.replay("--timeout", "1s")
	if err == nil {
		t.Fatalf("replay with the sink down succeeded:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(h.stateDir, replayingName)); err != nil {
		t.Fatalf("interrupted replay left no work file: %v", err)
	}
	if err := es.Start(); err != nil {
		t.Fatal(err)
	}
	es.SetItemFault(nil)
	out, err = h.replay()
	if err != nil {
		t.Fatalf("replay after the fix: %v\n%s", err, out)
	}
	if n := len(h.deadLetters()); n != 0 {
		t.Errorf("dead letters left after the fixed replay = %d, want 0", n)
	}
	if _, err := os.Stat(filepath.Join(h.stateDir, replayingName)); !os.IsNotExist(err) {
		t.Errorf("work file still there after a complete replay (stat: %v)", err)
	}
	h.expectAll(es.Received, 30*time.Second)
	h.stop()
	out, err = h.replay()
	if err != nil || !strings.Contains(out, "no dead letters to replay") {
		t.Errorf("replay with nothing to do = %v, %q", err, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
