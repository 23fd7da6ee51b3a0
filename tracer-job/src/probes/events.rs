//! The user side of a probe's event ring buffer (`ebpf/probes/src/events.rs`): drains it
//! into `event` records and reports what the kernel could not fit.

use std::os::fd::{AsRawFd, RawFd};

use aya::{
    Ebpf,
    maps::{MapData, PerCpuArray, RingBuf},
};
use ebpf_common::event::EventHeader;
use serde_json::{Map, Value};
use tracer_protocol::Record;

use super::{Probe, maps};
use crate::failure::Failure;

/// Most events taken from a ring at a time: the tracer writes them before it takes more,
/// so however many wait, it holds one batch.
const BATCH: usize = 4_096;

/// The fields a probe decodes from one raw event, beyond the common header.
pub type Fields = Map<String, Value>;

/// Reads a probe's own fields from one raw event (header included).
pub type Decoder = fn(&[u8]) -> Option<Fields>;

/// A probe whose only output is its event stream (and the count of what it lost).
pub struct EventProbe {
    name: &'static str,
    events: EventStream,
    decode: Decoder,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

impl EventProbe {
    /// Wraps a loaded, attached probe object whose events `decode` reads.
    pub fn new(mut ebpf: Ebpf, name: &'static str, decode: Decoder) -> Result<Self, Failure> {
        Ok(EventProbe {
            name,
            events: EventStream::take(&mut ebpf, name)?,
            decode,
            ebpf,
        })
    }
}

impl Probe for EventProbe {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        self.name
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        self.events.lost_record(complete, out)
    }

    fn events(&mut self) -> Option<(&mut EventStream, Decoder)> {
        Some((&mut self.events, self.decode))
    }
}

/// A probe whose events are decoded with what it learned when it attached (the generic
/// sources: tracefs formats, probed functions), kept in `context`.
pub struct ContextProbe<C> {
    name: &'static str,
    events: EventStream,
    context: C,
    decode: fn(&C, &[u8]) -> Option<Fields>,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

impl<C> ContextProbe<C> {
    pub fn new(
        mut ebpf: Ebpf,
        name: &'static str,
        context: C,
        decode: fn(&C, &[u8]) -> Option<Fields>,
    ) -> Result<Self, Failure> {
        Ok(ContextProbe {
            name,
            events: EventStream::take(&mut ebpf, name)?,
            context,
            decode,
            ebpf,
        })
    }
}

impl<C> Probe for ContextProbe<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        self.events.lost_record(complete, out)
    }

    fn event_fd(&mut self) -> Option<RawFd> {
        Some(self.events.fd())
    }

    fn drain_events(&mut self, out: &mut Vec<Record>) -> bool {
        let (context, decode) = (&self.context, self.decode);
        self.events.drain(out, |bytes| decode(context, bytes))
    }

    fn end(&mut self) {
        self.events.end();
    }
}

pub struct EventStream {
    probe: &'static str,
    ring: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    lost_written: Option<u64>,
    /// Added to the kernel's monotonic clock to get Unix time.
    realtime_offset_ns: i128,
    /// Events the probe could not decode (a tracer and object that disagree).
    undecodable: u64,
    /// When the trace ended, on the kernel's clock: later events are past its end.
    ended_ns: Option<u64>,
}

impl EventStream {
    /// Takes the ring buffer and loss counter out of a loaded probe.
    pub fn take(ebpf: &mut Ebpf, probe: &'static str) -> Result<Self, Failure> {
        Ok(EventStream {
            probe,
            ring: maps::take(ebpf, "EVENTS")?,
            lost: maps::take(ebpf, "EVENTS_LOST")?,
            lost_written: None,
            realtime_offset_ns: realtime_offset_ns(),
            undecodable: 0,
            ended_ns: None,
        })
    }

    /// The trace ends now: the drains that follow stop at the first event stamped later.
    /// While a node floods the ring, the last drain would otherwise go on taking events
    /// that happened after the end, for as long as the reader is slower than the flood.
    pub fn end(&mut self) {
        self.ended_ns = u64::try_from(clock_ns(libc::CLOCK_MONOTONIC)).ok();
    }

    /// Whether the trace has ended.
    pub fn ended(&self) -> bool {
        self.ended_ns.is_some()
    }

    pub fn fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// Turns up to a batch of waiting events into records; `decode` reads the probe's own
    /// fields. True when the batch was full, so more may wait.
    pub fn drain(
        &mut self,
        out: &mut Vec<Record>,
        mut decode: impl FnMut(&[u8]) -> Option<Fields>,
    ) -> bool {
        let offset = self.realtime_offset_ns;
        let ended_ns = self.ended_ns;
        for _ in 0..BATCH {
            let Some(item) = self.ring.next() else {
                return false;
            };
            let bytes: &[u8] = &item;
            let Some(header) = read::<EventHeader>(bytes) else {
                self.undecodable += 1;
                continue;
            };
            if ended_ns.is_some_and(|ended| header.time_ns > ended) {
                return false;
            }
            let Some(fields) = decode(bytes) else {
                self.undecodable += 1;
                continue;
            };
            out.push(Record::Event {
                probe: self.probe.to_owned(),
                time_ns: unix_ns(header.time_ns, offset),
                pid: header.pid,
                tid: header.tid,
                comm: text(&header.comm),
                cgroup: header.cgroup,
                namespace: None,
                pod: None,
                container: None,
                fields,
            });
        }
        true
    }

    /// Hands up to a batch of waiting raw events to `each`, for probes whose records are
    /// not one per event; an event `each` cannot read (it returns false) is counted lost.
    /// True when the batch was full, so more may wait.
    pub fn drain_raw(&mut self, mut each: impl FnMut(&[u8]) -> bool) -> bool {
        let ended_ns = self.ended_ns;
        for _ in 0..BATCH {
            let Some(item) = self.ring.next() else {
                return false;
            };
            let time_ns = read::<EventHeader>(&item).map(|header| header.time_ns);
            if ended_ns
                .zip(time_ns)
                .is_some_and(|(ended, time)| time > ended)
            {
                return false;
            }
            if !each(&item) {
                self.undecodable += 1;
            }
        }
        true
    }

    /// The clock that turns this stream's kernel times into Unix time.
    pub fn clock(&self) -> Clock {
        Clock {
            realtime_offset_ns: self.realtime_offset_ns,
        }
    }

    /// Events the ring had no room for, and events that could not be read.
    pub fn lost(&self) -> Result<u64, Failure> {
        let values = self
            .lost
            .get(&0, 0)
            .map_err(|err| Failure::from_kernel("reading the lost-event counter", &err))?;
        Ok(values
            .iter()
            .fold(self.undecodable, |total, v| total.wrapping_add(*v)))
    }

    /// The cumulative `lost` record, when it changed or `complete` asks for it.
    pub fn lost_record(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        let lost = self.lost()?;
        if complete || self.lost_written != Some(lost) {
            out.push(Record::Lost {
                probe: self.probe.to_owned(),
                count: lost,
            });
            self.lost_written = Some(lost);
        }
        Ok(())
    }
}

/// Turns an event's kernel time (`bpf_ktime_get_ns`) into Unix time; a copy, so records
/// can be made while the ring is being read.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    realtime_offset_ns: i128,
}

impl Clock {
    pub fn unix_ns(self, monotonic_ns: u64) -> u64 {
        unix_ns(monotonic_ns, self.realtime_offset_ns)
    }
}

fn unix_ns(monotonic_ns: u64, realtime_offset_ns: i128) -> u64 {
    u64::try_from(i128::from(monotonic_ns) + realtime_offset_ns).unwrap_or(0)
}

/// A `#[repr(C)]` plain-old-data value from the start of `bytes`, if long enough.
pub fn read<T: aya::Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: long enough, and `T: Pod` accepts any bit pattern; unaligned read.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// A NUL-terminated (or full) byte string, as text.
pub fn text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and out pointer.
    unsafe { libc::clock_gettime(clock, &mut now) };
    i128::from(now.tv_sec) * 1_000_000_000 + i128::from(now.tv_nsec)
}

/// Unix time minus `bpf_ktime_get_ns`'s clock (CLOCK_MONOTONIC), taken now.
fn realtime_offset_ns() -> i128 {
    clock_ns(libc::CLOCK_REALTIME) - clock_ns(libc::CLOCK_MONOTONIC)
}
