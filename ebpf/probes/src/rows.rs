//! Histograms whose rows are keyed (by cgroup, device, ...): one per-CPU counter per
//! (cgroup, row, bucket) in a hash map (see `ebpf_common::rows`).

use aya_ebpf::maps::{PerCpuArray, PerCpuHashMap};
use ebpf_common::{hist::bucket_of, rows::BucketKey};

/// Counts `value` in row `row` of cgroup `cgroup`. Returns false when the map is full.
#[inline(always)]
pub fn add(counters: &PerCpuHashMap<BucketKey, u64>, cgroup: u64, row: u64, value: u64) -> bool {
    let key = BucketKey {
        cgroup,
        row,
        bucket: bucket_of(value),
        _pad: 0,
    };
    match counters.get_ptr_mut(&key) {
        Some(count) => {
            // SAFETY: this CPU's slot of a per-CPU value; programs on one CPU do not run
            // concurrently.
            unsafe { *count += 1 };
            true
        }
        // Inserting sets this CPU's slot and zeroes the others, so a race with another
        // CPU inserting the same key loses nothing.
        None => counters.insert(&key, &1, 0).is_ok(),
    }
}

/// Adds one to a per-CPU counter.
#[inline(always)]
pub fn increment(map: &PerCpuArray<u64>, index: u32) {
    if let Some(slot) = map.get_ptr_mut(index) {
        // SAFETY: per-CPU slot; programs on one CPU do not run concurrently.
        unsafe { *slot += 1 };
    }
}
