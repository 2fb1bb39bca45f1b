// Package report defines the telemetry report the node agent sends
// (meshq.telemetry/v1, JSON) and the two ways it goes out: a capped Redis
// stream meshq:telemetry:<node> when REDIS_URL is set, else an HTTP POST to
// the apiserver's /telemetry/report.
package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/meshoptixiq/mesh/common/telemetry"
	"github.com/meshoptixiq/mesh/nodeagent/gpu"
	"github.com/meshoptixiq/mesh/nodeagent/nccl"
)

// The contract's names, declared once in common/telemetry.
const (
	Version      = telemetry.Version
	StreamPrefix = telemetry.StreamPrefix
)

// Event is one connection event of a report.
type Event = telemetry.Event

// Report is one periodic report of a node.
type Report struct {
	Version       string       `json:"version"`
	Node          string       `json:"node"`
	Time          time.Time    `json:"time"`
	Seq           uint64       `json:"seq"`
	BootID        string       `json:"boot_id"` // random per agent start; Seq counts within it
	Status        Status       `json:"status"`
	TCP           TCP          `json:"tcp"`
	Events        []Event      `json:"events"`
	DroppedEvents uint64       `json:"dropped_events"` // agent-side: events that did not fit a report
	GPU           gpu.Snapshot `json:"gpu"`
	NCCL          NCCL         `json:"nccl"`
}

// Status says which sources work, and why not when they do not.
type Status struct {
	EBPF string `json:"ebpf"` // "loaded" or "unavailable: <why>; using /proc/net/snmp"
	NVML string `json:"nvml"` // "ok" or "unavailable: <why>"
	NCCL string `json:"nccl"` // "ok", "not configured" or the read errors
}

// TCP is the node's TCP picture: kernel counters since the agent started
// (eBPF) or since boot (/proc fallback).
type TCP struct {
	Source        string `json:"source"` // ebpf or procfs
	OpenedActive  uint64 `json:"opened_active"`
	OpenedPassive uint64 `json:"opened_passive"`
	Established   uint64 `json:"established"`
	Closed        uint64 `json:"closed"`
	Failed        uint64 `json:"failed"`
	Retransmits   uint64 `json:"retransmits"`
	CurrEstab     uint64 `json:"curr_established,omitempty"` // procfs only
	// From /proc/net/netstat (procfs only).
	Timeouts        uint64   `json:"timeouts,omitempty"`         // TcpExt TCPTimeouts
	SynRetransmits  uint64   `json:"syn_retransmits,omitempty"`  // TcpExt TCPSynRetrans
	ListenOverflows uint64   `json:"listen_overflows,omitempty"` // TcpExt ListenOverflows
	ListenDrops     uint64   `json:"listen_drops,omitempty"`     // TcpExt ListenDrops
	EventsEmitted   uint64   `json:"events_emitted"`
	LostEvents      uint64   `json:"lost_events"`
	Untracked       uint64   `json:"untracked_closes,omitempty"` // closes whose open predates the agent
	ConnTableFull   uint64   `json:"conn_table_full,omitempty"`  // opens past NODEAGENT_MAX_CONNS`
	RTTSamples      uint64   `json:"rtt_samples"`
	RTTP50us        float64  `json:"rtt_p50_us"`
	RTTP99us        float64  `json:"rtt_p99_us"`
	RTTP999us       float64  `json:"rtt_p999_us"`
	RTTLog2Buckets  []uint64 `json:"rtt_log2_buckets_us,omitempty"`
	Remotes         []Remote `json:"remotes,omitempty"`
}

// Remote is retransmits towards one remote address.
type Remote struct {
	Addr        string `json:"addr"`
	Retransmits uint64 `json:"retransmits"`
}

// NCCL is what NCCL said about this node.
type NCCL struct {
	Topology      *nccl.Topology      `json:"topology,omitempty"`
	Communicators []nccl.Communicator `json:"communicators,omitempty"`
	ActiveOps     []nccl.Op           `json:"active_operations,omitempty"`
	Disagreements []nccl.Disagreement `json:"disagreements,omitempty"`
}

// Sender delivers a report.
type Sender interface {
	Send(ctx context.Context, r *Report) error
	Close() error
}

// RedisSender appends reports to a capped stream.
type RedisSender struct {
	client *redis.Client
	stream string
	maxLen int64
}

// NewRedis connects to url (redis:// or rediss://) lazily.
func NewRedis(url, node string, maxLen int64) (*RedisSender, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
	}
	return &RedisSender{client: redis.NewClient(opt), stream: StreamPrefix + node, maxLen: maxLen}, nil
}

// Stream is the stream key reports go to.
func (s *RedisSender) Stream() string { return s.stream }

// Send XADDs the report as one field "report" (JSON), trimming the stream
// to about maxLen entries.
func (s *RedisSender) Send(ctx context.Context, r *Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	err = s.client.XAdd(ctx, &redis.XAddArgs{Stream: s.stream, MaxLen: s.maxLen, Approx: true,
		Values: []any{"report", b}}).Err()
	if err != nil {
		return fmt.Errorf("xadd %s: %w", s.stream, err)
	}
	return nil
}

// Close closes the client.
func (s *RedisSender) Close() error { return s.client.Close() }

// HTTPSender posts reports to the apiserver.
type HTTPSender struct {
	url    string
	apiKey string
	client *http.Client
}

// NewHTTP posts to base + "/telemetry/report". base is an http(s) URL, or
// unix:/path for an apiserver on a unix socket. apiKey, when set, goes in
// X-API-Key so the report can pass through the authsidecar.
func NewHTTP(base, apiKey string, timeout time.Duration) *HTTPSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if path, ok := strings.CutPrefix(base, "unix:"); ok {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		base = "http://apiserver"
	}
	return &HTTPSender{url: strings.TrimRight(base, "/") + telemetry.ReportPath, apiKey: apiKey,
		client: &http.Client{Timeout: timeout, Transport: tr}}
}

// Send posts the report; any status but 2xx is an error.
func (s *HTTPSender) Send(ctx context.Context, r *Report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("posting report: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.apiKey != "" {
		req.Header.Set("X-API-Key", s.apiKey)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting report: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("posting report: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

// Close releases idle connections.
func (s *HTTPSender) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
