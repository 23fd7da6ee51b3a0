//! The `syscall-latency` probe: raw_syscalls sys_enter/sys_exit.

use crate::hist::BUCKETS;

/// Histogram rows: one per syscall number when keyed by syscall; row 0 otherwise.
/// Numbers at or above the last row share it.
pub const ROWS: u32 = 512;

/// One histogram row: a count per log2 bucket. One map entry per row keeps map creation
/// to `ROWS` per-CPU allocations rather than `ROWS * BUCKETS`.
pub type HistRow = [u64; BUCKETS as usize];

/// In-flight syscalls tracked at once (an LRU map, keyed by thread id).
pub const MAX_IN_FLIGHT: u32 = 65_536;

/// Index into the `LOST` per-CPU counters.
pub const LOST_START_NOT_RECORDED: u32 = 0;
/// A `--per-pod` row that found the keyed map full.
pub const LOST_ROWS_FULL: u32 = 1;

/// What `sys_enter` leaves for `sys_exit` of the same thread.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct InFlight {
    /// `bpf_ktime_get_ns` at entry; 0 once consumed.
    pub start_ns: u64,
    /// The syscall number.
    pub nr: u64,
}

/// The row a syscall lands in.
#[inline(always)]
pub fn row_of(nr: u64, by_syscall: bool) -> u32 {
    if !by_syscall {
        0
    } else if nr >= ROWS as u64 {
        ROWS - 1
    } else {
        nr as u32
    }
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for InFlight {}
