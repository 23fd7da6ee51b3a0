//! Reading fields of tasks (the current one, or one a hook is handed) at offsets the
//! tracer found in the kernel's BTF.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};

use crate::global;

/// `offsetof(struct task_struct, real_parent)`; 0 when unknown.
#[unsafe(no_mangle)]
static TASK_REAL_PARENT_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, tgid)`; 0 when unknown.
#[unsafe(no_mangle)]
static TASK_TGID_OFFSET: u32 = 0;

/// The current task's parent process id, or 0 when the offsets are unknown.
#[inline(always)]
pub fn current_ppid() -> u32 {
    let parent_offset = global(&TASK_REAL_PARENT_OFFSET) as usize;
    let tgid_offset = global(&TASK_TGID_OFFSET) as usize;
    if parent_offset == 0 || tgid_offset == 0 {
        return 0;
    }
    // SAFETY: reads through the helper, which fails cleanly on a bad address.
    unsafe {
        let task = bpf_get_current_task() as *const u8;
        let Ok(parent) = bpf_probe_read_kernel(task.add(parent_offset) as *const *const u8) else {
            return 0;
        };
        bpf_probe_read_kernel(parent.add(tgid_offset) as *const u32).unwrap_or(0)
    }
}

/// `offsetof(struct task_struct, pid)`, the thread id; 0 when unknown.
#[unsafe(no_mangle)]
static TASK_PID_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, comm)`; 0 when unknown.
#[unsafe(no_mangle)]
static TASK_COMM_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, group_leader)`; 0 when unknown.
#[unsafe(no_mangle)]
static TASK_GROUP_LEADER_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, start_time)` (monotonic ns, the clock of
/// `bpf_ktime_get_ns`); 0 when unknown.
#[unsafe(no_mangle)]
static TASK_START_TIME_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, exit_code)`; 0 when unknown.
#[unsafe(no_mangle)]
static TASK_EXIT_CODE_OFFSET: u32 = 0;

/// The chain to a task's cgroup v2 id, `task->cgroups->dfl_cgrp->kn->id`; each 0 when
/// unknown.
#[unsafe(no_mangle)]
static TASK_CGROUPS_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static CSS_SET_DFL_CGRP_OFFSET: u32 = 0;
/// The last two links also serve `sock.rs`, through `cgroup_kernfs_id`.
#[unsafe(no_mangle)]
static CGROUP_KN_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static KERNFS_NODE_ID_OFFSET: u32 = 0;

/// A `T` at `offset` bytes into the kernel object at `base`, or `None` when the offset
/// is unknown or the read fails.
#[inline(always)]
pub(crate) fn field<T>(base: *const u8, offset: u32) -> Option<T> {
    if offset == 0 || base.is_null() {
        return None;
    }
    // SAFETY: read through the helper, which fails cleanly on a bad address.
    unsafe { bpf_probe_read_kernel(base.add(offset as usize) as *const T) }.ok()
}

/// The current task, for the functions below.
#[inline(always)]
pub fn current() -> *const u8 {
    // SAFETY: the helper has no preconditions.
    unsafe { bpf_get_current_task() as *const u8 }
}

/// A task's process id (its thread group id).
#[inline(always)]
pub fn tgid(task: *const u8) -> Option<u32> {
    field(task, global(&TASK_TGID_OFFSET))
}

/// A task's thread id.
#[inline(always)]
pub fn pid(task: *const u8) -> Option<u32> {
    field(task, global(&TASK_PID_OFFSET))
}

/// A task's command name, NUL padded.
#[inline(always)]
pub fn comm(task: *const u8) -> Option<[u8; 16]> {
    field(task, global(&TASK_COMM_OFFSET))
}

/// The main thread of a task's process.
#[inline(always)]
pub fn group_leader(task: *const u8) -> Option<*const u8> {
    field(task, global(&TASK_GROUP_LEADER_OFFSET))
}

/// When a task was forked, in `bpf_ktime_get_ns` nanoseconds.
#[inline(always)]
pub fn start_time(task: *const u8) -> Option<u64> {
    field(task, global(&TASK_START_TIME_OFFSET))
}

/// A task's `exit_code`: `status << 8` after `exit(status)`, or the number of the signal
/// that killed it, with 0x80 when it dumped core.
#[inline(always)]
pub fn exit_code(task: *const u8) -> Option<i32> {
    field(task, global(&TASK_EXIT_CODE_OFFSET))
}

/// A task's cgroup v2 id, as `bpf_get_current_cgroup_id` gives it for the current task.
#[inline(always)]
pub fn cgroup_id(task: *const u8) -> Option<u64> {
    let css_set: *const u8 = field(task, global(&TASK_CGROUPS_OFFSET))?;
    let cgroup: *const u8 = field(css_set, global(&CSS_SET_DFL_CGRP_OFFSET))?;
    cgroup_kernfs_id(cgroup)
}

/// The id of a `struct cgroup` (its kernfs node's), as `bpf_get_current_cgroup_id`
/// gives it: `cgroup->kn->id`.
#[inline(always)]
pub(crate) fn cgroup_kernfs_id(cgroup: *const u8) -> Option<u64> {
    let node: *const u8 = field(cgroup, global(&CGROUP_KN_OFFSET))?;
    field(node, global(&KERNFS_NODE_ID_OFFSET))
}

/// Who a task is: thread id, process id and cgroup v2 id, each 0 when unreadable.
#[derive(Clone, Copy, Default)]
pub struct TaskIds {
    pub tid: u32,
    pub tgid: u32,
    pub cgroup: u64,
}

/// The ids of a task that may not be the current one (the task a scheduler hook wakes
/// or switches in), read through its pointer.
#[inline(always)]
pub fn ids(task: *const u8) -> TaskIds {
    TaskIds {
        tid: pid(task).unwrap_or(0),
        tgid: tgid(task).unwrap_or(0),
        cgroup: cgroup_id(task).unwrap_or(0),
    }
}

/// The name of a task's process (its group leader's `comm`), or zeros.
#[inline(always)]
pub fn process_comm(task: *const u8) -> [u8; 16] {
    group_leader(task).and_then(comm).unwrap_or([0; 16])
}
