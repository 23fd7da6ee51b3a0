//! Reading another task's ids through its `task_struct` pointer, at offsets the tracer
//! found in the kernel's BTF. Scheduler hooks see tasks other than the current one (the
//! task being woken, the task switched in), so `bpf_get_current_*` cannot tell who they
//! are.

use aya_ebpf::helpers::bpf_probe_read_kernel;

use crate::global;

/// `offsetof(struct task_struct, pid)`: the thread id.
#[unsafe(no_mangle)]
static TASK_PID_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, tgid)`: the process id.
#[unsafe(no_mangle)]
static TASK_TGID_FIELD_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, cgroups)`: its `css_set`.
#[unsafe(no_mangle)]
static TASK_CGROUPS_OFFSET: u32 = 0;

/// `offsetof(struct css_set, dfl_cgrp)`: the cgroup on the v2 hierarchy.
#[unsafe(no_mangle)]
static CSS_SET_DFL_CGRP_OFFSET: u32 = 0;

/// `offsetof(struct cgroup, kn)`: its kernfs directory.
#[unsafe(no_mangle)]
static CGROUP_KN_OFFSET: u32 = 0;

/// `offsetof(struct kernfs_node, id)`: the id `bpf_get_current_cgroup_id` returns.
#[unsafe(no_mangle)]
static KERNFS_NODE_ID_OFFSET: u32 = 0;

/// `offsetof(struct task_struct, group_leader)` and `comm`, for a process's name.
#[unsafe(no_mangle)]
static TASK_GROUP_LEADER_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static TASK_COMM_OFFSET: u32 = 0;

/// A kernel address of a `task_struct`, as raw tracepoints pass it. It is only ever
/// read through `bpf_probe_read_kernel`, which fails cleanly on a bad address, so any
/// value is safe to pass.
pub type TaskAddress = u64;

/// Who a task is. Zero ids when the task could not be read.
#[derive(Clone, Copy, Default)]
pub struct TaskIds {
    pub tid: u32,
    pub tgid: u32,
    pub cgroup: u64,
}

/// Reads `field` at `offset` into the struct at `base`.
///
/// # Safety
/// `base` is a kernel pointer; it is only read through the helper, which fails cleanly.
#[inline(always)]
unsafe fn read<T>(base: *const u8, offset: u32) -> Option<T> {
    if base.is_null() {
        return None;
    }
    // SAFETY: see above.
    unsafe { bpf_probe_read_kernel(base.add(offset as usize) as *const T) }.ok()
}

/// The thread id, process id and cgroup v2 id of `task`.
#[inline(always)]
pub fn ids(task: TaskAddress) -> TaskIds {
    let task = task as *const u8;
    // SAFETY: reads through the helper only.
    unsafe {
        TaskIds {
            tid: read::<u32>(task, global(&TASK_PID_OFFSET)).unwrap_or(0),
            tgid: read::<u32>(task, global(&TASK_TGID_FIELD_OFFSET)).unwrap_or(0),
            cgroup: cgroup_id(task as TaskAddress),
        }
    }
}

/// The thread id of `task` alone, or 0.
#[inline(always)]
pub fn tid(task: TaskAddress) -> u32 {
    let task = task as *const u8;
    // SAFETY: reads through the helper only.
    unsafe { read::<u32>(task, global(&TASK_PID_OFFSET)).unwrap_or(0) }
}

/// `task->cgroups->dfl_cgrp->kn->id`, or 0 when a step cannot be read.
#[inline(always)]
pub fn cgroup_id(task: TaskAddress) -> u64 {
    let task = task as *const u8;
    // SAFETY: reads through the helper only.
    unsafe {
        let Some(css_set) = read::<*const u8>(task, global(&TASK_CGROUPS_OFFSET)) else {
            return 0;
        };
        let Some(cgroup) = read::<*const u8>(css_set, global(&CSS_SET_DFL_CGRP_OFFSET)) else {
            return 0;
        };
        let Some(kn) = read::<*const u8>(cgroup, global(&CGROUP_KN_OFFSET)) else {
            return 0;
        };
        read::<u64>(kn, global(&KERNFS_NODE_ID_OFFSET)).unwrap_or(0)
    }
}

/// The name of `task`'s process (its group leader's `comm`), or zeros.
#[inline(always)]
pub fn process_comm(task: TaskAddress) -> [u8; 16] {
    let task = task as *const u8;
    // SAFETY: reads through the helper only.
    unsafe {
        read::<*const u8>(task, global(&TASK_GROUP_LEADER_OFFSET))
            .and_then(|leader| read::<[u8; 16]>(leader, global(&TASK_COMM_OFFSET)))
            .unwrap_or([0; 16])
    }
}
