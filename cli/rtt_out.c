// SPDX-License-Identifier: MIT
/*
 * stagetrace rtt: what it prints. Per exchange with -v (one line, or one
 * JSON object), per interval the counts and one histogram for the round
 * trip and for each stage, and at the end a summary over the whole run
 * (the same histograms merged, which is exact for these log-linear
 * buckets). Losses the BPF side could not avoid (no room to track a
 * request, a full ring) are printed with every interval in which they
 * happened and in the summary.
 */
#include <arpa/inet.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "rtt.h"
#include "timeutil.h"

const char *const rtt_counter_names[ST_RC_MAX] = {
	[ST_RC_REQUESTS] = "requests",
	[ST_RC_ANSWERED] = "answered",
	[ST_RC_UNMATCHED] = "unmatched_replies",
	[ST_RC_FORWARDED] = "forwarded_requests",
	[ST_RC_MAP_FULL] = "lost_untracked_map_full",
	[ST_RC_RINGBUF_FULL] = "lost_events",
	[ST_RC_FILTERED] = "filtered",
};

static const char *const tx_names[] = { "rtt", "send", "network", "recv", "ip_out" };
static const char *const tx_what[] = {
	"request queued -> reply processed by ICMP",
	"request: device queue -> handed to the driver",
	"request to the driver -> reply at the device (driver, wire, peer)",
	"reply: device receive -> ICMP done with it",
	"request: IP output -> device queue, before rtt starts",
};
static const char *const rx_names[] = { "reply_time", "stack", "send", "icmp", "ip_out" };
static const char *const rx_what[] = {
	"request at the device -> reply handed to the driver",
	"request at the device -> reply queued (host stack and ICMP)",
	"reply: device queue -> handed to the driver",
	"stack, first part: request at the device -> reply at IP output",
	"stack, second part: reply at IP output -> device queue",
};

int rtt_stage_names(int mode, const char *const **names, const char *const **what)
{
	if (mode == ST_RTT_TX) {
		*names = tx_names;
		*what = tx_what;
	} else {
		*names = rx_names;
		*what = rx_what;
	}
	return 5;
}

int rtt_stage_needs_ip(int mode, int i)
{
	return mode == ST_RTT_TX ? i == 4 : i >= 3;
}

static uint64_t span(uint64_t a, uint64_t b)
{
	return a && b && b >= a ? b - a : UINT64_MAX;
}

int rtt_durations(int mode, const __u64 t[ST_RTT_NT], uint64_t d[RTT_NH])
{
	if (mode == ST_RTT_TX) {
		/* Without the free hook the reply's receive ends the trip. */
		d[0] = span(t[0], t[3] ? t[3] : t[2]);
		d[1] = span(t[0], t[1]);
		d[2] = span(t[1], t[2]);
		d[3] = span(t[2], t[3]);
		d[4] = span(t[4], t[0]);
		return 5;
	}
	d[0] = span(t[0], t[2]);
	d[1] = span(t[0], t[1]);
	d[2] = span(t[1], t[2]);
	d[3] = span(t[0], t[4]);
	d[4] = span(t[4], t[1]);
	return 5;
}

static const char *fmt_dur(uint64_t ns, char *buf, size_t len)
{
	if (ns == UINT64_MAX)
		snprintf(buf, len, "-");
	else if (ns >= 1000000)
		snprintf(buf, len, "%.3f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.1f us", ns / 1e3);
	return buf;
}

static json_object *dur_json(uint64_t ns)
{
	return ns == UINT64_MAX ? NULL : json_object_new_double(ns / 1e3);
}

void rtt_print_exchange(struct rtt *r, const struct st_rtt_key *k,
			const struct st_rtt_val *v, int lost)
{
	const char *const *names, *const *what;
	char t[32], la[INET_ADDRSTRLEN], ra[INET_ADDRSTRLEN], b[32];
	const char *src, *dst, *out, *in;
	uint64_t d[RTT_NH];
	int n = rtt_stage_names(r->mode, &names, &what);

	(void)what;
	rtt_durations(r->mode, v->t, d);
	st_local_mono_hms(v->t[0] ? v->t[0] : v->t[4], t, sizeof(t));
	inet_ntop(AF_INET, &k->laddr, la, sizeof(la));
	inet_ntop(AF_INET, &k->raddr, ra, sizeof(ra));
	/* Lines name the request's direction: requester -> responder. */
	src = r->mode == ST_RTT_TX ? la : ra;
	dst = r->mode == ST_RTT_TX ? ra : la;
	out = st_local_dev_name(k->netns, v->ifindex_out);
	in = st_local_dev_name(k->netns, v->ifindex_in);
	if (r->lo.json) {
		json_object *o = json_object_new_object(), *st = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("echo"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "mode", json_object_new_string(
			r->mode == ST_RTT_TX ? "tx" : "rx"));
		json_object_object_add(o, "src", json_object_new_string(src));
		json_object_object_add(o, "dst", json_object_new_string(dst));
		json_object_object_add(o, "id", json_object_new_int(ntohs(k->id)));
		json_object_object_add(o, "seq", json_object_new_int(k->seq));
		json_object_object_add(o, "netns", json_object_new_int64(k->netns));
		json_object_object_add(o, "status", json_object_new_string(
			lost ? "lost" : "answered"));
		json_object_object_add(o, "dev_out", json_object_new_string(out));
		json_object_object_add(o, "dev_in", json_object_new_string(in));
		if (!lost) {
			json_object_object_add(o, "total_us", dur_json(d[0]));
			for (int i = 1; i < n; i++) {
				char key[32];

				if (rtt_stage_needs_ip(r->mode, i) && !r->ip_hook.attached)
					continue;
				snprintf(key, sizeof(key), "%s_us", names[i]);
				json_object_object_add(st, key, dur_json(d[i]));
			}
		}
		json_object_object_add(o, "stages", st);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		return;
	}
	printf("%s %s -> %s id=%u seq=%u", t, src, dst, ntohs(k->id), k->seq);
	if (lost) {
		printf(" %s within %.3f s (out %s, in %s)\n",
		       r->mode == ST_RTT_TX ? "LOST: no reply" : "UNANSWERED: no reply sent",
		       r->timeout, out, in);
		return;
	}
	printf(" %s %s", names[0], fmt_dur(d[0], b, sizeof(b)));
	for (int i = 1; i < n; i++)
		if (!rtt_stage_needs_ip(r->mode, i) || r->ip_hook.attached)
			printf("  %s %s", names[i], fmt_dur(d[i], b, sizeof(b)));
	printf("  (out %s, in %s)\n", out, in);
}

static json_object *hists_json(struct rtt *r, const struct st_hist *h)
{
	const char *const *names, *const *what;
	int n = rtt_stage_names(r->mode, &names, &what);
	json_object *o = json_object_new_object();

	for (int i = 0; i < n; i++)
		json_object_object_add(o, names[i], st_local_hist_json(&h[i]));
	return o;
}

static void hists_print(struct rtt *r, const struct st_hist *h)
{
	const char *const *names, *const *what;
	int n = rtt_stage_names(r->mode, &names, &what);

	for (int i = 0; i < n; i++) {
		char hb[900];

		printf("  %s (%s)\n", names[i], what[i]);
		if (rtt_stage_needs_ip(r->mode, i) && !r->ip_hook.attached)
			printf("    (ip_output hook %s)\n",
			       st_local_hook_status(&r->ip_hook, hb, sizeof(hb)));
		else
			st_local_hist_print(&h[i], "    ");
	}
}

static json_object *counters_json(const uint64_t c[ST_RC_MAX])
{
	json_object *o = json_object_new_object();

	for (int i = 0; i < ST_RC_MAX; i++)
		json_object_object_add(o, rtt_counter_names[i], json_object_new_int64(c[i]));
	return o;
}

static void attach_json(struct rtt *r, json_object *o)
{
	json_object *a = json_object_new_object();

	for (int i = 0; i < r->nhooks; i++)
		json_object_object_add(a, r->hooks[i].tp, json_object_new_string(
			r->hooks[i].method ? r->hooks[i].method : "unavailable"));
	json_object_object_add(o, "attach", a);
	json_object_object_add(o, "hooks", st_local_hooks_json(&r->ip_hook, 1));
}

static void lost_line(const struct rtt *r, const char *t, const uint64_t c[ST_RC_MAX])
{
	if (c[ST_RC_MAP_FULL] || c[ST_RC_RINGBUF_FULL])
		printf("%s lost: %llu requests untracked (map of %u in-flight exchanges full), "
		       "%llu answered exchanges (ring full)\n", t,
		       (unsigned long long)c[ST_RC_MAP_FULL], r->max_inflight,
		       (unsigned long long)c[ST_RC_RINGBUF_FULL]);
}

void rtt_print_interval(struct rtt *r, const uint64_t delta[ST_RC_MAX], double secs)
{
	char t[16];

	st_local_hms(t, sizeof(t));
	if (r->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
		json_object_object_add(o, "mode", json_object_new_string(
			r->mode == ST_RTT_TX ? "tx" : "rx"));
		json_object_object_add(o, "requests", json_object_new_int64(delta[ST_RC_REQUESTS]));
		json_object_object_add(o, "answered", json_object_new_int64(r->iv_answered));
		json_object_object_add(o, "lost", json_object_new_int64(r->iv_lost));
		json_object_object_add(o, "answered_unprocessed", json_object_new_int64(r->iv_noend));
		json_object_object_add(o, "unmatched_replies", json_object_new_int64(delta[ST_RC_UNMATCHED]));
		if (!r->lo.verbose)
			json_object_object_add(o, "hist", hists_json(r, r->iv));
		json_object_object_add(o, "counters", counters_json(delta));
		attach_json(r, o);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		fflush(stdout);
		return;
	}
	lost_line(r, t, delta);
	if (!r->lo.verbose) {
		printf("%s %s: requests %llu, answered %llu, %s %llu (no reply within %.3f s), "
		       "unmatched replies %llu\n", t,
		       r->mode == ST_RTT_TX ? "echo requests sent from here" :
					      "echo requests arriving here",
		       (unsigned long long)delta[ST_RC_REQUESTS],
		       (unsigned long long)r->iv_answered,
		       r->mode == ST_RTT_TX ? "lost" : "unanswered", (unsigned long long)r->iv_lost,
		       r->timeout, (unsigned long long)delta[ST_RC_UNMATCHED]);
		if (r->iv_answered)
			hists_print(r, r->iv);
		printf("\n");
	}
	fflush(stdout);
}

void rtt_print_summary(struct rtt *r)
{
	const uint64_t *c = r->counters;

	if (r->lo.json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "type", json_object_new_string("summary"));
		json_object_object_add(o, "mode", json_object_new_string(
			r->mode == ST_RTT_TX ? "tx" : "rx"));
		json_object_object_add(o, "timeout_s", json_object_new_double(r->timeout));
		json_object_object_add(o, "max_inflight", json_object_new_int64(r->max_inflight));
		json_object_object_add(o, "requests", json_object_new_int64(c[ST_RC_REQUESTS]));
		json_object_object_add(o, "answered", json_object_new_int64(r->answered));
		json_object_object_add(o, "lost", json_object_new_int64(r->lost));
		json_object_object_add(o, "answered_unprocessed", json_object_new_int64(r->noend));
		json_object_object_add(o, "pending_at_end", json_object_new_int64(r->pending_at_end));
		json_object_object_add(o, "unmatched_replies", json_object_new_int64(c[ST_RC_UNMATCHED]));
		json_object_object_add(o, "hist", hists_json(r, r->all));
		json_object_object_add(o, "counters", counters_json(c));
		attach_json(r, o);
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
		fflush(stdout);
		return;
	}
	if (r->lo.verbose || r->lo.count != 1) {
		printf("Summary: requests %llu, answered %llu, %s %llu, still in flight %llu, "
		       "unmatched replies %llu\n", (unsigned long long)c[ST_RC_REQUESTS],
		       (unsigned long long)r->answered, r->mode == ST_RTT_TX ? "lost" : "unanswered",
		       (unsigned long long)r->lost,
		       (unsigned long long)r->pending_at_end,
		       (unsigned long long)c[ST_RC_UNMATCHED]);
		if (r->answered)
			hists_print(r, r->all);
	}
	lost_line(r, "total", c);
	fflush(stdout);
}
