//! The generic `uprobe` source: programs attached to functions of user binaries send
//! the function's arguments (or its return value) and, when asked, a string read from
//! user memory at one argument.

use crate::event::EventHeader;

/// Functions one source can attach to at entry, and as many at return: one program each.
pub const MAX_PER_KIND: usize = 8;

/// Arguments sent from an entry (the calling convention's registers).
pub const ARGS: usize = 6;

/// Bytes of the string read at an argument, with its NUL.
pub const DATA_LEN: usize = 128;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct UprobeEvent {
    pub header: EventHeader,
    /// Which program sent it: `0..MAX_PER_KIND` at entry, `MAX_PER_KIND..` at return.
    pub slot: u32,
    /// Bytes read into `data` (with the NUL), or 0.
    pub data_len: u32,
    pub args: [u64; ARGS],
    /// The return value (return probes).
    pub ret: u64,
    pub data: [u8; DATA_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for UprobeEvent {}
