//! `uprobe`: the generic user-space source of scripts. Each entry program, attached to
//! one function, sends its first six arguments and optionally the string at one of
//! them; each return program sends the return value. Only targets' calls are sent.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user_str_bytes},
    macros::{uprobe, uretprobe},
    programs::{ProbeContext, RetProbeContext},
};
use ebpf_common::uprobe::{ARGS, DATA_LEN, MAX_PER_KIND, UprobeEvent};
use ebpf_probes::{events, filter::is_target, global};

/// Per entry program: 1 + the argument whose string to read, or 0 for none. Set by the
/// tracer.
#[unsafe(no_mangle)]
static READ_ARG: [u32; MAX_PER_KIND] = [0; MAX_PER_KIND];

macro_rules! entries {
    ($($name:ident = $slot:literal),* $(,)?) => {
        $(
            #[uprobe]
            pub fn $name(ctx: ProbeContext) -> u32 {
                enter(&ctx, $slot)
            }
        )*
    };
}

macro_rules! returns {
    ($($name:ident = $slot:literal),* $(,)?) => {
        $(
            #[uretprobe]
            pub fn $name(ctx: RetProbeContext) -> u32 {
                leave(&ctx, $slot)
            }
        )*
    };
}

entries!(
    uprobe_0 = 0,
    uprobe_1 = 1,
    uprobe_2 = 2,
    uprobe_3 = 3,
    uprobe_4 = 4,
    uprobe_5 = 5,
    uprobe_6 = 6,
    uprobe_7 = 7,
);

returns!(
    uretprobe_0 = 8,
    uretprobe_1 = 9,
    uretprobe_2 = 10,
    uretprobe_3 = 11,
    uretprobe_4 = 12,
    uretprobe_5 = 13,
    uretprobe_6 = 14,
    uretprobe_7 = 15,
);

#[inline(always)]
fn enter(ctx: &ProbeContext, slot: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return 0;
    }
    let Some(mut entry) = events::reserve::<UprobeEvent>() else {
        return 0;
    };
    let event = entry.as_mut_ptr();
    let read = READ_ARG.get(slot as usize).map_or(0, |read| global(read));
    // SAFETY: every field of the reserved event is written before it is submitted.
    unsafe {
        (*event).header = events::header(pid_tgid);
        (*event).slot = slot;
        (*event).ret = 0;
        let mut i = 0;
        while i < ARGS {
            (*event).args[i] = ctx.arg::<u64>(i).unwrap_or(0);
            i += 1;
        }
        (*event).data_len = 0;
        (*event).data[0] = 0;
        let at = (read as usize).wrapping_sub(1);
        if at < ARGS {
            let pointer = (*event).args[at] as *const u8;
            // A user pointer, read through the helper, which fails cleanly.
            if let Ok(text) = bpf_probe_read_user_str_bytes(pointer, &mut (*event).data) {
                (*event).data_len = (text.len() + 1).min(DATA_LEN) as u32;
            }
        }
    }
    events::submit(entry);
    0
}

#[inline(always)]
fn leave(ctx: &RetProbeContext, slot: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return 0;
    }
    let Some(mut entry) = events::reserve::<UprobeEvent>() else {
        return 0;
    };
    let event = entry.as_mut_ptr();
    // SAFETY: every field of the reserved event is written before it is submitted.
    unsafe {
        (*event).header = events::header(pid_tgid);
        (*event).slot = slot;
        (*event).data_len = 0;
        (*event).args = [0; ARGS];
        (*event).ret = ctx.ret::<u64>();
        (*event).data[0] = 0;
    }
    events::submit(entry);
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
