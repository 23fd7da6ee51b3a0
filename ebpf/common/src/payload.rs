//! Socket payloads: a bounded prefix of what a target process wrote to or read from a
//! socket, one event per syscall, for the application-protocol probes (`http`). The
//! node parses them; payloads never leave it.

use crate::event::EventHeader;

/// Most bytes copied of one syscall's payload; the tracer sets a smaller `CAPTURE_BYTES`.
pub const MAX_CAPTURE: usize = 4096;

/// Syscalls in flight per thread, between enter and exit (an LRU map by thread id).
pub const MAX_IN_FLIGHT: u32 = 16_384;

/// `Payload::direction`: the process sent the bytes.
pub const SENT: u8 = 0;
/// The process received them.
pub const RECEIVED: u8 = 1;
/// The process closed the socket; no bytes.
pub const CLOSED: u8 = 2;

/// `Payload::source`: bytes a syscall moved on a socket.
pub const SOURCE_SOCKET: u8 = 0;
/// Plaintext OpenSSL was given or gave back (`SSL_write`, `SSL_read`, and their `_ex`).
pub const SOURCE_TLS: u8 = 1;

/// Indexes into the `LOST` per-CPU counters.
pub const LOST_IN_FLIGHT_FULL: u32 = 0;
pub const LOST_COUNTERS: u32 = 1;

/// `InFlight::shape`: how a syscall's arguments hold its bytes.
/// `read`, `write`, `recvfrom`, `sendto`: the buffer itself.
pub const SHAPE_BUFFER: u8 = 0;
/// `readv`, `writev`: an array of `struct iovec`.
pub const SHAPE_IOVEC: u8 = 1;
/// `recvmsg`, `sendmsg`: a `struct msghdr`.
pub const SHAPE_MSGHDR: u8 = 2;
/// `recvmmsg`, `sendmmsg`: an array of `struct mmsghdr`, one per message.
pub const SHAPE_MMSGHDR: u8 = 3;

/// `MODE` of the program: internet stream sockets (`http`).
pub const MODE_STREAMS: u8 = 0;
/// Stream and datagram sockets with port `DNS_PORT` at either end (`dns`).
pub const MODE_DNS: u8 = 1;

/// The socket types, as `PayloadHead::kind` gives them.
pub const SOCK_STREAM: u8 = 1;
pub const SOCK_DGRAM: u8 = 2;

/// A read/write syscall of a target, between its enter and its exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct InFlight {
    /// The user buffer, or what holds it (`shape`).
    pub buffer: u64,
    /// `recvfrom`/`sendto`: the peer's `struct sockaddr`, else 0.
    pub address: u64,
    pub fd: u32,
    pub direction: u8,
    pub shape: u8,
    pub _pad: [u8; 2],
}

/// An OpenSSL call of a target, between its entry and its return.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsInFlight {
    /// The `SSL *`: the connection's identity.
    pub ssl: u64,
    pub buffer: u64,
    /// `_ex` calls: where the byte count goes; 0 for the plain calls, which return it.
    pub count_at: u64,
    pub direction: u8,
    pub _pad: [u8; 7],
}

/// The TCP socket a thread last moved bytes on, and its endpoints: the socket under an
/// OpenSSL connection, which reads and writes it within its own calls.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LastSocket {
    pub family: u8,
    pub _pad: u8,
    pub local_port: u16,
    pub remote_port: u16,
    pub _pad2: u16,
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
}

/// What an event says of one syscall's payload on a socket, or of one OpenSSL call's
/// plaintext; its first `captured` bytes follow it in the ring.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PayloadHead {
    pub header: EventHeader,
    /// The kernel's `struct sock` (`SOURCE_SOCKET`) or the `SSL *` (`SOURCE_TLS`): a
    /// connection's identity while it is open.
    pub sock: u64,
    /// Bytes the syscall moved (its return value).
    pub len: u64,
    /// Bytes of them that follow.
    pub captured: u32,
    pub fd: u32,
    /// `SENT`, `RECEIVED` or `CLOSED`.
    pub direction: u8,
    /// `AF_INET` or `AF_INET6` (else the addresses are zero).
    pub family: u8,
    /// In host order.
    pub local_port: u16,
    pub remote_port: u16,
    /// `SOURCE_SOCKET` or `SOURCE_TLS`.
    pub source: u8,
    /// The socket's type: `SOCK_STREAM` or `SOCK_DGRAM` (0 for TLS).
    pub kind: u8,
    /// IPv4 in the first four bytes, or IPv6.
    pub local_addr: [u8; 16],
    pub remote_addr: [u8; 16],
}

/// An event as the program builds it; only the head and the captured bytes are sent,
/// so a small capture takes little of the ring.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Payload {
    pub head: PayloadHead,
    pub data: [u8; MAX_CAPTURE],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for InFlight {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for PayloadHead {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for TlsInFlight {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for LastSocket {}
