//! What the `tcp-*` probes share: reading a flow out of a tracepoint record, the TCP
//! fields of a socket (offsets from BTF), and whom to credit with an event.

use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid},
    programs::TracePointContext,
};
use ebpf_common::{
    event::{COMM_LEN, EventHeader},
    tcp::{AF_INET, AF_INET6, Flow, FlowOffsets, IPPROTO_TCP, Owner},
};

use crate::{
    filter::{is_target_cgroup, is_target_task},
    global,
    task::field,
    tracepoint_field,
};

/// `offsetof(struct sock, sk_err)`; 0 when unknown.
#[unsafe(no_mangle)]
static SOCK_ERR_OFFSET: u32 = 0;

/// `offsetof(struct tcp_sock, bytes_acked)` and `bytes_received`; 0 when unknown.
#[unsafe(no_mangle)]
static TCP_BYTES_ACKED_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static TCP_BYTES_RECEIVED_OFFSET: u32 = 0;

/// Field offsets of sock:inet_sock_set_state, from tracefs (tcp-connect and tcp-life).
#[unsafe(no_mangle)]
static SET_STATE_FLOW: FlowOffsets = FlowOffsets::ZERO;
#[unsafe(no_mangle)]
static SET_STATE_SKADDR_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static SET_STATE_OLDSTATE_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static SET_STATE_NEWSTATE_OFFSET: u32 = 20;
#[unsafe(no_mangle)]
static SET_STATE_PROTOCOL_OFFSET: u32 = 30;

/// One TCP state change of sock:inet_sock_set_state.
pub struct SetState {
    /// The socket's address, its key in the probes' maps.
    pub sk: u64,
    pub old_state: u32,
    pub new_state: u32,
}

/// The state change in an inet_sock_set_state record, when it is TCP's and names a socket.
#[inline(always)]
pub fn read_set_state(ctx: &TracePointContext) -> Option<SetState> {
    let (protocol, sk, old_state, new_state) = (
        tracepoint_field::<u16, 30>(ctx, global(&SET_STATE_PROTOCOL_OFFSET)).unwrap_or(0),
        tracepoint_field::<u64, 8>(ctx, global(&SET_STATE_SKADDR_OFFSET)).unwrap_or(0),
        tracepoint_field::<i32, 16>(ctx, global(&SET_STATE_OLDSTATE_OFFSET)).unwrap_or(0) as u32,
        tracepoint_field::<i32, 20>(ctx, global(&SET_STATE_NEWSTATE_OFFSET)).unwrap_or(0) as u32,
    );
    (protocol == IPPROTO_TCP && sk != 0).then_some(SetState {
        sk,
        old_state,
        new_state,
    })
}

/// The flow of an inet_sock_set_state record.
#[inline(always)]
pub fn read_set_state_flow(ctx: &TracePointContext) -> Flow {
    read_flow(ctx, &global(&SET_STATE_FLOW))
}

/// The flow of a sock/tcp tracepoint record whose fields sit at `at`.
#[inline(always)]
pub fn read_flow(ctx: &TracePointContext, at: &FlowOffsets) -> Flow {
    let mut flow = Flow::default();
    // SAFETY: tracepoint fields at the offsets tracefs gave; reads fail cleanly.
    unsafe {
        flow.family = ctx.read_at::<u16>(at.family as usize).unwrap_or(0);
        flow.sport = ctx.read_at::<u16>(at.sport as usize).unwrap_or(0);
        flow.dport = ctx.read_at::<u16>(at.dport as usize).unwrap_or(0);
        if flow.family == AF_INET6 {
            flow.saddr = ctx.read_at(at.saddr_v6 as usize).unwrap_or([0; 16]);
            flow.daddr = ctx.read_at(at.daddr_v6 as usize).unwrap_or([0; 16]);
        } else {
            let saddr: [u8; 4] = ctx.read_at(at.saddr as usize).unwrap_or([0; 4]);
            let daddr: [u8; 4] = ctx.read_at(at.daddr as usize).unwrap_or([0; 4]);
            flow.saddr[..4].copy_from_slice(&saddr);
            flow.daddr[..4].copy_from_slice(&daddr);
        }
    }
    flow
}

/// The flow of two `struct sockaddr_in6`-sized fields holding a `sockaddr_in` or a
/// `sockaddr_in6` each (tcp:tcp_send_reset); family 0 when neither is filled.
#[inline(always)]
pub fn read_sockaddr_flow(ctx: &TracePointContext, saddr: u32, daddr: u32) -> Flow {
    let mut flow = Flow::default();
    // SAFETY: as above. sockaddr: family at 0, port (network order) at 2, the IPv4
    // address at 4, the IPv6 address at 8.
    unsafe {
        let saddr = saddr as usize;
        let daddr = daddr as usize;
        flow.family = ctx.read_at::<u16>(saddr).unwrap_or(0);
        flow.sport = u16::from_be(ctx.read_at::<u16>(saddr + 2).unwrap_or(0));
        flow.dport = u16::from_be(ctx.read_at::<u16>(daddr + 2).unwrap_or(0));
        if flow.family == AF_INET6 {
            flow.saddr = ctx.read_at(saddr + 8).unwrap_or([0; 16]);
            flow.daddr = ctx.read_at(daddr + 8).unwrap_or([0; 16]);
        } else if flow.family == AF_INET {
            let s: [u8; 4] = ctx.read_at(saddr + 4).unwrap_or([0; 4]);
            let d: [u8; 4] = ctx.read_at(daddr + 4).unwrap_or([0; 4]);
            flow.saddr[..4].copy_from_slice(&s);
            flow.daddr[..4].copy_from_slice(&d);
        }
    }
    flow
}

/// A socket's pending error (`sk_err`, a positive errno).
#[inline(always)]
pub fn error(sk: *const u8) -> Option<i32> {
    field(sk, global(&SOCK_ERR_OFFSET))
}

/// Bytes the peer acknowledged and bytes received in order, from `struct tcp_sock`.
#[inline(always)]
pub fn bytes(sk: *const u8) -> (Option<u64>, Option<u64>) {
    (
        field(sk, global(&TCP_BYTES_ACKED_OFFSET)),
        field(sk, global(&TCP_BYTES_RECEIVED_OFFSET)),
    )
}

/// The current task, when it belongs to the socket's cgroup: then it is acting on the
/// socket (a syscall), or the softirq interrupted a task of the same cgroup, which is as
/// close as a hook without the owner gets. `None` otherwise.
#[inline(always)]
pub fn current_owner(sk_cgroup: u64) -> Option<Owner> {
    // SAFETY: the helper has no preconditions.
    if sk_cgroup == 0 || unsafe { bpf_get_current_cgroup_id() } != sk_cgroup {
        return None;
    }
    Some(current_task())
}

/// The current task, whoever it is.
#[inline(always)]
pub fn current_task() -> Owner {
    let pid_tgid = bpf_get_current_pid_tgid();
    Owner {
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        comm: bpf_get_current_comm().unwrap_or([0; COMM_LEN]),
    }
}

/// Whether a socket's event belongs to the trace: by its owner's process where known,
/// and by the socket's cgroup (a node-wide trace takes everything, owned or not).
#[inline(always)]
pub fn is_target(sk_cgroup: u64, owner: Option<Owner>) -> bool {
    match owner {
        Some(owner) => is_target_task(owner.pid, sk_cgroup),
        None => is_target_cgroup(sk_cgroup),
    }
}

/// An event header for a socket's event: its cgroup, and the owner when known (pid 0
/// and no name otherwise).
#[inline(always)]
pub fn header(time_ns: u64, sk_cgroup: u64, owner: Option<Owner>) -> EventHeader {
    let owner = owner.unwrap_or_default();
    EventHeader {
        time_ns,
        cgroup: sk_cgroup,
        pid: owner.pid,
        tid: owner.tid,
        comm: owner.comm,
    }
}
