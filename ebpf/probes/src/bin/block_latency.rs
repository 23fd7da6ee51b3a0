//! `block-latency`: time from a block request's start to its completion, by device and
//! operation (and by cgroup with `PER_POD`).
//!
//! Completion runs in interrupt context, where the current task is whoever was
//! interrupted, so a request is filtered and attributed when it starts: block_io_start
//! runs in the submitter's context as the bio becomes a request (block_rq_issue on
//! kernels before 6.5, which may run in a kworker). The request is then found again at
//! completion by (device, sector).
#![no_std]
#![no_main]

use aya_ebpf::{
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_ktime_get_ns},
    macros::{map, tracepoint},
    maps::{LruHashMap, PerCpuArray, PerCpuHashMap},
    programs::TracePointContext,
};
use ebpf_common::{
    block_latency::{
        LOST_ROWS_FULL, LOST_START_NOT_RECORDED, MAX_IN_FLIGHT, Request, RequestKey, op_of, row_of,
    },
    rows::{BucketKey, MAX_BUCKET_COUNTERS},
};
use ebpf_probes::{
    filter::is_target,
    global,
    rows::{self, increment},
    tracepoint_field,
};

/// Non-zero to split rows by the submitter's cgroup.
#[unsafe(no_mangle)]
static PER_POD: u8 = 0;

/// Field offsets from tracefs, set by the tracer: the start tracepoint's, then
/// block_rq_complete's. Where one is its default here (the layout of the kernels we test
/// on), the program loads the field directly (`tracepoint_field`), else through a helper.
#[unsafe(no_mangle)]
static START_DEV_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static START_SECTOR_OFFSET: u32 = 16;
#[unsafe(no_mangle)]
static START_RWBS_OFFSET: u32 = 34;
#[unsafe(no_mangle)]
static COMPLETE_DEV_OFFSET: u32 = 8;
#[unsafe(no_mangle)]
static COMPLETE_SECTOR_OFFSET: u32 = 16;

/// Target requests between start and completion.
#[map]
static IN_FLIGHT: LruHashMap<RequestKey, Request> = LruHashMap::with_max_entries(MAX_IN_FLIGHT, 0);

/// One row per (cgroup or 0, device and op).
#[map]
static ROWS: PerCpuHashMap<BucketKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_BUCKET_COUNTERS, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

#[map]
static LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(2, 0);

/// Attached to block:block_io_start, or block:block_rq_issue where that is missing.
#[tracepoint]
pub fn block_latency_start(ctx: TracePointContext) -> u32 {
    if !is_target(bpf_get_current_pid_tgid()) {
        return 0;
    }
    let fields = (
        tracepoint_field::<u32, 8>(&ctx, global(&START_DEV_OFFSET)),
        tracepoint_field::<u64, 16>(&ctx, global(&START_SECTOR_OFFSET)),
        tracepoint_field::<[u8; 2], 34>(&ctx, global(&START_RWBS_OFFSET)),
    );
    let (Some(dev), Some(sector), Some(rwbs)) = fields else {
        return 0;
    };
    let key = RequestKey {
        dev,
        _pad: 0,
        sector,
    };
    let request = Request {
        // SAFETY: the helpers have no preconditions.
        start_ns: unsafe { bpf_ktime_get_ns() },
        cgroup: if global(&PER_POD) != 0 {
            unsafe { bpf_get_current_cgroup_id() }
        } else {
            0
        },
        op: op_of(rwbs[0], rwbs[1]),
        _pad: 0,
    };
    if IN_FLIGHT.insert(&key, &request, 0).is_err() {
        increment(&LOST, LOST_START_NOT_RECORDED);
    }
    0
}

#[tracepoint(category = "block", name = "block_rq_complete")]
pub fn block_latency_complete(ctx: TracePointContext) -> u32 {
    let fields = (
        tracepoint_field::<u32, 8>(&ctx, global(&COMPLETE_DEV_OFFSET)),
        tracepoint_field::<u64, 16>(&ctx, global(&COMPLETE_SECTOR_OFFSET)),
    );
    let (Some(dev), Some(sector)) = fields else {
        return 0;
    };
    let key = RequestKey {
        dev,
        _pad: 0,
        sector,
    };
    // Only target requests are in flight, so this lookup is the filter.
    let Some(request) = IN_FLIGHT.get_ptr(&key) else {
        return 0;
    };
    // SAFETY: a copy out of the map value.
    let request = unsafe { *request };
    let _ = IN_FLIGHT.remove(&key);
    // SAFETY: the helper has no preconditions.
    let latency = unsafe { bpf_ktime_get_ns() }.saturating_sub(request.start_ns);
    if !rows::add(&ROWS, request.cgroup, row_of(dev, request.op), latency) {
        increment(&LOST, LOST_ROWS_FULL);
    }
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
