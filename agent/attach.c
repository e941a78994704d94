// SPDX-License-Identifier: MIT
/*
 * Attach plans: for every hook, try the methods in order of preference by
 * really loading and attaching a two-instruction program on the running
 * kernel (asking the kernel's feature probes can lie), keep the first that
 * works, and remember why each earlier one failed. The chosen variant of
 * the real program is then autoloaded and the other variant switched off,
 * so one BPF object serves every kernel. A hook whose every method fails
 * degrades its stage; the agent keeps running and reports it.
 */
#include "agent.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <json-c/json.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach_probe.h"
#include "log.h"
#include "stage_names.h"
#include "stages.skel.h"

struct hook_progs {
	struct bpf_program *btf, *raw;
};

static void hook_progs(struct stages_bpf *s, struct hook_progs p[ST_HOOK_MAX])
{
	memset(p, 0, sizeof(struct hook_progs) * ST_HOOK_MAX);
#define HP(h, n) p[h] = (struct hook_progs){ s->progs.btf_##n, s->progs.raw_##n }
	HP(ST_HOOK_NETIF_RX, netif_rx);
	HP(ST_HOOK_NAPI_GRO_RX, napi_gro_rx);
	HP(ST_HOOK_NETIF_RECEIVE_SKB, netif_receive_skb);
	HP(ST_HOOK_NET_DEV_QUEUE, net_dev_queue);
	HP(ST_HOOK_NET_DEV_START_XMIT, net_dev_start_xmit);
	HP(ST_HOOK_NET_DEV_XMIT, net_dev_xmit);
	HP(ST_HOOK_SKB_COPY_DATAGRAM, skb_copy_datagram);
	HP(ST_HOOK_KFREE_SKB, kfree_skb);
	HP(ST_HOOK_CONSUME_SKB, consume_skb);
#undef HP
}

int st_attach_plan(struct st_agent *a)
{
	static const char *methods[] = { "tp_btf", "raw_tp" };
	struct hook_progs hp[ST_HOOK_MAX];
	int usable = 0;

	hook_progs(a->skel, hp);
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		struct st_probe *p = &a->probes[h];
		const char *tp = st_hook_tracepoint(h, NULL);
		char why[160] = "";

		p->hook = h;
		p->method = NULL;
		p->reason[0] = '\0';
		for (unsigned m = 0; m < 2; m++) {
			if (a->cfg.force_method && strcmp(a->cfg.force_method, methods[m]))
				continue;
			if (st_probe_attach(methods[m], tp, why, sizeof(why)) == 0) {
				p->method = methods[m];
				break;
			}
			/* Keep every reason: "tp_btf: ...; raw_tp: ...". */
			{
				size_t used = strlen(p->reason);

				snprintf(p->reason + used, sizeof(p->reason) - used,
					 "%s%s", used ? "; " : "", why);
			}
		}
		bpf_program__set_autoload(hp[h].btf, p->method && !strcmp(p->method, "tp_btf"));
		bpf_program__set_autoload(hp[h].raw, p->method && !strcmp(p->method, "raw_tp"));
		p->status = p->method ? "planned" : "unavailable";
		if (p->method)
			usable++;
		else
			pr_warn("stage hook %s unavailable: %s", st_hook_name(h), p->reason);
	}
	return usable ? 0 : -ENOENT;
}

int st_attach_all(struct st_agent *a)
{
	struct hook_progs hp[ST_HOOK_MAX];
	int attached = 0;

	hook_progs(a->skel, hp);
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		struct st_probe *p = &a->probes[h];
		struct bpf_program *prog;
		struct bpf_link *l;

		if (!p->method)
			continue;
		prog = !strcmp(p->method, "tp_btf") ? hp[h].btf : hp[h].raw;
		l = bpf_program__attach(prog);
		if (!l) {
			p->status = "failed";
			snprintf(p->reason, sizeof(p->reason), "%s: attach failed: %s",
				 p->method, strerror(errno));
			pr_warn("stage hook %s: %s", st_hook_name(h), p->reason);
			continue;
		}
		/* The skeleton owns links it created through its own array;
		 * these are ours, destroyed with the process. */
		p->status = "attached";
		attached++;
	}
	return attached ? 0 : -ENOENT;
}

void st_probes_print(const struct st_agent *a, int json)
{
	if (json) {
		json_object *arr = json_object_new_array();

		for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
			const struct st_probe *p = &a->probes[h];
			const char *cat, *tp = st_hook_tracepoint(h, &cat);
			json_object *o = json_object_new_object();
			char tpn[96];

			snprintf(tpn, sizeof(tpn), "%s:%s", cat, tp);
			json_object_object_add(o, "hook", json_object_new_string(st_hook_name(h)));
			json_object_object_add(o, "tracepoint", json_object_new_string(tpn));
			json_object_object_add(o, "method", p->method ?
					       json_object_new_string(p->method) : NULL);
			json_object_object_add(o, "status", json_object_new_string(p->status));
			json_object_object_add(o, "reason", json_object_new_string(p->reason));
			json_object_array_add(arr, o);
		}
		printf("%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY));
		json_object_put(arr);
		return;
	}
	printf("%-20s %-34s %-8s %-12s %s\n", "HOOK", "TRACEPOINT", "METHOD",
	       "STATUS", "REASON");
	for (unsigned h = 1; h < ST_HOOK_MAX; h++) {
		const struct st_probe *p = &a->probes[h];
		const char *cat, *tp = st_hook_tracepoint(h, &cat);
		char tpn[96];

		snprintf(tpn, sizeof(tpn), "%s:%s", cat, tp);
		printf("%-20s %-34s %-8s %-12s %s\n", st_hook_name(h), tpn,
		       p->method ? p->method : "-", p->status, p->reason);
	}
}
