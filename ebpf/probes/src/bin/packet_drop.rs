//! `packet-drop`: every packet the kernel frees as dropped (tracepoint skb:kfree_skb),
//! counted in the kernel by (reason, protocol, location) and sent as an event with its
//! flow. Drops run mostly in softirq, where the current task says nothing about whose
//! packet it was, so a drop is tied to a target by its socket's cgroup, else by the
//! network namespace of its device.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_get_current_cgroup_id,
    macros::{map, tracepoint},
    maps::{HashMap, PerCpuArray, PerCpuHashMap},
    programs::TracePointContext,
};
use ebpf_common::{
    event::EventHeader,
    event_filter::EventFilter,
    flow::Flow,
    packet_drop::{
        BY_NETNS, BY_NONE, BY_SOCKET, DropEvent, DropKey, MAX_COUNT_KEYS, MAX_TARGET_NETNS,
    },
};
use ebpf_probes::{events, filter::is_target_cgroup, global, skb, sock, tracepoint_field};

/// Kernel-side parameters: `port`, either end of the flow; drops without ports (not
/// TCP or UDP) do not match one.
#[unsafe(no_mangle)]
static DROP_FILTER: EventFilter = EventFilter::NONE;

/// Field offsets from tracefs, set by the tracer. `RX_SK_OFFSET` is 0 on kernels whose
/// tracepoint has no `rx_sk` (before 6.11).
#[unsafe(no_mangle)]
static SKBADDR_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static LOCATION_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static RX_SK_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static PROTOCOL_OFFSET: u32 = 32;
#[unsafe(no_mangle)]
static REASON_OFFSET: u32 = 36;

/// `SKB_NOT_DROPPED_YET` and `SKB_CONSUMED` from the kernel's BTF: not drops.
#[unsafe(no_mangle)]
static REASON_NOT_DROPPED_YET: u32 = 0;
#[unsafe(no_mangle)]
static REASON_CONSUMED: u32 = 1;

/// Network namespace inode of a target to the target's cgroup id (0 when the namespace
/// is known but its cgroup is not).
#[map]
static TARGET_NETNS: HashMap<u32, u64> = HashMap::with_max_entries(MAX_TARGET_NETNS, 0);

/// Room to build one event off the 512-byte BPF stack.
#[map]
static SCRATCH: PerCpuArray<DropEvent> = PerCpuArray::with_max_entries(1, 0);

/// Drops per key, per CPU.
#[map]
static DROP_COUNTS: PerCpuHashMap<DropKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_COUNT_KEYS, 0);

#[tracepoint(category = "skb", name = "kfree_skb")]
pub fn packet_drop_kfree_skb(ctx: TracePointContext) -> u32 {
    let _ = record(&ctx);
    0
}

#[inline(always)]
fn record(ctx: &TracePointContext) -> Option<()> {
    let reason = tracepoint_field::<u32, 36>(ctx, global(&REASON_OFFSET))?;
    if reason == global(&REASON_NOT_DROPPED_YET) || reason == global(&REASON_CONSUMED) {
        return None;
    }
    let skb = tracepoint_field::<*const u8, 8>(ctx, global(&SKBADDR_OFFSET))?;
    let rx_sk_offset = global(&RX_SK_OFFSET);
    let rx_sk: *const u8 = if rx_sk_offset == 0 {
        core::ptr::null()
    } else {
        // SAFETY: a tracepoint field at the offset tracefs gave.
        unsafe { ctx.read_at(rx_sk_offset as usize) }.unwrap_or(core::ptr::null())
    };
    let sk = if rx_sk.is_null() {
        skb::sock(skb)
    } else {
        rx_sk
    };
    let netns = skb::netns(skb);
    let (cgroup, by) = attribute(sk, netns)?;

    let event = SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's scratch slot; nothing else uses it while this program runs.
    let event = unsafe { &mut *event };
    event.location = tracepoint_field::<u64, 16>(ctx, global(&LOCATION_OFFSET)).unwrap_or(0);
    event.ethertype = tracepoint_field::<u16, 32>(ctx, global(&PROTOCOL_OFFSET)).unwrap_or(0);
    event.reason = reason;
    event.netns = netns.unwrap_or(0);
    event.by = by;
    event.flow = Flow::default();
    skb::flow(skb, event.ethertype, &mut event.flow);
    if DROP_FILTER.port() != 0
        && (event.flow.has_ports == 0
            || !DROP_FILTER.either_port_matches(event.flow.sport, event.flow.dport))
    {
        return None;
    }
    count(&DropKey {
        location: event.location,
        reason,
        ethertype: event.ethertype,
        ip_proto: event.flow.ip_proto,
        family: event.flow.family,
    });
    event.header = header(cgroup);
    events::output(&*event);
    Some(())
}

/// The target a drop belongs to, as (cgroup id, how it was found), or `None` when it
/// belongs to none. The socket's cgroup first; then the device's network namespace; in
/// a node-wide trace every drop, with the socket's cgroup when there is one.
#[inline(always)]
fn attribute(sk: *const u8, netns: Option<u32>) -> Option<(u64, u8)> {
    let sk_cgroup = sock::cgroup_id(sk);
    if let Some(cgroup) = sk_cgroup {
        if is_target_cgroup(cgroup) {
            return Some((cgroup, BY_SOCKET));
        }
    }
    if let Some(netns) = netns {
        // SAFETY: a plain value copied out at once.
        if let Some(cgroup) = unsafe { TARGET_NETNS.get(&netns) } {
            return Some((*cgroup, BY_NETNS));
        }
    }
    // With no filter everything is a target, even what has no owner.
    if is_target_cgroup(0) {
        return Some((0, BY_NONE));
    }
    None
}

#[inline(always)]
fn count(key: &DropKey) {
    if let Some(value) = DROP_COUNTS.get_ptr_mut(key) {
        // SAFETY: this CPU's value; programs on one CPU do not run concurrently.
        unsafe { *value += 1 };
        return;
    }
    if DROP_COUNTS.insert(key, &1, 0).is_err() {
        // Full: the drop is in neither the counts nor, maybe, the events.
        events::count_lost();
    }
}

/// The event's header: the attributed cgroup, and the current task only when it is in
/// that cgroup (a drop on the way out, in the sender's own syscall); otherwise the task
/// that happened to run says nothing, and the header leaves it out.
#[inline(always)]
fn header(cgroup: u64) -> EventHeader {
    let mut header = events::current_header();
    // SAFETY: the helper has no preconditions.
    let current = unsafe { bpf_get_current_cgroup_id() };
    if cgroup == 0 || current != cgroup {
        header.pid = 0;
        header.tid = 0;
        header.comm = [0; 16];
    }
    header.cgroup = cgroup;
    header
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
