//! The `oom-kill` probe: oom:mark_victim, as a tracepoint (the numbers) and as a raw
//! tracepoint (the victim's task, for its cgroup).

use crate::event::{COMM_LEN, EventHeader};

/// `OomKillEvent::parts` bit: the victim's identity and cgroup, read from its task.
pub const PART_VICTIM_TASK: u32 = 1;
/// `OomKillEvent::parts` bit: pid, comm and the numbers, from the tracepoint's record.
pub const PART_RECORD: u32 = 2;

/// `OomKillEvent::known` bits: which numbers this kernel's tracepoint carries.
pub const KNOWN_MEMORY: u32 = 1;
pub const KNOWN_UID: u32 = 2;
pub const KNOWN_OOM_SCORE_ADJ: u32 = 4;

/// One process chosen by the OOM killer. The header is the victim's: its pid, comm and
/// (when its task could be read) its cgroup; otherwise the cgroup of the task whose
/// allocation failed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OomKillEvent {
    pub header: EventHeader,
    /// The task whose allocation failed and that ran the OOM killer.
    pub trigger_cgroup: u64,
    pub trigger_pid: u32,
    pub trigger_tid: u32,
    pub trigger_comm: [u8; COMM_LEN],
    /// The victim's memory, in KiB, as the kernel reported it.
    pub total_vm_kb: u64,
    pub anon_rss_kb: u64,
    pub file_rss_kb: u64,
    pub shmem_rss_kb: u64,
    pub pgtables_kb: u64,
    pub uid: u32,
    pub oom_score_adj: i32,
    /// `PART_*` bits: which halves have been filled.
    pub parts: u32,
    /// `KNOWN_*` bits.
    pub known: u32,
}

#[cfg(feature = "user")]
// SAFETY: plain old data, `#[repr(C)]`, no padding.
unsafe impl aya::Pod for OomKillEvent {}
