//! The `profile` probe: on-CPU samples, or off-CPU nanoseconds, counted by (process, user
//! stack, kernel stack).

use crate::event::COMM_LEN;

/// Distinct stacks the stack map holds (kernel and user stacks share it). The kernel
/// preallocates it: 16,384 stacks of 127 frames take about 16 MiB.
pub const MAX_STACKS: u32 = 16_384;

/// Distinct (process, user stack, kernel stack) keys counted at once; a sample whose key
/// finds the map full is counted lost.
pub const MAX_SAMPLE_KEYS: u32 = 16_384;

/// A stack id that was not taken: the mode leaves it out (`--user`, `--kernel`), or the
/// task has none (a kernel thread has no user stack).
pub const NO_STACK: i32 = -1;

/// A stack the kernel could not record (its hash collided with another stack's in the
/// stack map, or the map is full). The sample still counts, under this id; it is counted
/// lost too.
pub const STACK_LOST: i32 = -2;

/// Indexes into the `LOST` per-CPU counters.
pub const LOST_STACK: u32 = 0;
pub const LOST_MAP_FULL: u32 = 1;
/// Off-CPU: a thread switched out asleep that the in-flight map had no room for.
pub const LOST_BLOCK_NOT_RECORDED: u32 = 2;
pub const LOST_COUNTERS: u32 = 3;

/// Off-CPU: sleeping target threads tracked at once (an LRU map keyed by thread id).
pub const MAX_BLOCKED: u32 = 65_536;

/// Off-CPU: a target thread switched out asleep, waiting to be switched back in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Blocked {
    /// `bpf_ktime_get_ns` when it was switched out.
    pub since_ns: u64,
    /// Its key, with the stacks it blocked in.
    pub key: SampleKey,
    pub comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SampleKey {
    /// The cgroup v2 id of the sampled task.
    pub cgroup: u64,
    /// Its process id.
    pub tgid: u32,
    /// Ids in the stack map, or `NO_STACK` / `STACK_LOST`.
    pub user_stack: i32,
    pub kernel_stack: i32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SampleCount {
    /// Samples on-CPU; nanoseconds blocked off-CPU.
    pub samples: u64,
    /// The sampled thread's name when the key was first seen on this CPU.
    pub comm: [u8; COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for SampleKey {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for SampleCount {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for Blocked {}
