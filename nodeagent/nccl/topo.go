// Package nccl reads what NCCL tells about a host: its topology dump
// (NCCL_TOPO_DUMP_FILE), communicator facts from NCCL_DEBUG=INFO logs, and
// in-flight collectives from the example profiler plugin's trace, flagging
// hangs against each kind's rolling average. It also cross-checks NCCL's view
// of the NVLinks against NVML's.
package nccl

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/meshoptixiq/mesh/nodeagent/gpu"
)

// Topology is the part of NCCL's XML dump the agent uses.
type Topology struct {
	GPUs []TopoGPU `json:"gpus"`
	NICs []TopoNIC `json:"nics"`
}

// TopoGPU is one <gpu> with its PCI bus id and NVLinks.
type TopoGPU struct {
	BusID   string       `json:"bus_id"`
	Dev     int          `json:"dev"`
	Rank    int          `json:"rank"`
	NUMA    string       `json:"numa_id,omitempty"`
	NVLinks []TopoNVLink `json:"nvlinks"`
}

// TopoNVLink is one <nvlink target= count=>: count links to target.
type TopoNVLink struct {
	Target string `json:"target"`
	Count  int    `json:"count"`
	TClass string `json:"tclass,omitempty"` // 0x030200 GPU, 0x068000 NVSwitch (bridge)
}

// TopoNIC is one <net> of a <nic>.
type TopoNIC struct {
	Name  string `json:"name"`
	Speed int    `json:"speed_mbps"`
	BusID string `json:"bus_id,omitempty"`
}

// xmlNode is a generic element: the dump nests <pci> to any depth.
type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []xmlNode  `xml:",any"`
}

func (n xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// maxTopoBytes bounds the dump read (real ones are tens of KiB).
const maxTopoBytes = 16 << 20

// ParseTopology reads an NCCL topology dump.
func ParseTopology(r io.Reader) (Topology, error) {
	var root xmlNode
	dec := xml.NewDecoder(io.LimitReader(r, maxTopoBytes))
	if err := dec.Decode(&root); err != nil {
		return Topology{}, fmt.Errorf("parsing nccl topology: %w", err)
	}
	if root.XMLName.Local != "system" {
		return Topology{}, fmt.Errorf("parsing nccl topology: root element is <%s>, want <system>", root.XMLName.Local)
	}
	var t Topology
	var walk func(n xmlNode, bus, numa string) error
	walk = func(n xmlNode, bus, numa string) error {
		switch n.XMLName.Local {
		case "cpu":
			numa = n.attr("numaid")
		case "pci":
			bus = n.attr("busid")
		case "gpu":
			g := TopoGPU{BusID: bus, NUMA: numa}
			var err error
			if g.Dev, err = atoiAttr(n, "dev"); err != nil {
				return err
			}
			if g.Rank, err = atoiAttr(n, "rank"); err != nil {
				return err
			}
			for _, c := range n.Children {
				if c.XMLName.Local != "nvlink" {
					continue
				}
				cnt, err := atoiAttr(c, "count")
				if err != nil {
					return err
				}
				g.NVLinks = append(g.NVLinks, TopoNVLink{Target: c.attr("target"), Count: cnt, TClass: c.attr("tclass")})
			}
			t.GPUs = append(t.GPUs, g)
			return nil
		case "net":
			speed, _ := strconv.Atoi(n.attr("speed"))
			t.NICs = append(t.NICs, TopoNIC{Name: n.attr("name"), Speed: speed, BusID: bus})
		}
		for _, c := range n.Children {
			if err := walk(c, bus, numa); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, "", ""); err != nil {
		return Topology{}, fmt.Errorf("parsing nccl topology: %w", err)
	}
	sort.Slice(t.GPUs, func(i, j int) bool { return t.GPUs[i].Dev < t.GPUs[j].Dev })
	return t, nil
}

func atoiAttr(n xmlNode, name string) (int, error) {
	v := n.attr(name)
	if v == "" {
		return -1, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("<%s %s=%q>: not an integer", n.XMLName.Local, name, v)
	}
	return i, nil
}

// Disagreement is one difference between NVML's and NCCL's view of the links.
type Disagreement struct {
	Kind   string `json:"kind"` // nvlink_missing_in_nccl, nvlink_unknown_to_nvml, nvlink_count_mismatch, gpu_missing_in_nccl
	GPU    string `json:"gpu_bus_id"`
	Target string `json:"target_bus_id,omitempty"`
	NVML   int    `json:"nvml_links"`
	NCCL   int    `json:"nccl_links"`
}

func (d Disagreement) String() string {
	return fmt.Sprintf("%s gpu=%s target=%s nvml=%d nccl=%d", d.Kind, d.GPU, d.Target, d.NVML, d.NCCL)
}

// CrossCheck compares the active NVLinks NVML reports with the ones NCCL
// found, per GPU and far end. GPUs NCCL did not use are skipped unless it
// saw none at all.
func CrossCheck(s gpu.Snapshot, t Topology) []Disagreement {
	if !s.Available() || len(t.GPUs) == 0 {
		return nil
	}
	ncclGPU := map[string]map[string]int{}
	for _, g := range t.GPUs {
		m := map[string]int{}
		for _, l := range g.NVLinks {
			m[gpu.NormBusID(l.Target)] += l.Count
		}
		ncclGPU[gpu.NormBusID(g.BusID)] = m
	}
	var out []Disagreement
	for _, g := range s.GPUs {
		bus := gpu.NormBusID(g.PCIBusID)
		nv := map[string]int{}
		for _, l := range g.Links {
			if l.Active && l.RemotePCIBusID != "" {
				nv[gpu.NormBusID(l.RemotePCIBusID)]++
			}
		}
		nc, ok := ncclGPU[bus]
		if !ok {
			if len(nv) > 0 {
				out = append(out, Disagreement{Kind: "gpu_missing_in_nccl", GPU: bus, NVML: len(g.Links)})
			}
			continue
		}
		for _, target := range sortedKeys(nv, nc) {
			a, b := nv[target], nc[target]
			switch {
			case a == b:
			case b == 0:
				out = append(out, Disagreement{Kind: "nvlink_missing_in_nccl", GPU: bus, Target: target, NVML: a})
			case a == 0:
				out = append(out, Disagreement{Kind: "nvlink_unknown_to_nvml", GPU: bus, Target: target, NCCL: b})
			default:
				out = append(out, Disagreement{Kind: "nvlink_count_mismatch", GPU: bus, Target: target, NVML: a, NCCL: b})
			}
		}
	}
	return out
}

func sortedKeys(ms ...map[string]int) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range ms {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
