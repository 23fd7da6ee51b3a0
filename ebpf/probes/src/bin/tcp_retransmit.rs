//! `tcp-retransmit`: TCP segments a target's sockets retransmit (tcp:tcp_retransmit_skb)
//! and SYN-ACKs its listeners retransmit (tcp:tcp_retransmit_synack): one event each,
//! and a count per flow and state kept in the kernel, so a flood the ring cannot carry
//! is still counted.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{map, tracepoint},
    maps::PerCpuHashMap,
    programs::TracePointContext,
};
use ebpf_common::{
    event_filter::EventFilter,
    tcp::{Flow, FlowOffsets, MAX_RETRANSMIT_FLOWS, RetransmitEvent, RetransmitKey, TCP_SYN_RECV},
};
use ebpf_probes::{events, global, sock, tcp, tracepoint_field};

/// Field offsets of tcp:tcp_retransmit_skb, from tracefs.
#[unsafe(no_mangle)]
static SKB_FLOW: FlowOffsets = FlowOffsets::ZERO;
#[unsafe(no_mangle)]
static SKB_SKADDR_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static SKB_STATE_OFFSET: u32 = 24;
/// 0 when this kernel's tracepoint has no `err` field.
#[unsafe(no_mangle)]
static SKB_ERR_OFFSET: u32 = 0;

/// Field offsets of tcp:tcp_retransmit_synack, from tracefs.
#[unsafe(no_mangle)]
static SYNACK_FLOW: FlowOffsets = FlowOffsets::ZERO;
#[unsafe(no_mangle)]
static SYNACK_SKADDR_OFFSET: u32 = 8;

/// Retransmits per flow and state, per CPU; the tracer sums and reports them.
/// Kernel-side parameters: `port`, either end of the flow.
#[unsafe(no_mangle)]
static RETRANSMIT_FILTER: EventFilter = EventFilter::NONE;

#[map]
static COUNTS: PerCpuHashMap<RetransmitKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_RETRANSMIT_FLOWS, 0);

#[tracepoint(category = "tcp", name = "tcp_retransmit_skb")]
pub fn tcp_retransmit_skb(ctx: TracePointContext) -> u32 {
    let err_offset = global(&SKB_ERR_OFFSET);
    let (sk, state, err) = (
        tracepoint_field::<u64, 16>(&ctx, global(&SKB_SKADDR_OFFSET)).unwrap_or(0),
        tracepoint_field::<i32, 24>(&ctx, global(&SKB_STATE_OFFSET)).unwrap_or(0) as u32,
        if err_offset == 0 {
            0
        } else {
            // SAFETY: a tracepoint field at the offset tracefs gave.
            unsafe { ctx.read_at::<i32>(err_offset as usize) }.unwrap_or(0)
        },
    );
    record(sk, tcp::read_flow(&ctx, &global(&SKB_FLOW)), state, err);
    0
}

#[tracepoint(category = "tcp", name = "tcp_retransmit_synack")]
pub fn tcp_retransmit_synack(ctx: TracePointContext) -> u32 {
    // The listener: the request socket has no cgroup of its own.
    let sk = tracepoint_field::<u64, 8>(&ctx, global(&SYNACK_SKADDR_OFFSET)).unwrap_or(0);
    record(
        sk,
        tcp::read_flow(&ctx, &global(&SYNACK_FLOW)),
        TCP_SYN_RECV,
        0,
    );
    0
}

#[inline(always)]
fn record(sk: u64, flow: Flow, state: u32, err: i32) {
    if sk == 0 || !RETRANSMIT_FILTER.either_port_matches(flow.sport, flow.dport) {
        return;
    }
    let cgroup = sock::cgroup_id(sk as *const u8).unwrap_or(0);
    let owner = tcp::current_owner(cgroup);
    if !tcp::is_target(cgroup, owner) {
        return;
    }
    count(&RetransmitKey { flow, state });
    // SAFETY: the helper has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    events::output(&RetransmitEvent {
        header: tcp::header(now, cgroup, owner),
        flow,
        state,
        err,
    });
}

#[inline(always)]
fn count(key: &RetransmitKey) {
    if let Some(value) = COUNTS.get_ptr_mut(key) {
        // SAFETY: this CPU's slot; programs on one CPU do not run concurrently.
        unsafe { *value += 1 };
    } else if COUNTS.insert(key, &1, 0).is_err() {
        // Full: the flow's retransmits cannot be counted.
        events::count_lost();
    }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
