//! The target filter every probe shares.

/// Process ids, and separately cgroup ids, the filter can hold (the spec's limit too).
pub const MAX_TARGETS: u32 = 4_096;
