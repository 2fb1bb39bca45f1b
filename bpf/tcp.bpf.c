// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
//
// TCP telemetry for the MeshOptixIQ node agent.
//
// Three BTF tracepoints (tp_btf, so no tracefs mount is needed):
//   sock:inet_sock_set_state  connection lifecycle, one event per transition
//                             the agent cares about (opened, established,
//                             closed, failed);
//   tcp:tcp_retransmit_skb    retransmits per connection and per remote;
//   tcp:tcp_probe             RTT, folded into a per-CPU log2 histogram in the
//                             kernel: never one record per packet.
//
// No per-connection map: a hash or socket-storage update, lookup and delete
// per transition measured at ~300-550 ns, more than the rest of the program.
// Each event carries the socket cookie instead, and the agent joins a
// connection's events (process captured at connect(), duration,
// retransmits) in user space.
//
// Events go through one ring buffer. Producers submit with BPF_RB_NO_WAKEUP
// and only force a wake-up once wakeup_bytes are waiting, so the agent is
// woken in batches (it also drains on a timer). A failed reserve is counted in
// CNT_LOST: every loss is visible, none is logged.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

// Event kinds; nodeagent/ebpf mirrors them.
enum {
	EV_OPEN_ACTIVE = 1,  // connect(): CLOSE -> SYN_SENT, process context
	EV_OPEN_PASSIVE = 2, // accepted handshake: SYN_RECV -> ESTABLISHED
	EV_ESTABLISHED = 3,  // active side: SYN_SENT -> ESTABLISHED
	EV_CLOSE = 4,        // an established connection reached CLOSE
	EV_FAIL = 5,         // CLOSE before ESTABLISHED (refused, timed out, reset)
	EV_RETRANSMIT = 6,   // one retransmitted segment
};

// Counter slots in the per-CPU counters map; nodeagent/ebpf mirrors them.
enum {
	CNT_EMITTED = 0,
	CNT_LOST = 1,
	CNT_OPEN_ACTIVE = 2,
	CNT_OPEN_PASSIVE = 3,
	CNT_ESTABLISHED = 4,
	CNT_CLOSE = 5,
	CNT_FAIL = 6,
	CNT_RETRANSMIT = 7,
	CNT_RTT_SAMPLES = 8, // unused: the histogram's sum
	CNT_UNTRACKED = 9, // unused: the agent counts closes it saw no open for
	CNT_MAX = 16,
};

#define RTT_SLOTS 32

// Set by the loader before the programs are loaded.
const volatile __u64 wakeup_bytes = 256 * 1024;


struct event {
	__u64 ts_ns;
	__u64 cookie; // socket cookie: joins the events of one connection
	__u64 cgroup;
	__u64 bytes_acked;
	__u64 bytes_received;
	__u32 pid;
	__u32 srtt_us;
	__u32 retransmits;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 kind;
	__u8 oldstate;
	__u8 newstate;
	__u8 passive;
	__u8 _pad[2];
	__u8 saddr[16];
	__u8 daddr[16];
	__u8 comm[16];
};

struct remote_key {
	__u8 addr[16];
	__u16 family;
	__u8 _pad[6];
};

struct remote_stats {
	__u64 retransmits;
};

struct counters {
	__u64 v[CNT_MAX];
};

struct rtt_hist {
	__u64 slots[RTT_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");


struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct remote_key);
	__type(value, struct remote_stats);
} remotes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} counter_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rtt_hist);
} rtt_map SEC(".maps");

// Force BTF for the types the Go side decodes.
const struct event *unused_event __attribute__((unused));
const struct remote_key *unused_remote_key __attribute__((unused));

static __always_inline struct counters *cnt(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&counter_map, &zero);
}

static __always_inline void count(struct counters *c, int slot)
{
	if (c && slot >= 0 && slot < CNT_MAX)
		c->v[slot]++;
}

static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r = 0, s;
	s = (v > 0xFFFF) << 4; v >>= s; r |= s;
	s = (v > 0xFF) << 3; v >>= s; r |= s;
	s = (v > 0xF) << 2; v >>= s; r |= s;
	s = (v > 0x3) << 1; v >>= s; r |= s;
	r |= (v >> 1);
	return r;
}

// The socket of these tracepoints is always a full TCP socket (tcp_family
// checks the protocol where other protocols share the tracepoint), so the
// programs view it as a tcp_sock with bpf_rdonly_cast, which the verifier
// turns into nothing, where bpf_skc_to_tcp_sock is a helper call per run.
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

static __always_inline struct tcp_sock *as_tcp(const struct sock *sk)
{
	return bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
}

// The programs read kernel memory directly through the BTF-typed tracepoint
// arguments (and the tcp_sock view above) rather than with
// bpf_probe_read_kernel: each helper call costs more than the whole read.

static __always_inline int tcp_family(const struct sock *sk)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	return family;
}

static __always_inline void fill_addrs(struct event *e, const struct sock *sk, const struct tcp_sock *tp, __u16 family)
{
	e->family = family;
	// inet_sport survives inet_put_port() (which zeroes skc_num before the
	// CLOSE transition), so closed connections keep their source port.
	e->sport = __builtin_bswap16(tp->inet_conn.icsk_inet.inet_sport);
	e->dport = __builtin_bswap16(sk->__sk_common.skc_dport);
	if (family == AF_INET) {
		__u64 *s8 = (__u64 *)e->saddr, *d8 = (__u64 *)e->daddr;
		s8[0] = sk->__sk_common.skc_rcv_saddr;
		s8[1] = 0;
		d8[0] = sk->__sk_common.skc_daddr;
		d8[1] = 0;
	} else {
		__builtin_memcpy(e->saddr, sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(e->daddr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
	}
}

// Asking the ring how much is waiting reads the position the reader keeps
// writing, a cache line bounced between CPUs: measured at ~280 ns, more than
// the rest of the program. So each CPU asks only every WAKEUP_CHECK_EVERY
// events; the reader also drains on its timer, so nothing waits long.
#define WAKEUP_CHECK_EVERY 64

static __always_inline __u64 wake_flags(const struct counters *c)
{
	if (!c || (c->v[CNT_EMITTED] & (WAKEUP_CHECK_EVERY - 1)))
		return BPF_RB_NO_WAKEUP;
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline struct event *reserve(struct counters *c)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(c, CNT_LOST);
		return 0;
	}
	count(c, CNT_EMITTED);
	return e;
}

static __always_inline __u64 sock_cgroup(const struct sock *sk)
{
	struct cgroup *cg = sk->sk_cgrp_data.cgroup;
	if (!cg)
		return 0;
	return cg->kn->id;
}

static __always_inline void fill_common(struct event *e, const struct sock *sk, struct tcp_sock *tp,
					__u16 family, __u64 now, int kind, int oldstate, int newstate)
{
	e->ts_ns = now;
	// The helper makes the cookie on first use and stores it in the
	// socket; after that the socket has it and reading it is cheaper than
	// the call.
	__u64 cookie = sk->__sk_common.skc_cookie.counter;
	e->cookie = cookie ? cookie : bpf_get_socket_cookie((void *)sk);
	e->kind = kind;
	e->oldstate = oldstate;
	e->newstate = newstate;
	e->passive = 0;
	e->_pad[0] = 0;
	e->_pad[1] = 0;
	e->pid = 0;
	e->cgroup = 0;
	__builtin_memset(e->comm, 0, sizeof(e->comm));
	// The transfer figures only mean something once the connection ends or
	// retransmits; reading them costs cache misses on other transitions.
	if (kind == EV_CLOSE || kind == EV_FAIL || kind == EV_RETRANSMIT) {
		e->srtt_us = tp->srtt_us >> 3;
		e->bytes_acked = tp->bytes_acked;
		e->bytes_received = tp->bytes_received;
		e->retransmits = tp->total_retrans;
	} else {
		e->srtt_us = 0;
		e->bytes_acked = 0;
		e->bytes_received = 0;
		e->retransmits = 0;
	}
	fill_addrs(e, sk, tp, family);
}

// bpf_ktime_get_ns reads the TSC, which costs ~80 ns here, a fifth of the
// program. TCP keeps its own copy of that clock: tcp_mstamp_refresh() stores
// ktime_get_ns() in tcp_clock_cache at the start of receive processing and of
// the retransmit timer, the paths that make a handshake complete and that
// retransmit, so those events take the socket's stamp. Opens (connect()),
// closes and failures may come from a system call, where the socket's stamp
// can be as old as its last packet: they read the clock.
static __always_inline __u64 event_time(const struct tcp_sock *tp, int kind)
{
	if (kind == EV_OPEN_PASSIVE || kind == EV_ESTABLISHED || kind == EV_RETRANSMIT)
		return tp->tcp_clock_cache;
	return bpf_ktime_get_ns();
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	// Decide from the states alone first: most transitions (the FIN
	// handshake's, a listener's children being created) emit nothing and
	// leave before reading the socket.
	int kind;
	switch (newstate) {
	case TCP_SYN_SENT:
		kind = EV_OPEN_ACTIVE;
		break;
	case TCP_ESTABLISHED:
		// A passive open's child socket goes SYN_RECV -> ESTABLISHED.
		kind = oldstate == TCP_SYN_RECV ? EV_OPEN_PASSIVE : EV_ESTABLISHED;
		break;
	case TCP_CLOSE:
		if (oldstate == TCP_LISTEN)
			return 0;
		kind = (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV) ? EV_FAIL : EV_CLOSE;
		break;
	default:
		return 0;
	}
	int family = tcp_family(sk);
	if (!family)
		return 0;
	struct tcp_sock *tp = as_tcp(sk);

	struct counters *c = cnt();
	count(c, kind == EV_OPEN_ACTIVE ? CNT_OPEN_ACTIVE : kind == EV_OPEN_PASSIVE ? CNT_OPEN_PASSIVE :
		 kind == EV_ESTABLISHED ? CNT_ESTABLISHED : kind == EV_FAIL ? CNT_FAIL : CNT_CLOSE);

	struct event *e = reserve(c);
	if (!e)
		return 0;
	fill_common(e, sk, tp, family, event_time(tp, kind), kind, oldstate, newstate);
	if (kind == EV_OPEN_ACTIVE) {
		// connect() runs in the caller's context: capture the process here.
		e->pid = bpf_get_current_pid_tgid() >> 32;
		e->cgroup = bpf_get_current_cgroup_id();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	} else if (kind == EV_OPEN_PASSIVE) {
		// Softirq context: no process yet, but the socket carries the
		// listener's cgroup.
		e->passive = 1;
		e->cgroup = sock_cgroup(sk);
	}
	bpf_ringbuf_submit(e, wake_flags(c));
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb)
{
	int family = tcp_family(sk);
	if (!family)
		return 0;
	struct tcp_sock *tp = as_tcp(sk);

	struct counters *c = cnt();
	count(c, CNT_RETRANSMIT);

	struct remote_key rk = {};
	rk.family = family;
	if (family == AF_INET)
		*(__u32 *)rk.addr = sk->__sk_common.skc_daddr;
	else
		__builtin_memcpy(rk.addr, sk->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
	struct remote_stats *rs = bpf_map_lookup_elem(&remotes, &rk);
	if (rs) {
		__sync_fetch_and_add(&rs->retransmits, 1);
	} else {
		struct remote_stats one = {.retransmits = 1};
		if (bpf_map_update_elem(&remotes, &rk, &one, BPF_NOEXIST))
			if ((rs = bpf_map_lookup_elem(&remotes, &rk)))
				__sync_fetch_and_add(&rs->retransmits, 1);
	}

	struct event *e = reserve(c);
	if (!e)
		return 0;
	int state = sk->__sk_common.skc_state;
	fill_common(e, sk, tp, family, event_time(tp, EV_RETRANSMIT), EV_RETRANSMIT, state, state);
	bpf_ringbuf_submit(e, wake_flags(c));
	return 0;
}

// tcp_probe runs for every segment received on an established socket: it
// only bumps one slot of this CPU's histogram (the sample count is the
// histogram's sum).
SEC("tp_btf/tcp_probe")
int BPF_PROG(tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	struct tcp_sock *tp = as_tcp(sk);
	__u32 srtt = tp->srtt_us >> 3;
	if (!srtt)
		return 0;
	__u32 zero = 0;
	struct rtt_hist *h = bpf_map_lookup_elem(&rtt_map, &zero);
	if (!h)
		return 0;
	__u32 slot = log2_u32(srtt);
	if (slot >= RTT_SLOTS)
		slot = RTT_SLOTS - 1;
	h->slots[slot]++;
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
