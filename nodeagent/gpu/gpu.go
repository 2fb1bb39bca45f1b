// Package gpu reads GPUs, their NVLinks and the PCIe/NVLink topology through
// NVML (NVIDIA/go-nvml) and renders the matrix in `nvidia-smi topo -m`
// vocabulary. Without a driver it reports "nvml: unavailable" and the agent
// carries on.
package gpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Lib is the part of NVML the agent uses; nvml.New() and the mock servers
// satisfy it.
type Lib interface {
	Init() nvml.Return
	Shutdown() nvml.Return
	SystemGetDriverVersion() (string, nvml.Return)
	DeviceGetCount() (int, nvml.Return)
	DeviceGetHandleByIndex(int) (nvml.Device, nvml.Return)
}

// Remote types of an NVLink's far end.
const (
	RemoteGPU      = "gpu"
	RemoteNVSwitch = "nvswitch"
	RemoteCPU      = "cpu"
	RemoteUnknown  = "unknown"
)

// Link is one NVLink of a GPU.
type Link struct {
	Link           int    `json:"link"`
	Active         bool   `json:"active"`
	State          string `json:"state,omitempty"` // "error: <nvml return>" when the driver did not say; empty otherwise
	Version        uint32 `json:"version,omitempty"`
	RemotePCIBusID string `json:"remote_pci_bus_id,omitempty"`
	RemoteType     string `json:"remote_type,omitempty"`
	RemoteGPU      int    `json:"remote_gpu"` // index of the GPU at the far end, -1 if none
	// Counters from batched field values; nil when the driver did not
	// return the field (its return code was checked and was not SUCCESS).
	TxBytes        *uint64 `json:"tx_bytes,omitempty"`
	RxBytes        *uint64 `json:"rx_bytes,omitempty"`
	ReplayErrors   *uint64 `json:"replay_errors,omitempty"`
	RecoveryErrors *uint64 `json:"recovery_errors,omitempty"`
	CRCErrors      *uint64 `json:"crc_errors,omitempty"`
}

// GPU is one device.
type GPU struct {
	Index        int    `json:"index"`
	UUID         string `json:"uuid"`
	Name         string `json:"name"`
	PCIBusID     string `json:"pci_bus_id"`
	MemoryTotal  uint64 `json:"memory_total_bytes"`
	MemoryUsed   uint64 `json:"memory_used_bytes"`
	TemperatureC uint32 `json:"temperature_c"`
	UtilGPU      uint32 `json:"utilization_gpu_percent"`
	UtilMemory   uint32 `json:"utilization_memory_percent"`
	MIGEnabled   bool   `json:"mig_enabled"`
	LinkCount    int    `json:"nvlink_count"`
	Links        []Link `json:"nvlinks"`
}

// Snapshot is everything read in one pass.
type Snapshot struct {
	Status string `json:"status"` // "ok" or "unavailable: <why>"
	Driver string `json:"driver_version,omitempty"`
	GPUs   []GPU  `json:"gpus"`
	// Matrix[i][j] is the topo -m cell between GPU i and j ("X" on the diagonal).
	Matrix [][]string `json:"matrix"`
	// P2P[i][j] is the peer-to-peer read status (OK, CNS, GNS, TNS, NS, U).
	P2P [][]string `json:"p2p_read"`
	// FieldErrors counts field values whose return code was not SUCCESS,
	// and NVLinks whose state the driver did not return.
	FieldErrors int `json:"field_errors"`
}

// Available says whether NVML answered.
func (s Snapshot) Available() bool { return s.Status == "ok" }

// Reader reads snapshots from a Lib.
type Reader struct {
	lib Lib
	err error
}

// Open initialises NVML. A missing driver is not an error: the reader then
// returns "nvml: unavailable" snapshots.
func Open(lib Lib) *Reader {
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return &Reader{err: fmt.Errorf("init: %s", nvml.ErrorString(ret))}
	}
	return &Reader{lib: lib}
}

// Close shuts NVML down.
func (r *Reader) Close() error {
	if r.lib == nil {
		return nil
	}
	if ret := r.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %s", nvml.ErrorString(ret))
	}
	return nil
}

// Status is "ok" or "unavailable: <why>".
func (r *Reader) Status() string {
	if r.err != nil {
		return "unavailable: " + r.err.Error()
	}
	return "ok"
}

func check(what string, ret nvml.Return) error {
	if ret == nvml.SUCCESS {
		return nil
	}
	return fmt.Errorf("%s: %s", what, nvml.ErrorString(ret))
}

// Read takes a snapshot of every GPU, link and pair.
func (r *Reader) Read() (Snapshot, error) {
	if r.lib == nil {
		return Snapshot{Status: r.Status()}, nil
	}
	s := Snapshot{Status: "ok"}
	if v, ret := r.lib.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		s.Driver = v
	}
	n, ret := r.lib.DeviceGetCount()
	if err := check("device count", ret); err != nil {
		return Snapshot{}, err
	}
	devs := make([]nvml.Device, n)
	for i := range n {
		d, ret := r.lib.DeviceGetHandleByIndex(i)
		if err := check(fmt.Sprintf("device %d", i), ret); err != nil {
			return Snapshot{}, err
		}
		devs[i] = d
		g, fieldErrs, err := readGPU(d, i)
		if err != nil {
			return Snapshot{}, fmt.Errorf("gpu %d: %w", i, err)
		}
		s.FieldErrors += fieldErrs
		s.GPUs = append(s.GPUs, g)
	}
	byBus := map[string]int{}
	for _, g := range s.GPUs {
		byBus[normBus(g.PCIBusID)] = g.Index
	}
	for gi := range s.GPUs {
		for li := range s.GPUs[gi].Links {
			l := &s.GPUs[gi].Links[li]
			l.RemoteGPU = -1
			if idx, ok := byBus[normBus(l.RemotePCIBusID)]; ok && l.RemoteType == RemoteGPU {
				l.RemoteGPU = idx
			}
		}
	}
	var err error
	s.Matrix, err = matrix(devs, s.GPUs)
	if err != nil {
		return Snapshot{}, err
	}
	s.P2P = p2p(devs)
	return s, nil
}

func readGPU(d nvml.Device, index int) (GPU, int, error) {
	g := GPU{Index: index}
	var ret nvml.Return
	if g.UUID, ret = d.GetUUID(); ret != nvml.SUCCESS {
		return g, 0, check("uuid", ret)
	}
	if g.Name, ret = d.GetName(); ret != nvml.SUCCESS {
		return g, 0, check("name", ret)
	}
	pci, ret := d.GetPciInfo()
	if ret != nvml.SUCCESS {
		return g, 0, check("pci info", ret)
	}
	g.PCIBusID = busID(pci)
	if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
		g.MemoryTotal, g.MemoryUsed = m.Total, m.Used
	}
	if t, ret := d.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
		g.TemperatureC = t
	}
	if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
		g.UtilGPU, g.UtilMemory = u.Gpu, u.Memory
	}
	if cur, _, ret := d.GetMigMode(); ret == nvml.SUCCESS {
		g.MIGEnabled = cur == nvml.DEVICE_MIG_ENABLE
	}
	count, fieldErrs := linkCount(d)
	g.LinkCount = count
	for l := range count {
		link := Link{Link: l, RemoteGPU: -1}
		st, ret := d.GetNvLinkState(l)
		if ret != nvml.SUCCESS {
			// One bad link must not hide the GPU and its other links:
			// record it on the link (inactive) and go on.
			link.State = "error: " + nvml.ErrorString(ret)
			fieldErrs++
			g.Links = append(g.Links, link)
			continue
		}
		link.Active = st == nvml.FEATURE_ENABLED
		if link.Active {
			if v, ret := d.GetNvLinkVersion(l); ret == nvml.SUCCESS {
				link.Version = v
			}
			if p, ret := d.GetNvLinkRemotePciInfo(l); ret == nvml.SUCCESS {
				link.RemotePCIBusID = busID(p)
			}
			link.RemoteType = RemoteUnknown
			if t, ret := d.GetNvLinkRemoteDeviceType(l); ret == nvml.SUCCESS {
				link.RemoteType = remoteType(t)
			}
		}
		g.Links = append(g.Links, link)
	}
	fieldErrs += linkCounters(d, g.Links)
	return g, fieldErrs, nil
}

// linkCount asks the driver how many NVLinks the GPU really has, so loops
// stop there instead of probing NVLINK_MAX_LINKS. No field (PCIe-only
// boards, old drivers) means no links.
func linkCount(d nvml.Device) (int, int) {
	fv := []nvml.FieldValue{{FieldId: nvml.FI_DEV_NVLINK_LINK_COUNT}}
	if ret := d.GetFieldValues(fv); ret != nvml.SUCCESS {
		return 0, 1
	}
	if nvml.Return(fv[0].NvmlReturn) != nvml.SUCCESS {
		if nvml.Return(fv[0].NvmlReturn) == nvml.ERROR_NOT_SUPPORTED {
			return 0, 0
		}
		return 0, 1
	}
	v, ok := fieldUint(fv[0])
	if !ok || v > nvml.NVLINK_MAX_LINKS {
		return 0, 1
	}
	return int(v), 0
}

// linkFields are read per link, in one batch for all links of a GPU.
var linkFields = []uint32{
	nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX,
	nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX,
	nvml.FI_DEV_NVLINK_ERROR_DL_REPLAY,
	nvml.FI_DEV_NVLINK_ERROR_DL_RECOVERY,
	nvml.FI_DEV_NVLINK_ERROR_DL_CRC,
}

func linkCounters(d nvml.Device, links []Link) int {
	if len(links) == 0 {
		return 0
	}
	fv := make([]nvml.FieldValue, 0, len(links)*len(linkFields))
	for _, l := range links {
		for _, f := range linkFields {
			fv = append(fv, nvml.FieldValue{FieldId: f, ScopeId: uint32(l.Link)})
		}
	}
	if ret := d.GetFieldValues(fv); ret != nvml.SUCCESS {
		return len(fv)
	}
	errs := 0
	for i, v := range fv {
		if nvml.Return(v.NvmlReturn) != nvml.SUCCESS {
			errs++
			continue
		}
		x, ok := fieldUint(v)
		if !ok {
			errs++
			continue
		}
		l := &links[i/len(linkFields)]
		switch v.FieldId {
		case nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX:
			// The throughput fields count KiB.
			x *= 1024
			l.TxBytes = &x
		case nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX:
			x *= 1024
			l.RxBytes = &x
		case nvml.FI_DEV_NVLINK_ERROR_DL_REPLAY:
			l.ReplayErrors = &x
		case nvml.FI_DEV_NVLINK_ERROR_DL_RECOVERY:
			l.RecoveryErrors = &x
		case nvml.FI_DEV_NVLINK_ERROR_DL_CRC:
			l.CRCErrors = &x
		}
	}
	return errs
}

// fieldUint decodes a field value of an unsigned or non-negative type.
func fieldUint(v nvml.FieldValue) (uint64, bool) {
	b := v.Value[:]
	switch nvml.ValueType(v.ValueType) {
	case nvml.VALUE_TYPE_UNSIGNED_INT:
		return uint64(binary.NativeEndian.Uint32(b)), true
	case nvml.VALUE_TYPE_UNSIGNED_LONG, nvml.VALUE_TYPE_UNSIGNED_LONG_LONG:
		return binary.NativeEndian.Uint64(b), true
	case nvml.VALUE_TYPE_UNSIGNED_SHORT:
		return uint64(binary.NativeEndian.Uint16(b)), true
	case nvml.VALUE_TYPE_SIGNED_LONG_LONG:
		x := int64(binary.NativeEndian.Uint64(b))
		return uint64(x), x >= 0
	case nvml.VALUE_TYPE_SIGNED_INT:
		x := int32(binary.NativeEndian.Uint32(b))
		return uint64(x), x >= 0
	case nvml.VALUE_TYPE_DOUBLE:
		x := math.Float64frombits(binary.NativeEndian.Uint64(b))
		return uint64(x), x >= 0 && x < math.MaxUint64
	}
	return 0, false
}

func remoteType(t nvml.IntNvLinkDeviceType) string {
	switch t {
	case nvml.NVLINK_DEVICE_TYPE_GPU:
		return RemoteGPU
	case nvml.NVLINK_DEVICE_TYPE_SWITCH:
		return RemoteNVSwitch
	case nvml.NVLINK_DEVICE_TYPE_IBMNPU:
		return RemoteCPU
	}
	return RemoteUnknown
}

func busID(p nvml.PciInfo) string {
	var sb strings.Builder
	for _, c := range p.BusId {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	if sb.Len() == 0 {
		return fmt.Sprintf("%08x:%02x:%02x.0", p.Domain, p.Bus, p.Device)
	}
	return sb.String()
}

// normBus makes bus ids comparable: NVML writes an 8-digit domain
// ("00000000:18:00.0"), NCCL and lspci a 4-digit one, in either case.
func normBus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexByte(s, ':'); i > 4 {
		s = s[i-4:]
	}
	return s
}

// NormBusID is normBus for other packages (the NCCL cross-check).
func NormBusID(s string) string { return normBus(s) }

func matrix(devs []nvml.Device, gpus []GPU) ([][]string, error) {
	n := len(devs)
	// NVLinks between each pair: direct GPU-to-GPU links, or, when both sit
	// on the NVSwitch fabric, the smaller of their switch link counts (what
	// nvidia-smi prints as NV18 on a DGX H100).
	direct := make([][]int, n)
	switchLinks := make([]int, n)
	for i, g := range gpus {
		direct[i] = make([]int, n)
		for _, l := range g.Links {
			if !l.Active {
				continue
			}
			if l.RemoteGPU >= 0 {
				direct[i][l.RemoteGPU]++
			}
			if l.RemoteType == RemoteNVSwitch {
				switchLinks[i]++
			}
		}
	}
	m := make([][]string, n)
	for i := range n {
		m[i] = make([]string, n)
		for j := range n {
			if i == j {
				m[i][j] = "X"
				continue
			}
			nv := direct[i][j]
			if s := min(switchLinks[i], switchLinks[j]); s > 0 {
				nv += s
			}
			if nv > 0 {
				m[i][j] = fmt.Sprintf("NV%d", nv)
				continue
			}
			lvl, ret := devs[i].GetTopologyCommonAncestor(devs[j])
			if ret != nvml.SUCCESS {
				if ret == nvml.ERROR_NOT_SUPPORTED {
					m[i][j] = "N/A"
					continue
				}
				return nil, fmt.Errorf("common ancestor of gpu %d and %d: %w", i, j, errors.New(nvml.ErrorString(ret)))
			}
			m[i][j] = level(lvl)
		}
	}
	return m, nil
}

func level(l nvml.GpuTopologyLevel) string {
	switch l {
	case nvml.TOPOLOGY_INTERNAL:
		return "X"
	case nvml.TOPOLOGY_SINGLE:
		return "PIX"
	case nvml.TOPOLOGY_MULTIPLE:
		return "PXB"
	case nvml.TOPOLOGY_HOSTBRIDGE:
		return "PHB"
	case nvml.TOPOLOGY_NODE:
		return "NODE"
	case nvml.TOPOLOGY_SYSTEM:
		return "SYS"
	}
	return "N/A"
}

func p2p(devs []nvml.Device) [][]string {
	n := len(devs)
	m := make([][]string, n)
	for i := range n {
		m[i] = make([]string, n)
		for j := range n {
			if i == j {
				m[i][j] = "X"
				continue
			}
			st, ret := devs[i].GetP2PStatus(devs[j], nvml.P2P_CAPS_INDEX_READ)
			if ret != nvml.SUCCESS {
				m[i][j] = "U"
				continue
			}
			switch st {
			case nvml.P2P_STATUS_OK:
				m[i][j] = "OK"
			case nvml.P2P_STATUS_CHIPSET_NOT_SUPPORTED:
				m[i][j] = "CNS"
			case nvml.P2P_STATUS_GPU_NOT_SUPPORTED:
				m[i][j] = "GNS"
			case nvml.P2P_STATUS_IOH_TOPOLOGY_NOT_SUPPORTED:
				m[i][j] = "TNS"
			case nvml.P2P_STATUS_NOT_SUPPORTED, nvml.P2P_STATUS_DISABLED_BY_REGKEY:
				m[i][j] = "NS"
			default:
				m[i][j] = "U"
			}
		}
	}
	return m
}

// Render prints the matrices as `nvidia-smi topo -m` does, followed by the
// P2P read matrix and a legend.
func Render(s Snapshot) string {
	var b strings.Builder
	if !s.Available() {
		fmt.Fprintf(&b, "nvml: %s\n", s.Status)
		return b.String()
	}
	line := func(first string, cells []string) {
		var l strings.Builder
		fmt.Fprintf(&l, "%-8s", first)
		for _, c := range cells {
			fmt.Fprintf(&l, "%-8s", c)
		}
		b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
	}
	header := func() {
		names := make([]string, len(s.GPUs))
		for i := range s.GPUs {
			names[i] = fmt.Sprintf("GPU%d", i)
		}
		line("", names)
	}
	rows := func(m [][]string) {
		for i, row := range m {
			line(fmt.Sprintf("GPU%d", i), row)
		}
	}
	header()
	rows(s.Matrix)
	b.WriteString("\nP2P read\n")
	header()
	rows(s.P2P)
	b.WriteString("\nLegend:\n" +
		"  X    = Self\n" +
		"  SYS  = Connection traversing PCIe as well as the SMP interconnect between NUMA nodes (e.g., QPI/UPI)\n" +
		"  NODE = Connection traversing PCIe as well as the interconnect between PCIe Host Bridges within a NUMA node\n" +
		"  PHB  = Connection traversing PCIe as well as a PCIe Host Bridge (typically the CPU)\n" +
		"  PXB  = Connection traversing multiple PCIe bridges (without traversing the PCIe Host Bridge)\n" +
		"  PIX  = Connection traversing at most a single PCIe bridge\n" +
		"  NV#  = Connection traversing a bonded set of # NVLinks\n")
	for _, g := range s.GPUs {
		fmt.Fprintf(&b, "\nGPU%d %s %s %s links=%d\n", g.Index, g.Name, g.PCIBusID, g.UUID, g.LinkCount)
		for _, l := range g.Links {
			if !l.Active {
				fmt.Fprintf(&b, "  link %2d inactive\n", l.Link)
				continue
			}
			fmt.Fprintf(&b, "  link %2d v%d -> %s %s\n", l.Link, l.Version, l.RemoteType, l.RemotePCIBusID)
		}
	}
	return b.String()
}
