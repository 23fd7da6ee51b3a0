//! `signal`: every signal the kernel generates where the sender (the task running when
//! it is generated) or the receiving task is a target, with the signal, its origin
//! (`si_code`) and whether it was delivered, ignored or already pending.
//!
//! A raw tracepoint, because the tracepoint's record names the receiver only by thread
//! id and comm; the raw one is handed its task, whose process and cgroup are read at
//! offsets from the kernel's BTF.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use ebpf_common::{event::COMM_LEN, event_filter::EventFilter, signal::SignalEvent};
use ebpf_probes::{
    events,
    filter::{is_target, is_target_task},
    global, task,
};

/// Where `struct kernel_siginfo` keeps `si_errno` and `si_code`, from BTF.
#[unsafe(no_mangle)]
static SIGINFO_ERRNO_OFFSET: u32 = 4;
#[unsafe(no_mangle)]
static SIGINFO_CODE_OFFSET: u32 = 8;

/// `si_code` values the kernel records for its two special siginfo pointers.
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;

/// args: (int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
/// int result), unchanged since Linux 4.20.
/// Kernel-side parameters: `signal`.
#[unsafe(no_mangle)]
static SIGNAL_FILTER: EventFilter = EventFilter::NONE;

#[raw_tracepoint(tracepoint = "signal_generate")]
pub fn signal_generate(ctx: RawTracePointContext) -> i32 {
    let wanted = SIGNAL_FILTER.signal();
    if wanted != 0 && ctx.arg::<u64>(0) as i32 != i32::from(wanted) {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let target: *const u8 = ctx.arg::<u64>(2) as *const u8;
    let target_pid = task::tgid(target).unwrap_or(0);
    let target_cgroup = task::cgroup_id(target).unwrap_or(0);
    if !is_target(pid_tgid) && !is_target_task(target_pid, target_cgroup) {
        return 0;
    }
    let info: u64 = ctx.arg(1);
    // As the tracepoint itself reads them: SEND_SIG_NOINFO is 0, SEND_SIG_PRIV is 1.
    let (errno, code) = match info {
        0 => (0, SI_USER),
        1 => (0, SI_KERNEL),
        _ => {
            let info = info as *const u8;
            // SAFETY: a kernel pointer, read through the helper, which fails cleanly.
            unsafe {
                (
                    bpf_probe_read_kernel(
                        info.add(global(&SIGINFO_ERRNO_OFFSET) as usize) as *const i32
                    )
                    .unwrap_or(0),
                    bpf_probe_read_kernel(
                        info.add(global(&SIGINFO_CODE_OFFSET) as usize) as *const i32
                    )
                    .unwrap_or(0),
                )
            }
        }
    };
    let event = SignalEvent {
        header: events::header(pid_tgid),
        sig: ctx.arg::<u64>(0) as i32,
        errno,
        code,
        group: ctx.arg::<u64>(3) as i32,
        result: ctx.arg::<u64>(4) as i32,
        target_pid,
        target_tid: task::pid(target).unwrap_or(0),
        _pad: 0,
        target_cgroup,
        target_comm: task::comm(target).unwrap_or([0; COMM_LEN]),
    };
    events::output(&event);
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
