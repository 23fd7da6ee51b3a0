//! The target filter: which processes a probe records.
//!
//! The tracer fills `TARGET_PIDS` and `TARGET_CGROUPS` and sets the globals before
//! loading. A task is a target when its process id or its cgroup v2 id is listed; with
//! both lists off, every task on the node is. The tracer itself is never a target.

use aya_ebpf::{helpers::bpf_get_current_cgroup_id, macros::map, maps::HashMap};
use ebpf_common::filter::MAX_TARGETS;

use crate::global;

/// Non-zero when `TARGET_PIDS` restricts the trace.
#[unsafe(no_mangle)]
static FILTER_BY_PID: u8 = 0;

/// Non-zero when `TARGET_CGROUPS` restricts the trace.
#[unsafe(no_mangle)]
static FILTER_BY_CGROUP: u8 = 0;

/// The tracer's own process id, so its map reads never show up in a node-wide trace.
#[unsafe(no_mangle)]
static TRACER_TGID: u32 = 0;

#[map]
static TARGET_PIDS: HashMap<u32, u8> = HashMap::with_max_entries(MAX_TARGETS, 0);

#[map]
static TARGET_CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(MAX_TARGETS, 0);

/// Whether the trace is restricted by cgroup, so a task's cgroup must be known to tell.
#[inline(always)]
pub fn by_cgroup() -> bool {
    global(&FILTER_BY_CGROUP) != 0
}

/// Whether the current task belongs to the trace; `pid_tgid` is
/// `bpf_get_current_pid_tgid()`.
#[inline(always)]
pub fn is_target(pid_tgid: u64) -> bool {
    let tgid = (pid_tgid >> 32) as u32;
    if tgid == global(&TRACER_TGID) {
        return false;
    }
    let by_pid = global(&FILTER_BY_PID) != 0;
    let by_cgroup = global(&FILTER_BY_CGROUP) != 0;
    if !by_pid && !by_cgroup {
        return true;
    }
    // SAFETY: the value is only tested for presence, never read.
    if by_pid && unsafe { TARGET_PIDS.get(&tgid) }.is_some() {
        return true;
    }
    if by_cgroup {
        // SAFETY: as above; the helper has no preconditions.
        let cgroup = unsafe { bpf_get_current_cgroup_id() };
        return unsafe { TARGET_CGROUPS.get(&cgroup) }.is_some();
    }
    false
}

/// Whether what a cgroup owns (a socket) belongs to the trace, by the cgroup v2 id alone;
/// in a node-wide trace everything does.
#[inline(always)]
pub fn is_target_cgroup(cgroup: u64) -> bool {
    let by_pid = global(&FILTER_BY_PID) != 0;
    let by_cgroup = global(&FILTER_BY_CGROUP) != 0;
    if !by_pid && !by_cgroup {
        return true;
    }
    // SAFETY: the value is only tested for presence, never read.
    by_cgroup && cgroup != 0 && unsafe { TARGET_CGROUPS.get(&cgroup) }.is_some()
}

/// Whether a task that may not be the current one belongs to the trace, by its process
/// id and its cgroup v2 id (0 when unknown). The idle task (process 0) never does.
#[inline(always)]
pub fn is_target_task(tgid: u32, cgroup: u64) -> bool {
    if tgid == 0 || tgid == global(&TRACER_TGID) {
        return false;
    }
    // SAFETY: the value is only tested for presence, never read.
    if global(&FILTER_BY_PID) != 0 && unsafe { TARGET_PIDS.get(&tgid) }.is_some() {
        return true;
    }
    is_target_cgroup(cgroup)
}
