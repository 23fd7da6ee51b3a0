//! `profile`: on-CPU sampling. A software cpu-clock perf event on every CPU runs this
//! program at the chosen frequency; when the interrupted task is a target, its user and
//! kernel stacks go into the stack map, keyed by a 64-bit hash of their frames, and the
//! sample is counted under (cgroup, process, user stack id, kernel stack id). Nothing is streamed: the tracer reads the counts and
//! the stacks at snapshots and symbolizes them.
//!
//! Off-CPU, sched_switch instead: a target thread switched out asleep (not preempted,
//! not runnable, not exiting) is the current task there, so its stacks are taken then and
//! kept with the time; when it is switched back in, the time it was away is added to its
//! key, when at least `MIN_BLOCK_NS`.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_F_NO_PREALLOC, BPF_F_USER_STACK},
    cty::c_void,
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_ktime_get_ns, generated::bpf_get_stack,
    },
    macros::{map, perf_event, raw_tracepoint},
    maps::{HashMap, LruHashMap, PerCpuArray, PerCpuHashMap},
    programs::{PerfEventContext, RawTracePointContext},
};
use ebpf_common::{
    event::COMM_LEN,
    profile::{
        Blocked, FIRST_STACK_ID, LOST_BLOCK_NOT_RECORDED, LOST_COUNTERS, LOST_MAP_FULL, LOST_STACK,
        MAX_BLOCKED, MAX_FRAMES, MAX_SAMPLE_KEYS, MAX_STACKS, NO_STACK, STACK_LOST, SampleCount,
        SampleKey, Stack,
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

/// Stacks by the hash of their frames.
#[map]
static STACKS: HashMap<u64, Stack> = HashMap::with_max_entries(MAX_STACKS, 0);

/// Where the kernel writes a stack before it is hashed (too big for the BPF stack).
#[map]
static SCRATCH: PerCpuArray<Stack> = PerCpuArray::with_max_entries(1, 0);

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
fn current_key<C: EbpfContext>(ctx: &C, tgid: u32) -> SampleKey {
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
        user_stack,
        kernel_stack,
        tgid,
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
/// `STACK_LOST` (counted) when the kernel could not walk or store it.
#[inline(always)]
fn stack_id<C: EbpfContext>(ctx: &C, flags: u64) -> u64 {
    let Some(stack) = SCRATCH.get_ptr_mut(0) else {
        return lost_stack();
    };
    // SAFETY: this CPU's buffer; programs on one CPU do not run concurrently.
    let stack = unsafe { &mut *stack };
    // SAFETY: the buffer is `size` bytes of a map value.
    let written = unsafe {
        bpf_get_stack(
            ctx.as_ptr(),
            stack.ips.as_mut_ptr() as *mut c_void,
            (MAX_FRAMES * 8) as u32,
            flags,
        )
    };
    if written == -EFAULT as i64 || written == 0 {
        return NO_STACK;
    }
    if written < 0 {
        return lost_stack();
    }
    let len = written as usize / 8;
    stack.len = len as u64;
    let id = hash(&stack.ips, len);
    if STACKS.get_ptr(&id).is_none() && STACKS.insert(&id, stack, 0).is_err() {
        return lost_stack();
    }
    id
}

/// A 64-bit hash of the first `len` frames, at least `FIRST_STACK_ID`: FNV-1a over the
/// frame addresses, then a finalizer so that nearby addresses spread over all the bits.
#[inline(always)]
fn hash(ips: &[u64; MAX_FRAMES], len: usize) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for ip in ips.iter().take(len) {
        hash = (hash ^ ip).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash.max(FIRST_STACK_ID)
}

#[inline(always)]
fn lost_stack() -> u64 {
    increment(&LOST, LOST_STACK);
    STACK_LOST
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
