// SPDX-License-Identifier: MIT
/*
 * stagetrace iface: interface counters and rates per device and network
 * namespace: packets and bytes per second each way, errors and drops per
 * interval, from the kernel's 64-bit link statistics (rtnetlink
 * RTM_GETLINK dump, IFLA_STATS64, read with libmnl). No BPF: the kernel
 * already counts these exactly, and reading them costs nothing.
 *
 * Every network namespace is read through its own netlink socket
 * (cli/nlns.c); /run/netns is rescanned every interval, so namespaces that
 * appear later are picked up. Devices are (netns inode, ifindex) pairs.
 *
 * --vm PATTERN selects the devices whose names match a shell pattern (the
 * VM's tap devices, "tap-vm1*", "vnet*"): until VM identity comes from
 * libvirt, a VM is its devices' names. A total row sums them; a tap's
 * receive direction is the VM's transmit. --perf adds CPU and softirq time
 * (cli/iface_perf.c).
 */
#include <errno.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "iface.h"
#include "local.h"
#include "localrun.h"
#include "nlns.h"
#include "opts.h"
#include "timeutil.h"

#define CMD "stagetrace iface"
#define IFACE_OPTS (ST_LO_INTERVAL | ST_LO_DURATION | ST_LO_COUNT | ST_LO_JSON | \
		    ST_LO_NETNS | ST_LO_DEV | ST_LO_VM)

struct ifc_dev {
	uint32_t netns, ifindex;
	char name[IF_NAMESIZE];
	struct rtnl_link_stats64 last, cur;
	uint64_t t_last, t_cur;	/* CLOCK_MONOTONIC of the dumps they came from */
	int have_last, present;
};

struct ifc {
	struct st_local_opts lo;
	int all, perf;
	struct st_nlns_set ns;
	struct ifc_dev *dev;
	size_t ndev;
	int dump_errors;
	struct ifc_perf *p;
};

/* ---- links over rtnetlink ------------------------------------------------- */

struct dump_ctx {
	struct ifc *c;
	uint32_t netns;
	uint64_t ts;
};

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int t = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_MAX) >= 0)
		tb[t] = a;
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *dc = data;
	struct ifc *c = dc->c;
	const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	struct ifc_dev *d = NULL;

	mnl_attr_parse(nlh, sizeof(*ifm), attr_cb, tb);
	if (!tb[IFLA_IFNAME] || !tb[IFLA_STATS64])
		return MNL_CB_OK;
	for (size_t i = 0; i < c->ndev; i++)
		if (c->dev[i].netns == dc->netns && c->dev[i].ifindex == (uint32_t)ifm->ifi_index)
			d = &c->dev[i];
	if (!d) {
		struct ifc_dev *nv = realloc(c->dev, (c->ndev + 1) * sizeof(*nv));

		if (!nv)
			return MNL_CB_ERROR;
		c->dev = nv;
		d = &c->dev[c->ndev++];
		memset(d, 0, sizeof(*d));
		d->netns = dc->netns;
		d->ifindex = (uint32_t)ifm->ifi_index;
	}
	snprintf(d->name, sizeof(d->name), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	memcpy(&d->cur, mnl_attr_get_payload(tb[IFLA_STATS64]),
	       mnl_attr_get_payload_len(tb[IFLA_STATS64]) < sizeof(d->cur) ?
	       mnl_attr_get_payload_len(tb[IFLA_STATS64]) : sizeof(d->cur));
	d->t_cur = dc->ts;
	d->present = 1;
	return MNL_CB_OK;
}

static int dump_links(struct ifc *c, struct st_nlns *ns)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;
	/* Rates divide by the time between a device's own dumps, not by the
	 * interval: reading many namespaces takes a while. */
	struct dump_ctx dc = { c, ns->ino, st_mono_ns() };

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	return st_nlns_dump(&c->ns, ns, nlh, link_cb, &dc);
}

static void sample(struct ifc *c)
{
	st_nlns_refresh(&c->ns, &c->lo);
	for (size_t i = 0; i < c->ndev; i++)
		c->dev[i].present = 0;
	for (size_t i = 0; i < c->ns.n; i++)
		if (c->ns.v[i].present && dump_links(c, &c->ns.v[i]))
			c->dump_errors++;
}

static int selected(const struct ifc *c, const struct ifc_dev *d)
{
	if (c->lo.netns_set && d->netns != c->lo.netns_ino)
		return 0;
	if (c->lo.dev_set && (d->netns != c->lo.dev_netns || d->ifindex != c->lo.dev_ifindex))
		return 0;
	if (c->lo.vm && fnmatch(c->lo.vm, d->name, 0))
		return 0;
	return 1;
}

/* ---- one interval ------------------------------------------------------- */

struct delta {
	uint64_t rxp, txp, rxb, txb, rxe, txe, rxd, txd;
};

static void delta_of(const struct ifc_dev *d, struct delta *x)
{
#define D(f) (d->cur.f >= d->last.f ? d->cur.f - d->last.f : 0)
	x->rxp = D(rx_packets);
	x->txp = D(tx_packets);
	x->rxb = D(rx_bytes);
	x->txb = D(tx_bytes);
	x->rxe = D(rx_errors);
	x->txe = D(tx_errors);
	x->rxd = D(rx_dropped) + D(rx_missed_errors);
	x->txd = D(tx_dropped);
#undef D
}

static json_object *row_json(const char *name, const struct ifc_dev *d, const struct delta *x,
			     double secs)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "dev", json_object_new_string(name));
	if (d) {
		json_object_object_add(o, "netns", json_object_new_int64(d->netns));
		json_object_object_add(o, "ifindex", json_object_new_int64(d->ifindex));
	}
	json_object_object_add(o, "rx_packets", json_object_new_int64(x->rxp));
	json_object_object_add(o, "tx_packets", json_object_new_int64(x->txp));
	json_object_object_add(o, "rx_bytes", json_object_new_int64(x->rxb));
	json_object_object_add(o, "tx_bytes", json_object_new_int64(x->txb));
	json_object_object_add(o, "rx_pps", json_object_new_double(x->rxp / secs));
	json_object_object_add(o, "tx_pps", json_object_new_double(x->txp / secs));
	json_object_object_add(o, "rx_Bps", json_object_new_double(x->rxb / secs));
	json_object_object_add(o, "tx_Bps", json_object_new_double(x->txb / secs));
	json_object_object_add(o, "rx_errors", json_object_new_int64(x->rxe));
	json_object_object_add(o, "tx_errors", json_object_new_int64(x->txe));
	json_object_object_add(o, "rx_dropped", json_object_new_int64(x->rxd));
	json_object_object_add(o, "tx_dropped", json_object_new_int64(x->txd));
	return o;
}

static const char *rate(double v, char *buf, size_t len)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2fG", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2fM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%.1fk", v / 1e3);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

static void row_text(const char *t, const char *name, const struct delta *x, double secs)
{
	char a[16], b[16], e[16], f[16];

	printf("%-8s %-24s %9s %9s %10s %10s %6llu %6llu %7llu %7llu\n", t, name,
	       rate(x->rxp / secs, a, sizeof(a)), rate(x->txp / secs, b, sizeof(b)),
	       rate(x->rxb / secs, e, sizeof(e)), rate(x->txb / secs, f, sizeof(f)),
	       (unsigned long long)x->rxe, (unsigned long long)x->txe,
	       (unsigned long long)x->rxd, (unsigned long long)x->txd);
}

static void report(struct ifc *c, double secs)
{
	struct delta tot = { 0 };
	json_object *o = NULL, *arr = NULL;
	char t[16];
	int shown = 0;

	st_local_hms(t, sizeof(t));
	if (c->lo.json) {
		o = json_object_new_object();
		arr = json_object_new_array();
		json_object_object_add(o, "type", json_object_new_string("interval"));
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "unix_s", json_object_new_double(st_real_ns() / 1e9));
		json_object_object_add(o, "interval_s", json_object_new_double(secs));
	} else {
		printf("%-8s %-24s %9s %9s %10s %10s %6s %6s %7s %7s\n", "TIME", "DEV", "RX_PPS",
		       "TX_PPS", "RX_B/s", "TX_B/s", "RX_ERR", "TX_ERR", "RX_DROP", "TX_DROP");
	}
	for (size_t i = 0; i < c->ndev; i++) {
		struct ifc_dev *d = &c->dev[i];
		struct delta x;
		const char *name;
		double dsecs;

		if (!d->present || !selected(c, d))
			continue;
		if (!d->have_last) {
			/* New since the last sample: it starts counting now. */
			d->last = d->cur;
			d->t_last = d->t_cur;
			d->have_last = 1;
			continue;
		}
		delta_of(d, &x);
		dsecs = d->t_cur > d->t_last ? (d->t_cur - d->t_last) / 1e9 : secs;
		d->last = d->cur;
		d->t_last = d->t_cur;
		tot.rxp += x.rxp; tot.txp += x.txp; tot.rxb += x.rxb; tot.txb += x.txb;
		tot.rxe += x.rxe; tot.txe += x.txe; tot.rxd += x.rxd; tot.txd += x.txd;
		if (!c->all && !x.rxp && !x.txp && !x.rxe && !x.txe && !x.rxd && !x.txd)
			continue;
		name = st_local_dev_name(d->netns, d->ifindex);
		if (o)
			json_object_array_add(arr, row_json(name, d, &x, dsecs));
		else
			row_text(t, name, &x, dsecs);
		shown++;
	}
	if (c->lo.vm) {
		char vm[128];

		snprintf(vm, sizeof(vm), "vm:%s", c->lo.vm);
		if (o)
			json_object_object_add(o, "vm", row_json(vm, NULL, &tot, secs));
		else
			row_text(t, vm, &tot, secs);
	} else if (!shown && !o) {
		printf("%-8s (no traffic; --all shows idle devices)\n", t);
	}
	if (o) {
		json_object_object_add(o, "devices", arr);
		json_object_object_add(o, "netlink_errors", json_object_new_int(c->dump_errors));
	} else if (c->dump_errors) {
		printf("%-8s %d netlink dumps failed; their devices are missing\n", t, c->dump_errors);
	}
	c->dump_errors = 0;
	if (c->perf)
		ifc_perf_interval(c->p, secs, tot.rxp, tot.txp, o);
	if (o) {
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else {
		printf("\n");
	}
	fflush(stdout);
}

int cmd_iface(int argc, char **argv)
{
	static const struct st_cmd_help help = {
		.name = CMD,
		.summary = "Interface counters and rates per device and network namespace.",
		.description =
"Every interval, per device: packets and bytes per second received and\n"
"transmitted, and the errors and drops of the interval (RX_DROP includes\n"
"missed). Devices are read in our network namespace and every namespace in\n"
"/run/netns (or only --netns), shown as name@netns. Idle devices are hidden\n"
"unless --all. --vm PATTERN selects devices whose names match a shell\n"
"pattern (a VM's taps: a tap's RX is the VM's TX) and adds a total row.\n"
"--perf adds CPU use (/proc/stat) and the time CPUs spent in the NET_RX and\n"
"NET_TX softirqs (BPF on irq:softirq_entry/exit), per packet too.\n"
"Counters come from the kernel's 64-bit link statistics (rtnetlink\n"
"IFLA_STATS64). Replaces iface_netstat.py,\n"
"system_network_perfomance_metrics.py and vm_network_performance_metrics.py.",
		.examples =
"  stagetrace iface -i 2\n"
"  stagetrace iface --netns hv1 --all -c 1\n"
"  stagetrace iface --vm 'tap-vm1*' --json\n"
"  stagetrace iface --perf --dev eth0",
	};
	struct ifc c = { 0 };
	struct st_opt opts[ST_LOCAL_NOPTS + 4];
	struct st_local_ticker t;
	size_t no = 0;
	int rc, ec;

	st_local_opts_init(&c.lo);
	st_local_opts_table(&c.lo, IFACE_OPTS, opts, &no, sizeof(opts) / sizeof(opts[0]) - 2);
	opts[no++] = (struct st_opt){ "all", 0, ST_OPT_FLAG, &c.all, NULL,
				      "show idle devices too" };
	opts[no++] = (struct st_opt){ "perf", 0, ST_OPT_FLAG, &c.perf, NULL,
				      "add CPU and network softirq time (needs root)" };
	opts[no] = (struct st_opt)ST_OPT_END;
	if (st_opts_parse_noargs(argc, argv, opts, &help, &ec))
		return ec;
	if ((rc = st_local_validate(&c.lo, IFACE_OPTS, CMD)))
		return rc;
	if (c.lo.vm && c.lo.dev) {
		fprintf(stderr, "error: --vm and --dev are exclusive\n");
		return ST_EXIT_USAGE;
	}
	if (c.lo.vm && !c.lo.vm[0]) {
		fprintf(stderr, "error: --vm: empty pattern\n");
		return ST_EXIT_USAGE;
	}
	if (c.perf && (rc = st_local_require_root(CMD " --perf")))
		return rc;
	if (c.perf && (rc = ifc_perf_start(&c.p, c.lo.json)))
		return rc;

	sample(&c);
	if (!c.ns.n || !c.ns.v[0].present) {
		fprintf(stderr, "error: cannot read any network namespace's links\n");
		ifc_perf_stop(c.p);
		return ST_EXIT_FAIL;
	}
	for (size_t i = 0; i < c.ndev; i++)
		if (c.dev[i].present) {
			c.dev[i].last = c.dev[i].cur;
			c.dev[i].t_last = c.dev[i].t_cur;
			c.dev[i].have_last = 1;
		}
	if (!c.lo.json)
		fprintf(stderr, "Reading interface counters of %zu network namespace(s)... Ctrl-C to end.\n",
			c.ns.n);
	else
		printf("{\"type\":\"start\",\"netns\":%zu}\n", c.ns.n);
	fflush(stdout);
	st_local_signals();
	st_local_ticker_init(&t, c.lo.interval, c.lo.duration);
	for (;;) {
		double secs;
		int stop = st_local_ticker_wait(&t, NULL, c.lo.count, &secs);

		sample(&c);
		report(&c, secs);
		if (stop)
			break;
	}
	st_nlns_free(&c.ns);
	free(c.dev);
	ifc_perf_stop(c.p);
	st_local_dev_names_free();
	return ST_EXIT_OK;
}
