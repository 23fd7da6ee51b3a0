//! Reading packets (`struct sk_buff`) at offsets the tracer found in the kernel's BTF:
//! the socket and device they belong to, and the IP and TCP/UDP headers they carry.

use aya_ebpf::helpers::{bpf_probe_read_kernel, bpf_probe_read_kernel_buf};
use ebpf_common::flow::{FAMILY_IPV4, FAMILY_IPV6, Flow};

use crate::{global, task::field};

/// `offsetof(struct sk_buff, ...)`; each 0 when unknown.
#[unsafe(no_mangle)]
static SKB_SK_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SKB_DEV_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SKB_HEAD_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SKB_NETWORK_HEADER_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SKB_TRANSPORT_HEADER_OFFSET: u32 = 0;

/// `offsetof(struct net_device, nd_net.net)` and `offsetof(struct net, ns.inum)`; each 0
/// when unknown.
#[unsafe(no_mangle)]
static DEV_NET_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static NET_INUM_OFFSET: u32 = 0;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
/// The value of an unset header offset (`(u16)~0U`).
const UNSET: u16 = 0xffff;

/// The socket a packet belongs to (`skb->sk`), or null.
#[inline(always)]
pub fn sock(skb: *const u8) -> *const u8 {
    field(skb, global(&SKB_SK_OFFSET)).unwrap_or(core::ptr::null())
}

/// The inode number of the network namespace of the packet's device
/// (`skb->dev->nd_net.net->ns.inum`), as `/proc/PID/ns/net` shows it.
#[inline(always)]
pub fn netns(skb: *const u8) -> Option<u32> {
    let dev: *const u8 = field(skb, global(&SKB_DEV_OFFSET))?;
    let net: *const u8 = field(dev, global(&DEV_NET_OFFSET))?;
    field(net, global(&NET_INUM_OFFSET))
}

/// Reads the flow of an IPv4 or IPv6 packet into `flow`, which the caller zeroed;
/// `ethertype` is `skb->protocol` in host order. Leaves `flow.family` at `FAMILY_NONE`
/// for anything else or when the IP header cannot be read; ports only for TCP and UDP,
/// and not for later fragments. Reads straight into `flow` (map memory, not the stack).
#[inline(always)]
pub fn flow(skb: *const u8, ethertype: u16, flow: &mut Flow) {
    if ethertype != ETH_P_IP && ethertype != ETH_P_IPV6 {
        return;
    }
    let Some(head) = field::<*const u8>(skb, global(&SKB_HEAD_OFFSET)) else {
        return;
    };
    let Some(network) = field::<u16>(skb, global(&SKB_NETWORK_HEADER_OFFSET)) else {
        return;
    };
    if network == UNSET {
        return;
    }
    let transport = field::<u16>(skb, global(&SKB_TRANSPORT_HEADER_OFFSET)).unwrap_or(UNSET);
    // Pointer arithmetic only: every read below goes through the helpers, which fail
    // cleanly on a bad address.
    let ip = head.wrapping_add(network as usize);
    let Some(first) = read::<u8>(ip) else {
        return;
    };
    let header_len = if ethertype == ETH_P_IP {
        if first >> 4 != 4 {
            return;
        }
        let Some(proto) = read::<u8>(ip.wrapping_add(9)) else {
            return;
        };
        let Some(fragment) = read::<[u8; 2]>(ip.wrapping_add(6)) else {
            return;
        };
        if read_into(ip.wrapping_add(12), &mut flow.saddr[..4])
            || read_into(ip.wrapping_add(16), &mut flow.daddr[..4])
        {
            return;
        }
        flow.family = FAMILY_IPV4;
        flow.ip_proto = proto;
        if fragment[0] & 0x1f != 0 || fragment[1] != 0 {
            return;
        }
        u16::from(first & 0x0f) * 4
    } else {
        if first >> 4 != 6 {
            return;
        }
        // Extension headers are not walked: the protocol shows as the first of them.
        let Some(next) = read::<u8>(ip.wrapping_add(6)) else {
            return;
        };
        if read_into(ip.wrapping_add(8), &mut flow.saddr)
            || read_into(ip.wrapping_add(24), &mut flow.daddr)
        {
            return;
        }
        flow.family = FAMILY_IPV6;
        flow.ip_proto = next;
        40
    };
    if flow.ip_proto != IPPROTO_TCP && flow.ip_proto != IPPROTO_UDP {
        return;
    }
    // The transport header where the stack set it, else right after the IP header.
    let start = if transport != UNSET && transport > network {
        transport
    } else {
        network.wrapping_add(header_len)
    };
    if let Some(ports) = read::<[u8; 4]>(head.wrapping_add(start as usize)) {
        flow.sport = u16::from_be_bytes([ports[0], ports[1]]);
        flow.dport = u16::from_be_bytes([ports[2], ports[3]]);
        flow.has_ports = 1;
    }
}

#[inline(always)]
fn read<T>(at: *const u8) -> Option<T> {
    // SAFETY: read through the helper, which fails cleanly on a bad address.
    unsafe { bpf_probe_read_kernel(at as *const T) }.ok()
}

/// Fills `out` from kernel memory; true when the read failed.
#[inline(always)]
fn read_into(at: *const u8, out: &mut [u8]) -> bool {
    // SAFETY: as above.
    unsafe { bpf_probe_read_kernel_buf(at, out) }.is_err()
}
