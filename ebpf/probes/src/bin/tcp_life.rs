//! `tcp-life`: one event per TCP connection of a target that closes: endpoints, how
//! long it lived, bytes each way and the state it closed from. The first state seen
//! (SYN_SENT for a connect, SYN_RECV for an accepted connection) starts the clock, keyed
//! by socket; the transition to CLOSE sends the event and forgets the socket. A
//! connection already open when the trace began is first seen in a later state: its
//! lifetime is unknown, and the event says so.
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
    tcp::{
        LifeEvent, LifeStart, MAX_SOCKETS, Owner, TCP_CLOSE, TCP_FIN_WAIT1, TCP_LAST_ACK,
        TCP_LISTEN, TCP_SYN_RECV, TCP_SYN_SENT,
    },
};
use ebpf_probes::{events, sock, tcp};

/// Kernel-side parameters: `port`, either end of the flow.
#[unsafe(no_mangle)]
static LIFE_FILTER: EventFilter = EventFilter::NONE;

/// Open connections of targets, by socket. Not LRU: an entry that does not fit is
/// counted lost rather than silently pushing out another; CLOSE removes every entry.
#[map]
static OPEN: HashMap<u64, LifeStart> = HashMap::with_max_entries(MAX_SOCKETS, 0);

#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub fn tcp_life_set_state(ctx: TracePointContext) -> u32 {
    let Some(tcp::SetState {
        sk,
        old_state,
        new_state,
    }) = tcp::read_set_state(&ctx)
    else {
        return 0;
    };
    // Listeners are not connections.
    if new_state == TCP_LISTEN || old_state == TCP_LISTEN && new_state == TCP_CLOSE {
        return 0;
    }
    let closed = match OPEN.get_ptr_mut(&sk) {
        Some(entry) => {
            // SAFETY: the socket's own entry; its transitions are serialised by the
            // socket lock.
            let entry = unsafe { &mut *entry };
            // close() and shutdown() make these transitions: the owner acting.
            if entry.owner.pid == 0 || new_state == TCP_FIN_WAIT1 || new_state == TCP_LAST_ACK {
                if let Some(owner) = tcp::current_owner(entry.cgroup) {
                    entry.owner = owner;
                }
            }
            if new_state == TCP_CLOSE {
                let entry = *entry;
                let _ = OPEN.remove(&sk);
                Some(entry)
            } else {
                None
            }
        }
        None => first_seen(sk, new_state),
    };
    if let Some(entry) = closed {
        send(&ctx, sk, &entry, old_state);
    }
    0
}

/// Starts tracking a target's socket; returns the entry at once when it is closing now.
#[inline(always)]
fn first_seen(sk: u64, new_state: u32) -> Option<LifeStart> {
    let cgroup = sock::cgroup_id(sk as *const u8).unwrap_or(0);
    let owner = tcp::current_owner(cgroup);
    if !tcp::is_target(cgroup, owner) {
        return None;
    }
    // The handshake's first state starts the clock; any other was reached before the
    // trace began.
    let opening = new_state == TCP_SYN_SENT || new_state == TCP_SYN_RECV;
    let entry = LifeStart {
        start_ns: if opening {
            // SAFETY: the helper has no preconditions.
            unsafe { bpf_ktime_get_ns() }
        } else {
            0
        },
        cgroup,
        owner: owner.unwrap_or(Owner::default()),
        first_state: if opening { new_state } else { 0 },
        _pad: 0,
    };
    if new_state == TCP_CLOSE {
        // Open before the trace, and closing now: nothing to keep.
        return Some(entry);
    }
    if OPEN.insert(&sk, &entry, 0).is_err() {
        events::count_lost();
    }
    None
}

/// Builds the event in the ring itself: it is too big for the stack beside the rest.
#[inline(always)]
fn send(ctx: &TracePointContext, sk: u64, entry: &LifeStart, close_state: u32) {
    // Resolved to a plain `Owner` at once: an `Option` whose `None` leaves the payload
    // undefined lets LLVM read a register a helper call clobbered, which the verifier
    // rejects (`R3 !read_ok`, seen with aya-ebpf 0.3).
    let owner = if entry.owner.pid != 0 {
        entry.owner
    } else {
        tcp::current_owner(entry.cgroup).unwrap_or_default()
    };
    // Filtered when the connection closes, when both ports are surely known: a
    // connect's local port is not yet bound when it enters SYN_SENT.
    let flow = tcp::read_set_state_flow(ctx);
    if !LIFE_FILTER.either_port_matches(flow.sport, flow.dport) {
        return;
    }
    let (acked, received) = tcp::bytes(sk as *const u8);
    let Some(mut slot) = events::reserve::<LifeEvent>() else {
        return;
    };
    let event = slot.as_mut_ptr();
    // SAFETY: every field of the reserved event is written before it is submitted.
    unsafe {
        (*event).header = tcp::header(bpf_ktime_get_ns(), entry.cgroup, Some(owner));
        (*event).flow = flow;
        (*event).start_ns = entry.start_ns;
        (*event).bytes_acked = acked.unwrap_or(u64::MAX);
        (*event).bytes_received = received.unwrap_or(u64::MAX);
        (*event).close_state = close_state;
        (*event).first_state = entry.first_state;
    }
    events::submit(slot);
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
