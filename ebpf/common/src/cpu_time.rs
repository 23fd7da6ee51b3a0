//! The `cpu-time` probe: sched_switch, on-CPU time per process of a target.

use crate::event::COMM_LEN;

/// Processes tracked at once; a new one that finds the map full is counted lost.
pub const MAX_PROCESSES: u32 = 16_384;

/// Index into the `LOST` per-CPU counters.
pub const LOST_MAP_FULL: u32 = 0;

/// What runs on a CPU since its last switch (a per-CPU slot).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct OnCpu {
    /// `bpf_ktime_get_ns` at the switch; 0 before the first switch seen.
    pub since_ns: u64,
    pub cgroup: u64,
    /// Thread id and process id of the task switched in.
    pub tid: u32,
    pub tgid: u32,
    /// Non-zero when that task is a target.
    pub target: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessKey {
    pub cgroup: u64,
    pub tgid: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessTime {
    /// Nanoseconds on a CPU, summed over the process's threads.
    pub on_cpu_ns: u64,
    /// The process's name (its main thread's), when first seen.
    pub comm: [u8; COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for OnCpu {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for ProcessKey {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for ProcessTime {}
