// SPDX-License-Identifier: MIT
/*
 * stagetrace virt virtio --rx-path -v: one line (or JSON object) per frame
 * the guest's virtio-net received, from the records of
 * bpf/virt_virtio_pkt.bpf.h. The stamps are shown as the time spent
 * between consecutive stages that were seen (interrupt callback -> NAPI
 * run start -> receive_buf -> GRO entry -> netif_receive_skb -> socket),
 * so a missing stage merges its wait into the next one instead of
 * inventing a number; the end says how the frame's trace ended.
 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "bpf/virt_virtio.h"
#include "local.h"
#include "virt_virtio.h"

static const char *const stage_names[ST_VVS_MAX] = {
	[ST_VVS_IRQ] = "irq", [ST_VVS_POLL] = "poll", [ST_VVS_RBUF] = "receive_buf",
	[ST_VVS_GRO] = "gro", [ST_VVS_NETIF] = "netif_receive", [ST_VVS_SOCK] = "socket",
};

static const char *end_name(uint32_t end)
{
	switch (end) {
	case ST_VVE_SOCK: return "socket";
	case ST_VVE_FREED: return "consumed";
	case ST_VVE_DROPPED: return "dropped";
	case ST_VVE_UNSEEN: return "unseen";
	}
	return "?";
}

static const char *proto_str(uint8_t p, char *b, size_t n)
{
	if (p == 6)
		return "tcp";
	if (p == 17)
		return "udp";
	if (p == 1)
		return "icmp";
	if (!p)
		return "-";
	snprintf(b, n, "%u", p);
	return b;
}

void vv_pkt_header(void)
{
	printf("%-12s %-10s %2s %3s %-4s %-21s   %-21s %5s %9s %9s %9s %9s %9s %9s %s\n", "TIME",
	       "DEV", "Q", "CPU", "PROT", "SRC", "DST", "LEN", "IRQ>POLL", "POLL>RBUF", "RBUF>GRO",
	       "GRO>NETIF", "NETIF>SK", "TOTAL(us)", "END");
}

int vv_pkt_event(void *ctx, void *data, size_t size)
{
	struct vv_pkt_out *o = ctx;
	const struct st_vv_pkt *p = data;
	char t[32], pb[8], sa[INET_ADDRSTRLEN], da[INET_ADDRSTRLEN];
	double gap[ST_VVS_MAX] = { 0 };
	int seen[ST_VVS_MAX] = { 0 };
	uint64_t first = 0, last = 0, prev = 0;
	const char *dev;

	if (size < sizeof(*p))
		return 0;
	/* Time between each seen stage and the seen stage before it. */
	for (int s = 0; s < ST_VVS_MAX; s++) {
		if (!p->ts[s])
			continue;
		seen[s] = 1;
		if (prev)
			gap[s] = ((double)p->ts[s] - (double)prev) / 1e3;
		if (!first)
			first = p->ts[s];
		prev = last = p->ts[s];
	}
	o->printed++;
	st_local_mono_hms(p->ts[ST_VVS_GRO], t, sizeof(t));
	dev = st_local_dev_name(p->netns, p->ifindex);
	inet_ntop(AF_INET, &p->key.saddr, sa, sizeof(sa));
	inet_ntop(AF_INET, &p->key.daddr, da, sizeof(da));
	if (o->json) {
		json_object *j = json_object_new_object(), *st = json_object_new_object();

		json_object_object_add(j, "type", json_object_new_string("packet"));
		json_object_object_add(j, "time", json_object_new_string(t));
		json_object_object_add(j, "dev", json_object_new_string(dev));
		json_object_object_add(j, "ifindex", json_object_new_int64(p->ifindex));
		json_object_object_add(j, "queue", json_object_new_int64(p->queue));
		json_object_object_add(j, "cpu", json_object_new_int64(p->cpu));
		json_object_object_add(j, "irq_cpu", json_object_new_int64(p->irq_cpu));
		json_object_object_add(j, "len", json_object_new_int64(p->len));
		json_object_object_add(j, "proto", json_object_new_string(
			proto_str(p->key.proto, pb, sizeof(pb))));
		if (p->key.proto) {
			json_object_object_add(j, "src", json_object_new_string(sa));
			json_object_object_add(j, "dst", json_object_new_string(da));
		}
		if (p->key.proto == 6 || p->key.proto == 17) {
			json_object_object_add(j, "sport", json_object_new_int(ntohs(p->key.sport)));
			json_object_object_add(j, "dport", json_object_new_int(ntohs(p->key.dport)));
		}
		/* Raw stamps (ns, CLOCK_MONOTONIC) of the stages seen. */
		for (int s = 0; s < ST_VVS_MAX; s++)
			if (seen[s])
				json_object_object_add(st, stage_names[s],
						       json_object_new_int64((int64_t)p->ts[s]));
		json_object_object_add(j, "stamps_ns", st);
		json_object_object_add(j, "total_us", json_object_new_double((last - first) / 1e3));
		json_object_object_add(j, "end", json_object_new_string(end_name(p->end)));
		if (p->end == ST_VVE_DROPPED)
			json_object_object_add(j, "drop_reason", json_object_new_int64(p->drop_reason));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
		json_object_put(j);
		fflush(stdout);
		return 0;
	}
	{
		char src[32], dst[32], c[ST_VVS_MAX][16];

		if (p->key.proto == 6 || p->key.proto == 17) {
			snprintf(src, sizeof(src), "%s:%u", sa, ntohs(p->key.sport));
			snprintf(dst, sizeof(dst), "%s:%u", da, ntohs(p->key.dport));
		} else {
			snprintf(src, sizeof(src), "%s", p->key.proto ? sa : "-");
			snprintf(dst, sizeof(dst), "%s", p->key.proto ? da : "-");
		}
		for (int s = 1; s < ST_VVS_MAX; s++) {
			if (seen[s] && seen[s - 1])
				snprintf(c[s], sizeof(c[s]), "%.1f", gap[s]);
			else if (seen[s])
				snprintf(c[s], sizeof(c[s]), "(%.1f)", gap[s]);
			else
				snprintf(c[s], sizeof(c[s]), "-");
		}
		printf("%-12s %-10s %2u %3u %-4s %-21s > %-21s %5u %9s %9s %9s %9s %9s %9.1f %s\n",
		       t, dev, p->queue, p->cpu, proto_str(p->key.proto, pb, sizeof(pb)), src, dst,
		       p->len, c[ST_VVS_POLL], c[ST_VVS_RBUF], c[ST_VVS_GRO], c[ST_VVS_NETIF],
		       c[ST_VVS_SOCK], (last - first) / 1e3, end_name(p->end));
		if (p->end == ST_VVE_DROPPED)
			printf("%-12s   dropped, kernel reason code %u\n", t, p->drop_reason);
	}
	fflush(stdout);
	return 0;
}
