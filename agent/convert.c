// SPDX-License-Identifier: MIT
/*
 * The one place where a BPF host-path record becomes a protobuf HostPath.
 * Stage ids are resolved here from (hook, device role); device and VM
 * names come from the device table.
 */
#include "agent.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stage_names.h"
#include "wire.h"

/* The record layout is shared with BPF; catch accidental changes. */
_Static_assert(sizeof(struct st_stamp) == 16, "st_stamp layout");
_Static_assert(sizeof(struct st_pkt_key) == 24, "st_pkt_key layout");
_Static_assert(sizeof(struct st_path) == 64 + 16 * ST_MAX_STAMPS, "st_path layout");

static char *dupstr(const char *s)
{
	return strdup(s ? s : "");
}

static int is_rx_hook(unsigned h)
{
	return h == ST_HOOK_NETIF_RX || h == ST_HOOK_NAPI_GRO_RX ||
	       h == ST_HOOK_NETIF_RECEIVE_SKB;
}

void *st_convert_path(const struct st_agent *a, const struct st_path *p)
{
	Stagetrace__V1__HostPath *hp = calloc(1, sizeof(*hp));
	Stagetrace__V1__PacketKey *k = calloc(1, sizeof(*k));
	Stagetrace__V1__Encap *e = NULL;
	unsigned n = p->nstamps > ST_MAX_STAMPS ? ST_MAX_STAMPS : p->nstamps;
	const char *vm_in = NULL, *vm_out = NULL;

	if (!hp || !k)
		goto oom;
	stagetrace__v1__host_path__init(hp);
	stagetrace__v1__packet_key__init(k);
	k->saddr = p->key.saddr;
	k->daddr = p->key.daddr;
	k->sport = p->key.sport;
	k->dport = p->key.dport;
	k->proto = p->key.proto;
	k->disc1 = p->key.disc1;
	k->disc2 = p->key.disc2;
	hp->packet_id = p->pkt_id;
	hp->key = k;
	hp->netns = p->netns;
	hp->end = p->end;
	hp->overflow = p->overflow;
	hp->cpu = p->cpu;
	if (p->encap) {
		e = calloc(1, sizeof(*e));
		if (!e)
			goto oom;
		stagetrace__v1__encap__init(e);
		e->flags = p->encap;
		e->vlan = p->vlan;
		e->vni = p->vni;
		e->outer_saddr = p->outer_saddr;
		e->outer_daddr = p->outer_daddr;
		hp->encap = e;
		/* The collector keeps no tunnel attributes; with -v the agent
		 * says what the BPF side saw, and whether the stamps are in time
		 * order (the kernel-matrix tunnel test checks both here). */
		if (p->encap & (ST_ENC_VXLAN | ST_ENC_GENEVE)) {
			char os[INET_ADDRSTRLEN], od[INET_ADDRSTRLEN];
			unsigned unordered = 0;

			for (unsigned i = 1; i < n; i++)
				unordered += p->stamps[i].ts < p->stamps[i - 1].ts;
			inet_ntop(AF_INET, &p->outer_saddr, os, sizeof(os));
			inet_ntop(AF_INET, &p->outer_daddr, od, sizeof(od));
			pr_debug("path %016llx %s vni %u outer %s > %s stamps %u unordered %u",
				 (unsigned long long)p->pkt_id,
				 p->encap & ST_ENC_GENEVE ? "geneve" : "vxlan", p->vni, os, od,
				 n, unordered);
		}
	}
	hp->stamps = calloc(n ? n : 1, sizeof(*hp->stamps));
	if (!hp->stamps)
		goto oom;
	for (unsigned i = 0; i < n; i++) {
		const struct st_stamp *s = &p->stamps[i];
		Stagetrace__V1__Stamp *o = calloc(1, sizeof(*o));
		const struct st_dev *d = st_devices_find(&a->devs, p->netns, s->ifindex);

		if (!o)
			goto oom;
		stagetrace__v1__stamp__init(o);
		o->stage = st_stage_id(s->hook, s->role);
		o->ts_ns = st_agent_mono(a, s->ts);
		o->ifindex = s->ifindex;
		o->aux = s->aux;
		o->dev = dupstr(d ? d->name : NULL);
		hp->stamps[hp->n_stamps++] = o;
		if (d && s->role == ST_ROLE_VM && d->vm[0]) {
			if (is_rx_hook(s->hook) && !vm_in)
				vm_in = d->vm;
			else if (!is_rx_hook(s->hook))
				vm_out = d->vm;
		}
	}
	hp->vm_in = dupstr(vm_in);
	hp->vm_out = dupstr(vm_out);
	return hp;
oom:
	st_convert_free(hp);
	if (hp == NULL)
		free(k);
	return NULL;
}

void st_convert_free(void *ptr)
{
	Stagetrace__V1__HostPath *hp = ptr;

	if (!hp)
		return;
	for (size_t i = 0; i < hp->n_stamps; i++) {
		free(hp->stamps[i]->dev);
		free(hp->stamps[i]);
	}
	free(hp->stamps);
	free(hp->key);
	free(hp->encap);
	free(hp->vm_in);
	free(hp->vm_out);
	free(hp);
}
