//! A packet's addresses and ports, as probes read them from its headers.

/// `Flow::family` values; `FAMILY_NONE` when the IP header could not be read.
pub const FAMILY_NONE: u8 = 0;
pub const FAMILY_IPV4: u8 = 4;
pub const FAMILY_IPV6: u8 = 6;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    /// Source and destination address: the first 4 bytes for IPv4.
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// Ports in host byte order, when `has_ports`.
    pub sport: u16,
    pub dport: u16,
    /// The IP protocol (6 TCP, 17 UDP, ...), when `family` is not `FAMILY_NONE`.
    pub ip_proto: u8,
    pub family: u8,
    /// Non-zero when the ports were read (TCP and UDP, not later fragments).
    pub has_ports: u8,
    pub _pad: u8,
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for Flow {}
