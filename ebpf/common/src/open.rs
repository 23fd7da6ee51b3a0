//! The `open` probe: syscalls open, openat and openat2, enter and exit.

use crate::event::EventHeader;

/// Bytes kept of the path (with its NUL).
pub const PATH_LEN: usize = 256;

/// Opens in flight at once (a hash map keyed by thread id); one that finds it full is
/// counted lost.
pub const MAX_IN_FLIGHT: u32 = 8_192;

/// `OpenEvent::syscall`.
pub const SYSCALL_OPEN: u32 = 0;
pub const SYSCALL_OPENAT: u32 = 1;
pub const SYSCALL_OPENAT2: u32 = 2;

/// `OpenEvent::path_read`: where the path came from.
/// User memory at entry.
pub const PATH_AT_ENTRY: u32 = 0;
/// User memory at exit: it was not paged in at entry, and the kernel's own read of it
/// brought it in.
pub const PATH_AT_EXIT: u32 = 1;
/// Not readable at entry nor at exit; `path` is empty.
pub const PATH_UNREADABLE: u32 = 2;

/// One open, filled at syscall entry and sent at exit with its result.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenEvent {
    pub header: EventHeader,
    /// The syscall's return value: a file descriptor, or a negative errno.
    pub ret: i64,
    /// Entry time until exit, then the time spent in the syscall.
    pub latency_ns: u64,
    /// The `O_*` flags as passed (openat2: `open_how.flags`).
    pub flags: u64,
    /// The user pointer to the path, to read it again at exit.
    pub path_ptr: u64,
    /// The directory descriptor a relative path is resolved from (`AT_FDCWD` is -100).
    pub dirfd: i32,
    /// `SYSCALL_*`.
    pub syscall: u32,
    /// `PATH_*`.
    pub path_read: u32,
    pub _pad: u32,
    pub path: [u8; PATH_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for OpenEvent {}
