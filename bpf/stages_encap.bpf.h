/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Tunnel stages: VXLAN and Geneve encapsulation and decapsulation, one hook
 * per tunnel type and direction (each lives in its own module and attaches
 * on its own), included at the end of stages.bpf.c.
 *
 * Encap: vxlan_xmit_one(skb, dev, ...) and geneve_xmit(skb, dev) are the
 * tunnel devices' transmit paths (vxlan_xmit_one once per remote, also for
 * OVS's collect_md port vxlan_sys_4789). At entry the skb is still the
 * inner frame, with skb->dev the tunnel device; the stamp is keyed like any
 * other and carries the device's tunnel role. The outer headers do not
 * exist yet: the underlay stamps that follow (the same skb, now
 * encapsulated) add the outer addresses and VNI to the path.
 *
 * Decap: vxlan_rcv(sk, skb) and geneve_udp_encap_recv(sk, skb) are the UDP
 * sockets' encap_rcv callbacks. At entry the skb is the outer datagram
 * (data at the UDP header, MAC and network headers still set), skb->dev
 * the underlay device: the parser keys it on the inner packet and records
 * the outer addresses and VNI, so the stamp joins the path the underlay
 * receive opened. Only the IANA ports (4789, 6081) are recognised by the
 * parser; a tunnel on another port is not keyed (counted as a parse skip).
 *
 * No tracepoint exists at these places: the plan is fentry, else kprobe.
 */
#ifndef ST_STAGES_ENCAP_BPF_H
#define ST_STAGES_ENCAP_BPF_H

SEC("fentry/vxlan_xmit_one")
int fentry_vxlan_encap(__u64 *ctx)
{
	return st_stage((struct sk_buff *)ctx[0], ST_HOOK_VXLAN_ENCAP, 0);
}

SEC("kprobe/vxlan_xmit_one")
int kprobe_vxlan_encap(struct pt_regs *ctx)
{
	return st_stage((struct sk_buff *)PT_REGS_PARM1(ctx), ST_HOOK_VXLAN_ENCAP, 0);
}

SEC("fentry/geneve_xmit")
int fentry_geneve_encap(__u64 *ctx)
{
	return st_stage((struct sk_buff *)ctx[0], ST_HOOK_GENEVE_ENCAP, 0);
}

SEC("kprobe/geneve_xmit")
int kprobe_geneve_encap(struct pt_regs *ctx)
{
	return st_stage((struct sk_buff *)PT_REGS_PARM1(ctx), ST_HOOK_GENEVE_ENCAP, 0);
}

SEC("fentry/vxlan_rcv")
int fentry_vxlan_decap(__u64 *ctx)
{
	return st_stage((struct sk_buff *)ctx[1], ST_HOOK_VXLAN_DECAP, 0);
}

SEC("kprobe/vxlan_rcv")
int kprobe_vxlan_decap(struct pt_regs *ctx)
{
	return st_stage((struct sk_buff *)PT_REGS_PARM2(ctx), ST_HOOK_VXLAN_DECAP, 0);
}

SEC("fentry/geneve_udp_encap_recv")
int fentry_geneve_decap(__u64 *ctx)
{
	return st_stage((struct sk_buff *)ctx[1], ST_HOOK_GENEVE_DECAP, 0);
}

SEC("kprobe/geneve_udp_encap_recv")
int kprobe_geneve_decap(struct pt_regs *ctx)
{
	return st_stage((struct sk_buff *)PT_REGS_PARM2(ctx), ST_HOOK_GENEVE_DECAP, 0);
}

#endif /* ST_STAGES_ENCAP_BPF_H */
