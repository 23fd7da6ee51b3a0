//! `tracepoint`: the generic source of scripts. Each of its programs, attached to one
//! tracepoint, copies each target's raw record into the ring with the program's index;
//! the tracer decodes the fields by name from that tracepoint's tracefs format.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel_buf},
    macros::tracepoint,
    programs::TracePointContext,
};
use ebpf_common::tracepoint::RawEvent;
use ebpf_probes::{events, filter::is_target};

/// One program per tracepoint, so each event says which one fired.
macro_rules! sources {
    ($($name:ident = $index:literal),* $(,)?) => {
        $(
            #[tracepoint]
            pub fn $name(ctx: TracePointContext) -> u32 {
                copy(&ctx, $index)
            }
        )*
    };
}

sources!(
    tracepoint_0 = 0,
    tracepoint_1 = 1,
    tracepoint_2 = 2,
    tracepoint_3 = 3,
    tracepoint_4 = 4,
    tracepoint_5 = 5,
    tracepoint_6 = 6,
    tracepoint_7 = 7,
    tracepoint_8 = 8,
    tracepoint_9 = 9,
    tracepoint_10 = 10,
    tracepoint_11 = 11,
    tracepoint_12 = 12,
    tracepoint_13 = 13,
    tracepoint_14 = 14,
    tracepoint_15 = 15,
);

#[inline(always)]
fn copy(ctx: &TracePointContext, index: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return 0;
    }
    let Some(mut slot) = events::reserve::<RawEvent>() else {
        return 0;
    };
    let event = slot.as_mut_ptr();
    // SAFETY: the reserved event is written whole before it is submitted. The record
    // sits at the start of the kernel's per-CPU trace buffer, which is larger than what
    // is read; the helper fails cleanly anyway, and then the data is zeroed.
    unsafe {
        (*event).header = events::header(pid_tgid);
        (*event).index = index;
        (*event)._pad = 0;
        let data = &mut (*event).data;
        if bpf_probe_read_kernel_buf(ctx.as_ptr() as *const u8, data).is_err() {
            *data = [0; ebpf_common::tracepoint::RAW_LEN];
        }
    }
    slot.submit(0);
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
