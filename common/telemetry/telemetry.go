// Package telemetry declares the meshq.telemetry/v1 contract between the
// node agent, which writes reports, and the apiserver, which reads them:
// the format version, where reports travel (a Redis stream per node, or an
// HTTP POST without Redis) and the connection event both sides exchange.
// The rest of a report is described where it is produced (nodeagent/report)
// and where it is read (apiserver/telemetry).
package telemetry

import "time"

// Version names the report format.
const Version = "meshq.telemetry/v1"

// StreamPrefix is the Redis stream name prefix; the node name follows.
const StreamPrefix = "meshq:telemetry:"

// ReportPath is the apiserver endpoint an agent POSTs reports to when it
// has no Redis.
const ReportPath = "/telemetry/report"

// Event is one TCP connection event. Node is empty in an agent's report
// (the report names its node) and set by the apiserver when it stores the
// event.
type Event struct {
	Node          string    `json:"node,omitempty"`
	Time          time.Time `json:"time"`
	Kind          string    `json:"kind"`
	Src           string    `json:"src"`
	Dst           string    `json:"dst"`
	Remote        string    `json:"remote"` // Dst's address, for filtering
	PID           uint32    `json:"pid,omitempty"`
	Comm          string    `json:"comm,omitempty"`
	Cgroup        uint64    `json:"cgroup,omitempty"`
	Passive       bool      `json:"passive,omitempty"`
	DurationUS    int64     `json:"duration_us,omitempty"`
	SRTTUS        int64     `json:"srtt_us,omitempty"`
	Retransmits   uint32    `json:"retransmits,omitempty"`
	BytesAcked    uint64    `json:"bytes_acked,omitempty"`
	BytesReceived uint64    `json:"bytes_received,omitempty"`
}
