package nccl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Op is one collective or point-to-point operation from a profiler trace.
type Op struct {
	Kind     string        `json:"kind"` // AllReduce, AllGather, Send, ...
	Category string        `json:"category"`
	CommHash string        `json:"comm_hash,omitempty"`
	Rank     int           `json:"rank"`
	Seq      int64         `json:"seq"`
	Count    int64         `json:"count,omitempty"`
	Datatype string        `json:"datatype,omitempty"`
	PID      int           `json:"pid"`
	Duration time.Duration `json:"duration_ns"`
	Average  time.Duration `json:"kind_average_ns"` // rolling average of completed ops of this kind
	Hang     bool          `json:"hang"`
	startUS  float64
}

// HangRule flags an active op as hung when it has run longer than Factor
// times the rolling average of the last Window completed ops of its kind,
// once MinSamples of them have been seen.
type HangRule struct {
	Factor     float64
	Window     int
	MinSamples int
}

// traceEvent is one Chrome-trace record, as the NCCL example profiler
// plugin writes them ("b"/"e" pairs sharing name, cat, pid and id).
type traceEvent struct {
	Name string          `json:"name"`
	Cat  string          `json:"cat"`
	Ph   string          `json:"ph"`
	ID   json.Number     `json:"id"`
	PID  int             `json:"pid"`
	TS   float64         `json:"ts"`
	Args json.RawMessage `json:"args"`
}

type collArgs struct {
	SeqNum   int64       `json:"SeqNum"`
	CommHash json.Number `json:"CommHash"`
	Rank     int         `json:"Rank"`
	Count    int64       `json:"Count"`
	Datatype string      `json:"Datatype"`
}

var (
	// The example plugin prints some values unquoted (0x1234, ncclFloat32);
	// quote them so the line decodes.
	bareHex   = regexp.MustCompile(`:\s*(0x[0-9a-fA-F]+)`)
	bareIdent = regexp.MustCompile(`:\s*([A-Za-z_][A-Za-z0-9_]*)\s*([,}])`)
)

func repair(line string) string {
	line = bareHex.ReplaceAllString(line, `:"$1"`)
	return bareIdent.ReplaceAllStringFunc(line, func(m string) string {
		sm := bareIdent.FindStringSubmatch(m)
		switch sm[1] {
		case "true", "false", "null":
			return m
		}
		return `:"` + sm[1] + `"` + sm[2]
	})
}

// TraceResult is what one trace says.
type TraceResult struct {
	Active    []Op `json:"active"`
	Completed int  `json:"completed"`
	Malformed int  `json:"malformed_lines"`
}

// ParseTrace reads a profiler trace (a JSON array written one event per
// line, possibly unterminated while the job runs). idle is how long the file
// has not been written: an op still open then has run for (last timestamp in
// the trace - its start) + idle, so a job that hangs and stops writing keeps
// ageing its open ops.
func ParseTrace(r io.Reader, idle time.Duration, rule HangRule) (TraceResult, error) {
	type key struct {
		pid     int
		cat, id string
	}
	open := map[key]*Op{}
	hist := map[string][]time.Duration{}
	var res TraceResult
	var last float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		line = strings.TrimPrefix(line, "[")
		line = strings.TrimSuffix(strings.TrimSuffix(line, "]"), ",")
		if line == "" {
			continue
		}
		var ev traceEvent
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			if err := json.Unmarshal([]byte(repair(line)), &ev); err != nil {
				res.Malformed++
				continue
			}
		}
		last = max(last, ev.TS)
		if ev.Cat != "COLL" && ev.Cat != "P2P" {
			continue
		}
		k := key{ev.PID, ev.Cat, ev.ID.String()}
		switch ev.Ph {
		case "b":
			op := &Op{Kind: ev.Name, Category: ev.Cat, PID: ev.PID, startUS: ev.TS}
			var a collArgs
			if len(ev.Args) > 0 && json.Unmarshal(ev.Args, &a) == nil {
				op.Seq, op.CommHash, op.Rank, op.Count, op.Datatype = a.SeqNum, a.CommHash.String(), a.Rank, a.Count, a.Datatype
			}
			open[k] = op
		case "e":
			op, ok := open[k]
			if !ok {
				continue
			}
			delete(open, k)
			d := time.Duration((ev.TS - op.startUS) * float64(time.Microsecond))
			h := append(hist[op.Kind], d)
			if rule.Window > 0 && len(h) > rule.Window {
				h = h[len(h)-rule.Window:]
			}
			hist[op.Kind] = h
			res.Completed++
		}
	}
	if err := sc.Err(); err != nil {
		return TraceResult{}, fmt.Errorf("reading nccl trace: %w", err)
	}
	for _, op := range open {
		op.Duration = time.Duration((last-op.startUS)*float64(time.Microsecond)) + idle
		if h := hist[op.Kind]; len(h) > 0 {
			var sum time.Duration
			for _, d := range h {
				sum += d
			}
			op.Average = sum / time.Duration(len(h))
			op.Hang = len(h) >= rule.MinSamples && float64(op.Duration) > rule.Factor*float64(op.Average)
		}
		res.Active = append(res.Active, *op)
	}
	sort.Slice(res.Active, func(i, j int) bool {
		a, b := res.Active[i], res.Active[j]
		if a.startUS != b.startUS {
			return a.startUS < b.startUS
		}
		return a.PID < b.PID
	})
	return res, nil
}
