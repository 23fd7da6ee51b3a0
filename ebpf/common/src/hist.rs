//! Log2 histograms, laid out as bpftrace's `hist()`: bucket 0 holds the value 0,
//! bucket `k >= 1` holds values in `[2^(k-1), 2^k)`.

/// Buckets per histogram row. The last bucket also takes every larger value.
pub const BUCKETS: u32 = 64;

/// The log2 bucket of `value`, clamped to the last bucket.
///
/// Written without loops or `leading_zeros` so the BPF verifier sees a short, straight
/// sequence of instructions.
#[inline(always)]
pub fn bucket_of(value: u64) -> u32 {
    if value == 0 {
        return 0;
    }
    let mut v = value;
    let mut bits: u32 = 0;
    if v >> 32 != 0 {
        v >>= 32;
        bits += 32;
    }
    if v >> 16 != 0 {
        v >>= 16;
        bits += 16;
    }
    if v >> 8 != 0 {
        v >>= 8;
        bits += 8;
    }
    if v >> 4 != 0 {
        v >>= 4;
        bits += 4;
    }
    if v >> 2 != 0 {
        v >>= 2;
        bits += 2;
    }
    if v >> 1 != 0 {
        bits += 1;
    }
    // `bits` is floor(log2(value)); bucket k holds [2^(k-1), 2^k).
    let bucket = bits + 1;
    if bucket >= BUCKETS {
        BUCKETS - 1
    } else {
        bucket
    }
}

/// The values a bucket holds, as `[low, high)`; the last bucket is open above.
pub fn bucket_bounds(bucket: u32) -> (u64, u64) {
    match bucket {
        0 => (0, 1),
        b if b >= BUCKETS - 1 => (1 << (BUCKETS - 2), u64::MAX),
        b => (1 << (b - 1), 1 << b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_bpftrace_layout() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 2);
        assert_eq!(bucket_of(4), 3);
        assert_eq!(bucket_of(1023), 10);
        assert_eq!(bucket_of(1024), 11);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn every_value_lies_inside_its_bucket() {
        for shift in 0..64u32 {
            for value in [(1u64 << shift) - 1, 1u64 << shift, (1u64 << shift) + 1] {
                let (low, high) = bucket_bounds(bucket_of(value));
                assert!(low <= value, "{value} below [{low}, {high})");
                assert!(
                    value < high || high == u64::MAX,
                    "{value} above [{low}, {high})"
                );
            }
        }
    }
}
