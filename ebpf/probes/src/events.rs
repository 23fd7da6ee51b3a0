//! The event ring buffer every event probe shares, and the header each event starts with.
//!
//! An event that finds the ring full is counted in `EVENTS_LOST`, which the tracer
//! reports, so a loss is never silent.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns,
    },
    macros::map,
    maps::{PerCpuArray, RingBuf, ring_buf::RingBufEntry},
};
use ebpf_common::event::{COMM_LEN, EventHeader, RING_BYTES};

/// The tracer resizes it before loading.
#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(RING_BYTES, 0);

/// Events that found the ring full.
#[map]
static EVENTS_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// The header for an event of the current task.
#[inline(always)]
pub fn header(pid_tgid: u64) -> EventHeader {
    EventHeader {
        // SAFETY: the helpers have no preconditions.
        time_ns: unsafe { bpf_ktime_get_ns() },
        cgroup: unsafe { bpf_get_current_cgroup_id() },
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        comm: bpf_get_current_comm().unwrap_or([0; COMM_LEN]),
    }
}

/// The header for an event of the current task, looking the ids up itself.
#[inline(always)]
pub fn current_header() -> EventHeader {
    header(bpf_get_current_pid_tgid())
}

/// Room for one `T` in the ring, or `None` (and the loss counted) when it is full.
#[inline(always)]
pub fn reserve<T: 'static>() -> Option<RingBufEntry<T>> {
    let entry = EVENTS.reserve::<T>(0);
    if entry.is_none() {
        count_lost();
    }
    entry
}

/// Bytes waiting in the ring past which an event wakes the tracer. Below it, none does:
/// the tracer drains the ring every few milliseconds anyway, and a wake-up per event (an
/// interrupt here, a context switch there) costs more than the event itself.
const WAKE_AT: u64 = 256 * 1024;

/// The flags an event is committed with: wake the tracer only when `WAKE_AT` bytes wait.
#[inline(always)]
pub fn wake_flags() -> u64 {
    let flags = if EVENTS.query(u64::from(BPF_RB_AVAIL_DATA)) >= WAKE_AT {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    u64::from(flags)
}

/// Commits a reserved event (see [`wake_flags`]).
#[inline(always)]
pub fn submit<T>(entry: RingBufEntry<T>) {
    entry.submit(wake_flags());
}

/// Copies a small event into the ring, counting it lost when the ring is full.
#[inline(always)]
pub fn output<T>(event: &T) {
    if EVENTS.output::<T>(event, wake_flags()).is_err() {
        count_lost();
    }
}

/// Copies the first `len` bytes at `data` into the ring as one event, counting it lost
/// when the ring is full. For frequent events of varying size, built in a map value.
///
/// # Safety
///
/// `data` points into a value at least `len` bytes long.
#[inline(always)]
pub unsafe fn output_bytes(data: *const u8, len: usize) {
    // SAFETY: the caller keeps `len` within the value `data` points into.
    let bytes = unsafe { core::slice::from_raw_parts(data, len) };
    if EVENTS.output::<[u8]>(bytes, wake_flags()).is_err() {
        count_lost();
    }
}

/// Counts one event lost, for probes that lose one before it reaches the ring (an
/// in-flight map that is full).
#[inline(always)]
pub fn count_lost() {
    if let Some(slot) = EVENTS_LOST.get_ptr_mut(0) {
        // SAFETY: per-CPU slot; programs on one CPU do not run concurrently.
        unsafe { *slot += 1 };
    }
}
