//! The `tcp-*` probes: sock:inet_sock_set_state and the tcp tracepoints. What they share
//! (a flow, where a tracepoint keeps one) and each probe's event.

use crate::event::EventHeader;

pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;
pub const IPPROTO_TCP: u16 = 6;

/// TCP states as the kernel numbers them (`include/net/tcp_states.h`; user-visible ABI,
/// the numbers `/proc/net/tcp` shows).
pub const TCP_ESTABLISHED: u32 = 1;
pub const TCP_SYN_SENT: u32 = 2;
pub const TCP_SYN_RECV: u32 = 3;
pub const TCP_FIN_WAIT1: u32 = 4;
pub const TCP_CLOSE: u32 = 7;
pub const TCP_LAST_ACK: u32 = 9;
pub const TCP_LISTEN: u32 = 10;

/// One TCP connection's endpoints, as the traced socket sees them: `s*` is this host's
/// end, `d*` the peer's. Ports in host byte order; an IPv4 address fills the first 4
/// bytes of its array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flow {
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    /// `AF_INET` or `AF_INET6`; 0 when the tracepoint had no address.
    pub family: u16,
    pub _pad: u16,
}

/// Where a tracepoint keeps a flow (the sock and tcp tracepoints all have these fields,
/// at different offsets): set by the tracer from tracefs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowOffsets {
    pub sport: u32,
    pub dport: u32,
    pub family: u32,
    pub saddr: u32,
    pub daddr: u32,
    pub saddr_v6: u32,
    pub daddr_v6: u32,
}

impl FlowOffsets {
    pub const ZERO: FlowOffsets = FlowOffsets {
        sport: 0,
        dport: 0,
        family: 0,
        saddr: 0,
        daddr: 0,
        saddr_v6: 0,
        daddr_v6: 0,
    };
}

/// In-flight entries (connects waiting for their answer, connections open) tracked at
/// once, per probe. A full map loses the connection, counted in the probe's `lost`.
pub const MAX_SOCKETS: u32 = 16_384;

/// Who to credit with a socket's events: the task that acted on it where known.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Owner {
    pub pid: u32,
    pub tid: u32,
    pub comm: [u8; crate::event::COMM_LEN],
}

/// `tcp-connect`: one outbound connect, sent when it is answered or fails.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ConnectEvent {
    pub header: EventHeader,
    pub flow: Flow,
    /// From SYN_SENT to the transition that ended the attempt.
    pub latency_ns: u64,
    /// The state the attempt left (SYN_SENT, or SYN_RECV on a simultaneous open).
    pub old_state: u32,
    /// ESTABLISHED on success, CLOSE on failure.
    pub new_state: u32,
    /// `sk_err` at a failure (ECONNREFUSED, ETIMEDOUT...); 0 when the application gave up
    /// first or the offset is unknown.
    pub error: i32,
    pub _pad: u32,
}

/// What `tcp-connect` keeps between SYN_SENT and the answer, by socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectStart {
    pub start_ns: u64,
    pub cgroup: u64,
    pub owner: Owner,
}

/// `tcp-reset`: one RST sent or received.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ResetEvent {
    pub header: EventHeader,
    pub flow: Flow,
    /// Non-zero for a reset this host sent.
    pub sent: u32,
    /// The socket's state; 0 when unknown (no socket, or unreadable).
    pub state: u32,
    /// For a sent reset, `enum sk_rst_reason`.
    pub reason: u32,
    /// Non-zero when a socket was at hand (a full socket, a request or a time-wait one).
    pub has_socket: u32,
}

/// `tcp-life`: one connection that reached CLOSE.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LifeEvent {
    pub header: EventHeader,
    pub flow: Flow,
    /// From the first state seen; 0 when the connection was open before the trace.
    pub start_ns: u64,
    /// `tcp_sock.bytes_acked` and `bytes_received`; `u64::MAX` when unknown.
    pub bytes_acked: u64,
    pub bytes_received: u64,
    /// The state it left for CLOSE.
    pub close_state: u32,
    /// The first state seen (0 when open before the trace).
    pub first_state: u32,
}

/// What `tcp-life` keeps from a connection's first state to CLOSE, by socket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LifeStart {
    /// 0 when the connection was open before the trace began.
    pub start_ns: u64,
    pub cgroup: u64,
    pub owner: Owner,
    pub first_state: u32,
    pub _pad: u32,
}

/// `tcp-retransmit`: one retransmitted segment (or SYN-ACK).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RetransmitEvent {
    pub header: EventHeader,
    pub flow: Flow,
    /// The socket's state (SYN_RECV for a SYN-ACK retransmit).
    pub state: u32,
    /// What sending it returned (0, or a negative errno: the segment did not leave).
    pub err: i32,
}

/// `tcp-retransmit`'s per-flow counters: the flow and the state it retransmitted in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RetransmitKey {
    pub flow: Flow,
    pub state: u32,
}

/// Flows counted at once; a retransmit of a flow that finds the map full is counted lost.
pub const MAX_RETRANSMIT_FLOWS: u32 = 10_240;

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY (all): plain old data, `#[repr(C)]`, no padding.
    unsafe impl aya::Pod for Flow {}
    unsafe impl aya::Pod for FlowOffsets {}
    unsafe impl aya::Pod for Owner {}
    unsafe impl aya::Pod for ConnectEvent {}
    unsafe impl aya::Pod for ConnectStart {}
    unsafe impl aya::Pod for ResetEvent {}
    unsafe impl aya::Pod for LifeEvent {}
    unsafe impl aya::Pod for LifeStart {}
    unsafe impl aya::Pod for RetransmitEvent {}
    unsafe impl aya::Pod for RetransmitKey {}
}
