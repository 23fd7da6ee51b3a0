//! Reading fields of the current task at offsets the tracer found in the kernel's BTF.

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
