//! `tcp-connect`: outbound TCP connects of targets. SYN_SENT (in the connecting task's
//! `connect`) records the start by socket; the transition out of the handshake sends the
//! event: ESTABLISHED with the latency, or CLOSE with the socket's error.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{map, tracepoint},
    maps::HashMap,
    programs::TracePointContext,
};
use ebpf_common::{
    event_filter::EventFilter,
    tcp::{ConnectEvent, ConnectStart, MAX_SOCKETS, TCP_CLOSE, TCP_ESTABLISHED, TCP_SYN_SENT},
};
use ebpf_probes::{events, sock, tcp};

/// What the script or command asked the kernel to drop: other ports, connects that
/// succeeded, fast handshakes.
#[unsafe(no_mangle)]
static CONNECT_FILTER: EventFilter = EventFilter::NONE;

/// Connects waiting for their answer, by socket. Not LRU: an entry that does not fit is
/// counted lost rather than silently pushing out another; every exit from the handshake
/// removes its entry.
#[map]
static CONNECTING: HashMap<u64, ConnectStart> = HashMap::with_max_entries(MAX_SOCKETS, 0);

#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub fn tcp_connect_set_state(ctx: TracePointContext) -> u32 {
    let Some(tcp::SetState {
        sk,
        old_state,
        new_state,
    }) = tcp::read_set_state(&ctx)
    else {
        return 0;
    };
    if new_state == TCP_SYN_SENT {
        start(sk);
    } else if new_state == TCP_ESTABLISHED || new_state == TCP_CLOSE {
        finish(&ctx, sk, old_state, new_state);
    }
    0
}

/// In `connect`: the current task is the one connecting.
#[inline(always)]
fn start(sk: u64) {
    let cgroup = sock::cgroup_id(sk as *const u8).unwrap_or(0);
    let owner = tcp::current_task();
    if !tcp::is_target(cgroup, Some(owner)) {
        return;
    }
    let entry = ConnectStart {
        // SAFETY: the helper has no preconditions.
        start_ns: unsafe { bpf_ktime_get_ns() },
        cgroup,
        owner,
    };
    if CONNECTING.insert(&sk, &entry, 0).is_err() {
        events::count_lost();
    }
}

#[inline(always)]
fn finish(ctx: &TracePointContext, sk: u64, old_state: u32, new_state: u32) {
    // Only targets' connects have an entry, so this lookup is the filter.
    // SAFETY: copied out at once; the entry is removed below.
    let Some(entry) = (unsafe { CONNECTING.get(&sk) }).copied() else {
        return;
    };
    let _ = CONNECTING.remove(&sk);
    // SAFETY: the helper has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let error = if new_state == TCP_CLOSE {
        tcp::error(sk as *const u8).unwrap_or(0)
    } else {
        0
    };
    let flow = tcp::read_set_state_flow(ctx);
    let latency_ns = now.wrapping_sub(entry.start_ns);
    let filter = &CONNECT_FILTER;
    if (filter.failed_only() && new_state == TCP_ESTABLISHED)
        || latency_ns < filter.min_latency()
        || (filter.port() != 0 && flow.dport != filter.port())
    {
        return;
    }
    events::output(&ConnectEvent {
        header: tcp::header(now, entry.cgroup, Some(entry.owner)),
        flow,
        latency_ns,
        old_state,
        new_state,
        error,
        _pad: 0,
    });
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
