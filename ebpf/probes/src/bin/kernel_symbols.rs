//! `kernel_symbol_names`: names kernel addresses with the kernel's own symbol lookup, so
//! the tracer never reads all of /proc/kallsyms to name a few stack frames.
//!
//! Never attached: the tracer fills `ADDRESSES`, runs the program (BPF_PROG_TEST_RUN)
//! with the count as its one argument, and reads `NAMES`. Each name is `%ps`: the
//! function holding the address (with ` [module]` for a module's), or the address in hex
//! when nothing holds it.
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::bpf_snprintf,
    macros::{map, raw_tracepoint},
    maps::Array,
    programs::RawTracePointContext,
};
use ebpf_common::kernel_symbols::{BATCH, NAME_LEN, Name};
// Its panic handler.
use ebpf_probes as _;

#[map]
static ADDRESSES: Array<u64> = Array::with_max_entries(BATCH, 0);

#[map]
static NAMES: Array<Name> = Array::with_max_entries(BATCH, 0);

/// A format string must sit in read-only data for the verifier to accept it.
static FORMAT: [u8; 4] = *b"%ps\0";

#[raw_tracepoint]
pub fn kernel_symbol_names(ctx: RawTracePointContext) -> i32 {
    let count: u64 = ctx.arg(0);
    for index in 0..BATCH {
        if u64::from(index) >= count {
            break;
        }
        let (Some(address), Some(name)) = (ADDRESSES.get(index), NAMES.get_ptr_mut(index)) else {
            break;
        };
        let mut args = [*address];
        // SAFETY: `name` points into the map's value of NAME_LEN bytes; the format is
        // NUL-terminated and takes one argument, the one in `args`.
        unsafe {
            bpf_snprintf(
                name.cast(),
                NAME_LEN as u32,
                FORMAT.as_ptr().cast(),
                args.as_mut_ptr(),
                8,
            );
        }
    }
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
