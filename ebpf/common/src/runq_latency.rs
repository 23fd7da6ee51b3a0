//! The `runq-latency` probe: sched_wakeup, sched_wakeup_new and sched_switch.

/// Runnable tasks tracked at once (an LRU map keyed by thread id).
pub const MAX_IN_FLIGHT: u32 = 65_536;

/// Indexes into the `LOST` per-CPU counters.
pub const LOST_START_NOT_RECORDED: u32 = 0;
pub const LOST_ROWS_FULL: u32 = 1;

/// A task that became runnable and waits for a CPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Queued {
    /// `bpf_ktime_get_ns` when it became runnable.
    pub since_ns: u64,
    /// Its cgroup v2 id, for `--per-pod` rows.
    pub cgroup: u64,
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for Queued {}
