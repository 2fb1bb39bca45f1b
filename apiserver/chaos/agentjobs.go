package chaos

import (
	"fmt"
	"strings"

	"github.com/meshoptixiq/mesh/apiserver/graph"
	"github.com/meshoptixiq/mesh/apiserver/telemetry"
)

// placeJobs turns the node agents' jobs into scenario jobs whose nodes the
// graph knows: a node by its agent's name when that is a device hostname,
// else by the first of its local addresses the graph has. A job with a
// node the graph cannot place is left out, never half-simulated; the notes
// say so, and which jobs have members without an agent.
func placeJobs(g *graph.Graph, jobs []telemetry.Job) ([]Job, []string) {
	var out []Job
	var notes []string
	for _, j := range jobs {
		if len(out) == MaxJobs {
			notes = append(notes, fmt.Sprintf("the node agents report more than %d jobs; the rest are left out (name the jobs in the scenario)", MaxJobs))
			break
		}
		sj := Job{Name: j.Name}
		var unplaced string
		for _, n := range j.Nodes {
			name := placeNode(g, n)
			if name == "" {
				unplaced = n.Name
				if len(n.Addrs) > 0 {
					unplaced += " (addresses " + strings.Join(n.Addrs, ", ") + ")"
				}
				break
			}
			sj.Nodes = append(sj.Nodes, name)
		}
		if unplaced != "" {
			notes = append(notes, fmt.Sprintf("job %s left out: node %s is not in the graph", j.Name, unplaced))
			continue
		}
		if j.Ranks < j.NRanks {
			notes = append(notes, fmt.Sprintf("job %s: %d of its %d ranks are reported; members on nodes without an agent are not simulated", j.Name, j.Ranks, j.NRanks))
		}
		out = append(out, sj)
	}
	return out, notes
}

// placeNode names a node the way findNode knows it, "" when it cannot.
func placeNode(g *graph.Graph, n telemetry.JobNode) string {
	if g.Device(n.Name) != nil {
		return n.Name
	}
	for _, a := range n.Addrs {
		if _, err := findNode(g, a); err == nil {
			return a
		}
	}
	return ""
}
