// SPDX-License-Identifier: MIT
/*
 * stagetrace qdisc --tc: what tc classification did, in aggregate. The
 * kernel has no tracepoint for tcf_classify, but every qdisc and class
 * keeps counters (the ones `tc -s qdisc/class` prints): packets, bytes,
 * drops, overlimits, requeues, queue length. Every interval they are read
 * over rtnetlink (RTM_GETQDISC for all devices, then RTM_GETTCLASS for
 * each device that has qdiscs) in every network namespace (cli/nlns.c),
 * and the qdiscs and classes whose counters moved are reported with the
 * change: which class the classifier sent how many packets to.
 */
#include <json-c/json.h>
#include <linux/gen_stats.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlns.h"
#include "qdisc.h"
#include "timeutil.h"

struct tc_row {
	uint32_t netns, ifindex, handle, parent;
	int is_class, present, have_last;
	char kind[ST_QD_KIND_LEN];
	struct tc_cnt {
		uint64_t packets, bytes, drops, overlimits, requeues;
		uint32_t qlen, backlog;
	} cur, last;
};

struct qd_tcstats {
	struct st_nlns_set ns;
	struct tc_row *v;
	size_t n;
	int errors;
};

struct tc_ctx {
	struct qd_tcstats *s;
	uint32_t netns;
	int is_class;
};

static struct tc_row *row_get(struct qd_tcstats *s, uint32_t netns, const struct tcmsg *t,
			      int is_class)
{
	struct tc_row *nv;

	for (size_t i = 0; i < s->n; i++) {
		struct tc_row *r = &s->v[i];

		if (r->netns == netns && r->ifindex == (uint32_t)t->tcm_ifindex &&
		    r->handle == t->tcm_handle && r->parent == t->tcm_parent && r->is_class == is_class)
			return r;
	}
	nv = realloc(s->v, (s->n + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	s->v = nv;
	nv = &s->v[s->n++];
	memset(nv, 0, sizeof(*nv));
	nv->netns = netns;
	nv->ifindex = (uint32_t)t->tcm_ifindex;
	nv->handle = t->tcm_handle;
	nv->parent = t->tcm_parent;
	nv->is_class = is_class;
	return nv;
}

static int stats_cb(const struct nlattr *a, void *data)
{
	struct tc_cnt *c = data;
	const void *p = mnl_attr_get_payload(a);
	size_t len = mnl_attr_get_payload_len(a);

	switch (mnl_attr_get_type(a)) {
	case TCA_STATS_BASIC:
		if (len >= sizeof(struct gnet_stats_basic)) {
			struct gnet_stats_basic b;

			memcpy(&b, p, sizeof(b));
			c->bytes = b.bytes;
			if (!c->packets)
				c->packets = b.packets;
		}
		break;
	case TCA_STATS_PKT64:
		if (len >= sizeof(uint64_t))
			memcpy(&c->packets, p, sizeof(uint64_t));
		break;
	case TCA_STATS_QUEUE:
		if (len >= sizeof(struct gnet_stats_queue)) {
			struct gnet_stats_queue q;

			memcpy(&q, p, sizeof(q));
			c->qlen = q.qlen;
			c->backlog = q.backlog;
			c->drops = q.drops;
			c->requeues = q.requeues;
			c->overlimits = q.overlimits;
		}
		break;
	}
	return MNL_CB_OK;
}

static int tc_cb(const struct nlmsghdr *nlh, void *data)
{
	struct tc_ctx *x = data;
	const struct tcmsg *t = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	struct tc_row *r = row_get(x->s, x->netns, t, x->is_class);
	struct tc_cnt c = { 0 };

	if (!r)
		return MNL_CB_ERROR;
	mnl_attr_for_each(a, nlh, sizeof(*t)) {
		if (mnl_attr_get_type(a) == TCA_KIND)
			snprintf(r->kind, sizeof(r->kind), "%s", mnl_attr_get_str(a));
		else if (mnl_attr_get_type(a) == TCA_STATS2)
			mnl_attr_parse_nested(a, stats_cb, &c);
	}
	r->cur = c;
	if (!r->have_last) {
		/* New: it counts from this sample on. */
		r->last = c;
		r->have_last = 1;
	}
	r->present = 1;
	return MNL_CB_OK;
}

static int dump(struct qd_tcstats *s, struct st_nlns *ns, int type, int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct tcmsg *t;
	struct tc_ctx x = { s, ns->ino, type == RTM_GETTCLASS };

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	return st_nlns_dump(&s->ns, ns, nlh, tc_cb, &x);
}

void qd_tcstats_sample(struct qd *q)
{
	struct qd_tcstats *s = q->tcs;

	if (!s) {
		s = q->tcs = calloc(1, sizeof(*s));
		if (!s)
			return;
	}
	st_nlns_refresh(&s->ns, &q->lo);
	for (size_t i = 0; i < s->n; i++)
		s->v[i].present = 0;
	for (size_t i = 0; i < s->ns.n; i++) {
		struct st_nlns *ns = &s->ns.v[i];

		if (!ns->present)
			continue;
		if (dump(s, ns, RTM_GETQDISC, 0)) {
			s->errors++;
			continue;
		}
		/* Classes are dumped per device: each device that has qdiscs
		 * (the class dump appends rows, so go by index). */
		for (size_t j = 0; j < s->n; j++) {
			uint32_t ifindex = s->v[j].ifindex;
			int dup = 0;

			if (s->v[j].is_class || !s->v[j].present || s->v[j].netns != ns->ino)
				continue;
			for (size_t k = 0; k < j; k++)
				if (!s->v[k].is_class && s->v[k].present && s->v[k].netns == ns->ino &&
				    s->v[k].ifindex == ifindex)
					dup = 1;
			if (!dup && dump(s, ns, RTM_GETTCLASS, (int)ifindex))
				s->errors++;
		}
	}
}

static int selected(const struct qd *q, const struct tc_row *r)
{
	if (q->lo.netns_set && r->netns != q->lo.netns_ino)
		return 0;
	if (q->lo.dev_set && (r->netns != q->lo.dev_netns || r->ifindex != q->lo.dev_ifindex))
		return 0;
	return 1;
}

void qd_tcstats_show(struct qd *q, const char *t, json_object *o)
{
	struct qd_tcstats *s = q->tcs;
	json_object *arr = o ? json_object_new_array() : NULL;
	int header = 0;

	for (size_t i = 0; s && i < s->n; i++) {
		struct tc_row *r = &s->v[i];
		struct tc_cnt d;
		char h[16], p[16];
		const char *dev;

		if (!r->present || !selected(q, r))
			continue;
#define D(f) (r->cur.f >= r->last.f ? r->cur.f - r->last.f : 0)
		d.packets = D(packets);
		d.bytes = D(bytes);
		d.drops = D(drops);
		d.overlimits = D(overlimits);
		d.requeues = D(requeues);
#undef D
		r->last = r->cur;
		if (!d.packets && !d.drops && !d.overlimits && !d.requeues)
			continue;
		dev = st_local_dev_name(r->netns, r->ifindex);
		qd_handle_str(r->handle, h, sizeof(h));
		qd_handle_str(r->parent, p, sizeof(p));
		if (o) {
			json_object *j = json_object_new_object();

			json_object_object_add(j, "dev", json_object_new_string(dev));
			json_object_object_add(j, "netns", json_object_new_int64(r->netns));
			json_object_object_add(j, "ifindex", json_object_new_int64(r->ifindex));
			json_object_object_add(j, "type", json_object_new_string(r->is_class ? "class" : "qdisc"));
			json_object_object_add(j, "kind", json_object_new_string(r->kind));
			json_object_object_add(j, "handle", json_object_new_string(h));
			json_object_object_add(j, "parent", json_object_new_string(p));
			json_object_object_add(j, "packets", json_object_new_int64(d.packets));
			json_object_object_add(j, "bytes", json_object_new_int64(d.bytes));
			json_object_object_add(j, "drops", json_object_new_int64(d.drops));
			json_object_object_add(j, "overlimits", json_object_new_int64(d.overlimits));
			json_object_object_add(j, "requeues", json_object_new_int64(d.requeues));
			json_object_object_add(j, "qlen", json_object_new_int64(r->cur.qlen));
			json_object_object_add(j, "backlog", json_object_new_int64(r->cur.backlog));
			json_object_array_add(arr, j);
			continue;
		}
		if (!header++)
			printf("%-8s %-20s %-5s %-8s %-7s %-7s %8s %10s %7s %8s %7s %5s\n", "TIME", "DEV",
			       "TYPE", "KIND", "HANDLE", "PARENT", "PKTS", "BYTES", "DROPS", "OVERLIM",
			       "REQUEUE", "QLEN");
		printf("%-8s %-20s %-5s %-8s %-7s %-7s %8llu %10llu %7llu %8llu %7llu %5u\n", t, dev,
		       r->is_class ? "class" : "qdisc", r->kind, h, p, (unsigned long long)d.packets,
		       (unsigned long long)d.bytes, (unsigned long long)d.drops,
		       (unsigned long long)d.overlimits, (unsigned long long)d.requeues, r->cur.qlen);
	}
	if (o) {
		json_object_object_add(o, "tc_stats", arr);
		json_object_object_add(o, "netlink_errors", json_object_new_int(s ? s->errors : 0));
	} else if (s && s->errors) {
		printf("%-8s %d netlink dumps failed; their qdiscs/classes are missing\n", t, s->errors);
	}
	if (s)
		s->errors = 0;
}

void qd_tcstats_free(struct qd *q)
{
	if (!q->tcs)
		return;
	st_nlns_free(&q->tcs->ns);
	free(q->tcs->v);
	free(q->tcs);
	q->tcs = NULL;
}
