/* SPDX-License-Identifier: MIT */
/*
 * vmsim internals shared by its files: the wire constants, byte and
 * checksum helpers, the state of the one VM the process plays, and the
 * functions each file offers the others.
 *
 * Design: vmsim is one single-threaded program split by job.  vmsim.c
 * parses the command line, sets the VM up and runs the ppoll() loop;
 * vmsim_net.c frames, sends and receives packets and answers them (ARP,
 * ICMP, UDP, TCP); vmsim_run.c drives client traffic runs and reports
 * them; vmsim_ctl.c serves the control socket.  All of them work on one
 * global, vm, owned by the loop: no file keeps state of its own beyond
 * scratch buffers, and nothing is shared with another thread.  The
 * tool_util.h globals (--quiet, --pidfile, the signal flags) are shared
 * across the files too (TOOL_MULTI_FILE), defined in vmsim.c.
 */
#ifndef STAGETRACE_VMSIM_H
#define STAGETRACE_VMSIM_H

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define TOOL_NAME "vmsim"
#define TOOL_MULTI_FILE
#include "tool_util.h"

#define ETH_HDR 14
#define IP_HDR 20
#define UDP_HDR 8
#define TCP_HDR 20
#define ICMP_HDR 8
#define ARP_LEN 28
#define MAX_FRAME 1518          /* Ethernet MTU 1500 + header + VLAN slack. */
#define RX_BUF 65536            /* A tap can hand us more than MTU if misconfigured. */
#define PROBE_HDR 16            /* magic, origin, tag, seq */
#define PROBE_MAGIC 0x53545653u /* "STVS" */
#define MAX_RUNS 8
#define MAX_CTL 32
#define CTL_LINE 1024
#define ARP_CACHE 64
#define MAX_PROBES 5000000u     /* Bounds client memory to ~80 MB. */
#define RQ_MAX 65536u           /* Bounds the delayed-reply queue to ~100 MB. */
#define RX_BATCH 128            /* Frames handled per wake-up before timers run again. */
#define TX_BURST 64             /* Probes sent per wake-up when pacing catches up. */

enum proto { P_UDP, P_TCP, P_ICMP };
/* Names of enum proto, for messages and reports (vmsim.c). */
extern const char *proto_name[];

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */
/* ---------------------------------------------------------------------- */

/* Byte-wise accessors: frame buffers are not aligned for 32-bit fields. */
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static inline uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n)
{
	while (n > 1) {
		sum += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		n -= 2;
	}
	if (n)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static inline uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the IPv4 pseudo header that UDP and TCP checksums cover. */
static inline uint64_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
	uint8_t ph[12];

	put32(ph, src);
	put32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = proto;
	put16(ph + 10, len);
	return csum_add(0, ph, sizeof(ph));
}

static inline bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return false;
		mac[i] = (uint8_t)v[i];
	}
	return true;
}

static inline bool parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*ip = ntohl(a.s_addr);
	return true;
}

static inline const char *ip_str(uint32_t ip, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
	return buf;
}

static inline bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v > 0) || v > 86400)
		return false;
	*out = v;
	return true;
}


/* ---------------------------------------------------------------------- */
/* Global VM state                                                        */
/* ---------------------------------------------------------------------- */

struct stats {
	uint64_t rx_frames, tx_frames, tx_errors;
	uint64_t arp_replies, icmp_replies, udp_replies, tcp_replies;
	uint64_t probe_replies, late_replies;
	uint64_t rx_ignored, rx_bad, reply_drops;
};

struct arp_entry {
	uint32_t ip;
	uint8_t mac[6];
};

/* One delayed reply frame waiting for its departure time. */
struct rq_entry {
	uint64_t due;
	uint16_t len;
	uint8_t data[MAX_FRAME];
};

struct run_spec {
	uint32_t peer;
	enum proto proto;
	uint64_t rate;        /* packets per second */
	uint64_t count;       /* 0 when duration is used */
	double duration;      /* seconds; 0 when count is used */
	uint16_t dport, sport;
	uint32_t size;        /* L4 payload bytes */
	uint64_t wait_ms;     /* how long to wait for replies after the last send */
	uint64_t arp_timeout_ms;
};

enum run_state { R_FREE, R_ARP, R_SEND, R_DRAIN };

struct run {
	enum run_state state;
	struct run_spec spec;
	int ctl;              /* index of the control client to answer, -1 = stdout */
	uint32_t tag;
	uint8_t peer_mac[6];
	uint64_t total, sent, received, dup;
	uint64_t *sent_ns;    /* send time of each probe */
	uint64_t *rtt_ns;     /* 0 = no reply yet */
	uint64_t start_ns, first_tx_ns, last_tx_ns;
	uint64_t arp_next_ns, arp_deadline_ns, drain_deadline_ns;
	uint32_t tcp_seq, tcp_ack;
};

struct ctl_client {
	int fd;               /* -1 when the slot is free */
	char buf[CTL_LINE];
	size_t len;
	int run;              /* run that will produce the answer, or -1 */
};

/* Everything the one VM of this process knows; the single instance is vm. */
struct vmsim {
	int tap;
	int listen_fd;
	char tap_name[IFNAMSIZ];
	uint8_t mac[6];
	uint32_t ip;
	int prefix;
	unsigned mtu;
	uint64_t reply_delay_ns;
	uint16_t ip_id;
	uint32_t tcp_seq;
	uint32_t next_tag;
	struct stats st;
	struct arp_entry arp[ARP_CACHE];
	unsigned arp_n, arp_next_slot;
	struct tool_fifo rq;  /* delayed replies, of struct rq_entry */
	struct run runs[MAX_RUNS];
	struct ctl_client ctl[MAX_CTL];
	char *ctl_path;
	bool cli_run_done;
	int exit_code;
};

/* Defined in vmsim.c, with the FIFO of delayed replies initialised. */
extern struct vmsim vm;

/* A broadcast MAC, for ARP requests and announcements (vmsim_net.c). */
extern const uint8_t bcast_mac[6];

/* ---------------------------------------------------------------------- */
/* vmsim_net.c: packet I/O and the responder                              */
/* ---------------------------------------------------------------------- */

/* Writes one frame to the tap and counts it as sent or as a tx error. */
void tap_send(const uint8_t *frame, size_t len);
/* Writes Ethernet + IPv4 headers (next IP ID, checksum, no DF) for an
 * l4len-byte payload and returns the frame length. */
size_t build_ipv4(uint8_t *f, const uint8_t dmac[6], uint32_t dst, uint8_t proto,
		  size_t l4len);
/* Fills in the ICMP, UDP or TCP checksum of a frame built by build_ipv4. */
void l4_checksum(uint8_t *f, size_t l4len, uint8_t proto, uint32_t dst);
/* Sends the delayed replies whose time has come. */
void rq_flush(uint64_t now);
/* The ARP cache entry of ip, or NULL. */
struct arp_entry *arp_lookup(uint32_t ip);
/* Sends an ARP packet (op 1 request, 2 reply) from this VM. */
void arp_send(uint16_t op, const uint8_t dmac[6], const uint8_t tha[6], uint32_t tpa);
/* Handles one frame read from the tap at rx_ns. */
void handle_frame(const uint8_t *f, size_t len, uint64_t rx_ns);

/* ---------------------------------------------------------------------- */
/* vmsim_run.c: client traffic runs                                       */
/* ---------------------------------------------------------------------- */

/* Starts a run for spec, answered to control client ctl (-1 = stdout);
 * returns NULL or why it could not start. */
const char *run_start(const struct run_spec *spec, int ctl, uint64_t now);
/* Releases a run's memory and frees its slot. */
void run_free(struct run *r);
/* Lets runs waiting for ip's MAC start sending. */
void runs_on_arp(uint32_t ip, const uint8_t mac[6], uint64_t now);
/* Credits an echoed probe (payload pl) from src to its run. */
void match_probe(enum proto p, uint32_t src, const uint8_t *pl, uint64_t rx_ns,
		 uint32_t tcp_next_ack, const uint8_t *icmp);
/* Advances every run; returns the next time a run needs the loop. */
uint64_t runs_tick(uint64_t now);

/* ---------------------------------------------------------------------- */
/* vmsim_ctl.c: the control socket                                        */
/* ---------------------------------------------------------------------- */

/* Sets the traffic parameter key of s from val; NULL or an error. */
const char *spec_set(struct run_spec *s, const char *key, const char *val);
/* The defaults of a traffic run. */
void spec_defaults(struct run_spec *s);
/* Checks a complete run spec against the tap's MTU; NULL or an error. */
const char *spec_check(struct run_spec *s);
/* Accepts every pending control connection. */
void ctl_accept(void);
/* Reads from control client ci and runs its command once a line is in. */
void ctl_read(int ci, uint64_t now);
/* Sends one answer line to client ci and closes the connection. */
void ctl_answer(int ci, const char *line);
/* Closes client ci, abandoning the run it waits for. */
void ctl_close(int ci);

#endif /* STAGETRACE_VMSIM_H */
