package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshoptixiq/mesh/authsidecar/fakeupstream"
)

// procStatusKiB reads a "Vm…: N kB" line of /proc/pid/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// clientFrom is an HTTP client whose connections come from the loopback
// address src, so that it is another client address than the test's
// default 127.0.0.1 (the failed-authentication limit is per address).
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
}

// upload sends a request head announcing bodyLen bytes and then the body
// from zeros, until the body is sent or the sidecar stops reading, and
// returns the status it answered (0 when none could be read).
func upload(ctx context.Context, addr, head string, bodyLen int, zeros []byte) int {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if _, err := io.WriteString(c, head); err != nil {
		return 0
	}
	status := make(chan int, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		_, code, _ := strings.Cut(line, " ")
		n, _ := strconv.Atoi(strings.TrimSpace(code[:min(3, len(code))]))
		status <- n
	}()
	for sent := 0; sent < bodyLen; {
		n, err := c.Write(zeros[:min(len(zeros), bodyLen-sent)])
		sent += n
		if err != nil {
			break
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return <-status
}

// TestUnauthenticatedUploadFloodStaysSmall: 200 clients upload 10 MB
// bodies without credentials at once, several times over. The sidecar
// process answers each from its head alone, without reading the body, so
// its peak resident memory stays under 64 MiB, and an authenticated
// client is served throughout, its own 100 MB ingest streamed through.
func TestUnauthenticatedUploadFloodStaysSmall(t *testing.T) {
	const (
		clients = 200
		rounds  = 3
		bodyLen = 10_000_000
		limit   = 64 << 20
	)
	up := startUpstream(t)
	// Off, so that every upload is refused for its credentials (401)
	// rather than most for its address (429, which reads no body either).
	sc := startProcess(t, up.Addr, map[string]string{"AUTH_FAILURE_LIMIT": "off"})
	baseKiB, err := procStatusKiB(sc.Pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The monitor stops the flood as soon as the limit is crossed, so a
	// sidecar that buffers bodies fails the test instead of the machine.
	var peakRSS atomic.Int64
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		for ctx.Err() == nil {
			kib, err := procStatusKiB(sc.Pid, "VmRSS")
			if err != nil {
				return
			}
			if kib*1024 > peakRSS.Load() {
				peakRSS.Store(kib * 1024)
			}
			if kib*1024 >= limit {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	zeros := make([]byte, 64<<10)
	heads := []string{
		"POST /graph/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(bodyLen) + "\r\n\r\n",
		"POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: wrong-" + testKey + "\r\nContent-Length: " + strconv.Itoa(bodyLen) + "\r\n\r\n",
	}
	var statuses sync.Map // status → *atomic.Int64
	var flood sync.WaitGroup
	var floodLeft atomic.Int64
	floodLeft.Store(clients)
	for i := range clients {
		flood.Go(func() {
			defer floodLeft.Add(-1)
			for r := 0; r < rounds && ctx.Err() == nil; r++ {
				st := upload(ctx, sc.Addr, heads[(i+r)%len(heads)], bodyLen, zeros)
				n, _ := statuses.LoadOrStore(st, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}
	// An authenticated client, from another address, meanwhile: small
	// queries, and one 100 MB ingest streamed through to the upstream.
	authed := clientFrom("127.0.0.2")
	const ingestLen = 100_000_000
	ingestDone := make(chan error, 1)
	go func() {
		pr, pw := io.Pipe()
		go func() {
			for sent := 0; sent < ingestLen; sent += len(zeros) {
				if _, err := pw.Write(zeros[:min(len(zeros), ingestLen-sent)]); err != nil {
					return
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", sc.URL+"/graph/ingest", pr)
		req.ContentLength = ingestLen
		req.Header.Set("X-API-Key", testKey)
		resp, err := authed.Do(req)
		if err != nil {
			ingestDone <- err
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		ingestDone <- err
	}()
	servedDuringFlood, failed := 0, 0
	for floodLeft.Load() > 0 && ctx.Err() == nil {
		req, _ := http.NewRequest("GET", sc.URL+"/queries/all_devices", nil)
		req.Header.Set("X-API-Key", testKey)
		resp, err := authed.Do(req)
		if err != nil {
			t.Errorf("authenticated request during the flood: %v", err)
			failed++
			break
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("authenticated request during the flood = %d, want 200", resp.StatusCode)
			failed++
			break
		}
		if floodLeft.Load() > 0 {
			servedDuringFlood++
		}
	}
	flood.Wait()
	if err := <-ingestDone; err != nil && ctx.Err() == nil {
		t.Errorf("authenticated 100 MB ingest during the flood: %v, want 200", err)
	}
	crossed := ctx.Err() != nil
	cancel()
	<-monitorDone

	hwmKiB, err := procStatusKiB(sc.Pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	statuses.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%d×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("sidecar peak RSS (VmHWM) %.1f MiB (%.1f MiB before the flood; highest VmRSS sampled %.1f MiB); upload answers %v; %d authenticated requests served during the flood",
		float64(hwmKiB)/1024, float64(baseKiB)/1024, float64(peakRSS.Load())/(1<<20), summary, servedDuringFlood)
	if crossed || hwmKiB*1024 >= limit {
		t.Errorf("sidecar peak RSS %.1f MiB under %d concurrent unauthenticated 10 MB uploads, want < 64 MiB (flood stopped early: %v)",
			float64(hwmKiB)/1024, clients, crossed)
	}
	if up := up.Seen(); ctx.Err() == nil && !slices.ContainsFunc(up, func(s fakeupstream.Seen) bool { return s.Path == "/graph/ingest" && len(s.Body) == ingestLen }) {
		t.Errorf("the upstream did not receive the 100 MB ingest whole")
	}
	if failed == 0 && servedDuringFlood == 0 {
		t.Errorf("no authenticated request was answered while the flood ran")
	}
}

// chunkedPost posts body with chunked framing (no Content-Length).
func chunkedPost(t *testing.T, url string, hdr map[string]string, body []byte) (int, []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		for b := body; len(b) > 0; {
			n := min(len(b), 32<<10)
			if _, err := pw.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", url, pr)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("chunked POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// TestAuthorisedBodiesStreamToUpstream: an authorised body reaches the
// upstream whole, with a length or chunked, and a chunked body that runs
// past the limit is refused with 413 naming the variable.
func TestAuthorisedBodiesStreamToUpstream(t *testing.T) {
	up := startUpstream(t)
	sc := startSidecar(t, up.Addr, map[string]string{"MAX_BODY_BYTES": "1MiB"})
	body := []byte(strings.Repeat("0123456789abcdef", 32<<10)) // 512 KiB
	key := map[string]string{"X-API-Key": testKey}
	status, _, resp := do(t, "POST", sc.URL+"/queries/all_devices/execute", key, string(body))
	if seen := up.Seen(); status != 200 || len(seen) != 1 || seen[0].Body != string(body) {
		t.Fatalf("512 KiB POST with a length = %d %.200s; upstream saw %d requests, want 200 and the body whole", status, resp, len(seen))
	}
	up.Reset()
	status, resp = chunkedPost(t, sc.URL+"/queries/all_devices/execute", key, body)
	if seen := up.Seen(); status != 200 || len(seen) != 1 || seen[0].Body != string(body) {
		t.Fatalf("512 KiB chunked POST = %d %.200s; upstream saw %d requests, want 200 and the body whole", status, resp, len(seen))
	}
	status, resp = chunkedPost(t, sc.URL+"/queries/all_devices/execute", key, append(body, append(body, body...)...))
	if status != 413 || !strings.Contains(string(resp), "MAX_BODY_BYTES") || !strings.Contains(string(resp), "1048576") {
		t.Errorf("1.5 MiB chunked POST over a 1 MiB limit = %d %s, want 413 naming MAX_BODY_BYTES and 1048576", status, resp)
	}
}

// TestBodyLimitPerPermission: an ingest of facts may be as large as
// MAX_INGEST_BODY_BYTES (by default the apiserver's 256 MiB), every other
// request MAX_BODY_BYTES; each 413 names the variable that applies.
func TestBodyLimitPerPermission(t *testing.T) {
	up := startUpstream(t)
	key := map[string]string{"X-API-Key": testKey, "Content-Type": "application/json"}
	sc := startSidecar(t, up.Addr, map[string]string{"MAX_BODY_BYTES": "1KiB", "MAX_INGEST_BODY_BYTES": "64KiB"})
	mid := strings.Repeat("x", 32<<10)
	status, _, body := do(t, "POST", sc.URL+"/graph/ingest", key, mid)
	if seen := up.Seen(); status != 200 || len(seen) != 1 || len(seen[0].Body) != len(mid) {
		t.Errorf("32 KiB ingest under MAX_INGEST_BODY_BYTES=64KiB = %d %.200s, want 200 and the body forwarded", status, body)
	}
	status, _, body = do(t, "POST", sc.URL+"/queries/all_devices/execute", key, mid)
	if status != 413 || !strings.Contains(string(body), "MAX_BODY_BYTES") || !strings.Contains(string(body), "1024 bytes") {
		t.Errorf("32 KiB query body over MAX_BODY_BYTES=1KiB = %d %s, want 413 naming MAX_BODY_BYTES and 1024", status, body)
	}
	big := strings.Repeat("x", 128<<10)
	status, _, body = do(t, "POST", sc.URL+"/graph/ingest", key, big)
	if status != 413 || !strings.Contains(string(body), "MAX_INGEST_BODY_BYTES") || !strings.Contains(string(body), "65536 bytes") {
		t.Errorf("128 KiB ingest over MAX_INGEST_BODY_BYTES=64KiB = %d %s, want 413 naming MAX_INGEST_BODY_BYTES and 65536", status, body)
	}
	status, body = chunkedPost(t, sc.URL+"/graph/ingest", key, []byte(big))
	if status != 413 || !strings.Contains(string(body), "MAX_INGEST_BODY_BYTES") {
		t.Errorf("128 KiB chunked ingest over MAX_INGEST_BODY_BYTES=64KiB = %d %s, want 413 naming MAX_INGEST_BODY_BYTES", status, body)
	}

	// Defaults: an ingest larger than MAX_BODY_BYTES (10 MiB) passes.
	up.Reset()
	dflt := startSidecar(t, up.Addr, nil)
	large := strings.Repeat("y", 12<<20)
	status, _, body = do(t, "POST", dflt.URL+"/graph/ingest", key, large)
	if seen := up.Seen(); status != 200 || len(seen) != 1 || len(seen[0].Body) != len(large) {
		t.Errorf("12 MiB ingest with the default limits = %d %.200s, want 200 and the body forwarded", status, body)
	}
	// The refusal comes from the head: only what fasthttp prefetches
	// before the handler runs (8 KiB) is sent of the 12 MiB.
	out := raw(t, dflt.Addr, "POST /queries/all_devices/execute HTTP/1.1\r\nHost: x\r\nX-API-Key: "+testKey+"\r\nContent-Length: "+strconv.Itoa(len(large))+"\r\n\r\n"+large[:8<<10])
	if !strings.HasPrefix(out, "HTTP/1.1 413 ") || !strings.Contains(out, "MAX_BODY_BYTES") {
		t.Errorf("head of a 12 MiB query body with the default limits: answered %q, want 413 naming MAX_BODY_BYTES", out)
	}
}
