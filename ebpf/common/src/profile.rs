//! The `profile` probe: on-CPU samples, or off-CPU nanoseconds, counted by (process, user
//! stack, kernel stack).

use crate::event::COMM_LEN;

/// Distinct stacks the stack map holds (kernel and user stacks share it). Entries are
/// allocated as stacks are first seen, 1 KiB each: 16 MiB at most.
pub const MAX_STACKS: u32 = 16_384;

/// Frames kept of a stack: the kernel's default `perf_event_max_stack`.
pub const MAX_FRAMES: usize = 127;

/// Distinct (process, user stack, kernel stack) keys counted at once; a sample whose key
/// finds the map full is counted lost.
pub const MAX_SAMPLE_KEYS: u32 = 16_384;

/// A stack id that was not taken: the mode leaves it out (`--user`, `--kernel`), or the
/// task has none (a kernel thread has no user stack).
pub const NO_STACK: u64 = 0;

/// A stack the kernel could not record (the stack map is full, or the kernel refused to
/// walk it). The sample still counts, under this id; it is counted lost too.
pub const STACK_LOST: u64 = 1;

/// The first id a recorded stack can have: ids are 64-bit hashes of the frames, moved
/// above the two markers. (A stack map of the kernel's own keys stacks by a 32-bit hash
/// of their frames into a table of `MAX_STACKS` slots, and refuses a stack whose slot
/// another holds: a few thousand distinct stacks already lose some. 64 bits do not
/// collide.)
pub const FIRST_STACK_ID: u64 = 2;

/// One stack, innermost frame first: the stack map's value, and the per-CPU buffer the
/// kernel writes a stack into before it is hashed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Stack {
    /// Frames in `ips`; the rest are zero.
    pub len: u64,
    pub ips: [u64; MAX_FRAMES],
}

impl Default for Stack {
    fn default() -> Self {
        Stack {
            len: 0,
            ips: [0; MAX_FRAMES],
        }
    }
}

impl Stack {
    /// The frames taken.
    pub fn frames(&self) -> &[u64] {
        let len = usize::try_from(self.len)
            .unwrap_or(MAX_FRAMES)
            .min(MAX_FRAMES);
        &self.ips[..len]
    }
}

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
    /// Ids in the stack map, or `NO_STACK` / `STACK_LOST`.
    pub user_stack: u64,
    pub kernel_stack: u64,
    /// Its process id.
    pub tgid: u32,
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

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for Stack {}
