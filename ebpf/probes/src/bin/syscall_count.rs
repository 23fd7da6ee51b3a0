//! `syscall-count`: every syscall a target returns from, counted by syscall number and
//! errno (0 for success) in a bounded per-CPU hash map.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::{map, raw_tracepoint},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::RawTracePointContext,
};
use ebpf_common::syscall_count::{CountKey, LOST_MAP_FULL, MAX_KEYS, errno_of};
use ebpf_probes::{filter::is_target, global, rows::increment};

/// Where `struct pt_regs` keeps the syscall number (x86-64 `orig_ax`, arm64 `syscallno`),
/// and whether it is 32 bits wide there; set by the tracer for its architecture.
#[unsafe(no_mangle)]
static PT_REGS_NR_OFFSET: u32 = 120;
#[unsafe(no_mangle)]
static PT_REGS_NR_32_BIT: u8 = 0;

/// Calls per (syscall, errno). Not preallocated: a trace meets a few hundred keys at
/// most, each inserted once, and preallocating all of them on every CPU took the kernel
/// 6 ms, most of the time to attach.
#[map]
static COUNTS: PerCpuHashMap<CountKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_KEYS, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

/// Calls that found `COUNTS` full.
#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The raw tracepoint: the kernel hands it the registers and the return value as they
/// are, where the plain tracepoint first copies both into a record, which cost more than
/// the rest of this program. The number is read from the registers, as the tracepoint's
/// own `id` is.
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn syscall_count_exit(ctx: RawTracePointContext) -> i32 {
    if !is_target(bpf_get_current_pid_tgid()) {
        return 0;
    }
    // args: (struct pt_regs *regs, long ret)
    let regs = ctx.arg::<u64>(0) as *const u8;
    let ret = ctx.arg::<i64>(1);
    // SAFETY: read through the helper, which fails cleanly on a bad address.
    let Ok(raw) = (unsafe {
        bpf_probe_read_kernel(regs.add(global(&PT_REGS_NR_OFFSET) as usize) as *const u64)
    }) else {
        return 0;
    };
    let nr = if global(&PT_REGS_NR_32_BIT) != 0 {
        i64::from(raw as u32 as i32)
    } else {
        raw as i64
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
