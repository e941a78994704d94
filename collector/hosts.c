// SPDX-License-Identifier: MIT
/*
 * Per-host state: identity (name, agent instance), the mapping of the
 * host's monotonic stamps onto the collector's timeline, and the health the
 * agent reports (counters, attach results). Also the small interning
 * tables the correlator uses: stage names, and IPv4 -> VM names learned
 * from traffic.
 *
 * Timeline: for now a host's offset is realtime - monotonic from the
 * clock triple in its latest batch, i.e. the host's own disciplined clock.
 * Data-plane and control-channel alignment replace this per host later
 * without touching the correlator, which only calls c_host_time().
 */
#include "collector.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pktkey.h"
#include "timeutil.h"

int c_host_get(struct st_collector *c, const char *name)
{
	for (int i = 0; i < c->n_hosts; i++)
		if (!strcmp(c->hosts[i].name, name))
			return i;
	if (c->n_hosts == C_MAX_HOSTS)
		return -1;
	snprintf(c->hosts[c->n_hosts].name, sizeof(c->hosts[0].name), "%s", name);
	c->hosts[c->n_hosts].upcall_stage = UINT16_MAX;
	return c->n_hosts++;
}

/*
 * The stage an OVS upcall's userspace time is charged to: "upcall@HOST",
 * so a pair's stored breakdown says on which hypervisor ovs-vswitchd held
 * the packet, and the upcall matrix can sum per host (collector/upcall.c).
 */
uint16_t c_upcall_stage(struct st_collector *c, int h)
{
	struct c_host *ho = &c->hosts[h];
	char name[80];

	if (ho->upcall_stage == UINT16_MAX) {
		snprintf(name, sizeof(name), C_UPCALL_PREFIX "%s", ho->name);
		ho->upcall_stage = c_stage_intern(c, name);
	}
	return ho->upcall_stage;
}

void c_host_update(struct st_collector *c, int h, const st_batch *b)
{
	struct c_host *ho = &c->hosts[h];

	if (ho->instance && ho->instance != b->instance && !c->replaying) {
		ho->restarts++;
		pr_info("host %s: agent restarted (instance %016lx)", ho->name,
			(unsigned long)b->instance);
	}
	if (ho->instance != b->instance)
		c_clock_reset_host(c, h);
	ho->instance = b->instance;
	ho->sample_k = b->sample_k;
	ho->sample_n = b->sample_n;
	ho->last_seq = b->seq;
	if (c->replaying)
		return;
	ho->batches++;
	ho->paths += b->n_paths;
	ho->last_seen_ns = (int64_t)st_real_ns();
	ho->n_counters = 0;
	for (size_t i = 0; i < b->n_counters && i < 64; i++) {
		snprintf(ho->counters[i].name, sizeof(ho->counters[i].name), "%s",
			 b->counters[i]->name ? b->counters[i]->name : "");
		ho->counters[i].value = b->counters[i]->value;
		ho->n_counters++;
	}
	ho->n_probes = 0;
	for (size_t i = 0; i < b->n_probes && i < 32; i++) {
		const Stagetrace__V1__ProbeStatus *p = b->probes[i];

		snprintf(ho->probes[i].hook, sizeof(ho->probes[i].hook), "%s", p->hook ? p->hook : "");
		snprintf(ho->probes[i].method, sizeof(ho->probes[i].method), "%s", p->method ? p->method : "");
		snprintf(ho->probes[i].status, sizeof(ho->probes[i].status), "%s", p->status ? p->status : "");
		snprintf(ho->probes[i].reason, sizeof(ho->probes[i].reason), "%s", p->reason ? p->reason : "");
		ho->n_probes++;
	}
	if (b->n_clock) {
		const Stagetrace__V1__ClockSample *cs = b->clock[b->n_clock - 1];

		ho->mono_to_real = cs->realtime_ns - (int64_t)cs->mono_ns;
	}
}

uint16_t c_stage_intern(struct st_collector *c, const char *name)
{
	for (int i = 0; i < c->n_stages; i++)
		if (!strcmp(c->stage_names[i], name))
			return (uint16_t)i;
	if (c->n_stages == C_MAX_STAGES)
		return 0;
	c->stage_names[c->n_stages] = strdup(name);
	return (uint16_t)c->n_stages++;
}

const char *c_ipname(struct st_collector *c, uint32_t addr, char *buf, size_t len)
{
	const char *n = st_u64map_get(&c->ipnames, (uint64_t)addr | (1ull << 32));

	if (n)
		return n;
	inet_ntop(AF_INET, &addr, buf, len);
	return buf;
}

void c_ipname_learn(struct st_collector *c, uint32_t addr, const char *vm)
{
	uint64_t k = (uint64_t)addr | (1ull << 32);
	char *old = st_u64map_get(&c->ipnames, k);

	if (!vm || !*vm || (old && !strcmp(old, vm)))
		return;
	if (old)
		pr_info("address now belongs to VM %s (was %s)", vm, old);
	free(old);
	st_u64map_put(&c->ipnames, k, strdup(vm));
	c_store_name_put(c, addr, vm);
	c_tenant_cache_clear(c);
}
