// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Packet drops: skb:kfree_skb counted per (location, reason, netns,
 * device[, kernel stack]).
 *
 * Each drop: netns and device filters (pointer chasing only, no packet
 * access) -> when a protocol, port or address filter is set, key the packet
 * with parse.bpf.h and apply it -> optionally take a kernel stack id -> add
 * one to the row of the count map of the current generation -> in verbose
 * mode, also emit one event through the ring buffer. Nothing is sampled:
 * every drop that passes the filters is counted, and every one that cannot
 * be (a full map, a full ring) is counted as lost in the counters map.
 *
 * The hook exists twice, a tp_btf and a raw_tp program around one static
 * function; user space probes which one the running kernel takes and turns
 * the other one's autoload off.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

#include "drops.h"
#include "parse.bpf.h"
#include "filter.bpf.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Which count map programs write to; user space flips it per interval. */
volatile __u32 drops_gen;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct st_drops_cfg);
} drops_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} drop_netns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct st_drop_dev);
	__type(value, __u8);
} drop_devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_DROPS_MAX_KEYS);
	__type(key, struct st_drop_key);
	__type(value, struct st_drop_val);
} counts0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ST_DROPS_MAX_KEYS);
	__type(key, struct st_drop_key);
	__type(value, struct st_drop_val);
} counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, ST_DROPS_MAX_STACKS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, ST_DROPS_STACK_DEPTH * sizeof(__u64));
} drop_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} drop_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ST_DC_MAX);
	__type(key, __u32);
	__type(value, __u64);
} drop_counters SEC(".maps");

static __always_inline void dc_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&drop_counters, &idx);

	if (c)
		*c += 1;
}


/*
 * Add one drop to a count map. A new row is inserted with BPF_NOEXIST; if
 * another CPU inserted the same row first, the lookup after the failed
 * insert finds it. Returns 0, or -1 when the map is full.
 */
static __always_inline int dc_add(void *map, const struct st_drop_key *k,
				  __u32 len)
{
	struct st_drop_val *v, nv = { .count = 1, .bytes = len };

	v = bpf_map_lookup_elem(map, k);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		__sync_fetch_and_add(&v->bytes, len);
		return 0;
	}
	if (bpf_map_update_elem(map, k, &nv, BPF_NOEXIST) == 0)
		return 0;
	v = bpf_map_lookup_elem(map, k);
	if (!v)
		return -1;
	__sync_fetch_and_add(&v->count, 1);
	__sync_fetch_and_add(&v->bytes, len);
	return 0;
}

/* Drop reasons exist since 5.17; older kernels pass no reason argument. */
static __always_inline __u32 dc_reason(__u64 *ctx)
{
	if (bpf_core_enum_value_exists(enum skb_drop_reason,
				       SKB_DROP_REASON_NOT_SPECIFIED))
		return (__u32)ctx[2];
	return 0;
}

static __always_inline int dc_drop(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u32 zero = 0;
	struct st_drops_cfg *c = bpf_map_lookup_elem(&drops_cfg, &zero);
	struct st_parse_out po = {};
	struct st_pkt_key pk = {};
	struct st_drop_key k = {};
	struct st_drop_event *e;
	struct net_device *dev;
	int keyed = 0, rc;
	__u32 len;

	if (!c || !skb)
		return 0;
	dc_count(ST_DC_CALLS);

	/* 1. Namespace and device: from the device, else from the socket. */
	dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		k.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		k.ifindex = BPF_CORE_READ(dev, ifindex);
	} else {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		if (sk)
			k.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	if ((c->flags & ST_DF_NETNS) && !bpf_map_lookup_elem(&drop_netns, &k.netns)) {
		dc_count(ST_DC_FILTER_NETNS);
		return 0;
	}
	if (c->flags & ST_DF_DEV) {
		struct st_drop_dev dk = { .netns = k.netns, .ifindex = k.ifindex };

		if (!bpf_map_lookup_elem(&drop_devs, &dk)) {
			dc_count(ST_DC_FILTER_DEV);
			return 0;
		}
	}

	/* 2. Header filters need the packet keyed; events show the key. */
	if ((c->pf.flags & ST_PF_HEADERS) || (c->flags & ST_DF_EVENTS)) {
		keyed = st_parse_skb(skb, &pk, &po) == 0;
		if (c->pf.flags & ST_PF_HEADERS) {
			if (!keyed) {
				dc_count(ST_DC_PARSE_SKIP);
				return 0;
			}
			if (!st_pf_match(&c->pf, &pk)) {
				dc_count(ST_DC_FILTER_L34);
				return 0;
			}
		}
	}

	/* 3. Count it. */
	k.location = ctx[1];
	k.reason = dc_reason(ctx);
	k.stack_id = -1;
	if (c->flags & ST_DF_STACKS) {
		rc = bpf_get_stackid(ctx, &drop_stacks, 0);
		if (rc >= 0)
			k.stack_id = rc;
		else
			dc_count(ST_DC_STACK_FAIL);
	}
	len = BPF_CORE_READ(skb, len);
	if (drops_gen & 1)
		rc = dc_add(&counts1, &k, len);
	else
		rc = dc_add(&counts0, &k, len);
	if (rc) {
		dc_count(ST_DC_MAP_FULL);
	} else {
		dc_count(ST_DC_COUNTED);
	}

	/* 4. Verbose mode: one event per drop. */
	if (!(c->flags & ST_DF_EVENTS))
		return 0;
	e = bpf_ringbuf_reserve(&drop_events, sizeof(*e), 0);
	if (!e) {
		dc_count(ST_DC_RINGBUF_FULL);
		return 0;
	}
	e->ts = bpf_ktime_get_ns();
	e->location = k.location;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->reason = k.reason;
	e->netns = k.netns;
	e->ifindex = k.ifindex;
	e->stack_id = k.stack_id;
	e->len = len;
	e->keyed = keyed;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	e->key = pk;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/kfree_skb")
int btf_kfree_skb(__u64 *ctx)
{
	return dc_drop(ctx);
}

SEC("raw_tp/kfree_skb")
int raw_kfree_skb(__u64 *ctx)
{
	return dc_drop(ctx);
}
