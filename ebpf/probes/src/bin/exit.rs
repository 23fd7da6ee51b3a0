//! `exit`: one event per process of a target that ends, with its exit status or the
//! signal that killed it, and how long it lived. sched_process_exit runs in the exiting
//! thread; only the last thread of a process (`group_dead`) is reported.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::tracepoint,
    programs::TracePointContext,
};
use ebpf_common::{
    event_filter::EventFilter,
    exit::{ExitEvent, KNOWN_EXIT_CODE, KNOWN_LIFETIME, KNOWN_PPID},
};
use ebpf_probes::{events, filter::is_target, global, task};

/// Where sched_process_exit keeps `group_dead`, from tracefs; 0 on kernels without it
/// (before 6.16), which then report the main thread's exit instead.
#[unsafe(no_mangle)]
static GROUP_DEAD_OFFSET: u32 = 0;

/// Kernel-side parameters: `failed` (a non-zero status or a signal) and `signal`.
#[unsafe(no_mangle)]
static EXIT_FILTER: EventFilter = EventFilter::NONE;

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn exit_sched_process_exit(ctx: TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let offset = global(&GROUP_DEAD_OFFSET);
    let process_ends = if offset != 0 {
        // SAFETY: a tracepoint field at the offset tracefs gave.
        unsafe { ctx.read_at::<u8>(offset as usize) }.unwrap_or(0) != 0
    } else {
        pid_tgid >> 32 == pid_tgid & 0xffff_ffff
    };
    if !process_ends || !is_target(pid_tgid) {
        return 0;
    }
    let mut event = ExitEvent {
        header: events::header(pid_tgid),
        lifetime_ns: 0,
        exit_code: 0,
        ppid: 0,
        known: 0,
        _pad: 0,
    };
    let current = task::current();
    let code = task::exit_code(current);
    if let Some(code) = code {
        event.exit_code = code;
        event.known |= KNOWN_EXIT_CODE;
    }
    // An unknown status passes: the node checks the event again.
    let wanted_signal = EXIT_FILTER.signal();
    if let Some(code) = code
        && ((EXIT_FILTER.failed_only() && code == 0)
            || (wanted_signal != 0 && code & 0x7f != i32::from(wanted_signal)))
    {
        return 0;
    }
    // The process is its main thread: its name and its fork time, even when another
    // thread is the last to go.
    let leader = task::group_leader(current).unwrap_or(current);
    if let Some(comm) = task::comm(leader) {
        event.header.comm = comm;
    }
    if let Some(start) = task::start_time(leader) {
        // SAFETY: the helper has no preconditions.
        event.lifetime_ns = unsafe { bpf_ktime_get_ns() }.saturating_sub(start);
        event.known |= KNOWN_LIFETIME;
    }
    let ppid = task::current_ppid();
    if ppid != 0 {
        event.ppid = ppid;
        event.known |= KNOWN_PPID;
    }
    events::output(&event);
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
