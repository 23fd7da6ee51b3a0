//! The `exec` probe: syscalls execve/execveat enter and exit.

use crate::event::EventHeader;

/// Bytes kept of the executed path.
pub const FILENAME_LEN: usize = 256;
/// Arguments kept, and bytes kept of each.
pub const MAX_ARGS: usize = 16;
pub const ARG_LEN: usize = 128;

/// Execs in flight at once (an LRU map keyed by thread id).
pub const MAX_IN_FLIGHT: u32 = 8_192;

/// One exec, filled at syscall entry and sent at exit with its return code.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExecEvent {
    pub header: EventHeader,
    /// The syscall's return value: 0, or a negative errno.
    pub ret: i64,
    /// The parent's process id, when the tracer could tell the probe where to read it.
    pub ppid: u32,
    /// Arguments captured (at most `MAX_ARGS`).
    pub argc: u32,
    /// Non-zero when there were more arguments than `MAX_ARGS`.
    pub more_args: u32,
    pub _pad: u32,
    pub filename: [u8; FILENAME_LEN],
    pub args: [[u8; ARG_LEN]; MAX_ARGS],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for ExecEvent {}
