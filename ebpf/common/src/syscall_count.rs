//! The `syscall-count` probe: raw_syscalls:sys_exit, counted by syscall and errno.

/// Distinct (syscall, errno) pairs counted; a new pair that finds the map full is
/// counted lost.
pub const MAX_KEYS: u32 = 8_192;

/// Largest errno: the kernel returns `-1 ..= -MAX_ERRNO` for failures.
pub const MAX_ERRNO: i64 = 4_095;

/// Index into the `LOST` per-CPU counters.
pub const LOST_MAP_FULL: u32 = 0;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CountKey {
    /// The syscall number.
    pub nr: u32,
    /// 0 for success, else the errno.
    pub errno: u32,
}

/// The errno a syscall return value stands for; 0 when it is not a failure.
#[inline(always)]
pub fn errno_of(ret: i64) -> u32 {
    if (-MAX_ERRNO..0).contains(&ret) {
        (-ret) as u32
    } else {
        0
    }
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for CountKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_negative_returns_are_failures() {
        assert_eq!(errno_of(0), 0);
        assert_eq!(errno_of(42), 0);
        assert_eq!(errno_of(-2), 2);
        assert_eq!(errno_of(-4095), 4095);
        // An address or offset that happens to be huge is not an error.
        assert_eq!(errno_of(-4096), 0);
        assert_eq!(errno_of(i64::MIN), 0);
    }
}
