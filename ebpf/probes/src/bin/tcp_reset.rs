//! `tcp-reset`: TCP resets a target sent (tcp:tcp_send_reset) or received
//! (tcp:tcp_receive_reset), attributed by the socket's cgroup. A reset the kernel sends
//! for no socket (a SYN to a closed port) belongs to no cgroup: only a node-wide trace
//! shows it.
#![no_std]
#![no_main]

use aya_ebpf::{helpers::bpf_ktime_get_ns, macros::tracepoint, programs::TracePointContext};
use ebpf_common::{
    event_filter::EventFilter,
    tcp::{FlowOffsets, ResetEvent},
};
use ebpf_probes::{events, global, sock, tcp, tracepoint_field};

/// Kernel-side parameters: `port`, either end of the flow.
#[unsafe(no_mangle)]
static RESET_FILTER: EventFilter = EventFilter::NONE;

/// Field offsets of tcp:tcp_send_reset, from tracefs.
#[unsafe(no_mangle)]
static SEND_SKADDR_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static SEND_STATE_OFFSET: u32 = 24;
#[unsafe(no_mangle)]
static SEND_REASON_OFFSET: u32 = 28;
#[unsafe(no_mangle)]
static SEND_SADDR_OFFSET: u32 = 32;
#[unsafe(no_mangle)]
static SEND_DADDR_OFFSET: u32 = 60;

/// Field offsets of tcp:tcp_receive_reset, from tracefs.
#[unsafe(no_mangle)]
static RECEIVE_FLOW: FlowOffsets = FlowOffsets::ZERO;
#[unsafe(no_mangle)]
static RECEIVE_SKADDR_OFFSET: u32 = 8;

#[tracepoint(category = "tcp", name = "tcp_send_reset")]
pub fn tcp_reset_send(ctx: TracePointContext) -> u32 {
    let (sk, state, reason) = (
        tracepoint_field::<u64, 16>(&ctx, global(&SEND_SKADDR_OFFSET)).unwrap_or(0),
        tracepoint_field::<i32, 24>(&ctx, global(&SEND_STATE_OFFSET)).unwrap_or(0) as u32,
        tracepoint_field::<u32, 28>(&ctx, global(&SEND_REASON_OFFSET)).unwrap_or(0),
    );
    // Only a full socket has an owner's cgroup; a request or time-wait socket has none,
    // and `sock::cgroup_id` says so.
    let cgroup = sock::cgroup_id(sk as *const u8).unwrap_or(0);
    let flow =
        tcp::read_sockaddr_flow(&ctx, global(&SEND_SADDR_OFFSET), global(&SEND_DADDR_OFFSET));
    send(cgroup, flow, 1, state, reason, sk != 0);
    0
}

#[tracepoint(category = "tcp", name = "tcp_receive_reset")]
pub fn tcp_reset_receive(ctx: TracePointContext) -> u32 {
    let sk = tracepoint_field::<u64, 8>(&ctx, global(&RECEIVE_SKADDR_OFFSET)).unwrap_or(0);
    if sk == 0 {
        return 0;
    }
    // Always a full socket here (tcp_reset); this kernel's tracepoint has no state, the
    // socket does.
    let cgroup = sock::cgroup_id(sk as *const u8).unwrap_or(0);
    let state = sock::state(sk as *const u8).unwrap_or(0);
    let flow = tcp::read_flow(&ctx, &global(&RECEIVE_FLOW));
    send(cgroup, flow, 0, state, 0, true);
    0
}

#[inline(always)]
fn send(
    cgroup: u64,
    flow: ebpf_common::tcp::Flow,
    sent: u32,
    state: u32,
    reason: u32,
    has_socket: bool,
) {
    if !RESET_FILTER.either_port_matches(flow.sport, flow.dport) {
        return;
    }
    let owner = tcp::current_owner(cgroup);
    if !tcp::is_target(cgroup, owner) {
        return;
    }
    // SAFETY: the helper has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    events::output(&ResetEvent {
        header: tcp::header(now, cgroup, owner),
        flow,
        sent,
        state,
        reason,
        has_socket: u32::from(has_socket),
    });
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
