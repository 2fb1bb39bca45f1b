package ebpf

import "encoding/binary"

// eventSize is sizeof(struct event) in bpf/tcp.bpf.c; TestEventLayout checks
// it against the generated type.
const eventSize = 112

// decodeEvent fills r from one ring-buffer record without reflection.
func decodeEvent(b []byte, r *tcpEvent) {
	ne := binary.NativeEndian
	r.TsNs = ne.Uint64(b[0:])
	r.Cookie = ne.Uint64(b[8:])
	r.Cgroup = ne.Uint64(b[16:])
	r.BytesAcked = ne.Uint64(b[24:])
	r.BytesReceived = ne.Uint64(b[32:])
	r.Pid = ne.Uint32(b[40:])
	r.SrttUs = ne.Uint32(b[44:])
	r.Retransmits = ne.Uint32(b[48:])
	r.Family = ne.Uint16(b[52:])
	r.Sport = ne.Uint16(b[54:])
	r.Dport = ne.Uint16(b[56:])
	r.Kind = b[58]
	r.Oldstate = b[59]
	r.Newstate = b[60]
	r.Passive = b[61]
	copy(r.Saddr[:], b[64:80])
	copy(r.Daddr[:], b[80:96])
	copy(r.Comm[:], b[96:112])
}
