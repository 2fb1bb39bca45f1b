// Package storetest holds the oracles the stores' binary tests share
// (PostgreSQL and Neo4j alike), each run against real apiserver binaries
// over HTTP: Kill9 (ingest loops killed with SIGKILL at random moments)
// and ConcurrentIngests (replicas on one database taking ingests at once).
//
// Kill9: after each kill the store is read directly, and every
// acknowledged ingest is there and none is half-applied. Each ingest
// stamps every device it writes with its sequence number (the serial):
// bulk devices (40 by default) in every ingest, and pairs of devices
// written together (one pair per merge, all pairs by a replace). After a
// kill all bulk devices carry one stamp, the last acknowledged or the next
// (an ingest in flight may have committed unanswered), the graph version
// equals it, and both devices of each pair carry the same stamp.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/common/facts"
)

// Target is the binary under test and its store.
type Target struct {
	// Start runs the binary on an empty or earlier store and returns once
	// it is ready: its base URL, and kill, which SIGKILLs it and waits for
	// it to exit.
	Start func(t *testing.T) (base string, kill func())
	// Load reads the store directly, as a restarted apiserver would.
	Load func(ctx context.Context) (uint64, []facts.Device, error)
	// Rounds of start, ingest loop, kill (default 4).
	Rounds int
	// MinKill and MaxKill bound the time from ready to kill.
	MinKill, MaxKill time.Duration
	// Bulk is how many devices every ingest stamps besides its pairs
	// (default 40).
	Bulk int
}

const pairs = 8

func stamped(name string, n int) facts.Device {
	return facts.Device{Hostname: name, Vendor: "arista", Serial: strconv.Itoa(n),
		Interfaces: []facts.Interface{{Name: "Ethernet1", IPs: []string{fmt.Sprintf("10.%d.%d.1/24", n%200, len(name))}}}}
}

// batch is ingest number n: its mode and body.
func batch(n, bulk int) (string, string) {
	mode := "merge"
	devs := make([]facts.Device, 0, bulk+2*pairs)
	for i := range bulk {
		devs = append(devs, stamped(fmt.Sprintf("bulk-%02d", i), n))
	}
	ks := []int{n % pairs}
	if n%5 == 0 {
		mode, ks = "replace", nil
		for k := range pairs {
			ks = append(ks, k)
		}
	}
	for _, k := range ks {
		devs = append(devs, stamped(fmt.Sprintf("pair-%d-a", k), n), stamped(fmt.Sprintf("pair-%d-b", k), n))
	}
	b, _ := json.Marshal(facts.Document{Schema: facts.Schema, Devices: devs})
	return mode, string(b)
}

// Kill9 drives the rounds and checks the store after each kill; it returns
// the number of ingests the store holds at the end, and fails t when the
// kills all came before a replace.
func Kill9(t *testing.T, tg Target) int {
	t.Helper()
	if tg.Rounds == 0 {
		tg.Rounds = 4
	}
	if tg.Bulk == 0 {
		tg.Bulk = 40
	}
	rng := rand.New(rand.NewPCG(7, 7))
	acked := 0
	for round := range tg.Rounds {
		base, kill := tg.Start(t)
		stop, loopDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(loopDone)
			client := &http.Client{Timeout: 30 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				mode, body := batch(acked+1, tg.Bulk)
				resp, err := client.Post(base+"/graph/ingest?mode="+mode, "application/json", strings.NewReader(body))
				if err != nil {
					return // killed
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("round %d: ingest %d = %d", round, acked+1, resp.StatusCode)
					return
				}
				acked++
			}
		}()
		time.Sleep(tg.MinKill + time.Duration(rng.Int64N(int64(tg.MaxKill-tg.MinKill)+1)))
		kill()
		close(stop)
		<-loopDone

		v, devs, err := tg.Load(context.Background())
		if err != nil {
			t.Fatalf("round %d: Load = %v", round, err)
		}
		serials := map[string]string{}
		for _, d := range devs {
			serials[d.Hostname] = d.Serial
		}
		stamp := serials["bulk-00"]
		s, _ := strconv.Atoi(stamp)
		if s != acked && s != acked+1 {
			t.Fatalf("round %d: bulk stamp %q after %d acknowledged ingests, want %d or %d", round, stamp, acked, acked, acked+1)
		}
		if int(v) != s {
			t.Errorf("round %d: graph version %d, bulk stamp %d; want equal (one version per ingest)", round, v, s)
		}
		for i := range tg.Bulk {
			if got := serials[fmt.Sprintf("bulk-%02d", i)]; got != stamp {
				t.Fatalf("round %d: bulk-%02d stamp %q, bulk-00 %q: an ingest half-applied", round, i, got, stamp)
			}
		}
		for k := range pairs {
			if a, b := serials[fmt.Sprintf("pair-%d-a", k)], serials[fmt.Sprintf("pair-%d-b", k)]; a != b {
				t.Fatalf("round %d: pair %d stamps %q and %q: an ingest half-applied", round, k, a, b)
			}
		}
		acked = s
		t.Logf("round %d: killed after %d ingests in all; store at version %d", round, acked, v)
	}
	if acked < 5 {
		t.Errorf("only %d ingests in all rounds: the kills came before any replace", acked)
	}
	return acked
}
