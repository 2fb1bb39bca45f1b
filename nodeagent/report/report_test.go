package report

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/meshoptixiq/mesh/common/testenv"
)

type capture struct {
	key  string
	body []byte
	code int
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.key = r.Header.Get("X-API-Key")
	c.body, _ = io.ReadAll(r.Body)
	if r.URL.Path != "/telemetry/report" {
		http.NotFound(w, r)
		return
	}
	w.WriteHeader(c.code)
	io.WriteString(w, `{"error":{"code":"x","message":"nope"}}`)
}

func serve(t *testing.T, network, addr string, h http.Handler) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

func TestHTTPSender(t *testing.T) {
	c := &capture{code: 202}
	ln := serve(t, "tcp4", "127.0.0.1:0", c)
	s := NewHTTP("http://"+ln.Addr().String()+"/", "k3y", time.Second)
	defer s.Close()
	r := &Report{Version: Version, Node: "n1", Seq: 7}
	if err := s.Send(context.Background(), r); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	var got Report
	if err := json.Unmarshal(c.body, &got); err != nil || got.Node != "n1" || got.Seq != 7 || c.key != "k3y" {
		t.Errorf("server got %s (key %q), want the report with X-API-Key k3y", c.body, c.key)
	}
	c.code = 400
	if err := s.Send(context.Background(), r); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("Send() to a 400 = %v, want an error with the status", err)
	}
}

func TestHTTPSenderUnixSocket(t *testing.T) {
	c := &capture{code: 200}
	path := filepath.Join(t.TempDir(), "api.sock")
	serve(t, "unix", path, c)
	s := NewHTTP("unix:"+path, "", time.Second)
	defer s.Close()
	if err := s.Send(context.Background(), &Report{Version: Version, Node: "n2"}); err != nil {
		t.Fatalf("Send() over unix socket = %v", err)
	}
	if c.key != "" || !strings.Contains(string(c.body), `"node":"n2"`) {
		t.Errorf("server got %s key %q", c.body, c.key)
	}
}

func TestHTTPSenderDeadServer(t *testing.T) {
	port := testenv.FreePort(t)
	s := NewHTTP("http://127.0.0.1:"+itoa(port), "", 500*time.Millisecond)
	if err := s.Send(context.Background(), &Report{Version: Version, Node: "n"}); err == nil {
		t.Error("Send() to a dead server = nil, want an error")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestRedisSender(t *testing.T) {
	rd := testenv.StartRedis(t)
	s, err := NewRedis(rd.URL(), "gpu-07", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 200 {
		if err := s.Send(ctx, &Report{Version: Version, Node: "gpu-07", Seq: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	c := redis.NewClient(&redis.Options{Addr: rd.Addr()})
	defer c.Close()
	n, err := c.XLen(ctx, "meshq:telemetry:gpu-07").Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole macro nodes (100 entries by default), so about 3
	// means well under 200.
	if n >= 200 || n < 3 {
		t.Errorf("XLEN = %d after 200 reports with MAXLEN ~3, want trimmed", n)
	}
	rd.Stop()
	if err := s.Send(ctx, &Report{Version: Version, Node: "gpu-07"}); err == nil || !strings.Contains(err.Error(), "xadd meshq:telemetry:gpu-07") {
		t.Errorf("Send() with Redis down = %v, want an xadd error", err)
	}
	if _, err := NewRedis("http://x", "n", 1); err == nil {
		t.Error("NewRedis(http://x) = nil error, want REDIS_URL parse error")
	}
}
