//! `open`: every open/openat/openat2 of a target, with its path, flags, result and
//! latency. Entry records what user space passed; exit sends it with the result, so
//! failed opens show too. A path not paged in at entry is read again at exit, after the
//! kernel's own copy faulted it in.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_ktime_get_ns, bpf_probe_read_user,
        bpf_probe_read_user_str_bytes,
    },
    macros::{map, tracepoint},
    maps::{HashMap, PerCpuArray},
    programs::TracePointContext,
};
use ebpf_common::{
    event_filter::EventFilter,
    open::{
        MAX_IN_FLIGHT, OpenEvent, PATH_AT_ENTRY, PATH_AT_EXIT, PATH_UNREADABLE, SYSCALL_OPEN,
        SYSCALL_OPENAT, SYSCALL_OPENAT2,
    },
};
use ebpf_probes::{events, filter::is_target, global, tracepoint_field};

/// Field offsets from tracefs, set by the tracer. Where one is its default here (the
/// layout of the kernels we test on), the program loads the field directly
/// (`tracepoint_field`), else through a helper.
#[unsafe(no_mangle)]
static OPEN_FILENAME_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static OPEN_FLAGS_OFFSET: u32 = 24;
#[unsafe(no_mangle)]
static OPENAT_DFD_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static OPENAT_FILENAME_OFFSET: u32 = 24;
#[unsafe(no_mangle)]
static OPENAT_FLAGS_OFFSET: u32 = 32;
#[unsafe(no_mangle)]
static OPENAT2_DFD_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static OPENAT2_FILENAME_OFFSET: u32 = 24;
#[unsafe(no_mangle)]
static OPENAT2_HOW_OFFSET: u32 = 32;
#[unsafe(no_mangle)]
static EXIT_RET_OFFSET: u32 = 16;

/// What the script or command asked the kernel to drop: fast opens, successful ones,
/// paths outside a prefix.
#[unsafe(no_mangle)]
static OPEN_FILTER: EventFilter = EventFilter::NONE;

/// `AT_FDCWD`: what plain open resolves relative paths from.
const AT_FDCWD: i32 = -100;

/// Opens between entry and exit, by thread id.
#[map]
static IN_FLIGHT: HashMap<u32, OpenEvent> = HashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// Room to build one entry: it is larger than the BPF stack allows.
#[map]
static SCRATCH: PerCpuArray<OpenEvent> = PerCpuArray::with_max_entries(1, 0);

#[tracepoint(category = "syscalls", name = "sys_enter_open")]
pub fn open_enter_open(ctx: TracePointContext) -> u32 {
    let (path, flags) = (
        tracepoint_field::<u64, 16>(&ctx, global(&OPEN_FILENAME_OFFSET)),
        tracepoint_field::<u64, 24>(&ctx, global(&OPEN_FLAGS_OFFSET)),
    );
    enter(
        SYSCALL_OPEN,
        AT_FDCWD,
        path.unwrap_or(0),
        flags.unwrap_or(0) as u32 as u64,
    );
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
pub fn open_enter_openat(ctx: TracePointContext) -> u32 {
    let (dirfd, path, flags) = (
        tracepoint_field::<u64, 16>(&ctx, global(&OPENAT_DFD_OFFSET)),
        tracepoint_field::<u64, 24>(&ctx, global(&OPENAT_FILENAME_OFFSET)),
        tracepoint_field::<u64, 32>(&ctx, global(&OPENAT_FLAGS_OFFSET)),
    );
    enter(
        SYSCALL_OPENAT,
        dirfd.unwrap_or(0) as i32,
        path.unwrap_or(0),
        flags.unwrap_or(0) as u32 as u64,
    );
    0
}

#[tracepoint(category = "syscalls", name = "sys_enter_openat2")]
pub fn open_enter_openat2(ctx: TracePointContext) -> u32 {
    let (dirfd, path, how) = (
        tracepoint_field::<u64, 16>(&ctx, global(&OPENAT2_DFD_OFFSET)),
        tracepoint_field::<u64, 24>(&ctx, global(&OPENAT2_FILENAME_OFFSET)),
        tracepoint_field::<u64, 32>(&ctx, global(&OPENAT2_HOW_OFFSET)),
    );
    // `struct open_how` starts with `__u64 flags` (uapi).
    // SAFETY: a user pointer, read through the helper, which fails cleanly.
    let flags = unsafe { bpf_probe_read_user(how.unwrap_or(0) as *const u64) }.unwrap_or(0);
    enter(
        SYSCALL_OPENAT2,
        dirfd.unwrap_or(0) as i32,
        path.unwrap_or(0),
        flags,
    );
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_open")]
pub fn open_exit_open(ctx: TracePointContext) -> u32 {
    exit(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_openat")]
pub fn open_exit_openat(ctx: TracePointContext) -> u32 {
    exit(&ctx);
    0
}

#[tracepoint(category = "syscalls", name = "sys_exit_openat2")]
pub fn open_exit_openat2(ctx: TracePointContext) -> u32 {
    exit(&ctx);
    0
}

#[inline(always)]
fn enter(syscall: u32, dirfd: i32, path: u64, flags: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return;
    }
    let Some(event) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot; nothing else uses it while this program runs.
    let event = unsafe { &mut *event };
    // SAFETY: the helper has no preconditions.
    event.latency_ns = unsafe { bpf_ktime_get_ns() };
    event.ret = 0;
    event.flags = flags;
    event.path_ptr = path;
    event.dirfd = dirfd;
    event.syscall = syscall;
    event.path[0] = 0;
    // SAFETY: a user pointer, read through the helper, which fails cleanly.
    let read = unsafe { bpf_probe_read_user_str_bytes(path as *const u8, &mut event.path) };
    event.path_read = if read.is_ok() {
        PATH_AT_ENTRY
    } else {
        PATH_UNREADABLE
    };
    // A path outside the prefix needs no exit: skip the map.
    if event.path_read == PATH_AT_ENTRY && !OPEN_FILTER.path_matches(&event.path) {
        return;
    }
    if IN_FLIGHT.insert(&(pid_tgid as u32), &*event, 0).is_err() {
        events::count_lost();
    }
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
    let start = event.latency_ns;
    event.header = events::header(pid_tgid);
    event.latency_ns = event.header.time_ns.saturating_sub(start);
    event.ret = tracepoint_field::<i64, 16>(&ctx, global(&EXIT_RET_OFFSET)).unwrap_or(0);
    if event.path_read == PATH_UNREADABLE {
        // SAFETY: as at entry.
        let read =
            unsafe { bpf_probe_read_user_str_bytes(event.path_ptr as *const u8, &mut event.path) };
        if read.is_ok() {
            event.path_read = PATH_AT_EXIT;
        } else {
            event.path[0] = 0;
        }
    }
    if wanted(event) {
        events::output(&*event);
    }
    let _ = IN_FLIGHT.remove(&tid);
}

/// Whether the finished open passes the kernel-side filter.
#[inline(always)]
fn wanted(event: &OpenEvent) -> bool {
    let filter = &OPEN_FILTER;
    if filter.failed_only() && event.ret >= 0 {
        return false;
    }
    if event.latency_ns < filter.min_latency() {
        return false;
    }
    !filter.has_prefix() || (event.path_read != PATH_UNREADABLE && filter.path_matches(&event.path))
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
