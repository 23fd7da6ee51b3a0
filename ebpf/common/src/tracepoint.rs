//! The generic `tracepoint` source: one program, attached to any tracepoints a script
//! names, copies each raw record; the tracer decodes its fields from tracefs formats.

use crate::event::EventHeader;

/// Bytes of a raw record kept: the fixed fields of every common tracepoint and room for
/// its dynamic strings. What lies beyond is cut.
pub const RAW_LEN: usize = 512;

/// Tracepoints one source can attach to: one program each. The kernel overwrites a
/// record's common fields (with its registers pointer) before a program runs, so the
/// program, not `common_type`, says which tracepoint fired.
pub const MAX_SOURCES: usize = 16;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RawEvent {
    pub header: EventHeader,
    /// Which program, and so which of the attached tracepoints, sent it.
    pub index: u32,
    pub _pad: u32,
    /// The record as the kernel wrote it (common fields excepted).
    pub data: [u8; RAW_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for RawEvent {}
