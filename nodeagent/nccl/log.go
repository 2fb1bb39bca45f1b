package nccl

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Communicator is what the INFO log says about one rank of a communicator.
type Communicator struct {
	CommID   string   `json:"comm_id"` // commId, shared by every rank
	Comm     string   `json:"comm"`    // this rank's comm pointer
	Host     string   `json:"host"`
	PID      int      `json:"pid"`
	Rank     int      `json:"rank"`
	NRanks   int      `json:"nranks"`
	NNodes   int      `json:"nnodes,omitempty"`
	CudaDev  int      `json:"cuda_dev"`
	BusID    string   `json:"bus_id,omitempty"`
	Channels int      `json:"channels"` // collective channels
	Rings    [][]int  `json:"rings,omitempty"`
	Trees    []string `json:"trees,omitempty"`
	Complete bool     `json:"init_complete"`
}

var (
	// host:pid:tid [dev] NCCL INFO <message>
	linePrefix = regexp.MustCompile(`^([^:\s]+):(\d+):(\d+) \[(\d+)\] NCCL INFO (.*)$`)
	initRank   = regexp.MustCompile(`^ncclCommInit\w* comm (0x[0-9a-f]+) rank (\d+) nranks (\d+) cudaDev (\d+) nvmlDev \d+ busId ([0-9a-f]+) commId (0x[0-9a-f]+) - Init (START|COMPLETE)`)
	commNodes  = regexp.MustCompile(`^comm (0x[0-9a-f]+) rank (\d+) nRanks (\d+) nNodes (\d+)`)
	channelRe  = regexp.MustCompile(`^Channel (\d+)/(\d+) :((?:\s+\d+)+)\s*$`)
	treesRe    = regexp.MustCompile(`^Trees (.*)$`)
	collChans  = regexp.MustCompile(`^(\d+) coll channels`)
)

// maxChannels bounds the channel index taken from a log line (NCCL uses at
// most 64), so a corrupt line cannot make the parser allocate without end.
const maxChannels = 256

// LogParser accumulates communicators over one or more logs.
type LogParser struct {
	comms   map[string]*Communicator // by host/pid/comm pointer
	thread  map[string]string        // host:pid:tid -> comm key of the last init on that thread
	Skipped int                      // lines too long to read
}

// NewLogParser returns an empty parser.
func NewLogParser() *LogParser {
	return &LogParser{comms: map[string]*Communicator{}, thread: map[string]string{}}
}

// Parse reads one log.
func (p *LogParser) Parse(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			p.Skipped++
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if len(line) > 0 {
			p.line(strings.TrimRight(string(line), "\r\n"))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading nccl log: %w", err)
		}
	}
}

func (p *LogParser) line(s string) {
	m := linePrefix.FindStringSubmatch(s)
	if m == nil {
		return
	}
	host, pid, tid, msg := m[1], m[2], m[3], m[5]
	thread := host + ":" + pid + ":" + tid
	if im := initRank.FindStringSubmatch(msg); im != nil {
		key := host + "/" + pid + "/" + im[1]
		c := p.comms[key]
		if c == nil {
			c = &Communicator{Comm: im[1], Host: host}
			c.PID, _ = strconv.Atoi(pid)
			p.comms[key] = c
		}
		c.Rank, _ = strconv.Atoi(im[2])
		c.NRanks, _ = strconv.Atoi(im[3])
		c.CudaDev, _ = strconv.Atoi(im[4])
		c.BusID = busFromInt(im[5])
		c.CommID = im[6]
		c.Complete = c.Complete || im[7] == "COMPLETE"
		p.thread[thread] = key
		return
	}
	key, ok := p.thread[thread]
	if !ok {
		return
	}
	c := p.comms[key]
	switch {
	case commNodes.MatchString(msg):
		cm := commNodes.FindStringSubmatch(msg)
		c.NNodes, _ = strconv.Atoi(cm[4])
	case channelRe.MatchString(msg):
		cm := channelRe.FindStringSubmatch(msg)
		ch, _ := strconv.Atoi(cm[1])
		if ch >= maxChannels {
			return
		}
		var ring []int
		for _, f := range strings.Fields(cm[3]) {
			v, _ := strconv.Atoi(f)
			ring = append(ring, v)
		}
		for len(c.Rings) <= ch {
			c.Rings = append(c.Rings, nil)
		}
		c.Rings[ch] = ring
	case treesRe.MatchString(msg):
		for _, t := range strings.Split(treesRe.FindStringSubmatch(msg)[1], "[") {
			if t = strings.TrimSpace(t); t != "" {
				c.Trees = append(c.Trees, "["+t)
			}
		}
	case collChans.MatchString(msg):
		c.Channels, _ = strconv.Atoi(collChans.FindStringSubmatch(msg)[1])
	}
}

// Communicators returns what was parsed, ordered by comm id then rank.
func (p *LogParser) Communicators() []Communicator {
	out := make([]Communicator, 0, len(p.comms))
	for _, c := range p.comms {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CommID != out[j].CommID {
			return out[i].CommID < out[j].CommID
		}
		return out[i].Rank < out[j].Rank
	})
	return out
}

// busFromInt turns NCCL's busId (the hex digits of the bus id string, e.g.
// 18000 for 0000:18:00.0) back into a bus id.
func busFromInt(s string) string {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", v>>20, (v>>12)&0xff, (v>>4)&0xff, v&0xf)
}
