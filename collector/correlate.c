// SPDX-License-Identifier: MIT
/*
 * Cross-host correlation.
 *
 * Every host path becomes a part, pending under its packet id. A packet is
 * finalised as soon as it has a part that left a host and a part that
 * reached its end (delivered or dropped) on another host, or a single part
 * that did both (VM to VM on one host); otherwise when its window expires.
 * Finalising orders the parts by their first stamp, walks the stamps in
 * order and charges each interval to the stage it ends at, or to "wire"
 * when it crosses hosts. Driver-return stamps (net_dev_xmit) and frees are
 * kept in stored paths but are not stages: on a veth wire the receiving
 * host sees the packet before the sender's driver call even returns.
 *
 * Turnaround: a VM's reply is matched to the request it answers on the
 * same host (so no cross-host clock is involved): ICMP by echo id and
 * sequence (agents sample an echo and its reply together), other protocols
 * in FIFO order per flow, the order in which a request/response server
 * answers — which is only sound when the host traces every packet, so
 * FIFO matching is off on hosts that sample.
 */
#include "collector.h"

#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pktkey.h"
#include "stage_names.h"
#include "timeutil.h"

#define TURN_FIFO 64
#define TURN_MAX_NS (10ull * 1000000000ull)

struct turn_fifo {
	uint16_t host;
	uint8_t head, n;
	int64_t t[TURN_FIFO];
	int64_t touched;
};

static int is_chain_hook(unsigned hook)
{
	return hook != ST_HOOK_NET_DEV_XMIT && hook != ST_HOOK_CONSUME_SKB &&
	       hook != ST_HOOK_KFREE_SKB;
}

static uint64_t flow_key(uint16_t host, uint32_t s, uint32_t d, uint16_t sp,
			 uint16_t dp, uint8_t proto, uint32_t disc)
{
	struct st_pkt_key k = { .saddr = s, .daddr = d, .sport = sp, .dport = dp,
				.proto = proto, .disc1 = disc, .disc2 = host };

	return st_pkt_id(&k);
}

static void batch_done(struct st_collector *c, struct c_part *p)
{
	struct c_batch *b = p->batch;

	if (!b || b->done[p->batch_idx])
		return;
	b->done[p->batch_idx] = 1;
	b->remaining--;
	b->consumed++;
}

static void part_free(struct st_collector *c, struct c_part *p)
{
	batch_done(c, p);
	free(p);
}

/*
 * Which side of a flow asks and which answers. ICMP says so itself (echo
 * request, type 8). For UDP/TCP the side that sent the first packet the
 * collector saw is the client; the answer of a server is a turnaround, the
 * client's next request after a reply is not.
 */
struct flow_dir {
	uint32_t client_addr;
	uint16_t client_port;
	int64_t touched;
};

static int from_client(struct st_collector *c, const struct c_part *p)
{
	struct st_pkt_key k = { .saddr = p->saddr, .daddr = p->daddr,
				.sport = p->sport, .dport = p->dport,
				.proto = p->proto };
	uint64_t fk = st_flow_hash_sym(&k);
	struct flow_dir *f;

	if (p->proto == 1)
		return (p->dport & 0xff) == 8;
	fk = fk ? fk : 1;
	f = st_u64map_get(&c->flows, fk);
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f || st_u64map_put(&c->flows, fk, f)) {
			free(f);
			return 0;
		}
		f->client_addr = p->saddr;
		f->client_port = p->sport;
	}
	f->touched = (int64_t)st_mono_ns();
	return f->client_addr == p->saddr && f->client_port == p->sport;
}

static int host_traces_all(const struct st_collector *c, uint16_t host)
{
	const struct c_host *h = &c->hosts[host];

	return h->sample_n && h->sample_k == h->sample_n;
}

/* A VM answered: charge the time since the matching request reached it. */
static void turnaround_reply(struct st_collector *c, const struct c_part *r)
{
	uint64_t k;
	struct turn_fifo *f;
	int64_t t_req, ta;
	char buf[32];

	if (!r->vm_in[0] || !r->n || from_client(c, r) ||
	    (r->proto != 1 && !host_traces_all(c, r->host)))
		return;
	if (r->proto == 1)
		k = flow_key(r->host, r->saddr, r->daddr, r->sport, 0, 1, r->disc1);
	else
		k = flow_key(r->host, r->saddr, r->daddr, r->sport, r->dport, r->proto, 0);
	f = st_u64map_get(&c->turn, k);
	if (!f || !f->n || f->host != r->host)
		return;
	t_req = f->t[f->head];
	f->head = (uint8_t)((f->head + 1) % TURN_FIFO);
	f->n--;
	/* One host, one clock: raw monotonic stamps, no alignment needed. */
	ta = (int64_t)r->st[0].mono - t_req;
	if (ta < 0 || (uint64_t)ta > TURN_MAX_NS)
		return;
	c->c.turnarounds++;
	c_agg_stage(c, r->st[0].t, c_ipname(c, r->daddr, buf, sizeof(buf)), r->vm_in,
		    c_stage_intern(c, "vm_turnaround"), 1000, (uint64_t)ta, -1);
}

/* A request reached a VM: remember when, under the reply's flow key. */
static void turnaround_request(struct st_collector *c, const struct c_part *p)
{
	uint64_t k;
	struct turn_fifo *f;

	if (p->end != ST_END_DELIVERED || !p->vm_out[0] || !p->n ||
	    !from_client(c, p) || (p->proto != 1 && !host_traces_all(c, p->host)))
		return;
	if (p->proto == 1)
		k = flow_key(p->host, p->daddr, p->saddr, p->sport, 0, 1, p->disc1);
	else
		k = flow_key(p->host, p->daddr, p->saddr, p->dport, p->sport, p->proto, 0);
	f = st_u64map_get(&c->turn, k);
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f || st_u64map_put(&c->turn, k, f)) {
			free(f);
			return;
		}
		f->host = p->host;
	}
	if (f->n == TURN_FIFO) {	/* unanswered requests: forget the oldest */
		f->head = (uint8_t)((f->head + 1) % TURN_FIFO);
		f->n--;
	}
	f->t[(f->head + f->n) % TURN_FIFO] = (int64_t)p->st[p->n - 1].mono;
	f->n++;
	f->touched = (int64_t)st_mono_ns();
}

/*
 * Causal order first: a part that left its host comes before the part
 * that received the packet, whatever the clocks say (a clock error must
 * show as a wrong wire time, not as a reversed path). Time breaks ties,
 * e.g. between hops of a multi-host path.
 */
static int part_cmp(const void *a, const void *b)
{
	const struct c_part *x = *(struct c_part *const *)a, *y = *(struct c_part *const *)b;
	int lx = x->end == ST_END_LEFT, ly = y->end == ST_END_LEFT;

	if (lx != ly)
		return lx ? -1 : 1;
	return x->st[0].t < y->st[0].t ? -1 : x->st[0].t > y->st[0].t;
}

static void endpoint_names(struct st_collector *c, struct c_part *first,
			   struct c_part *last, const char **src, const char **dst,
			   char *sb, char *db)
{
	*src = first->vm_in[0] ? first->vm_in : c_ipname(c, first->saddr, sb, 32);
	*dst = last->vm_out[0] ? last->vm_out : c_ipname(c, last->daddr, db, 32);
}

static void finalize(struct st_collector *c, struct c_pending *pe)
{
	struct c_part *first, *last;
	const char *src, *dst;
	char sb[32], db[32];
	uint16_t wire = c_stage_intern(c, "wire"), total = c_stage_intern(c, "total");

	/* Map every stamp with the clock models as they are now, which may be
	 * better than when the part arrived. */
	for (int i = 0; i < pe->n; i++)
		for (int j = 0; j < pe->parts[i]->n; j++)
			pe->parts[i]->st[j].t = c_clock_map(c, pe->parts[i]->host,
							    pe->parts[i]->st[j].mono, NULL);
	qsort(pe->parts, pe->n, sizeof(pe->parts[0]), part_cmp);
	first = pe->parts[0];
	last = pe->parts[pe->n - 1];
	endpoint_names(c, first, last, &src, &dst, sb, db);

	if (last->end == ST_END_DROPPED) {
		c->c.dropped++;
		c_agg_pair(c, first->st[0].t, src, dst, C_PAIR_DROPPED);
	} else if (pe->n == 1 && first->end == ST_END_LEFT) {
		c->c.lost++;
		c_agg_pair(c, first->st[0].t, src, dst, C_PAIR_LOST);
	} else if (pe->n == 1 && !(first->vm_in[0] && first->end == ST_END_DELIVERED)) {
		/* Arrived with no source seen (untraced sender), or a path that
		 * neither left nor was delivered (local stack, timeout). */
		if (first->end == ST_END_DELIVERED) {
			c->c.unmatched_rx++;
			c_agg_pair(c, first->st[0].t, src, dst, C_PAIR_UNMATCHED);
		} else {
			c->c.incomplete++;
		}
	} else if (last->end != ST_END_DELIVERED) {
		c->c.incomplete++;
	} else {
		const struct c_stamp *prev = NULL;
		uint16_t prev_host = 0;
		int ord = 0, npt = 0;
		struct c_gap_point pts[C_GAP_MAX_POINTS];
		struct c_path_rec rec;
		size_t used = 0;

		rec.t0 = first->st[0].t;
		rec.id = pe->id;
		rec.bound = -1;
		rec.stages[0] = '\0';
		c_path_flow(first, rec.flow, sizeof(rec.flow));

		if (pe->n == 1)
			c->c.local++;
		else
			c->c.matched++;
		c_agg_pair(c, first->st[0].t, src, dst, C_PAIR_MATCHED);
		for (int i = 0; i < pe->n; i++) {
			struct c_part *p = pe->parts[i];

			for (int j = 0; j < p->n; j++) {
				const struct c_stamp *s = &p->st[j];
				int64_t dt;

				if (!is_chain_hook(s->hook))
					continue;
				if (npt < C_GAP_MAX_POINTS)
					pts[npt++] = (struct c_gap_point){ s->stage, p->host, s->t };
				if (prev) {
					int cross = prev_host != p->host;
					uint16_t seg = cross ? wire : s->stage;

					/* Queued to ovs-vswitchd, re-injected: the
					 * userspace upcall, named with its host. */
					if (!cross && s->hook == ST_HOOK_OVS_EXEC &&
					    prev->hook == ST_HOOK_OVS_UPCALL)
						seg = c_upcall_stage(c, p->host);
					dt = s->t - prev->t;
					if (dt < 0) {
						c->c.negative_segments++;
						dt = 0;
					}
					c_agg_stage(c, first->st[0].t, src, dst, seg, ++ord, (uint64_t)dt,
						    cross ? c_clock_pair_bound(c, prev_host, p->host) : -1);
					if (used < sizeof(rec.stages))
						used += (size_t)snprintf(rec.stages + used,
							sizeof(rec.stages) - used, "%s%s=%lld",
							used ? "," : "", c->stage_names[seg],
							(long long)dt);
				}
				prev = s;
				prev_host = p->host;
			}
		}
		if (prev) {
			rec.total = prev->t - first->st[0].t > 0 ? prev->t - first->st[0].t : 0;
			rec.bound = first->host != last->host ?
				    c_clock_pair_bound(c, first->host, last->host) : -1;
			c_agg_stage(c, first->st[0].t, src, dst, total, 0,
				    (uint64_t)rec.total, rec.bound);
			c_paths_offer(c, first->st[0].t / 60000000000LL, src, dst, &rec);
			c_slo_observe(c, src, dst, (uint64_t)rec.total);
			c_gap_observe(c, src, dst, first->proto, ntohs(first->dport), pts, npt);
		}
	}
	for (int i = 0; i < pe->n; i++)
		part_free(c, pe->parts[i]);
	free(pe);
}

static int pending_complete(const struct c_pending *pe)
{
	int left = 0, end = 0;

	for (int i = 0; i < pe->n; i++) {
		const struct c_part *p = pe->parts[i];

		if (p->end == ST_END_LEFT)
			left = 1;
		if (p->end == ST_END_DELIVERED || p->end == ST_END_DROPPED)
			end = 1;
		if (pe->n == 1 && p->vm_in[0] && p->end == ST_END_DELIVERED)
			return 1;
	}
	return left && end;
}

/* Packets held for a better clock model, at most (bounded memory). */
#define C_HOLD_MAX 200000
/* How long a complete packet may wait for a better clock model. */
#define C_HOLD_NS 8000000000LL
/* A pair bound below this is good enough to finalise at once. */
#define C_MATURE_BOUND_NS 20000.0

/*
 * Good enough: the hosts' pair bound is small, or it will not get better
 * (no traffic the other way yet, so no data-plane estimate is coming).
 */
static int clock_mature(struct st_collector *c, const struct c_pending *pe)
{
	for (int i = 1; i < pe->n; i++) {
		int a = pe->parts[0]->host, b = pe->parts[i]->host;

		if (a != b && c_clock_pair_bound(c, a, b) > C_MATURE_BOUND_NS &&
		    c_clock_dp_pending(c, a, b))
			return 0;
	}
	return 1;
}

/*
 * A packet that crossed two hosts is one sample of their one-way delay for
 * the data-plane clock estimate: raw monotonic stamps of the last stamp on
 * the sending host and the first on the receiving one. Fed once, when the
 * packet becomes complete, whether or not it is finalised right away.
 */
static void feed_clock(struct st_collector *c, const struct c_pending *pe)
{
	const struct c_part *tx = NULL, *rx = NULL;
	uint64_t t_tx = 0;

	if (pe->n != 2 || pe->parts[0]->host == pe->parts[1]->host)
		return;
	for (int i = 0; i < 2; i++) {
		if (pe->parts[i]->end == ST_END_LEFT)
			tx = pe->parts[i];
		else
			rx = pe->parts[i];
	}
	if (!tx || !rx || !rx->n)
		return;
	for (int j = 0; j < tx->n; j++)
		if (is_chain_hook(tx->st[j].hook))
			t_tx = tx->st[j].mono;
	if (t_tx)
		c_clock_wire(c, tx->host, t_tx, rx->host, rx->st[0].mono);
}

static void add_part(struct st_collector *c, struct c_part *p)
{
	struct c_pending *pe = st_u64map_get(&c->pending, p->id);

	if (!pe) {
		pe = calloc(1, sizeof(*pe));
		if (!pe || st_u64map_put(&c->pending, p->id, pe)) {
			free(pe);
			part_free(c, p);
			return;
		}
		pe->id = p->id;
		pe->first_seen = (int64_t)st_mono_ns();
	}
	for (int i = 0; i < pe->n; i++)
		if (pe->parts[i]->host == p->host) {
			/* Same id twice on one host: a retransmission or a key
			 * collision. The first part stands; this one is counted. */
			c->c.extra_parts++;
			part_free(c, p);
			return;
		}
	if (pe->n == C_MAX_PARTS) {
		c->c.extra_parts++;
		part_free(c, p);
		return;
	}
	pe->parts[pe->n++] = p;
	c_guest_learn(c, p);
	if (!pending_complete(pe))
		return;
	if (c_guest_part_missing(c, pe)) {
		/* The VM's own agent has a part to come (guests.c); the
		 * window finalises the packet if it never does. */
		if (!pe->guest_wait) {
			pe->guest_wait = 1;
			c->c.guest_waits++;
		}
		return;
	}
	feed_clock(c, pe);
	/* While older packets are held, newer ones wait with them, so that
	 * packets are finalised in the order they were sent (c_correlate_expire
	 * releases them sorted). */
	if ((clock_mature(c, pe) && !c->n_held) || c->pending.len > C_HOLD_MAX) {
		st_u64map_del(&c->pending, pe->id);
		finalize(c, pe);
	} else if (!pe->held) {
		pe->held = 1;
		c->n_held++;
	}
	/* Otherwise a complete cross-host packet waits for its window to end
	 * (c_correlate_expire): by then the clock model of its hosts has had
	 * up to a window more to converge, which matters for the first
	 * seconds of a pair, when only the control channel's tens of us of
	 * error would be there to place a wire of a few us. */
}

int c_correlate_batch(struct st_collector *c, int host, st_envelope *env,
		      int64_t inbox_id)
{
	const st_batch *b = env->batch;
	uint16_t stage_of[1024];
	struct c_batch *cb = NULL;

	if (inbox_id > 0 && b->n_paths) {
		cb = calloc(1, sizeof(*cb));
		if (cb)
			cb->done = calloc(b->n_paths, 1);
		if (!cb || !cb->done) {
			free(cb);
			cb = NULL;
		} else {
			cb->inbox_id = inbox_id;
			cb->env = env;
			cb->remaining = (uint32_t)b->n_paths;
			cb->next = c->batches;
			c->batches = cb;
		}
	}
	/* Stage names are interned only when a stamp uses them, so a batch
	 * full of definitions cannot fill the table. */
	memset(stage_of, 0xff, sizeof(stage_of));

	for (size_t i = 0; i < b->n_paths; i++) {
		const st_hostpath *hp = b->paths[i];
		struct c_part *p = calloc(1, sizeof(*p));

		if (!p) {
			c->c.paths_bad++;
			continue;
		}
		p->id = hp->packet_id;
		p->host = (uint16_t)host;
		p->end = (uint8_t)hp->end;
		p->saddr = hp->key->saddr;
		p->daddr = hp->key->daddr;
		p->sport = (uint16_t)hp->key->sport;
		p->dport = (uint16_t)hp->key->dport;
		p->proto = (uint8_t)hp->key->proto;
		p->disc1 = hp->key->disc1;
		snprintf(p->vm_in, sizeof(p->vm_in), "%s", hp->vm_in ? hp->vm_in : "");
		snprintf(p->vm_out, sizeof(p->vm_out), "%s", hp->vm_out ? hp->vm_out : "");
		p->batch = cb;
		p->batch_idx = (uint32_t)i;
		for (size_t j = 0; j < hp->n_stamps && j < ST_WIRE_MAX_STAMPS; j++) {
			const Stagetrace__V1__Stamp *s = hp->stamps[j];
			struct c_stamp *o = &p->st[p->n++];
			uint32_t id = s->stage;

			o->mono = s->ts_ns;
			o->t = c_clock_map(c, host, s->ts_ns, NULL);
			if (id < 1024 && stage_of[id] == 0xffff) {
				for (size_t d = 0; d < b->n_stages; d++)
					if (b->stages[d]->id == id) {
						stage_of[id] = c_stage_intern(c, b->stages[d]->name);
						break;
					}
			}
			o->stage = id < 1024 && stage_of[id] != 0xffff ? stage_of[id] :
				   c_stage_intern(c, "unknown");
			o->hook = id < ST_STAGE_PSEUDO_BASE ? (uint8_t)(id / ST_ROLE_MAX) : 0;
			o->role = id < ST_STAGE_PSEUDO_BASE ? (uint8_t)(id % ST_ROLE_MAX) : 0;
		}
		c->c.paths++;
		if (p->vm_in[0])
			c_ipname_learn(c, p->saddr, p->vm_in);
		if (p->vm_out[0])
			c_ipname_learn(c, p->daddr, p->vm_out);
		turnaround_request(c, p);
		turnaround_reply(c, p);
		add_part(c, p);
	}
	/* The batch record keeps env until the flush that retires its inbox
	 * row; without one the caller still owns env. */
	return cb != NULL;
}

/* Keys of map entries older than max_age by their stamp (all: every key). */
static size_t stale_keys(struct st_u64map *m, int64_t (*stamp)(void *), int64_t now,
			 int64_t max_age, int all, uint64_t **out)
{
	uint64_t *ids = NULL, key;
	size_t n = 0, cap = 0, it = 0;
	void *v;

	while (st_u64map_next(m, &it, &key, &v)) {
		if (!all && now - stamp(v) < max_age)
			continue;
		if (n == cap) {
			uint64_t *ni = realloc(ids, (cap = cap ? cap * 2 : 256) * sizeof(*ids));

			if (!ni)
				break;
			ids = ni;
		}
		ids[n++] = key;
	}
	*out = ids;
	return n;
}

static int64_t pending_stamp(void *v) { return ((struct c_pending *)v)->first_seen; }
static int64_t turn_stamp(void *v) { return ((struct turn_fifo *)v)->touched; }
static int64_t flow_stamp(void *v) { return ((struct flow_dir *)v)->touched; }

/* When the sender sent it: the leaving part's first stamp (one host per
 * flow, so within a flow these order packets as sent). */
static uint64_t send_order(const struct c_pending *pe)
{
	for (int i = 0; i < pe->n; i++)
		if (pe->parts[i]->end == ST_END_LEFT && pe->parts[i]->n)
			return pe->parts[i]->st[0].mono;
	return pe->n && pe->parts[0]->n ? pe->parts[0]->st[0].mono : 0;
}

struct held {
	uint64_t order, id;
};

static int held_cmp(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* The pending ids in send order: held packets are finalised as they were
 * sent, so per-flow measurements (gaps) see them in order. */
static void sort_by_send_order(struct st_collector *c, uint64_t *ids, size_t n)
{
	struct held *h = malloc(n * sizeof(*h));

	if (!h)
		return;
	for (size_t i = 0; i < n; i++)
		h[i] = (struct held){ send_order(st_u64map_get(&c->pending, ids[i])), ids[i] };
	qsort(h, n, sizeof(*h), held_cmp);
	for (size_t i = 0; i < n; i++)
		ids[i] = h[i].id;
	free(h);
}

void c_correlate_expire(struct st_collector *c, int all)
{
	int64_t now = (int64_t)st_mono_ns();
	uint64_t *ids;
	size_t n;

	/* Complete packets held for their clock model go as soon as it is
	 * good enough, or after C_HOLD_NS; incomplete ones after the window. */
	n = stale_keys(&c->pending, pending_stamp, now, 0, 1, &ids);
	sort_by_send_order(c, ids, n);
	for (size_t i = 0; i < n; i++) {
		struct c_pending *pe = st_u64map_get(&c->pending, ids[i]);
		int64_t age = now - pe->first_seen;
		int go = all;

		if (!go && pending_complete(pe) && !c_guest_part_missing(c, pe))
			go = clock_mature(c, pe) || age > C_HOLD_NS;
		else if (!go)
			go = age > (int64_t)c->cfg.window_ms * 1000000;
		if (go) {
			if (pe->held)
				c->n_held--;
			st_u64map_del(&c->pending, ids[i]);
			finalize(c, pe);
		}
	}
	free(ids);
	/* Requests nobody answered within the turnaround limit. */
	n = stale_keys(&c->turn, turn_stamp, now, (int64_t)TURN_MAX_NS, all, &ids);
	for (size_t i = 0; i < n; i++)
		free(st_u64map_del(&c->turn, ids[i]));
	free(ids);
	/* Flows idle for a minute forget who their client was. */
	n = stale_keys(&c->flows, flow_stamp, now, 60000000000LL, all, &ids);
	for (size_t i = 0; i < n; i++)
		free(st_u64map_del(&c->flows, ids[i]));
	free(ids);
}
