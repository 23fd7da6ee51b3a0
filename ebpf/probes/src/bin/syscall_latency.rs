//! `syscall-latency`: time from raw_syscalls sys_enter to sys_exit, per thread, into
//! per-CPU log2 histograms (optionally one row per syscall number), or with `PER_POD`
//! into rows keyed by the caller's cgroup too.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, raw_tracepoint},
    maps::{LruHashMap, PerCpuArray, PerCpuHashMap},
    programs::RawTracePointContext,
};
use ebpf_common::{
    hist::{BUCKETS, bucket_of},
    rows::{BucketKey, MAX_BUCKET_COUNTERS},
    syscall_latency::{
        HistRow, InFlight, LOST_ROWS_FULL, LOST_START_NOT_RECORDED, MAX_IN_FLIGHT, ROWS, row_of,
    },
};
use ebpf_probes::{filter::is_target, global, rows};

/// Non-zero to keep one histogram row per syscall number.
#[unsafe(no_mangle)]
static BY_SYSCALL: u8 = 0;

/// Non-zero to key rows by the caller's cgroup too, in `KEYED_HIST`.
#[unsafe(no_mangle)]
static PER_POD: u8 = 0;

/// Syscalls faster than this are not recorded.
#[unsafe(no_mangle)]
static MIN_LATENCY_NS: u64 = 0;

/// `exit` and `exit_group` never return, so their entries would linger for a later
/// process that reuses the thread id; the tracer sets this architecture's numbers.
#[unsafe(no_mangle)]
static EXIT_NR: u64 = u64::MAX;

#[unsafe(no_mangle)]
static EXIT_GROUP_NR: u64 = u64::MAX;

/// Entry time per thread. LRU so exited threads age out without a delete per syscall.
#[map]
static IN_FLIGHT: LruHashMap<u32, InFlight> = LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// One histogram row per syscall (or a single row); the tracer shrinks it to one entry
/// when not keyed by syscall.
#[map]
static LATENCY_HIST: PerCpuArray<HistRow> = PerCpuArray::with_max_entries(ROWS, 0);

/// Counters by (cgroup, syscall row, bucket) with `PER_POD`; the tracer shrinks it
/// otherwise.
#[map]
static KEYED_HIST: PerCpuHashMap<BucketKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_BUCKET_COUNTERS, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

/// Syscalls recorded per row, so the tracer reads only the rows in use.
#[map]
static ROW_COUNT: PerCpuArray<u64> = PerCpuArray::with_max_entries(ROWS, 0);

/// Syscalls the probe saw but could not measure.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(4, 0);

#[inline(always)]
fn increment(map: &PerCpuArray<u64>, index: u32) {
    if let Some(slot) = map.get_ptr_mut(index) {
        // SAFETY: per-CPU slot; this program is the only writer on this CPU.
        unsafe { *slot += 1 };
    }
}

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn syscall_latency_enter(ctx: RawTracePointContext) -> i32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return 0;
    }
    let tid = pid_tgid as u32;
    // args: (struct pt_regs *regs, long id)
    let nr: u64 = ctx.arg(1);
    if nr == global(&EXIT_NR) || nr == global(&EXIT_GROUP_NR) {
        return 0;
    }
    // SAFETY: the helper has no preconditions.
    let start_ns = unsafe { bpf_ktime_get_ns() };
    // Reuse the thread's slot in place: a lookup is far cheaper than an update.
    match IN_FLIGHT.get_ptr_mut(&tid) {
        Some(slot) => {
            // SAFETY: only this thread writes its own slot, and it is in this syscall.
            unsafe { *slot = InFlight { start_ns, nr } };
        }
        None => {
            if IN_FLIGHT
                .insert(&tid, &InFlight { start_ns, nr }, 0)
                .is_err()
            {
                increment(&LOST, LOST_START_NOT_RECORDED);
            }
        }
    }
    0
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn syscall_latency_exit(_ctx: RawTracePointContext) -> i32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    // Only targets ever have a slot, so this lookup is the filter.
    let Some(slot) = IN_FLIGHT.get_ptr_mut(&tid) else {
        return 0;
    };
    // SAFETY: see `syscall_latency_enter`.
    let InFlight { start_ns, nr } = unsafe { *slot };
    if start_ns == 0 {
        return 0;
    }
    // SAFETY: as above.
    unsafe { (*slot).start_ns = 0 };
    // SAFETY: the helper has no preconditions.
    let latency = unsafe { bpf_ktime_get_ns() }.wrapping_sub(start_ns);
    if latency < global(&MIN_LATENCY_NS) {
        return 0;
    }
    let row = row_of(nr, global(&BY_SYSCALL) != 0);
    if global(&PER_POD) != 0 {
        // SAFETY: the helper has no preconditions.
        let cgroup = unsafe { bpf_get_current_cgroup_id() };
        if !rows::add(&KEYED_HIST, cgroup, u64::from(row), latency) {
            increment(&LOST, LOST_ROWS_FULL);
        }
        return 0;
    }
    if let Some(hist) = LATENCY_HIST.get_ptr_mut(row) {
        // The mask keeps the index provably in bounds for the verifier.
        let bucket = (bucket_of(latency) & (BUCKETS - 1)) as usize;
        // SAFETY: per-CPU row; this program is the only writer on this CPU.
        unsafe { (*hist)[bucket] += 1 };
    }
    increment(&ROW_COUNT, row);
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
