//! `profile`: on-CPU sampling. A software cpu-clock perf event on every CPU runs this
//! program at the chosen frequency; when the interrupted task is a target, its user and
//! kernel stacks go into the stack map and the sample is counted under (cgroup, process,
//! user stack id, kernel stack id). Nothing is streamed: the tracer reads the counts and
//! the stacks at snapshots and symbolizes them.
//!
//! Off-CPU, sched_switch instead: a target thread switched out asleep (not preempted,
//! not runnable, not exiting) is the current task there, so its stacks are taken then and
//! kept with the time; when it is switched back in, the time it was away is added to its
//! key, when at least `MIN_BLOCK_NS`.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_F_USER_STACK},
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns,
    },
    macros::{map, perf_event, raw_tracepoint},
    maps::{LruHashMap, PerCpuArray, PerCpuHashMap, StackTrace},
    programs::{PerfEventContext, RawTracePointContext, tracing::StackIdContext},
};
use ebpf_common::{
    event::COMM_LEN,
    profile::{
        Blocked, LOST_BLOCK_NOT_RECORDED, LOST_COUNTERS, LOST_MAP_FULL, LOST_STACK, MAX_BLOCKED,
        MAX_SAMPLE_KEYS, MAX_STACKS, NO_STACK, STACK_LOST, SampleCount, SampleKey,
    },
};
use ebpf_probes::{filter::is_target, global, rows::increment, task};

/// Non-zero to take user stacks.
#[unsafe(no_mangle)]
static USER_STACKS: u8 = 1;

/// Non-zero to take kernel stacks.
#[unsafe(no_mangle)]
static KERNEL_STACKS: u8 = 1;

/// Off-CPU: shorter blocks are not counted.
#[unsafe(no_mangle)]
static MIN_BLOCK_NS: u64 = 1_000_000;

#[map]
static STACKS: StackTrace = StackTrace::with_max_entries(MAX_STACKS, 0);

/// Samples per key, per CPU (the BPF target has no atomic add).
#[map]
static COUNTS: PerCpuHashMap<SampleKey, SampleCount> =
    PerCpuHashMap::with_max_entries(MAX_SAMPLE_KEYS, BPF_F_NO_PREALLOC);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOST_COUNTERS, 0);

/// Off-CPU: target threads switched out asleep, by thread id.
#[map]
static BLOCKED: LruHashMap<u32, Blocked> = LruHashMap::with_max_entries(MAX_BLOCKED, 0);

/// `TASK_DEAD` in `task_struct::__state`: an exiting task's last switch.
const TASK_DEAD: u32 = 0x80;

/// `EFAULT`: the task has no stack of that kind (a kernel thread has no user stack).
const EFAULT: i32 = 14;

#[perf_event]
pub fn profile_sample(ctx: PerfEventContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    // Process 0 is the idle task: time no one used.
    if tgid == 0 || !is_target(pid_tgid) {
        return 0;
    }
    let key = current_key(&ctx, tgid);
    add(&key, 1, || bpf_get_current_comm().unwrap_or_default());
    0
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn profile_off_cpu(ctx: RawTracePointContext) -> i32 {
    // args: (bool preempt, struct task_struct *prev, struct task_struct *next,
    //        unsigned int prev_state); prev is the current task.
    let preempt = ctx.arg::<u64>(0) & 0xff != 0;
    let next = ctx.arg::<u64>(2);
    let prev_state = ctx.arg::<u64>(3) as u32;
    // SAFETY: the helper has no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let asleep = !preempt && prev_state != 0 && prev_state & TASK_DEAD == 0;
    if asleep && tgid != 0 && is_target(pid_tgid) {
        let blocked = Blocked {
            since_ns: now,
            key: current_key(&ctx, tgid),
            comm: bpf_get_current_comm().unwrap_or_default(),
        };
        if BLOCKED.insert(&(pid_tgid as u32), &blocked, 0).is_err() {
            increment(&LOST, LOST_BLOCK_NOT_RECORDED);
        }
    }
    let tid = task::pid(next as *const u8).unwrap_or(0);
    if tid == 0 {
        return 0;
    }
    // Only targets are ever recorded, so this lookup is the filter.
    let Some(entry) = BLOCKED.get_ptr(&tid) else {
        return 0;
    };
    // SAFETY: a copy out of the map value.
    let blocked = unsafe { *entry };
    let _ = BLOCKED.remove(&tid);
    let away = now.saturating_sub(blocked.since_ns);
    if away >= global(&MIN_BLOCK_NS) {
        add(&blocked.key, away, || blocked.comm);
    }
    0
}

/// The current task's key: its cgroup, process and the stacks the mode takes.
#[inline(always)]
fn current_key<C: StackIdContext>(ctx: &C, tgid: u32) -> SampleKey {
    let user_stack = if global(&USER_STACKS) != 0 {
        stack_id(ctx, u64::from(BPF_F_USER_STACK))
    } else {
        NO_STACK
    };
    let kernel_stack = if global(&KERNEL_STACKS) != 0 {
        stack_id(ctx, 0)
    } else {
        NO_STACK
    };
    SampleKey {
        // SAFETY: the helper has no preconditions.
        cgroup: unsafe { bpf_get_current_cgroup_id() },
        tgid,
        user_stack,
        kernel_stack,
        _pad: 0,
    }
}

/// Adds `value` to the key's count on this CPU; `comm` names a key seen first.
#[inline(always)]
fn add(key: &SampleKey, value: u64, comm: impl FnOnce() -> [u8; COMM_LEN]) {
    if let Some(count) = COUNTS.get_ptr_mut(key) {
        // SAFETY: this CPU's slot of a per-CPU value; programs on one CPU do not run
        // concurrently.
        unsafe { (*count).samples += value };
        return;
    }
    let first = SampleCount {
        samples: value,
        comm: comm(),
    };
    // Inserting sets this CPU's slot and zeroes the others, so a race with another CPU
    // inserting the same key loses nothing.
    if COUNTS.insert(key, &first, 0).is_err() {
        increment(&LOST, LOST_MAP_FULL);
    }
}

/// The stack's id in `STACKS`, `NO_STACK` when the task has none of that kind, or
/// `STACK_LOST` (counted) when the kernel could not store it.
#[inline(always)]
fn stack_id<C: StackIdContext>(ctx: &C, flags: u64) -> i32 {
    match ctx.get_stackid(&STACKS, flags) {
        Ok(id) => id as i32,
        Err(err) if err == -EFAULT => NO_STACK,
        Err(_) => {
            increment(&LOST, LOST_STACK);
            STACK_LOST
        }
    }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
