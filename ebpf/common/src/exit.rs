//! The `exit` probe: sched_process_exit, once per process.

use crate::event::EventHeader;

/// `ExitEvent::known` bit: `exit_code` was read.
pub const KNOWN_EXIT_CODE: u32 = 1;
/// `ExitEvent::known` bit: `lifetime_ns` was measured.
pub const KNOWN_LIFETIME: u32 = 2;
/// `ExitEvent::known` bit: `ppid` was read.
pub const KNOWN_PPID: u32 = 4;

/// One process that ended (its last thread exited). The header's comm is the main
/// thread's, its tid the last thread's.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ExitEvent {
    pub header: EventHeader,
    /// Nanoseconds from the process's fork to its end.
    pub lifetime_ns: u64,
    /// The kernel's `exit_code`: `status << 8` after `exit(status)`, or the signal that
    /// killed it, with 0x80 when it dumped core.
    pub exit_code: i32,
    pub ppid: u32,
    /// `KNOWN_*` bits: which of the fields above were read.
    pub known: u32,
    pub _pad: u32,
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for ExitEvent {}
