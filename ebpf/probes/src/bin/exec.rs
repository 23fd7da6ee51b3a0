//! `exec`: every execve/execveat of a target, with its path, arguments (bounded), parent
//! and return code. Entry captures what user space passed; exit sends it with the result,
//! so failed execs show too.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes, bpf_probe_read_user,
        bpf_probe_read_user_str_bytes,
    },
    macros::{map, tracepoint},
    maps::{LruHashMap, PerCpuArray},
    programs::TracePointContext,
};
use ebpf_common::{
    event_filter::EventFilter,
    exec::{ExecEvent, MAX_ARGS, MAX_IN_FLIGHT},
};
use ebpf_probes::{events, filter::is_target, global, task::current_ppid};

/// Field offsets from tracefs, set by the tracer.
#[unsafe(no_mangle)]
static EXECVE_FILENAME_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static EXECVE_ARGV_OFFSET: u32 = 24;
#[unsafe(no_mangle)]
static EXECVEAT_FILENAME_OFFSET: u32 = 24;
#[unsafe(no_mangle)]
static EXECVEAT_ARGV_OFFSET: u32 = 32;
#[unsafe(no_mangle)]
static EXIT_RET_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static SCHED_EXEC_FILENAME_OFFSET: u32 = 8;

/// Execs between entry and exit, by thread id.
/// Kernel-side parameters: `failed`, and `path_prefix` on the file as the caller named it.
#[unsafe(no_mangle)]
static EXEC_FILTER: EventFilter = EventFilter::NONE;

#[map]
static IN_FLIGHT: LruHashMap<u32, ExecEvent> = LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// Room to build one event: it is far larger than the BPF stack.
#[map]
static SCRATCH: PerCpuArray<ExecEvent> = PerCpuArray::with_max_entries(1, 0);

#[tracepoint(category = "syscalls", name = "sys_enter_execve")]
pub fn exec_enter_execve(ctx: TracePointContext) -> u32 {
    enter(
        &ctx,
        global(&EXECVE_FILENAME_OFFSET),
        global(&EXECVE_ARGV_OFFSET),
    );
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_execveat")]
pub fn exec_enter_execveat(ctx: TracePointContext) -> u32 {
    enter(
        &ctx,
        global(&EXECVEAT_FILENAME_OFFSET),
        global(&EXECVEAT_ARGV_OFFSET),
    );
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_execve")]
pub fn exec_exit_execve(ctx: TracePointContext) -> u32 {
    exit(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_execveat")]
pub fn exec_exit_execveat(ctx: TracePointContext) -> u32 {
    exit(&ctx);
    0
}

/// A successful exec whose path user memory did not give at entry (not yet paged in)
/// takes it from the kernel's copy.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn exec_sched_process_exec(ctx: TracePointContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(event) = IN_FLIGHT.get_ptr_mut(&tid) else {
        return 0;
    };
    // SAFETY: this thread's own entry, inside its exec.
    let event = unsafe { &mut *event };
    if event.filename[0] != 0 {
        return 0;
    }
    // SAFETY: a `__data_loc` field: offset in the low 16 bits, length in the high 16.
    unsafe {
        if let Ok(location) = ctx.read_at::<u32>(global(&SCHED_EXEC_FILENAME_OFFSET) as usize) {
            let name = (ctx.as_ptr() as *const u8).add((location & 0xffff) as usize);
            let _ = bpf_probe_read_kernel_str_bytes(name, &mut event.filename);
        }
    }
    0
}

#[inline(always)]
fn enter(ctx: &TracePointContext, filename_offset: u32, argv_offset: u32) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return;
    }
    let Some(event) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot; nothing else uses it while this program runs.
    let event = unsafe { &mut *event };
    event.argc = 0;
    event.more_args = 0;
    event.filename[0] = 0;
    // SAFETY: tracepoint fields at the offsets tracefs gave; the helpers fail cleanly.
    unsafe {
        if let Ok(filename) = ctx.read_at::<*const u8>(filename_offset as usize) {
            let _ = bpf_probe_read_user_str_bytes(filename, &mut event.filename);
        }
    }
    // A name that could not be read is kept: the node checks it again once known.
    if event.filename[0] != 0 && !EXEC_FILTER.path_matches(&event.filename) {
        return;
    }
    unsafe {
        if let Ok(argv) = ctx.read_at::<*const *const u8>(argv_offset as usize) {
            read_args(argv, event);
        }
    }
    let _ = IN_FLIGHT.insert(&(pid_tgid as u32), &*event, 0);
}

/// Copies up to `MAX_ARGS` arguments from user memory.
///
/// # Safety
/// `argv` is a user pointer; it is only read through helpers.
#[inline(always)]
unsafe fn read_args(argv: *const *const u8, event: &mut ExecEvent) {
    for (index, slot) in event.args.iter_mut().enumerate() {
        // SAFETY: read through the helper, which fails cleanly on a bad address.
        let arg = unsafe { bpf_probe_read_user(argv.add(index)) }.unwrap_or(core::ptr::null());
        if arg.is_null() {
            return;
        }
        slot[0] = 0;
        // SAFETY: as above.
        let _ = unsafe { bpf_probe_read_user_str_bytes(arg, slot) };
        event.argc = index as u32 + 1;
    }
    // SAFETY: as above.
    let next = unsafe { bpf_probe_read_user(argv.add(MAX_ARGS)) }.unwrap_or(core::ptr::null());
    event.more_args = u32::from(!next.is_null());
}

#[inline(always)]
fn exit(ctx: &TracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    // Only targets have an entry, so this lookup is the filter.
    let Some(event) = IN_FLIGHT.get_ptr_mut(&tid) else {
        return;
    };
    // SAFETY: this thread's own entry; it is inside the syscall that made it.
    let event = unsafe { &mut *event };
    event.header = events::header(pid_tgid);
    // SAFETY: a tracepoint field at the offset tracefs gave.
    event.ret = unsafe { ctx.read_at::<i64>(global(&EXIT_RET_OFFSET) as usize) }.unwrap_or(0);
    if EXEC_FILTER.failed_only() && event.ret >= 0 {
        let _ = IN_FLIGHT.remove(&tid);
        return;
    }
    event.ppid = current_ppid();
    events::output(&*event);
    let _ = IN_FLIGHT.remove(&tid);
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
