//! The bpf(2) commands aya does not wrap.

/// BPF_PROG_TEST_RUN: runs a loaded program once, in the caller's context.
pub const PROG_TEST_RUN: libc::c_long = 10;

/// BPF_TASK_FD_QUERY: what a process's descriptor has attached.
pub const TASK_FD_QUERY: libc::c_long = 20;

/// Runs bpf command `command` with `attr`, the command's part of `union bpf_attr`
/// (include/uapi/linux/bpf.h); whether the kernel accepted it.
///
/// # Safety
///
/// `attr` must have the kernel's layout for `command`, and every pointer in it must be
/// valid for what the command does with it during the call.
pub unsafe fn run<T>(command: libc::c_long, attr: &mut T) -> bool {
    // SAFETY: the caller's promise; the size passed is the attr's own.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *mut T,
            std::mem::size_of::<T>(),
        )
    };
    result == 0
}
