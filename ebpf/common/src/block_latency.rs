//! The `block-latency` probe: block:block_io_start (or block_rq_issue) to
//! block:block_rq_complete.

/// Requests in flight at once (an LRU map keyed by device and sector).
pub const MAX_IN_FLIGHT: u32 = 65_536;

/// Indexes into the `LOST` per-CPU counters.
pub const LOST_START_NOT_RECORDED: u32 = 0;
pub const LOST_ROWS_FULL: u32 = 1;

/// Operations, as the request's `rwbs` string spells them.
pub const OP_READ: u32 = 0;
pub const OP_WRITE: u32 = 1;
pub const OP_FLUSH: u32 = 2;
pub const OP_DISCARD: u32 = 3;
pub const OP_OTHER: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RequestKey {
    /// The kernel's `dev_t`: major in the high 12 bits, minor in the low 20.
    pub dev: u32,
    pub _pad: u32,
    pub sector: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Request {
    /// `bpf_ktime_get_ns` when the request was started.
    pub start_ns: u64,
    /// The submitter's cgroup v2 id, for `--per-pod` rows; 0 otherwise.
    pub cgroup: u64,
    pub op: u32,
    pub _pad: u32,
}

/// The operation of a request from the first two bytes of its `rwbs` string: `R`, `W`,
/// `D`, `F` (a flush), `N`; a leading `F` before another op letter is a preflush.
#[inline(always)]
pub fn op_of(first: u8, second: u8) -> u32 {
    let op = if first == b'F' && matches!(second, b'R' | b'W' | b'D' | b'F' | b'N') {
        second
    } else {
        first
    };
    match op {
        b'R' => OP_READ,
        b'W' => OP_WRITE,
        b'F' => OP_FLUSH,
        b'D' => OP_DISCARD,
        _ => OP_OTHER,
    }
}

/// The row of a (device, op) pair.
#[inline(always)]
pub fn row_of(dev: u32, op: u32) -> u64 {
    (u64::from(dev) << 8) | u64::from(op & 0xff)
}

/// The (device, op) pair of a row.
pub fn split_row(row: u64) -> (u32, u32) {
    ((row >> 8) as u32, (row & 0xff) as u32)
}

/// The name people know an op by.
pub fn op_name(op: u32) -> &'static str {
    match op {
        OP_READ => "read",
        OP_WRITE => "write",
        OP_FLUSH => "flush",
        OP_DISCARD => "discard",
        _ => "other",
    }
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for RequestKey {}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for Request {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_op_from_rwbs() {
        assert_eq!(op_of(b'R', 0), OP_READ);
        assert_eq!(op_of(b'R', b'A'), OP_READ);
        assert_eq!(op_of(b'W', b'S'), OP_WRITE);
        assert_eq!(op_of(b'F', b'W'), OP_WRITE, "preflush then write");
        assert_eq!(op_of(b'F', 0), OP_FLUSH);
        assert_eq!(op_of(b'F', b'F'), OP_FLUSH);
        assert_eq!(op_of(b'D', b'E'), OP_DISCARD);
        assert_eq!(op_of(b'N', 0), OP_OTHER);
    }

    #[test]
    fn rows_round_trip() {
        let dev = (259 << 20) | 3;
        assert_eq!(split_row(row_of(dev, OP_WRITE)), (dev, OP_WRITE));
        assert_eq!(op_name(OP_DISCARD), "discard");
    }
}
