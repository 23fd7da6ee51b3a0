//! `profile`: on-CPU stacks of the targets. A software cpu-clock perf event samples every
//! CPU at the spec's frequency; the kernel counts samples by (cgroup, process, user stack,
//! kernel stack). At each snapshot the tracer reads the counts, symbolizes stacks it has
//! not seen yet (`crate::symbols`; each is symbolized once, so processes that exit
//! between snapshots keep their names) and writes one cumulative `count` record named
//! `samples` per folded stack, keyed by who the cgroup belongs to (`namespace`, `pod`,
//! `container`, or `cgroup`), `comm` and `stack` (frames from the outermost, `;`
//! separated, kernel frames marked `_[k]`). Beside them: `symbolize_ms` (time spent
//! symbolizing) and the `lost` record (stacks the kernel could not store, keys that found
//! the count map full).
//!
//! Off-CPU (`Mode::off_cpu`), the sched_switch program counts nanoseconds blocked
//! instead of samples; the records are named `blocked_us` and carry microseconds.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap as KernelHashMap, MapData, PerCpuArray, PerCpuHashMap},
    programs::{
        PerfEvent,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
    util::online_cpus,
};
use ebpf_common::profile::{
    FIRST_STACK_ID, LOST_BLOCK_NOT_RECORDED, LOST_MAP_FULL, LOST_STACK, MAX_BLOCKED, NO_STACK,
    STACK_LOST, SampleCount, SampleKey, Stack,
};
use tracer_protocol::{ErrorCode, Record};

use super::{
    Probe, attach_raw_tracepoint, events,
    filter::FilterGlobals,
    hists, load, maps, missing_program,
    owners::{Key, Owners},
    slots, task, without_events,
};
use crate::{
    failure::Failure,
    symbols::{KERNEL_SUFFIX, Symbols},
    targets::ResolvedTargets,
};

const NAME: &str = "profile";

const PROGRAM: &str = "profile_sample";

const OFF_CPU_PROGRAM: &str = "profile_off_cpu";

/// What the profile takes.
pub struct Mode {
    pub frequency_hz: u64,
    pub user: bool,
    pub kernel: bool,
    /// Off-CPU time instead of samples, leaving out blocks shorter than this many ns.
    pub off_cpu: Option<u64>,
}

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/profile"));

/// Longest folded stack written, so a record stays well under the line limit; deeper
/// stacks lose frames from their middle.
const MAX_STACK_BYTES: usize = 12 * 1024;

pub struct Profile {
    counts: PerCpuHashMap<MapData, SampleKey, SampleCount>,
    stacks: KernelHashMap<MapData, u64, Stack>,
    lost: PerCpuArray<MapData, u64>,
    owners: Owners,
    symbols: Symbols,
    /// Frames of each stack, outermost first, symbolized once: a stack id is the hash of
    /// its frames, so it names the same stack for the whole trace.
    kernel_frames: HashMap<u64, Vec<String>>,
    user_frames: HashMap<(u32, u64), Vec<String>>,
    /// How each key is shown, from its first snapshot on: the thread name it was first
    /// seen with stays, so its row keeps its key.
    shown: HashMap<SampleKey, Shown>,
    written: HashMap<Key, u64>,
    symbolizing: Duration,
    /// The count's name: `samples`, or `blocked_us` off-CPU.
    count_name: &'static str,
    /// Kernel values per unit written (1, or 1000 ns per µs off-CPU).
    per_unit: u64,
    snapshots: hists::Snapshots,
    /// Holds the program and its perf events; dropping it detaches them.
    ebpf: Ebpf,
}

/// A key's columns.
struct Shown {
    comm: String,
    /// Its folded stack.
    stack: String,
}

impl Profile {
    pub fn attach(mode: &Mode, targets: &ResolvedTargets) -> Result<Self, Failure> {
        let filter = FilterGlobals::new(targets);
        let user_stacks = u8::from(mode.user);
        let kernel_stacks = u8::from(mode.kernel);
        let min_block_ns = mode.off_cpu.unwrap_or(0);
        // Off-CPU finds the switched-in thread's id through the kernel's BTF.
        let offsets = match mode.off_cpu {
            Some(_) => task::Offsets::required_by(NAME)?,
            None => task::Offsets::default(),
        };
        // Only the off-CPU program keeps sleeping threads.
        let blocked_entries = match mode.off_cpu {
            Some(_) => slots::in_flight(MAX_BLOCKED),
            None => 1,
        };
        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        without_events(&mut loader);
        offsets.apply(&mut loader);
        loader
            .override_global("USER_STACKS", &user_stacks, true)
            .override_global("KERNEL_STACKS", &kernel_stacks, true)
            .override_global("MIN_BLOCK_NS", &min_block_ns, true)
            .map_max_entries("BLOCKED", blocked_entries);
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        let (count_name, per_unit) = match mode.off_cpu {
            Some(_) => {
                attach_raw_tracepoint(&mut ebpf, OFF_CPU_PROGRAM, "sched_switch")?;
                ("blocked_us", 1000)
            }
            None => {
                attach_every_cpu(&mut ebpf, mode.frequency_hz)?;
                ("samples", 1)
            }
        };
        Ok(Profile {
            counts: maps::take(&mut ebpf, "COUNTS")?,
            stacks: maps::take(&mut ebpf, "STACKS")?,
            lost: maps::take(&mut ebpf, "LOST")?,
            owners: Owners::new(targets),
            symbols: Symbols::new(),
            kernel_frames: HashMap::new(),
            user_frames: HashMap::new(),
            shown: HashMap::new(),
            written: HashMap::new(),
            symbolizing: Duration::ZERO,
            count_name,
            per_unit,
            snapshots: hists::Snapshots::new(NAME, count_name, count_name),
            ebpf,
        })
    }

    /// Samples per key, summed over CPUs, with the thread name first seen.
    fn samples(&self) -> Result<BTreeMap<SampleKey, (u64, String)>, Failure> {
        let mut samples: BTreeMap<SampleKey, (u64, String)> = BTreeMap::new();
        for entry in self.counts.iter() {
            let (key, per_cpu) =
                entry.map_err(|err| Failure::from_kernel("reading profile samples", &err))?;
            let (total, comm) = samples.entry(key).or_default();
            for count in per_cpu.iter() {
                *total = total.wrapping_add(count.samples);
                if comm.is_empty() {
                    *comm = events::text(&count.comm);
                }
            }
        }
        Ok(samples)
    }

    /// The frames of a stack, innermost first, as the stack map holds them.
    fn addresses(&self, id: u64) -> Option<Vec<u64>> {
        let stack = self.stacks.get(&id, 0).ok()?;
        Some(stack.frames().to_vec())
    }

    /// Symbolizes the stacks of `keys` not symbolized yet: all kernel stacks in one
    /// lookup, and the user stacks of each process in one.
    fn symbolize_new<'a>(&mut self, keys: impl Iterator<Item = &'a SampleKey>) {
        let mut kernel: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        let mut user: BTreeMap<u32, BTreeMap<u64, Vec<u64>>> = BTreeMap::new();
        for key in keys {
            let id = key.kernel_stack;
            if id >= FIRST_STACK_ID
                && !self.kernel_frames.contains_key(&id)
                && !kernel.contains_key(&id)
                && let Some(addrs) = self.addresses(id)
            {
                kernel.insert(id, addrs);
            }
            let id = key.user_stack;
            let stacks = user.entry(key.tgid).or_default();
            if id >= FIRST_STACK_ID
                && !self.user_frames.contains_key(&(key.tgid, id))
                && !stacks.contains_key(&id)
                && let Some(addrs) = self.addresses(id)
            {
                stacks.insert(id, addrs);
            }
        }
        let (ids, stacks): (Vec<u64>, Vec<&[u64]>) = kernel
            .iter()
            .map(|(id, addrs)| (*id, addrs.as_slice()))
            .unzip();
        for (id, frames) in ids.into_iter().zip(self.symbols.kernel_stacks(&stacks)) {
            let mut frames = without_tracing(frames);
            frames.reverse();
            self.kernel_frames.insert(id, frames);
        }
        for (pid, by_id) in user {
            let (ids, stacks): (Vec<u64>, Vec<&[u64]>) = by_id
                .iter()
                .map(|(id, addrs)| (*id, addrs.as_slice()))
                .unzip();
            for (id, mut frames) in ids.into_iter().zip(self.symbols.user_stacks(pid, &stacks)) {
                frames.reverse();
                self.user_frames.insert((pid, id), frames);
            }
        }
    }

    fn kernel(&self, id: u64) -> Vec<String> {
        match id {
            NO_STACK => Vec::new(),
            STACK_LOST => vec![format!("[kernel stack lost]{KERNEL_SUFFIX}")],
            _ => self
                .kernel_frames
                .get(&id)
                .cloned()
                .unwrap_or_else(|| vec![format!("[kernel stack unreadable]{KERNEL_SUFFIX}")]),
        }
    }

    fn user(&self, pid: u32, id: u64) -> Vec<String> {
        match id {
            NO_STACK => Vec::new(),
            STACK_LOST => vec!["[user stack lost]".to_owned()],
            _ => self
                .user_frames
                .get(&(pid, id))
                .cloned()
                .unwrap_or_else(|| vec!["[user stack unreadable]".to_owned()]),
        }
    }

    /// The sample's frames from the outermost, `;` separated: user frames, then the
    /// kernel frames of the syscall, fault or interrupt it was in.
    fn folded(&self, key: &SampleKey) -> String {
        let mut frames = self.user(key.tgid, key.user_stack);
        frames.extend(self.kernel(key.kernel_stack));
        if frames.is_empty() {
            return "[no stack]".to_owned();
        }
        fold(&frames, MAX_STACK_BYTES)
    }
}

impl Probe for Profile {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        let samples = self.samples()?;
        let started = Instant::now();
        let new: Vec<&SampleKey> = samples
            .keys()
            .filter(|key| !self.shown.contains_key(key))
            .collect();
        self.symbolize_new(new.iter().copied());
        for key in new {
            let shown = Shown {
                comm: samples[key].1.clone(),
                stack: self.folded(key),
            };
            self.shown.insert(*key, shown);
        }
        self.symbolizing += started.elapsed();
        // Keys whose columns come out the same (threads of one name in several
        // processes, several cgroups of one container) are added up.
        let mut rows: BTreeMap<Key, u64> = BTreeMap::new();
        for (key, (count, _)) in &samples {
            let Some(shown) = self.shown.get(key) else {
                continue;
            };
            let mut row = self.owners.key(key.cgroup);
            row.insert("comm".to_owned(), shown.comm.clone());
            row.insert("stack".to_owned(), shown.stack.clone());
            let total = rows.entry(row).or_default();
            *total = total.wrapping_add(*count);
        }
        for (key, value) in rows {
            let value = value / self.per_unit;
            if value == 0 || (!complete && self.written.get(&key) == Some(&value)) {
                continue;
            }
            self.written.insert(key.clone(), value);
            out.push(Record::Count {
                probe: NAME.to_owned(),
                name: self.count_name.to_owned(),
                key,
                value,
            });
        }
        if complete {
            out.push(Record::Count {
                probe: NAME.to_owned(),
                name: "symbolize_ms".to_owned(),
                key: Key::new(),
                value: u64::try_from(self.symbolizing.as_millis()).unwrap_or(u64::MAX),
            });
        }
        let lost = hists::sum(&self.lost, LOST_STACK)?
            .wrapping_add(hists::sum(&self.lost, LOST_MAP_FULL)?)
            .wrapping_add(hists::sum(&self.lost, LOST_BLOCK_NOT_RECORDED)?);
        self.snapshots.lost(lost, complete, out);
        Ok(())
    }
}

/// Loads the sampling program and opens one cpu-clock event per online CPU for it.
fn attach_every_cpu(ebpf: &mut Ebpf, frequency_hz: u64) -> Result<(), Failure> {
    let what = format!("attaching {PROGRAM} to cpu-clock perf events at {frequency_hz} Hz");
    let program: &mut PerfEvent = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| missing_program(PROGRAM))?
        .try_into()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    program
        .load()
        .map_err(|err| Failure::from_kernel(&what, &err))?;
    let cpus = online_cpus().map_err(|(file, err)| {
        Failure::new(
            ErrorCode::Internal,
            format!("cannot read the online CPUs from {file}: {err}"),
            "is /sys mounted?",
        )
    })?;
    for cpu in cpus {
        program
            .attach(
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                PerfEventScope::AllProcessesOneCpu { cpu },
                SamplePolicy::Frequency(frequency_hz),
                false,
            )
            .map_err(|err| Failure::from_kernel(&what, &err))?;
    }
    Ok(())
}

/// A kernel stack, innermost first, without the frames of the tracing that took it: a
/// stack taken at a tracepoint (off-CPU) starts in the BPF program and the tracepoint's
/// dispatch, above the function that hit the tracepoint.
fn without_tracing(frames: Vec<String>) -> Vec<String> {
    const TRACING: [&str; 4] = ["bpf_prog_", "bpf_trace_run", "__bpf_trace_", "__traceiter_"];
    let skip = frames
        .iter()
        .take_while(|frame| TRACING.iter().any(|prefix| frame.starts_with(prefix)))
        .count();
    // A stack of nothing but tracing keeps its frames rather than become empty.
    if skip == frames.len() {
        return frames;
    }
    frames.into_iter().skip(skip).collect()
}

/// Frames joined by `;`; when longer than `max` bytes, frames from the middle are left
/// out (the outermost and innermost tell the most) and a marker says how many.
fn fold(frames: &[String], max: usize) -> String {
    let joined = frames.join(";");
    if joined.len() <= max {
        return joined;
    }
    let half = max / 2;
    let mut head = 0;
    let mut used = 0;
    while head < frames.len() && used + frames[head].len() < half {
        used += frames[head].len() + 1;
        head += 1;
    }
    let mut tail = frames.len();
    used = 0;
    while tail > head && used + frames[tail - 1].len() < half {
        used += frames[tail - 1].len() + 1;
        tail -= 1;
    }
    let mut parts: Vec<String> = frames[..head].to_vec();
    parts.push(format!("[{} frames left out]", tail - head));
    parts.extend_from_slice(&frames[tail..]);
    parts.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracing_frames_on_top_of_a_stack_go() {
        let frames = |names: &[&str]| -> Vec<String> {
            names.iter().map(|name| format!("{name}_[k]")).collect()
        };
        assert_eq!(
            without_tracing(frames(&[
                "bpf_prog_49377bd1434b404a_profile_off_cpu",
                "bpf_trace_run4",
                "__schedule",
                "schedule",
            ])),
            frames(&["__schedule", "schedule"])
        );
        assert_eq!(
            without_tracing(frames(&["bpf_trace_run4"])),
            frames(&["bpf_trace_run4"])
        );
    }

    #[test]
    fn deep_stacks_lose_their_middle() {
        let frames: Vec<String> = (0..100).map(|i| format!("frame{i:03}")).collect();
        assert_eq!(fold(&frames[..3], 100), "frame000;frame001;frame002");
        let folded = fold(&frames, 100);
        assert!(folded.len() <= 100 + 30, "{folded}");
        assert!(folded.starts_with("frame000;"), "{folded}");
        assert!(folded.ends_with(";frame099"), "{folded}");
        assert!(folded.contains("frames left out]"), "{folded}");
    }
}
