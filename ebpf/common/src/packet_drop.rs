//! The `packet-drop` probe: tracepoint skb:kfree_skb.

use crate::{event::EventHeader, flow::Flow};

/// Distinct (reason, protocol, location) keys counted; drops of a key that does not fit
/// are counted lost.
pub const MAX_COUNT_KEYS: u32 = 10_240;

/// Network namespaces of targets the probe attributes drops by.
pub const MAX_TARGET_NETNS: u32 = 4_096;

/// `DropEvent::by`: how the drop was tied to a target.
pub const BY_NONE: u8 = 0;
/// The socket's cgroup (the tracepoint's `rx_sk`, or the packet's own `skb->sk`).
pub const BY_SOCKET: u8 = 1;
/// The network namespace of the device the packet was on.
pub const BY_NETNS: u8 = 2;

/// What the per-CPU count map is keyed by. The padding is zeroed: it is part of the key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DropKey {
    /// The kernel address that freed the packet (the caller of `kfree_skb_reason`).
    pub location: u64,
    /// `enum skb_drop_reason`.
    pub reason: u32,
    /// `skb->protocol`, host byte order (0x0800 IPv4, 0x86dd IPv6, ...).
    pub ethertype: u16,
    /// The IP protocol (6 TCP, 17 UDP, ...) when the IP header was read, else 0.
    pub ip_proto: u8,
    /// `flow::FAMILY_*`: whether `ip_proto` is known.
    pub family: u8,
}

/// One dropped packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DropEvent {
    /// The cgroup is the target the drop is attributed to (0 when unknown); the task is
    /// the current one only when it belongs to that cgroup, otherwise zero.
    pub header: EventHeader,
    pub location: u64,
    /// Inode number of the network namespace of the packet's device; 0 when unknown.
    pub netns: u32,
    pub reason: u32,
    pub ethertype: u16,
    /// `BY_*`.
    pub by: u8,
    pub _pad: [u8; 5],
    pub flow: Flow,
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for DropKey {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for DropEvent {}
