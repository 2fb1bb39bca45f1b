package telemetry

import (
	"encoding/json"
	"net/netip"
	"sort"
)

// Job is a training or inference job as the node agents see it: one NCCL
// communicator (its ranks share a comm id) and the nodes whose agents
// report one of its ranks.
type Job struct {
	Name   string `json:"name"` // "nccl-" and the first 16 digits of the comm id
	CommID string `json:"comm_id"`
	// NRanks is the communicator's size; Ranks how many of them live
	// agents report (fewer when a member's node has no agent).
	NRanks int       `json:"nranks"`
	Ranks  int       `json:"ranks_reported"`
	Nodes  []JobNode `json:"nodes"`
}

// JobNode is one node of a job: the agent's node name and the local
// addresses its recent connections used, by which the graph may know it.
type JobNode struct {
	Name  string   `json:"name"`
	Addrs []string `json:"addrs,omitempty"`
}

// Jobs lists the NCCL communicators the live nodes report, by name.
func (s *Service) Jobs() []Job {
	type comm struct {
		CommID string `json:"comm_id"`
		Rank   int    `json:"rank"`
		NRanks int    `json:"nranks"`
	}
	type acc struct {
		job   Job
		ranks map[int]bool
		nodes map[string]bool
	}
	byID := map[string]*acc{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.sortedNodes("") {
		raw := s.nodes[n].report.NCCL.Communicators
		if len(raw) == 0 {
			continue
		}
		var comms []comm
		if json.Unmarshal(raw, &comms) != nil {
			continue // the agent's section passes through unchecked; not ours to fix
		}
		for _, c := range comms {
			if c.CommID == "" {
				continue
			}
			a := byID[c.CommID]
			if a == nil {
				name := c.CommID
				if len(name) > 16 {
					name = name[:16]
				}
				a = &acc{job: Job{Name: "nccl-" + name, CommID: c.CommID}, ranks: map[int]bool{}, nodes: map[string]bool{}}
				byID[c.CommID] = a
			}
			a.job.NRanks = max(a.job.NRanks, c.NRanks)
			a.ranks[c.Rank] = true
			if !a.nodes[n] {
				a.nodes[n] = true
				a.job.Nodes = append(a.job.Nodes, JobNode{Name: n})
			}
		}
	}
	if len(byID) == 0 {
		return nil
	}
	addrs := s.localAddrsLocked()
	out := make([]Job, 0, len(byID))
	for _, a := range byID {
		a.job.Ranks = len(a.ranks)
		for i := range a.job.Nodes {
			a.job.Nodes[i].Addrs = addrs[a.job.Nodes[i].Name]
		}
		out = append(out, a.job)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// localAddrsLocked gives each node's local addresses seen in the event
// ring (loopback and unspecified left out), sorted; the caller holds s.mu.
func (s *Service) localAddrsLocked() map[string][]string {
	seen := map[string]map[string]bool{}
	for _, e := range s.events {
		if e.Node == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(e.Src)
		if err != nil || ap.Addr().IsLoopback() || ap.Addr().IsUnspecified() {
			continue
		}
		if seen[e.Node] == nil {
			seen[e.Node] = map[string]bool{}
		}
		seen[e.Node][ap.Addr().Unmap().String()] = true
	}
	out := make(map[string][]string, len(seen))
	for n, set := range seen {
		for a := range set {
			out[n] = append(out[n], a)
		}
		sort.Strings(out[n])
	}
	return out
}
