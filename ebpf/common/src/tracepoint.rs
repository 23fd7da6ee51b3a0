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

/// What a program does with its tracepoint's records (`SourceConfig::flags`).
pub const SEND_EVENTS: u32 = 1;
pub const COUNT_BY_KEY: u32 = 2;

/// Fields a kernel count is keyed by, and the bytes of each the key holds.
pub const MAX_KEY_FIELDS: usize = 4;
pub const KEY_FIELD_BYTES: usize = 32;

/// Distinct keys of all counts together; beyond, records are counted lost.
pub const MAX_COUNT_KEYS: u32 = 10_240;

/// How a key field is read (`KeyField::kind`).
pub const FIELD_BYTES: u32 = 0;
/// A character array: up to its first NUL.
pub const FIELD_TEXT: u32 = 1;
/// `__data_loc char[]`: a string elsewhere in the record, offset from its start.
pub const FIELD_DATA_LOC: u32 = 2;
/// `__rel_loc char[]`: the same, offset from the end of the field.
pub const FIELD_REL_LOC: u32 = 3;

/// One field of a key, where the tracepoint's format puts it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyField {
    pub offset: u32,
    pub size: u32,
    pub kind: u32,
}

/// What one program does, set by the tracer per tracepoint.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceConfig {
    pub flags: u32,
    /// Fields of `key` in use.
    pub fields: u32,
    pub key: [KeyField; MAX_KEY_FIELDS],
}

/// A count's key: which program, and each field's bytes in its own slot, zero past
/// the value.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountKey {
    pub index: u32,
    pub _pad: u32,
    pub bytes: [u8; MAX_KEY_FIELDS * KEY_FIELD_BYTES],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for RawEvent {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for SourceConfig {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for CountKey {}
