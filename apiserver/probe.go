package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// probeCmd asks the server on API_LISTEN for /health/ready (or the path
// given) and fails unless it answers 200. It is the Kubernetes exec probe
// of a server that listens only on a unix socket, in an image without a
// shell or curl.
func probeCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	path := "/health/ready"
	switch len(args) {
	case 0:
	case 1:
		if !strings.HasPrefix(args[0], "/") {
			return fmt.Errorf("probe: path %q must start with /", args[0])
		}
		path = args[0]
	default:
		return errors.New("usage: apiserver probe [PATH]")
	}
	listen := getenv("API_LISTEN")
	if listen == "" {
		listen = defaultListen
	}
	network, addr := "tcp", listen
	if sock, ok := strings.CutPrefix(listen, "unix:"); ok {
		network, addr = "unix", sock
	} else if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://apiserver"+path, nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s on %s: %w", path, listen, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s on %s: %s: %s", path, listen, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "%s\n", strings.TrimSpace(string(body)))
	return nil
}
