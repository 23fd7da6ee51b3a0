//! `tracepoint`: the generic source of scripts. Each of its programs, attached to one
//! tracepoint, copies each target's raw record into the ring with the program's index
//! (the tracer decodes the fields by name from that tracepoint's tracefs format), or
//! counts the records by some of their fields in a map, or both, as the tracer says.
#![no_std]
#![no_main]

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel_buf},
    macros::{map, tracepoint},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::TracePointContext,
};
use ebpf_common::tracepoint::{
    COUNT_BY_KEY, CountKey, FIELD_BYTES, FIELD_DATA_LOC, FIELD_REL_LOC, KEY_FIELD_BYTES,
    MAX_COUNT_KEYS, MAX_KEY_FIELDS, MAX_SOURCES, RAW_LEN, RawEvent, SEND_EVENTS, SourceConfig,
};
use ebpf_probes::{events, filter::is_target, global};

/// Per program: send events, count, or both; and the count's key fields.
#[unsafe(no_mangle)]
static SOURCE_CONFIG: [SourceConfig; MAX_SOURCES] = [SourceConfig {
    flags: SEND_EVENTS,
    fields: 0,
    key: [ebpf_common::tracepoint::KeyField {
        offset: 0,
        size: 0,
        kind: FIELD_BYTES,
    }; MAX_KEY_FIELDS],
}; MAX_SOURCES];

#[map]
static COUNTS: PerCpuHashMap<CountKey, u64> = PerCpuHashMap::with_max_entries(MAX_COUNT_KEYS, 0);

/// Per-CPU room for a record and a key: too big for the 512-byte stack together.
#[map]
static RECORD: PerCpuArray<[u8; RAW_LEN]> = PerCpuArray::with_max_entries(1, 0);
#[map]
static KEY: PerCpuArray<CountKey> = PerCpuArray::with_max_entries(1, 0);

/// One program per tracepoint, so each event says which one fired.
macro_rules! sources {
    ($($name:ident = $index:literal),* $(,)?) => {
        $(
            #[tracepoint]
            pub fn $name(ctx: TracePointContext) -> u32 {
                handle(&ctx, $index)
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
fn handle(ctx: &TracePointContext, index: u32) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if !is_target(pid_tgid) {
        return 0;
    }
    let config = global(&SOURCE_CONFIG[index as usize]);
    if config.flags & SEND_EVENTS != 0 {
        copy(ctx, index, pid_tgid);
    }
    if config.flags & COUNT_BY_KEY != 0 {
        count(ctx, index, &config);
    }
    0
}

/// Adds one to the count of the record's key.
#[inline(always)]
fn count(ctx: &TracePointContext, index: u32, config: &SourceConfig) {
    let (Some(record), Some(key)) = (RECORD.get_ptr_mut(0), KEY.get_ptr_mut(0)) else {
        return;
    };
    // SAFETY: this CPU's slots; nothing else uses them while this program runs. The
    // record is read as `copy` reads it.
    let (record, key) = unsafe { (&mut *record, &mut *key) };
    if unsafe { bpf_probe_read_kernel_buf(ctx.as_ptr() as *const u8, record) }.is_err() {
        return;
    }
    key.index = index;
    key._pad = 0;
    key.bytes = [0; MAX_KEY_FIELDS * KEY_FIELD_BYTES];
    let mut field = 0;
    while field < MAX_KEY_FIELDS {
        if field as u32 >= config.fields {
            break;
        }
        key_field(
            record,
            &config.key[field],
            &mut key.bytes,
            field * KEY_FIELD_BYTES,
        );
        field += 1;
    }
    let key: &CountKey = key;
    match COUNTS.get_ptr_mut(key) {
        // SAFETY: this CPU's value.
        Some(value) => unsafe { *value += 1 },
        None => {
            if COUNTS.insert(key, &1, 0).is_err() {
                events::count_lost();
            }
        }
    }
}

/// Copies one field's bytes (a string's up to its NUL) into the key at `at`.
#[inline(always)]
fn key_field(
    record: &[u8; RAW_LEN],
    field: &ebpf_common::tracepoint::KeyField,
    bytes: &mut [u8; MAX_KEY_FIELDS * KEY_FIELD_BYTES],
    at: usize,
) {
    let byte = |offset: u32| record[offset as usize & (RAW_LEN - 1)];
    let (start, len, text) = match field.kind {
        FIELD_DATA_LOC | FIELD_REL_LOC => {
            let loc = u32::from_ne_bytes([
                byte(field.offset),
                byte(field.offset + 1),
                byte(field.offset + 2),
                byte(field.offset + 3),
            ]);
            let mut start = loc & 0xffff;
            if field.kind == FIELD_REL_LOC {
                start += field.offset + 4;
            }
            (start, loc >> 16, true)
        }
        FIELD_BYTES => (field.offset, field.size, false),
        _ => (field.offset, field.size, true),
    };
    let mut i = 0;
    while i < KEY_FIELD_BYTES {
        if i as u32 >= len {
            break;
        }
        let value = byte(start + i as u32);
        if text && value == 0 {
            break;
        }
        bytes[(at + i) & (MAX_KEY_FIELDS * KEY_FIELD_BYTES - 1)] = value;
        i += 1;
    }
}

#[inline(always)]
fn copy(ctx: &TracePointContext, index: u32, pid_tgid: u64) {
    let Some(mut slot) = events::reserve::<RawEvent>() else {
        return;
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
            *data = [0; RAW_LEN];
        }
    }
    events::submit(slot);
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
