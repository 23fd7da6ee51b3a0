//! Log2 histograms, laid out as bpftrace's `hist()`: bucket 0 holds the value 0,
//! bucket `k >= 1` holds values in `[2^(k-1), 2^k)`.

/// Buckets per histogram row. The last bucket also takes every larger value.
pub const BUCKETS: u32 = 64;

/// The log2 bucket of `value`, clamped to the last bucket.
///
/// Straight-line arithmetic, without a branch: the BPF verifier walks every path
/// through a program, and the six tests of a binary search made 4,096 of them, a
/// millisecond of verification per program that has a histogram.
#[inline(always)]
pub fn bucket_of(value: u64) -> u32 {
    // Copy the highest set bit into every bit below it; the count of set bits is then
    // floor(log2(value)) + 1, which is the bucket (0 for 0).
    let mut v = value;
    v |= v >> 1;
    v |= v >> 2;
    v |= v >> 4;
    v |= v >> 8;
    v |= v >> 16;
    v |= v >> 32;
    let bucket = ones(v);
    // 64 (the top bit set) becomes the last bucket, 63.
    bucket - (bucket >> 6)
}

/// The count of set bits, by adding neighbouring bit fields in parallel.
#[inline(always)]
fn ones(v: u64) -> u32 {
    let pairs = v - ((v >> 1) & 0x5555_5555_5555_5555);
    let nibbles = (pairs & 0x3333_3333_3333_3333) + ((pairs >> 2) & 0x3333_3333_3333_3333);
    let bytes = (nibbles + (nibbles >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    (bytes.wrapping_mul(0x0101_0101_0101_0101) >> 56) as u32
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
    fn agrees_with_the_leading_zero_count_on_every_power_of_two_and_neighbour() {
        for shift in 0..64u32 {
            for value in [(1u64 << shift) - 1, 1u64 << shift, (1u64 << shift) | 1] {
                let expected = if value == 0 {
                    0
                } else {
                    (64 - value.leading_zeros()).min(BUCKETS - 1)
                };
                assert_eq!(bucket_of(value), expected, "{value}");
            }
        }
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
