//! `runq-latency`: how long a target's threads wait runnable before they run. A thread
//! becomes runnable when woken (sched_wakeup, sched_wakeup_new) or when preempted (still
//! runnable at sched_switch); the wait ends when sched_switch switches it in.
//!
//! Raw tracepoints give the task pointers; the woken or switched-in task is not the
//! current one, so its ids (and its cgroup, when a filter or `--per-pod` needs it) are
//! read through the pointer (`task`). Each thread keeps its slot once it has one.
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
    runq_latency::{LOST_ROWS_FULL, LOST_START_NOT_RECORDED, MAX_IN_FLIGHT, Queued},
    syscall_latency::HistRow,
};
use ebpf_probes::{
    filter::{self, is_target, is_target_task},
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
    woken(ctx.arg::<u64>(0) as *const u8);
    0
}

#[raw_tracepoint(tracepoint = "sched_wakeup_new")]
pub fn runq_latency_wakeup_new(ctx: RawTracePointContext) -> i32 {
    woken(ctx.arg::<u64>(0) as *const u8);
    0
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn runq_latency_switch(ctx: RawTracePointContext) -> i32 {
    // args: (bool preempt, struct task_struct *prev, struct task_struct *next,
    //        unsigned int prev_state)
    let preempt = ctx.arg::<u64>(0) & 0xff != 0;
    let next = ctx.arg::<u64>(2) as *const u8;
    let prev_state = ctx.arg::<u64>(3) as u32;
    // Preempted, or switched out without sleeping: it waits for a CPU again. `prev` is
    // still the current task here, so the cheap current-task helpers name it.
    if preempt || prev_state == 0 {
        let pid_tgid = bpf_get_current_pid_tgid();
        if is_target(pid_tgid) {
            let cgroup = if per_pod() {
                // SAFETY: the helper has no preconditions.
                unsafe { bpf_get_current_cgroup_id() }
            } else {
                0
            };
            queued(pid_tgid as u32, cgroup);
        }
    }
    let tid = task::pid(next).unwrap_or(0);
    if tid == 0 {
        return 0;
    }
    // Only targets are ever queued, so this lookup is the filter.
    let Some(entry) = QUEUED.get_ptr_mut(&tid) else {
        return 0;
    };
    // SAFETY: the slot of a thread being switched in; its wakeup has been recorded.
    let Queued { since_ns, cgroup } = unsafe { *entry };
    if since_ns == 0 {
        return 0;
    }
    // Spent, but kept: rewriting a slot in place is far cheaper than deleting and
    // inserting it again at the next wakeup, and the LRU ages out exited threads.
    // SAFETY: as above.
    unsafe { (*entry).since_ns = 0 };
    // SAFETY: the helper has no preconditions.
    let waited = unsafe { bpf_ktime_get_ns() }.saturating_sub(since_ns);
    if per_pod() {
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

#[inline(always)]
fn per_pod() -> bool {
    global(&PER_POD) != 0
}

/// A task that is not the current one was woken: queued when it is a target. Its cgroup
/// takes four reads through pointers, so it is read only when something needs it.
#[inline(always)]
fn woken(task: *const u8) {
    let tid = task::pid(task).unwrap_or(0);
    let tgid = task::tgid(task).unwrap_or(0);
    if tid == 0 {
        return;
    }
    let cgroup = if per_pod() || filter::by_cgroup() {
        task::cgroup_id(task).unwrap_or(0)
    } else {
        0
    };
    if is_target_task(tgid, cgroup) {
        queued(tid, cgroup);
    }
}

/// Records that target thread `tid` became runnable.
#[inline(always)]
fn queued(tid: u32, cgroup: u64) {
    let queued = Queued {
        // SAFETY: the helper has no preconditions.
        since_ns: unsafe { bpf_ktime_get_ns() },
        cgroup,
    };
    // Reuse the thread's slot in place: a lookup is far cheaper than an update.
    if let Some(slot) = QUEUED.get_ptr_mut(&tid) {
        // SAFETY: the slot of a thread that is not running; a racing switch-in at worst
        // measures one wait short.
        unsafe { *slot = queued };
    } else if QUEUED.insert(&tid, &queued, 0).is_err() {
        increment(&LOST, LOST_START_NOT_RECORDED);
    }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
