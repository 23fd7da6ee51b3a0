//! `cpu-time`: on-CPU nanoseconds per target process, as cumulative `count` records
//! named `on_cpu_ns`, keyed by who the process's cgroup belongs to, `pid` and `comm`.
//! Beside them, what the plugin needs for each node's share: `cpus` (online CPUs) and
//! `traced_ns` (time since attach); and where RAPL counters exist, `energy_uj` (package
//! energy since attach) and `busy_ns` (CPU time the whole node was busy, from
//! /proc/stat), for an energy estimate.

use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use ebpf_common::cpu_time::{LOST_MAP_FULL, OnCpu, ProcessKey, ProcessTime};
use tracer_protocol::Record;

use super::{
    Probe, attach_raw_tracepoint, events,
    filter::FilterGlobals,
    hists, load, maps,
    owners::{Key, Owners},
    task, without_events,
};
use crate::{failure::Failure, power, targets::ResolvedTargets};

const NAME: &str = "cpu-time";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cpu-time"));

pub struct CpuTime {
    times: PerCpuHashMap<MapData, ProcessKey, ProcessTime>,
    on_cpu: PerCpuArray<MapData, OnCpu>,
    lost: PerCpuArray<MapData, u64>,
    owners: Owners,
    attached: Instant,
    cpus: u64,
    energy: Option<power::Meter>,
    /// The name each process was first shown with: it stays, so its row keeps its key.
    comms: HashMap<ProcessKey, String>,
    /// Values last written per (counter name, key).
    written: HashMap<(&'static str, Key), u64>,
    snapshots: hists::Snapshots,
    /// Holds the program and its link; dropping it detaches them.
    ebpf: Ebpf,
}

/// One process's time as the snapshot found it.
#[derive(Default)]
struct Process {
    on_cpu_ns: u64,
    comm: String,
}

impl CpuTime {
    pub fn attach(targets: &ResolvedTargets) -> Result<Self, Failure> {
        let offsets = task::Offsets::required_by(NAME)?;
        let filter = FilterGlobals::new(targets);
        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        without_events(&mut loader);
        offsets.apply(&mut loader);
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        attach_raw_tracepoint(&mut ebpf, "cpu_time_switch", "sched_switch")?;
        Ok(CpuTime {
            times: maps::take(&mut ebpf, "TIMES")?,
            on_cpu: maps::take(&mut ebpf, "ON_CPU")?,
            lost: maps::take(&mut ebpf, "LOST")?,
            owners: Owners::new(targets),
            attached: Instant::now(),
            cpus: online_cpus(),
            energy: power::Meter::start(),
            comms: HashMap::new(),
            written: HashMap::new(),
            snapshots: hists::Snapshots::new(NAME, "on_cpu_ns", "ns"),
            ebpf,
        })
    }

    /// Every target process's time: the slices that ended, plus those still running.
    fn processes(&self) -> Result<BTreeMap<ProcessKey, Process>, Failure> {
        let mut processes: BTreeMap<ProcessKey, Process> = BTreeMap::new();
        for entry in self.times.iter() {
            let (key, per_cpu) =
                entry.map_err(|err| Failure::from_kernel("reading on-CPU times", &err))?;
            let process = processes.entry(key).or_default();
            for time in per_cpu.iter() {
                process.on_cpu_ns = process.on_cpu_ns.wrapping_add(time.on_cpu_ns);
                if process.comm.is_empty() {
                    process.comm = events::text(&time.comm);
                }
            }
        }
        // Read after the totals: a slice that ends in between is left out of this
        // snapshot (and counted in the next), never counted twice.
        let now = monotonic_ns();
        let running = self
            .on_cpu
            .get(&0, 0)
            .map_err(|err| Failure::from_kernel("reading what runs on each CPU", &err))?;
        for slot in running.iter() {
            if slot.target == 0 || slot.since_ns == 0 || slot.since_ns > now {
                continue;
            }
            let key = ProcessKey {
                cgroup: slot.cgroup,
                tgid: slot.tgid,
                _pad: 0,
            };
            let process = processes.entry(key).or_default();
            process.on_cpu_ns = process.on_cpu_ns.wrapping_add(now - slot.since_ns);
            if process.comm.is_empty() {
                process.comm = std::fs::read_to_string(format!("/proc/{}/comm", slot.tgid))
                    .map(|comm| comm.trim_end().to_owned())
                    .unwrap_or_default();
            }
        }
        Ok(processes)
    }

    fn count(
        &mut self,
        name: &'static str,
        key: Key,
        value: u64,
        complete: bool,
    ) -> Option<Record> {
        let id = (name, key);
        if !complete && self.written.get(&id) == Some(&value) {
            return None;
        }
        self.written.insert(id.clone(), value);
        Some(Record::Count {
            probe: NAME.to_owned(),
            name: name.to_owned(),
            key: id.1,
            value,
        })
    }
}

impl Probe for CpuTime {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        let processes = self.processes()?;
        // Processes whose key columns come out the same (several cgroups of one
        // container) are added up.
        let mut rows: BTreeMap<Key, u64> = BTreeMap::new();
        for (key, process) in processes {
            let mut row = self.owners.key(key.cgroup);
            row.insert("pid".to_owned(), key.tgid.to_string());
            let comm = self.comms.entry(key).or_insert(process.comm).clone();
            row.insert("comm".to_owned(), comm);
            let total = rows.entry(row).or_default();
            *total = total.wrapping_add(process.on_cpu_ns);
        }
        for (key, value) in rows {
            out.extend(self.count("on_cpu_ns", key, value, complete));
        }
        let traced_ns = u64::try_from(self.attached.elapsed().as_nanos()).unwrap_or(u64::MAX);
        out.extend(self.count("cpus", Key::new(), self.cpus, complete));
        out.extend(self.count("traced_ns", Key::new(), traced_ns, complete));
        if let Some(reading) = self.energy.as_mut().and_then(power::Meter::read) {
            out.extend(self.count("energy_uj", Key::new(), reading.energy_uj, complete));
            out.extend(self.count("busy_ns", Key::new(), reading.busy_ns, complete));
        }
        let lost = hists::sum(&self.lost, LOST_MAP_FULL)?;
        self.snapshots.lost(lost, complete, out);
        Ok(())
    }
}

fn online_cpus() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(cpus).unwrap_or(1).max(1)
}

/// `bpf_ktime_get_ns`'s clock.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    u64::try_from(now.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(now.tv_nsec).unwrap_or(0))
}
