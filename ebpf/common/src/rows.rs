//! Histograms kept as one counter per (cgroup, row, bucket) in a per-CPU hash map, for
//! probes whose rows are not a small dense index: rows split by pod (`--per-pod`), by
//! device, or both. Only buckets in use take memory, and per-CPU counters need no atomic
//! instructions (the BPF target has no compare-and-swap).

/// Counters (non-empty buckets of all rows) the map holds at most; a new one that finds
/// the map full is counted lost.
pub const MAX_BUCKET_COUNTERS: u32 = 65_536;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketKey {
    /// The cgroup v2 id; 0 when rows are not split by cgroup.
    pub cgroup: u64,
    /// What the probe splits by within the cgroup (its meaning is the probe's).
    pub row: u64,
    /// The log2 bucket (`hist::bucket_of`).
    pub bucket: u32,
    pub _pad: u32,
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for BucketKey {}
