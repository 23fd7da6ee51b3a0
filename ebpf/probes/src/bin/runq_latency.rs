//! `runq-latency`: how long a target's threads wait runnable before they run. A thread
//! becomes runnable when woken (sched_wakeup, sched_wakeup_new) or when preempted (still
//! runnable at sched_switch); the wait ends when sched_switch switches it in.
//!
//! Raw tracepoints give the task pointers; the woken or switched-in task is not the
//! current one, so its ids and cgroup are read through the pointer (`task`).
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{map, raw_tracepoint},
    maps::{LruHashMap, PerCpuArray, PerCpuHashMap},
    programs::RawTracePointContext,
};
use ebpf_common::{
    hist::{BUCKETS, bucket_of},
    rows::{BucketKey, MAX_BUCKET_COUNTERS},
    runq_latency::{LOST_ROWS_FULL, LOST_START_NOT_RECORDED, MAX_IN_FLIGHT, Queued},
    syscall_latency::HistRow,
};
use ebpf_probes::{
    filter::is_target_task,
    global,
    rows::{self, increment},
    task,
};

/// Non-zero to keep one row per cgroup in `ROWS` instead of one histogram in `HIST`.
#[unsafe(no_mangle)]
static PER_POD: u8 = 0;

/// Since when each runnable target thread waits, by thread id.
#[map]
static QUEUED: LruHashMap<u32, Queued> = LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// The histogram when rows are not split.
#[map]
static HIST: PerCpuArray<HistRow> = PerCpuArray::with_max_entries(1, 0);

/// Rows by cgroup with `PER_POD`; the tracer shrinks it otherwise.
#[map]
static ROWS: PerCpuHashMap<BucketKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_BUCKET_COUNTERS, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

#[raw_tracepoint(tracepoint = "sched_wakeup")]
pub fn runq_latency_wakeup(ctx: RawTracePointContext) -> i32 {
    // args: (struct task_struct *p)
    queued(ctx.arg::<u64>(0));
    0
}

#[raw_tracepoint(tracepoint = "sched_wakeup_new")]
pub fn runq_latency_wakeup_new(ctx: RawTracePointContext) -> i32 {
    queued(ctx.arg::<u64>(0));
    0
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn runq_latency_switch(ctx: RawTracePointContext) -> i32 {
    // args: (bool preempt, struct task_struct *prev, struct task_struct *next,
    //        unsigned int prev_state)
    let preempt = ctx.arg::<u64>(0) & 0xff != 0;
    let prev = ctx.arg::<u64>(1);
    let next = ctx.arg::<u64>(2);
    let prev_state = ctx.arg::<u64>(3) as u32;
    // Preempted, or switched out without sleeping: it waits for a CPU again.
    if preempt || prev_state == 0 {
        queued(prev);
    }
    let tid = task::pid(next as *const u8).unwrap_or(0);
    if tid == 0 {
        return 0;
    }
    // Only targets are ever queued, so this lookup is the filter.
    let Some(entry) = QUEUED.get_ptr(&tid) else {
        return 0;
    };
    // SAFETY: a copy out of the map value.
    let Queued { since_ns, cgroup } = unsafe { *entry };
    let _ = QUEUED.remove(&tid);
    // SAFETY: the helper has no preconditions.
    let waited = unsafe { bpf_ktime_get_ns() }.saturating_sub(since_ns);
    if global(&PER_POD) != 0 {
        if !rows::add(&ROWS, cgroup, 0, waited) {
            increment(&LOST, LOST_ROWS_FULL);
        }
    } else if let Some(hist) = HIST.get_ptr_mut(0) {
        let bucket = (bucket_of(waited) & (BUCKETS - 1)) as usize;
        // SAFETY: per-CPU row; this program is the only writer on this CPU.
        unsafe { (*hist)[bucket] += 1 };
    }
    0
}

/// Records that `task` became runnable, when it is a target.
#[inline(always)]
fn queued(task: u64) {
    let ids = task::ids(task as *const u8);
    if ids.tid == 0 || !is_target_task(ids.tgid, ids.cgroup) {
        return;
    }
    let queued = Queued {
        // SAFETY: the helper has no preconditions.
        since_ns: unsafe { bpf_ktime_get_ns() },
        cgroup: ids.cgroup,
    };
    if QUEUED.insert(&ids.tid, &queued, 0).is_err() {
        increment(&LOST, LOST_START_NOT_RECORDED);
    }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
