// SPDX-License-Identifier: MIT
/*
 * Agents inside VMs.
 *
 * With an agent in a VM as well as on the hypervisors, one packet has up
 * to four parts: the sending guest's (ending virtio_tx), the sending
 * hypervisor's, the receiving hypervisor's (delivered into the VM) and
 * the receiving guest's (starting virtio_irq/virtio_poll). The hypervisor
 * parts alone already make a packet complete (one left, one delivered),
 * so without knowing that a guest traces too, the correlator would
 * finalise it before the guest's part arrives and that part would be left
 * over as an unmatched arrival.
 *
 * So the collector learns, from the parts it sees, which VM addresses have
 * an agent inside: a part with guest receive stamps names its destination,
 * one with the guest send stamp its source. A packet to or from such an
 * address is complete only with that guest's part, or when its window
 * expires (then it is finalised with what came, as any late packet). The
 * first packets before the address is learnt are finalised as before.
 * The sets hold C_GUEST_ADDRS addresses each; past that the collector
 * stops learning and counts every part it could not learn from
 * (guest_addrs_full).
 */
#include "collector.h"

#include "stage_names.h"

static uint32_t slot_of(uint32_t addr, uint32_t i)
{
	return (uint32_t)((addr * 2654435761u + i) % C_GUEST_ADDRS);
}

static int set_has(const struct c_addrset *s, uint32_t addr)
{
	for (uint32_t i = 0; addr && i < C_GUEST_ADDRS; i++) {
		uint32_t v = s->a[slot_of(addr, i)];

		if (v == addr)
			return 1;
		if (!v)
			return 0;
	}
	return 0;
}

/* 0 added or known, -1 full. */
static int set_add(struct c_addrset *s, uint32_t addr)
{
	if (!addr || set_has(s, addr))
		return 0;
	/* Keep a quarter free so that lookups stay short. */
	if (s->n >= C_GUEST_ADDRS * 3 / 4)
		return -1;
	for (uint32_t i = 0; i < C_GUEST_ADDRS; i++) {
		uint32_t *v = &s->a[slot_of(addr, i)];

		if (!*v) {
			*v = addr;
			s->n++;
			return 0;
		}
	}
	return -1;
}

static int has_hook(const struct c_part *p, int a, int b)
{
	for (int j = 0; j < p->n; j++)
		if (p->st[j].hook == a || p->st[j].hook == b)
			return 1;
	return 0;
}

static int guest_rx(const struct c_part *p)
{
	return has_hook(p, ST_HOOK_VIRTIO_IRQ, ST_HOOK_VIRTIO_POLL);
}

static int guest_tx(const struct c_part *p)
{
	return has_hook(p, ST_HOOK_VIRTIO_TX, ST_HOOK_VIRTIO_TX);
}

void c_guest_learn(struct st_collector *c, const struct c_part *p)
{
	if ((guest_rx(p) && set_add(&c->guest_rx, p->daddr)) ||
	    (guest_tx(p) && set_add(&c->guest_tx, p->saddr)))
		c->c.guest_addrs_full++;
}

int c_guest_part_missing(const struct st_collector *c, const struct c_pending *pe)
{
	int rx = 0, tx = 0;

	if (!pe->n)
		return 0;
	for (int i = 0; i < pe->n; i++) {
		rx |= guest_rx(pe->parts[i]);
		tx |= guest_tx(pe->parts[i]);
	}
	return (!rx && set_has(&c->guest_rx, pe->parts[0]->daddr)) ||
	       (!tx && set_has(&c->guest_tx, pe->parts[0]->saddr));
}
