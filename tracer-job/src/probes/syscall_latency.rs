//! `syscall-latency`: log2 histograms of the time between raw_syscalls sys_enter and
//! sys_exit, for all syscalls together or one per syscall, and with `--per-pod` one per
//! pod container too.

use std::collections::{BTreeMap, HashMap};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use ebpf_common::{
    hist::{BUCKETS, bucket_bounds},
    rows::BucketKey,
    syscall_latency::{HistRow, LOST_ROWS_FULL, LOST_START_NOT_RECORDED, MAX_IN_FLIGHT, ROWS},
};
use tracer_protocol::{Bucket, Record};

use super::{
    Probe, attach_raw_tracepoint,
    filter::FilterGlobals,
    hists, load, maps,
    owners::{Key, Owners},
    slots, without_events,
};
use crate::{failure::Failure, syscalls, targets::ResolvedTargets};

const NAME: &str = "syscall-latency";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscall-latency"));

pub struct SyscallLatency {
    by_syscall: bool,
    hist: PerCpuArray<MapData, HistRow>,
    row_count: PerCpuArray<MapData, u64>,
    lost: PerCpuArray<MapData, u64>,
    /// With `--per-pod`, the rows by cgroup, who each cgroup is, and what was written.
    per_pod: Option<(
        PerCpuHashMap<MapData, BucketKey, u64>,
        Owners,
        hists::Snapshots,
    )>,
    /// Counts last written per row, to skip unchanged rows between snapshots.
    written: HashMap<u32, u64>,
    lost_written: Option<u64>,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

impl SyscallLatency {
    pub fn attach(
        by_syscall: bool,
        min_latency_ns: u64,
        per_pod: bool,
        targets: &ResolvedTargets,
    ) -> Result<Self, Failure> {
        let (exit_nr, exit_group_nr) = syscalls::exit_numbers();
        let by_syscall_flag = u8::from(by_syscall);
        let filter = FilterGlobals::new(targets);
        let per_pod_flag = u8::from(per_pod);
        let rows = if by_syscall && !per_pod { ROWS } else { 1 };
        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        without_events(&mut loader);
        loader
            .map_max_entries("IN_FLIGHT", slots::in_flight(MAX_IN_FLIGHT))
            .map_max_entries("LATENCY_HIST", rows)
            .map_max_entries("ROW_COUNT", rows);
        if !per_pod {
            loader.map_max_entries("KEYED_HIST", 1);
        }
        loader
            .override_global("BY_SYSCALL", &by_syscall_flag, true)
            .override_global("PER_POD", &per_pod_flag, true)
            .override_global("MIN_LATENCY_NS", &min_latency_ns, true)
            .override_global("EXIT_NR", &exit_nr, true)
            .override_global("EXIT_GROUP_NR", &exit_group_nr, true);
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        // Exit first: an enter recorded before its exit program runs is simply unmatched.
        for (program, tracepoint) in [
            ("syscall_latency_exit", "sys_exit"),
            ("syscall_latency_enter", "sys_enter"),
        ] {
            attach_raw_tracepoint(&mut ebpf, program, tracepoint)?;
        }
        let per_pod = if per_pod {
            Some((
                maps::take(&mut ebpf, "KEYED_HIST")?,
                Owners::new(targets),
                hists::Snapshots::new(NAME, "latency", "ns"),
            ))
        } else {
            None
        };
        Ok(SyscallLatency {
            per_pod,
            by_syscall,
            hist: maps::take(&mut ebpf, "LATENCY_HIST")?,
            row_count: maps::take(&mut ebpf, "ROW_COUNT")?,
            lost: maps::take(&mut ebpf, "LOST")?,
            written: HashMap::new(),
            lost_written: None,
            ebpf,
        })
    }

    fn rows_in_use(&self) -> Result<Vec<(u32, u64)>, Failure> {
        let rows = if self.by_syscall { ROWS } else { 1 };
        let mut in_use = Vec::new();
        for row in 0..rows {
            let count = sum(&self.row_count, row)?;
            if count > 0 {
                in_use.push((row, count));
            }
        }
        Ok(in_use)
    }

    fn row_buckets(&self, row: u32) -> Result<Vec<Bucket>, Failure> {
        let per_cpu = self
            .hist
            .get(&row, 0)
            .map_err(|err| Failure::from_kernel("reading a histogram", &err))?;
        let mut totals: HistRow = [0; BUCKETS as usize];
        for cpu_row in per_cpu.iter() {
            for (total, count) in totals.iter_mut().zip(cpu_row) {
                *total = total.wrapping_add(*count);
            }
        }
        Ok((0..BUCKETS)
            .zip(totals)
            .filter(|(_, count)| *count > 0)
            .map(|(bucket, count)| {
                let (low, high) = bucket_bounds(bucket);
                Bucket { low, high, count }
            })
            .collect())
    }

    fn key(&self, row: u32) -> BTreeMap<String, String> {
        if self.by_syscall {
            BTreeMap::from([("syscall".to_owned(), syscalls::name(u64::from(row)))])
        } else {
            BTreeMap::new()
        }
    }
}

impl Probe for SyscallLatency {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        if let Some((counters, owners, snapshots)) = &mut self.per_pod {
            let mut rows: BTreeMap<Key, hists::Row> = BTreeMap::new();
            for ((cgroup, row), counts) in hists::read_counters(counters)? {
                let mut key = owners.key(cgroup);
                if self.by_syscall {
                    key.insert("syscall".to_owned(), syscalls::name(row));
                }
                hists::add(rows.entry(key).or_insert(hists::EMPTY), &counts);
            }
            snapshots.write(rows, complete, out);
            let lost = sum(&self.lost, LOST_START_NOT_RECORDED)?
                .wrapping_add(sum(&self.lost, LOST_ROWS_FULL)?);
            snapshots.lost(lost, complete, out);
            return Ok(());
        }
        let mut rows = self.rows_in_use()?;
        if complete && rows.is_empty() && !self.by_syscall {
            // An empty histogram still says "traced, nothing seen".
            rows.push((0, 0));
        }
        for (row, count) in rows {
            if !complete && self.written.get(&row) == Some(&count) {
                continue;
            }
            out.push(Record::Hist {
                probe: NAME.to_owned(),
                name: "latency".to_owned(),
                key: self.key(row),
                unit: "ns".to_owned(),
                buckets: self.row_buckets(row)?,
            });
            self.written.insert(row, count);
        }
        let lost = sum(&self.lost, LOST_START_NOT_RECORDED)?;
        if complete || self.lost_written != Some(lost) {
            out.push(Record::Lost {
                probe: NAME.to_owned(),
                count: lost,
            });
            self.lost_written = Some(lost);
        }
        Ok(())
    }
}

/// The sum over CPUs of one per-CPU counter.
fn sum(map: &PerCpuArray<MapData, u64>, index: u32) -> Result<u64, Failure> {
    let values = map
        .get(&index, 0)
        .map_err(|err| Failure::from_kernel("reading a counter", &err))?;
    Ok(values.iter().fold(0u64, |total, v| total.wrapping_add(*v)))
}
