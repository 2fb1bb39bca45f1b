// Package gpufixture builds deterministic NVML mock servers (go-nvml's mock
// package, modelled on its dgxa100/dgxh100 servers) with NVLink wiring, for
// the tests and for the agent's NODEAGENT_GPU_FIXTURE test mode: a DGX H100
// (8 GPUs, 18 NVLinks each to 4 NVSwitches) and a PCIe-only box.
package gpufixture

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
)

// Names lists the fixtures New accepts.
func Names() []string {
	n := []string{"dgx-h100", "pcie"}
	sort.Strings(n)
	return n
}

// New returns the named fixture.
func New(name string) (*server.Server, error) {
	switch name {
	case "dgx-h100":
		return DGXH100(), nil
	case "pcie":
		return PCIeBox(), nil
	}
	return nil, fmt.Errorf("unknown gpu fixture %q (want one of %v)", name, Names())
}

// DGXH100SwitchBus are the PCI bus ids of the four NVSwitches.
var dgxH100SwitchBus = [4]string{"00000000:05:00.0", "00000000:06:00.0", "00000000:07:00.0", "00000000:08:00.0"}

// dgxH100GPUBus are the GPUs' bus ids on a DGX H100.
var dgxH100GPUBus = [8]string{"00000000:18:00.0", "00000000:2A:00.0", "00000000:3A:00.0", "00000000:5D:00.0",
	"00000000:9A:00.0", "00000000:AB:00.0", "00000000:BA:00.0", "00000000:DB:00.0"}

// DGXH100SwitchOf says which NVSwitch a DGX H100 GPU link goes to: links
// 0-4, 5-8, 9-12 and 13-17 (5+4+4+5 = 18).
func DGXH100SwitchOf(link int) int {
	switch {
	case link < 5:
		return 0
	case link < 9:
		return 1
	case link < 13:
		return 2
	}
	return 3
}

// DGXH100SwitchBusID is the bus id of NVSwitch i.
func DGXH100SwitchBusID(i int) string { return dgxH100SwitchBus[i] }

// DGXH100GPUBusID is the bus id of GPU i.
func DGXH100GPUBusID(i int) string { return dgxH100GPUBus[i] }

// DGXH100 is 8 H100 SXM5 GPUs, each with 18 NVLink 4 links to the NVSwitch
// fabric. GPU 7's link 17 does not report its CRC counter (a field whose
// return code is ERROR_NOT_SUPPORTED), and GPU 3's link 7 has 2 replays.
func DGXH100() *server.Server {
	s := dgxh100.New()
	for i, d := range s.Devices {
		dev := d.(*server.Device)
		common(dev, i, dgxH100GPUBus[i], 35+uint32(i), 10*uint32(i))
		dev.GetTopologyCommonAncestorFunc = func(other nvml.Device) (nvml.GpuTopologyLevel, nvml.Return) {
			j := other.(*server.Device).Index
			if (i < 4) == (j < 4) {
				return nvml.TOPOLOGY_NODE, nvml.SUCCESS
			}
			return nvml.TOPOLOGY_SYSTEM, nvml.SUCCESS
		}
		dev.GetP2PStatusFunc = func(nvml.Device, nvml.GpuP2PCapsIndex) (nvml.GpuP2PStatus, nvml.Return) {
			return nvml.P2P_STATUS_OK, nvml.SUCCESS
		}
		valid := func(l int) nvml.Return {
			if l < 0 || l >= 18 {
				return nvml.ERROR_INVALID_ARGUMENT
			}
			return nvml.SUCCESS
		}
		dev.GetNvLinkStateFunc = func(l int) (nvml.EnableState, nvml.Return) {
			return nvml.FEATURE_ENABLED, valid(l)
		}
		dev.GetNvLinkVersionFunc = func(l int) (uint32, nvml.Return) { return 4, valid(l) }
		dev.GetNvLinkRemoteDeviceTypeFunc = func(l int) (nvml.IntNvLinkDeviceType, nvml.Return) {
			return nvml.NVLINK_DEVICE_TYPE_SWITCH, valid(l)
		}
		dev.GetNvLinkRemotePciInfoFunc = func(l int) (nvml.PciInfo, nvml.Return) {
			if r := valid(l); r != nvml.SUCCESS {
				return nvml.PciInfo{}, r
			}
			return pci(dgxH100SwitchBus[DGXH100SwitchOf(l)], 0x22a3), nvml.SUCCESS
		}
		dev.GetFieldValuesFunc = func(fv []nvml.FieldValue) nvml.Return {
			for k := range fv {
				f := &fv[k]
				l := int(f.ScopeId)
				switch {
				case f.FieldId == nvml.FI_DEV_NVLINK_LINK_COUNT:
					setUint(f, 18)
				case l >= 18:
					f.NvmlReturn = uint32(nvml.ERROR_INVALID_ARGUMENT)
				case f.FieldId == nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_TX:
					setUint(f, uint64(1000*(i+1)+l))
				case f.FieldId == nvml.FI_DEV_NVLINK_THROUGHPUT_DATA_RX:
					setUint(f, uint64(2000*(i+1)+l))
				case f.FieldId == nvml.FI_DEV_NVLINK_ERROR_DL_REPLAY:
					if i == 3 && l == 7 {
						setUint(f, 2)
					} else {
						setUint(f, 0)
					}
				case f.FieldId == nvml.FI_DEV_NVLINK_ERROR_DL_RECOVERY:
					setUint(f, 0)
				case f.FieldId == nvml.FI_DEV_NVLINK_ERROR_DL_CRC:
					if i == 7 && l == 17 {
						f.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
					} else {
						setUint(f, 0)
					}
				default:
					f.NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
				}
			}
			return nvml.SUCCESS
		}
	}
	return s
}

var pcieBus = [4]string{"00000000:3B:00.0", "00000000:3C:00.0", "00000000:AF:00.0", "00000000:D8:00.0"}

// PCIeBox is 4 A100 PCIe GPUs without NVLink: GPUs 0-1 share a PCIe switch
// (PIX), GPUs 2-3 are behind several bridges (PXB) on the other socket.
func PCIeBox() *server.Server {
	s := dgxh100.NewWithGPUs(gpus.Multiple(4, gpus.A100_PCIE_80GB)...)
	for i, d := range s.Devices {
		dev := d.(*server.Device)
		common(dev, i, pcieBus[i], 40+uint32(i), 0)
		dev.GetTopologyCommonAncestorFunc = func(other nvml.Device) (nvml.GpuTopologyLevel, nvml.Return) {
			j := other.(*server.Device).Index
			switch {
			case (i < 2) != (j < 2):
				return nvml.TOPOLOGY_SYSTEM, nvml.SUCCESS
			case i < 2:
				return nvml.TOPOLOGY_SINGLE, nvml.SUCCESS
			}
			return nvml.TOPOLOGY_MULTIPLE, nvml.SUCCESS
		}
		dev.GetP2PStatusFunc = func(other nvml.Device, _ nvml.GpuP2PCapsIndex) (nvml.GpuP2PStatus, nvml.Return) {
			if j := other.(*server.Device).Index; (i < 2) != (j < 2) {
				return nvml.P2P_STATUS_CHIPSET_NOT_SUPPORTED, nvml.SUCCESS
			}
			return nvml.P2P_STATUS_OK, nvml.SUCCESS
		}
		dev.GetNvLinkStateFunc = func(int) (nvml.EnableState, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
		dev.GetFieldValuesFunc = func(fv []nvml.FieldValue) nvml.Return {
			for k := range fv {
				fv[k].NvmlReturn = uint32(nvml.ERROR_NOT_SUPPORTED)
			}
			return nvml.SUCCESS
		}
	}
	return s
}

// common pins what the stock mock randomises (UUIDs) and fills what it
// leaves out (bus id, temperature, utilisation).
func common(dev *server.Device, i int, bus string, temp, util uint32) {
	dev.UUID = fmt.Sprintf("GPU-%08x-1111-4222-8333-%012x", 0xa0+i, 0x1000+i)
	dev.PciBusID = bus
	dev.MemoryInfo.Used = uint64(i+1) << 30
	id := dev.Config.PciDeviceId
	dev.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) { return pci(bus, id), nvml.SUCCESS }
	dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return temp, nvml.SUCCESS }
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		return nvml.Utilization{Gpu: util, Memory: util / 2}, nvml.SUCCESS
	}
}

func pci(bus string, id uint32) nvml.PciInfo {
	p := nvml.PciInfo{PciDeviceId: id}
	for k := 0; k < len(bus) && k < len(p.BusId)-1; k++ {
		p.BusId[k] = int8(bus[k])
	}
	return p
}

func setUint(f *nvml.FieldValue, v uint64) {
	f.NvmlReturn = uint32(nvml.SUCCESS)
	f.ValueType = uint32(nvml.VALUE_TYPE_UNSIGNED_LONG_LONG)
	binary.NativeEndian.PutUint64(f.Value[:], v)
}
