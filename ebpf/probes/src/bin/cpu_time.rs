//! `cpu-time`: nanoseconds each target process spends on a CPU. At every sched_switch
//! the slice of the task switched out is added to its process's total; the task switched
//! in is noted per CPU, with whether it is a target, so the tracer can also count the
//! slices still running when it takes a snapshot.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, raw_tracepoint},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::RawTracePointContext,
};
use ebpf_common::cpu_time::{LOST_MAP_FULL, MAX_PROCESSES, OnCpu, ProcessKey, ProcessTime};
use ebpf_probes::{filter::is_target_task, rows::increment, task};

/// What each CPU runs since its last switch.
#[map]
static ON_CPU: PerCpuArray<OnCpu> = PerCpuArray::with_max_entries(1, 0);

/// On-CPU time per target process, per CPU (the BPF target has no atomic add).
#[map]
static TIMES: PerCpuHashMap<ProcessKey, ProcessTime> =
    PerCpuHashMap::with_max_entries(MAX_PROCESSES, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn cpu_time_switch(ctx: RawTracePointContext) -> i32 {
    // args: (bool preempt, struct task_struct *prev, struct task_struct *next,
    //        unsigned int prev_state); prev is still the current task.
    let next = ctx.arg::<u64>(2);
    let Some(slot) = ON_CPU.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's slot; programs on one CPU do not run concurrently.
    let slot = unsafe { &mut *slot };
    // SAFETY: the helpers have no preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    let prev_tid = bpf_get_current_pid_tgid() as u32;
    // The slot was filled when prev was switched in, if that happened while traced.
    if slot.since_ns != 0 && slot.target != 0 && slot.tid == prev_tid {
        let key = ProcessKey {
            cgroup: slot.cgroup,
            tgid: slot.tgid,
            _pad: 0,
        };
        add(&key, now.saturating_sub(slot.since_ns));
    }
    let ids = task::ids(next as *const u8);
    *slot = OnCpu {
        since_ns: now,
        cgroup: ids.cgroup,
        tid: ids.tid,
        tgid: ids.tgid,
        target: u32::from(ids.tid != 0 && is_target_task(ids.tgid, ids.cgroup)),
        _pad: 0,
    };
    0
}

/// Adds `ns` to the current task's process.
#[inline(always)]
fn add(key: &ProcessKey, ns: u64) {
    if let Some(value) = TIMES.get_ptr_mut(key) {
        // SAFETY: this CPU's slot of a per-CPU value; programs on one CPU do not run
        // concurrently.
        unsafe { (*value).on_cpu_ns += ns };
        return;
    }
    let first = ProcessTime {
        on_cpu_ns: ns,
        // SAFETY: the current task is prev; read through helpers only.
        comm: task::process_comm(task::current()),
    };
    // Inserting sets this CPU's slot and zeroes the others (their comm too: the tracer
    // takes the one that is set), so a race with another CPU loses nothing.
    if TIMES.insert(&key, &first, 0).is_err() {
        increment(&LOST, LOST_MAP_FULL);
    }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
