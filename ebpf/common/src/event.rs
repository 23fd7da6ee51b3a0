//! What every event a probe sends through its ring buffer starts with.

/// Bytes of a task's `comm`, NUL padded.
pub const COMM_LEN: usize = 16;

/// Ring buffer size in bytes, per probe; a power of two and a multiple of the page size.
pub const RING_BYTES: u32 = 1 << 20;

/// The common head of every event: who did it, and when.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// `bpf_ktime_get_ns`: monotonic nanoseconds since boot.
    pub time_ns: u64,
    /// The task's cgroup v2 id.
    pub cgroup: u64,
    /// Process id (thread group id).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    pub comm: [u8; COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for EventHeader {}
