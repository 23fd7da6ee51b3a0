//! `profile`: on-CPU sampling. A software cpu-clock perf event on every CPU runs this
//! program at the chosen frequency; when the interrupted task is a target, its user and
//! kernel stacks go into the stack map and the sample is counted under (cgroup, process,
//! user stack id, kernel stack id). Nothing is streamed: the tracer reads the counts and
//! the stacks at snapshots and symbolizes them.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_F_NO_PREALLOC, BPF_F_USER_STACK},
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid},
    macros::{map, perf_event},
    maps::{PerCpuArray, PerCpuHashMap, StackTrace},
    programs::{PerfEventContext, tracing::StackIdContext},
};
use ebpf_common::profile::{
    LOST_COUNTERS, LOST_MAP_FULL, LOST_STACK, MAX_SAMPLE_KEYS, MAX_STACKS, NO_STACK, STACK_LOST,
    SampleCount, SampleKey,
};
use ebpf_probes::{filter::is_target, global, rows::increment};

/// Non-zero to take user stacks.
#[unsafe(no_mangle)]
static USER_STACKS: u8 = 1;

/// Non-zero to take kernel stacks.
#[unsafe(no_mangle)]
static KERNEL_STACKS: u8 = 1;

#[map]
static STACKS: StackTrace = StackTrace::with_max_entries(MAX_STACKS, 0);

/// Samples per key, per CPU (the BPF target has no atomic add).
#[map]
static COUNTS: PerCpuHashMap<SampleKey, SampleCount> =
    PerCpuHashMap::with_max_entries(MAX_SAMPLE_KEYS, BPF_F_NO_PREALLOC);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(LOST_COUNTERS, 0);

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
    let user_stack = if global(&USER_STACKS) != 0 {
        stack_id(&ctx, u64::from(BPF_F_USER_STACK))
    } else {
        NO_STACK
    };
    let kernel_stack = if global(&KERNEL_STACKS) != 0 {
        stack_id(&ctx, 0)
    } else {
        NO_STACK
    };
    let key = SampleKey {
        // SAFETY: the helper has no preconditions.
        cgroup: unsafe { bpf_get_current_cgroup_id() },
        tgid,
        user_stack,
        kernel_stack,
        _pad: 0,
    };
    if let Some(count) = COUNTS.get_ptr_mut(&key) {
        // SAFETY: this CPU's slot of a per-CPU value; programs on one CPU do not run
        // concurrently.
        unsafe { (*count).samples += 1 };
        return 0;
    }
    let first = SampleCount {
        samples: 1,
        comm: bpf_get_current_comm().unwrap_or_default(),
    };
    // Inserting sets this CPU's slot and zeroes the others, so a race with another CPU
    // inserting the same key loses nothing.
    if COUNTS.insert(&key, &first, 0).is_err() {
        increment(&LOST, LOST_MAP_FULL);
    }
    0
}

/// The stack's id in `STACKS`, `NO_STACK` when the task has none of that kind, or
/// `STACK_LOST` (counted) when the kernel could not store it.
#[inline(always)]
fn stack_id(ctx: &PerfEventContext, flags: u64) -> i32 {
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
