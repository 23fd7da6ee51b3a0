//! `syscall-count`: every syscall a target returns from, counted by syscall number and
//! errno (0 for success) in a bounded per-CPU hash map.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{map, tracepoint},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::TracePointContext,
};
use ebpf_common::syscall_count::{CountKey, LOST_MAP_FULL, MAX_KEYS, errno_of};
use ebpf_probes::{filter::is_target, global, rows::increment};

/// Field offsets of raw_syscalls:sys_exit from tracefs, set by the tracer.
#[unsafe(no_mangle)]
static EXIT_ID_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static EXIT_RET_OFFSET: u32 = 16;

/// Calls per (syscall, errno).
#[map]
static COUNTS: PerCpuHashMap<CountKey, u64> = PerCpuHashMap::with_max_entries(MAX_KEYS, 0);

/// Calls that found `COUNTS` full.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The tracepoint, not the raw one: its record carries the syscall number beside the
/// return value, so no per-thread state from sys_enter is needed.
#[tracepoint(category = "raw_syscalls", name = "sys_exit")]
pub fn syscall_count_exit(ctx: TracePointContext) -> u32 {
    if !is_target(bpf_get_current_pid_tgid()) {
        return 0;
    }
    // SAFETY: tracepoint fields at the offsets tracefs gave.
    let (nr, ret) = unsafe {
        (
            ctx.read_at::<i64>(global(&EXIT_ID_OFFSET) as usize),
            ctx.read_at::<i64>(global(&EXIT_RET_OFFSET) as usize),
        )
    };
    let (Ok(nr), Ok(ret)) = (nr, ret) else {
        return 0;
    };
    // A negative id is a syscall the kernel refused to dispatch (seccomp, ptrace).
    if nr < 0 {
        return 0;
    }
    let key = CountKey {
        nr: nr as u32,
        errno: errno_of(ret),
    };
    match COUNTS.get_ptr_mut(&key) {
        // SAFETY: this CPU's slot of a per-CPU value; this program is its only writer.
        Some(count) => unsafe { *count += 1 },
        None => {
            // Inserting sets this CPU's slot and zeroes the others, so a race with
            // another CPU inserting the same key loses nothing.
            if COUNTS.insert(&key, &1, 0).is_err() {
                increment(&LOST, LOST_MAP_FULL);
            }
        }
    }
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
