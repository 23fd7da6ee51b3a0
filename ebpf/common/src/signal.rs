//! The `signal` probe: signal:signal_generate, as a raw tracepoint for the target task.

use crate::event::{COMM_LEN, EventHeader};

/// One signal sent. The header is the sender's: the task that was running when the
/// kernel generated the signal.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SignalEvent {
    pub header: EventHeader,
    pub sig: i32,
    /// `si_errno` of the signal's info.
    pub errno: i32,
    /// `si_code`: who or what sent it (`SI_USER` for kill, `SI_KERNEL`, ...).
    pub code: i32,
    /// Non-zero for a signal to the whole process rather than one thread.
    pub group: i32,
    /// The kernel's `enum trace_signal_deliver_result`.
    pub result: i32,
    /// The receiving task's process id and thread id.
    pub target_pid: u32,
    pub target_tid: u32,
    pub _pad: u32,
    /// The receiving task's cgroup v2 id; 0 when unknown.
    pub target_cgroup: u64,
    pub target_comm: [u8; COMM_LEN],
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for SignalEvent {}
