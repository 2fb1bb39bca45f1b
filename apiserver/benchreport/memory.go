package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/meshoptixiq/mesh/apiserver/demo"
	"github.com/meshoptixiq/mesh/common/facts"
)

// memoryDevices is the network of the memory-after-ingest figures.
const memoryDevices = 10000

// memoryLimit is the GOMEMLIMIT of the run that checks the binary honours
// it: below the unlimited run's peak, above what the graph needs.
const memoryLimit = 1536 << 20

// memoryAfterIngest measures issue 17's memory figures with the real
// binary: a fresh store takes the 10k-device network three times over
// HTTP and a query storm with malformed requests mixed in; its resident
// memory is compared with the same binary restarted on the same store,
// idle and after the same storm. A second run under GOMEMLIMIT shows the
// limit is honoured.
func memoryAfterIngest(out io.Writer, bin, tmp string) error {
	doc := demo.Generate(demo.Options{Seed: 1, Devices: memoryDevices})
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	st := newStorm(doc.Devices)
	doc = nil
	fmt.Fprintf(out, "\n== memory after ingest: %d devices (facts %.0f MiB) ingested 3 times over HTTP, then a query storm (%s)\n",
		memoryDevices, float64(len(data))/(1<<20), st)

	after, idle, peak, err := ingestAndStorm(bin, filepath.Join(tmp, "mem"), data, st, nil)
	if err != nil {
		return err
	}
	cmd, base, err := startBinary(bin, filepath.Join(tmp, "mem"), []string{"MEMORY_IDLE_RELEASE=" + idleRelease.String()})
	if err != nil {
		return err
	}
	if err := waitReady(base, 5*time.Minute); err != nil {
		stopBinary(cmd)
		return err
	}
	time.Sleep(500 * time.Millisecond)
	restarted, err := rssKiB(cmd.Process.Pid)
	if err == nil {
		err = st.run(base)
	}
	var restartedStorm int64
	if err == nil {
		time.Sleep(500*time.Millisecond + idleWait) // as the first one: quiet as long
		restartedStorm, err = rssKiB(cmd.Process.Pid)
	}
	stopBinary(cmd)
	if err != nil {
		return err
	}
	_, _, limPeak, err := ingestAndStorm(bin, filepath.Join(tmp, "mem-limit"), data, st, []string{fmt.Sprintf("GOMEMLIMIT=%dMiB", memoryLimit>>20)})
	if err != nil {
		return err
	}

	r1, r2 := float64(idle)/float64(restarted), float64(idle)/float64(restartedStorm)
	printRows(out, []row{
		{"RSS right after 3 ingests + storm", mib(after), "", true},
		{fmt.Sprintf("RSS after %s quiet (MEMORY_IDLE_RELEASE=%s)", idleWait, idleRelease), mib(idle), "", true},
		{"  restarted on the same store, ready", mib(restarted), "", true},
		{"  restarted, after the same storm and as long quiet", mib(restartedStorm), "", true},
		{"  ratio to restarted (ready)", fmt.Sprintf("%.2f×", r1), "≤ 1.5×", r1 <= 1.5},
		{"  ratio to restarted after the same storm", fmt.Sprintf("%.2f×", r2), "≤ 1.5×", r2 <= 1.5},
		{"peak RSS (VmHWM) during ingests + storm", mib(peak), "", true},
		{fmt.Sprintf("  the same with GOMEMLIMIT=%dMiB", memoryLimit>>20), mib(limPeak), fmt.Sprintf("≤ %d MiB", memoryLimit>>20*11/10), limPeak <= memoryLimit/1024*11/10},
	})
	return nil
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

// idleRelease is the MEMORY_IDLE_RELEASE of the measured server (the
// default is 30 s); idleWait how long the bench leaves it quiet.
const (
	idleRelease = 2 * time.Second
	idleWait    = 4 * time.Second
)

// ingestAndStorm starts the binary on an empty dir, posts data three
// times (replace), runs the storm and returns the resident memory right
// after it and after idleWait without requests, and the peak.
func ingestAndStorm(bin, dir string, data []byte, st *storm, env []string) (after, idle, peak int64, err error) {
	if err := os.RemoveAll(dir); err != nil {
		return 0, 0, 0, err
	}
	cmd, base, err := startBinary(bin, dir, append([]string{fmt.Sprintf("MAX_BODY_BYTES=%d", len(data)+1<<20),
		"MEMORY_IDLE_RELEASE=" + idleRelease.String()}, env...))
	if err != nil {
		return 0, 0, 0, err
	}
	defer stopBinary(cmd)
	if err := waitReady(base, time.Minute); err != nil {
		return 0, 0, 0, err
	}
	for i := range 3 {
		resp, err := http.Post(base+"/graph/ingest?mode=replace", "application/json", bytes.NewReader(data))
		if err != nil {
			return 0, 0, 0, fmt.Errorf("ingest %d: %w", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, 0, 0, fmt.Errorf("ingest %d: %s: %s", i+1, resp.Status, body)
		}
	}
	if err := st.run(base); err != nil {
		return 0, 0, 0, err
	}
	time.Sleep(500 * time.Millisecond)
	if after, err = rssKiB(cmd.Process.Pid); err != nil {
		return 0, 0, 0, err
	}
	time.Sleep(idleWait)
	if idle, err = rssKiB(cmd.Process.Pid); err != nil {
		return 0, 0, 0, err
	}
	peak, err = procStatusKiB(cmd.Process.Pid, "VmHWM:")
	return after, idle, peak, err
}

// storm is a fixed mix of requests: the hot lookups, the whole-graph and
// heavy queries, and malformed requests of the kinds a fuzzer sends.
type storm struct {
	clients, perClient int
	hosts, ips         []string
	campus, servers    []string
	subnets            []string
}

func newStorm(devs []facts.Device) *storm {
	s := &storm{clients: 16, perClient: 300}
	dc := netip.MustParsePrefix("10.128.0.0/12")
	seen := map[string]bool{}
	for _, d := range devs {
		s.hosts = append(s.hosts, d.Hostname)
		for _, a := range d.ARP {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil || !ip.Is4() {
				continue
			}
			s.ips = append(s.ips, a.IP)
			if dc.Contains(ip) {
				s.servers = append(s.servers, a.IP)
			} else {
				s.campus = append(s.campus, a.IP)
			}
			if sn := netip.PrefixFrom(ip, 24).Masked().String(); !seen[sn] {
				seen[sn] = true
				s.subnets = append(s.subnets, sn)
			}
		}
	}
	return s
}

func (s *storm) String() string {
	return fmt.Sprintf("%d clients × %d requests, about 1 in 8 malformed", s.clients, s.perClient)
}

// run sends the storm to base and fails on any answer a well-behaved
// server would not give (a 5xx, or a 2xx to a malformed request).
func (s *storm) run(base string) error {
	var wg sync.WaitGroup
	errs := make(chan error, s.clients)
	client := &http.Client{Timeout: 2 * time.Minute}
	for c := range s.clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 17))
			for range s.perClient {
				name, body, bad := s.request(rng)
				resp, err := client.Post(base+"/queries/"+name+"/execute", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 || (bad && resp.StatusCode < 400) || (!bad && resp.StatusCode != 200) {
					errs <- fmt.Errorf("storm: %s %.60s: %s", name, body, resp.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (s *storm) request(rng *rand.Rand) (name, body string, bad bool) {
	pick := func(v []string) string { return v[rng.IntN(len(v))] }
	switch rng.IntN(16) {
	case 0:
		return "locate_endpoint_by_ip", `{"parameters":{"ip":"` + pick(s.ips) + `"`, true // truncated
	case 1:
		return "ips_in_subnet", `{"parameters":{"subnet":"` + strings.Repeat("9", 1+rng.IntN(4096)) + `"}}`, true
	case 2, 3:
		return "locate_endpoint_by_ip", `{"parameters":{"ip":"` + pick(s.ips) + `"}}`, false
	case 4:
		return "devices_detail", `{"parameters":{"hostname":"` + pick(s.hosts) + `"}}`, false
	case 5, 6:
		return "blast_radius_from_device", `{"parameters":{"hostname":"` + pick(s.hosts) + `"}}`, false
	case 7, 8:
		return "ips_in_subnet", `{"parameters":{"subnet":"` + pick(s.subnets) + `"}}`, false
	case 9, 10:
		return "path_analysis", `{"parameters":{"src_ip":"` + pick(s.campus) + `","dst_ip":"` + pick(s.servers) + `"}}`, false
	case 11:
		return "hygiene_duplicate_ips", "", false
	case 12:
		return "topology_full", "", false
	case 13:
		return "subnets_all", "", false
	case 14:
		return "summary_stats", "", false
	}
	return "interfaces_by_device", `{"parameters":{"hostname":"` + pick(s.hosts) + `"}}`, false
}
