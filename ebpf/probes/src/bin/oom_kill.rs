//! `oom-kill`: every process the OOM killer chooses, with its memory as the kernel
//! reported it, named after the victim's own cgroup.
//!
//! oom:mark_victim runs in the task whose allocation failed, not in the victim. Two
//! programs share the hook: the tracepoint reads its record (pid, comm, memory), the raw
//! tracepoint is handed the victim's task and reads its process and cgroup at offsets
//! from the kernel's BTF. Both run on one CPU, one after the other, within one call of
//! the hook, in an order that depends on attach order; whichever runs second completes
//! the event in a per-CPU slot and sends it. Without the raw half (no BTF, or a kernel
//! whose hook passes a pid instead of the task) the tracepoint sends alone, named after
//! the triggering task's cgroup.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes},
    macros::{map, raw_tracepoint, tracepoint},
    maps::PerCpuArray,
    programs::{RawTracePointContext, TracePointContext},
};
use ebpf_common::{
    event::COMM_LEN,
    oom_kill::{
        KNOWN_MEMORY, KNOWN_OOM_SCORE_ADJ, KNOWN_UID, OomKillEvent, PART_RECORD, PART_VICTIM_TASK,
    },
};
use ebpf_probes::{
    events,
    filter::{is_target, is_target_task},
    global, task,
};

/// Field offsets from tracefs, set by the tracer; 0 for fields this kernel lacks.
#[unsafe(no_mangle)]
static PID_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static COMM_OFFSET: u32 = 12;
#[unsafe(no_mangle)]
static TOTAL_VM_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static ANON_RSS_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static FILE_RSS_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static SHMEM_RSS_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static PGTABLES_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static UID_OFFSET: u32 = 0;
#[unsafe(no_mangle)]
static OOM_SCORE_ADJ_OFFSET: u32 = 0;

/// Non-zero when the raw tracepoint is attached too, so the tracepoint waits for it.
#[unsafe(no_mangle)]
static JOIN_VICTIM_TASK: u8 = 0;

/// The event being completed on this CPU.
#[map]
static PENDING: PerCpuArray<OomKillEvent> = PerCpuArray::with_max_entries(1, 0);

#[tracepoint(category = "oom", name = "mark_victim")]
pub fn oom_kill_mark_victim(ctx: TracePointContext) -> u32 {
    let Some(event) = PENDING.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's slot; the hook runs with preemption off, so only the two
    // programs of this one call use it.
    let event = unsafe { &mut *event };
    // SAFETY: a tracepoint field at the offset tracefs gave.
    let victim_tid = unsafe { ctx.read_at::<i32>(global(&PID_OFFSET) as usize) }.unwrap_or(0);
    let join = global(&JOIN_VICTIM_TASK) != 0;
    let completes =
        join && event.parts == PART_VICTIM_TASK && event.header.tid == victim_tid as u32;
    if !completes {
        start(event);
        event.header.pid = victim_tid as u32;
        event.header.tid = victim_tid as u32;
        event.header.comm = [0; COMM_LEN];
        // SAFETY: a `__data_loc` field: offset in the low 16 bits, length in the high 16.
        unsafe {
            if let Ok(location) = ctx.read_at::<u32>(global(&COMM_OFFSET) as usize) {
                let comm = (ctx.as_ptr() as *const u8).add((location & 0xffff) as usize);
                let _ = bpf_probe_read_kernel_str_bytes(comm, &mut event.header.comm);
            }
        }
    }
    read_record(&ctx, event);
    event.parts |= PART_RECORD;
    if completes || !join {
        send(event);
    }
    0
}

/// args: (struct task_struct *task, uid_t uid) since Linux 6.8; the tracer attaches this
/// only where the tracepoint's record has the fields that change brought.
#[raw_tracepoint(tracepoint = "mark_victim")]
pub fn oom_kill_mark_victim_task(ctx: RawTracePointContext) -> i32 {
    let Some(event) = PENDING.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: see `oom_kill_mark_victim`.
    let event = unsafe { &mut *event };
    let victim: *const u8 = ctx.arg::<u64>(0) as *const u8;
    let tid = task::pid(victim).unwrap_or(0);
    let completes = event.parts == PART_RECORD && event.header.tid == tid;
    if !completes {
        start(event);
    }
    event.header.tid = tid;
    if let Some(pid) = task::tgid(victim) {
        event.header.pid = pid;
    }
    if let Some(comm) = task::comm(victim) {
        event.header.comm = comm;
    }
    if let Some(cgroup) = task::cgroup_id(victim) {
        event.header.cgroup = cgroup;
    }
    event.parts |= PART_VICTIM_TASK;
    if completes {
        send(event);
    }
    0
}

/// Starts a new event in the slot: the triggering task, and the victim's header still
/// to be filled.
#[inline(always)]
fn start(event: &mut OomKillEvent) {
    let pid_tgid = bpf_get_current_pid_tgid();
    event.header = events::header(pid_tgid);
    event.trigger_cgroup = event.header.cgroup;
    event.trigger_pid = event.header.pid;
    event.trigger_tid = event.header.tid;
    event.trigger_comm = event.header.comm;
    event.total_vm_kb = 0;
    event.anon_rss_kb = 0;
    event.file_rss_kb = 0;
    event.shmem_rss_kb = 0;
    event.pgtables_kb = 0;
    event.uid = 0;
    event.oom_score_adj = 0;
    event.parts = 0;
    event.known = 0;
}

/// The memory numbers the tracepoint's record carries on this kernel.
#[inline(always)]
fn read_record(ctx: &TracePointContext, event: &mut OomKillEvent) {
    let at = |offset: &u32| -> Option<u64> {
        let offset = global(offset);
        if offset == 0 {
            return None;
        }
        // SAFETY: a tracepoint field at the offset tracefs gave.
        unsafe { ctx.read_at::<u64>(offset as usize) }.ok()
    };
    if let (Some(total_vm), Some(anon), Some(file), Some(shmem), Some(pgtables)) = (
        at(&TOTAL_VM_OFFSET),
        at(&ANON_RSS_OFFSET),
        at(&FILE_RSS_OFFSET),
        at(&SHMEM_RSS_OFFSET),
        at(&PGTABLES_OFFSET),
    ) {
        event.total_vm_kb = total_vm;
        event.anon_rss_kb = anon;
        event.file_rss_kb = file;
        event.shmem_rss_kb = shmem;
        event.pgtables_kb = pgtables;
        event.known |= KNOWN_MEMORY;
    }
    let uid_offset = global(&UID_OFFSET);
    if uid_offset != 0 {
        // SAFETY: as above.
        if let Ok(uid) = unsafe { ctx.read_at::<u32>(uid_offset as usize) } {
            event.uid = uid;
            event.known |= KNOWN_UID;
        }
    }
    let adj_offset = global(&OOM_SCORE_ADJ_OFFSET);
    if adj_offset != 0 {
        // SAFETY: as above.
        if let Ok(adj) = unsafe { ctx.read_at::<i16>(adj_offset as usize) } {
            event.oom_score_adj = i32::from(adj);
            event.known |= KNOWN_OOM_SCORE_ADJ;
        }
    }
}

/// Sends a complete event when the victim or the triggering task is a target.
#[inline(always)]
fn send(event: &mut OomKillEvent) {
    let victim = is_target_task(event.header.pid, event.header.cgroup);
    if victim || is_target(bpf_get_current_pid_tgid()) {
        events::output(&*event);
    }
    event.parts = 0;
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
