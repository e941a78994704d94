/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The classifier hook of qdisc --tc: the verdict (TC_ACT_*) and class id
 * tcf_classify() returned, counted per qdisc whose filters ran (and, with
 * -v, one event per packet), for kernels where a function hook attaches
 * (fexit, else kprobe + kretprobe; there is no tracepoint).
 * Included by bpf/qdisc.bpf.c after qdisc_common.bpf.h.
 *
 * tcf_classify gained a tcf_block argument in 5.14, which moved its
 * struct tcf_result argument from the third to the fourth place. User
 * space reads the function's prototype from the running kernel's BTF and
 * sets qd_tcf_res_arg before load (the struct tcf_proto * is always the
 * argument before it); fexit reads the arguments with bpf_get_func_arg,
 * so one program serves both prototypes.
 *
 * The kprobe variant stashes (skb, tp, res) per CPU for the kretprobe. Calls
 * nest (an act_mirred redirect classifies again on the way out), so the
 * stash is a small per-CPU stack; deeper nesting is counted as lost.
 */
#ifndef ST_QDISC_TC_BPF_H
#define ST_QDISC_TC_BPF_H

/* Index of the struct tcf_result * argument of tcf_classify. */
const volatile __u32 qd_tcf_res_arg = 3;

QD_ROW_MAP(cls0, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_ckey, __u64);
QD_ROW_MAP(cls1, BPF_MAP_TYPE_PERCPU_HASH, struct st_qd_ckey, __u64);

#define QD_TCF_DEPTH 4

struct qd_tcf_stash {
	__u32 depth;
	__u32 pad;
	__u64 skb[QD_TCF_DEPTH];
	__u64 tp[QD_TCF_DEPTH];
	__u64 res[QD_TCF_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct qd_tcf_stash);
} qd_tcf_stashes SEC(".maps");

static __always_inline void qd_cls_add(void *map, const struct st_qd_ckey *k)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, k);

	if (v) {
		*v += 1;
	} else if (bpf_map_update_elem(map, k, &one, BPF_NOEXIST)) {
		qc(ST_QC_MAP_FULL);
		return;
	}
	qc(ST_QC_COUNTED);
}

/* The qdisc whose filters tp belongs to: its chain's block's owner (the
 * block argument is NULL when a classful qdisc such as htb walks its own
 * filter list, so the filter is the reliable way there). */
static __always_inline struct Qdisc *qd_tcf_owner(const struct tcf_proto *tp)
{
	if (!tp)
		return NULL;
	return BPF_CORE_READ(tp, chain, block, q);
}

static __always_inline void qd_classified(struct sk_buff *skb, const struct tcf_proto *tp,
					  struct tcf_result *res, int ret)
{
	struct st_qd_cfg *c = qd_config();
	struct st_qd_ckey k = {};
	struct st_qd_event *e;
	struct net_device *dev;
	struct Qdisc *q;

	if (!c || c->mode != ST_QD_TC || !skb)
		return;
	qc(ST_QC_CALLS);
	q = qd_tcf_owner(tp);
	if (q) {
		qd_key_of(q, NULL, &k.k);
	} else {
		dev = BPF_CORE_READ(skb, dev);
		if (dev)
			qd_dev_id(dev, &k.k);
	}
	/* A filter list is not tied to one TX queue. */
	k.k.txq = ST_QD_NO_TXQ;
	if (!qd_pass(c, &k.k))
		return;
	k.verdict = ret;
	/* The class id is only meaningful when a filter matched. */
	if (ret >= 0 && res)
		k.classid = BPF_CORE_READ(res, classid);
	if (qdisc_gen & 1)
		qd_cls_add(&cls1, &k);
	else
		qd_cls_add(&cls0, &k);
	if (!(c->flags & ST_QF_EVENTS))
		return;
	e = qd_event(ST_QE_CLASSIFY, &k.k);
	if (!e)
		return;
	e->rc = ret;
	e->reason = k.classid;
	e->len = BPF_CORE_READ(skb, len);
	{
		struct st_parse_out po = {};

		e->keyed = st_parse_skb(skb, &e->key, &po) == 0;
	}
	bpf_ringbuf_submit(e, 0);
}

SEC("fexit/tcf_classify")
int fexit_tcf_classify(__u64 *ctx)
{
	__u64 skb = 0, tp = 0, res = 0, ret = 0;

	bpf_get_func_arg(ctx, 0, &skb);
	bpf_get_func_arg(ctx, qd_tcf_res_arg - 1, &tp);
	bpf_get_func_arg(ctx, qd_tcf_res_arg, &res);
	bpf_get_func_ret(ctx, &ret);
	qd_classified((struct sk_buff *)skb, (const struct tcf_proto *)tp,
		      (struct tcf_result *)res, (int)ret);
	return 0;
}

SEC("kprobe/tcf_classify")
int BPF_KPROBE(kprobe_tcf_classify, struct sk_buff *skb)
{
	/* Both candidate arguments are read at fixed offsets: the verifier
	 * refuses a context read at a computed one. */
	__u64 p2 = PT_REGS_PARM2(ctx), p3 = PT_REGS_PARM3(ctx), p4 = PT_REGS_PARM4(ctx);
	__u32 zero = 0, d;
	struct qd_tcf_stash *s = bpf_map_lookup_elem(&qd_tcf_stashes, &zero);

	if (!s)
		return 0;
	d = s->depth;
	if (d < QD_TCF_DEPTH) {
		s->skb[d] = (__u64)skb;
		s->tp[d] = qd_tcf_res_arg == 3 ? p3 : p2;
		s->res[d] = qd_tcf_res_arg == 3 ? p4 : p3;
	} else {
		qc(ST_QC_MAP_FULL);
	}
	s->depth = d + 1;
	return 0;
}

SEC("kretprobe/tcf_classify")
int BPF_KRETPROBE(kretprobe_tcf_classify, int ret)
{
	__u32 zero = 0, d;
	struct qd_tcf_stash *s = bpf_map_lookup_elem(&qd_tcf_stashes, &zero);

	if (!s || !s->depth)
		return 0;
	d = --s->depth;
	if (d < QD_TCF_DEPTH)
		qd_classified((struct sk_buff *)s->skb[d], (const struct tcf_proto *)s->tp[d],
			      (struct tcf_result *)s->res[d], ret);
	return 0;
}

#endif /* ST_QDISC_TC_BPF_H */
