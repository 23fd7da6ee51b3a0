//! `runq-latency`: log2 histograms of how long target threads wait runnable before they
//! run; one for all, or one per pod container with `--per-pod`.

use std::collections::BTreeMap;

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use ebpf_common::{
    rows::BucketKey,
    runq_latency::{LOST_ROWS_FULL, LOST_START_NOT_RECORDED, MAX_IN_FLIGHT},
};
use tracer_protocol::Record;

use super::{
    Probe, attach_raw_tracepoint,
    filter::FilterGlobals,
    hists::{self, Row},
    load, maps,
    owners::{Key, Owners},
    slots, task, without_events,
};
use crate::{failure::Failure, targets::ResolvedTargets};

const NAME: &str = "runq-latency";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/runq-latency"));

pub struct RunqLatency {
    hist: PerCpuArray<MapData, Row>,
    /// With `--per-pod`, the rows by cgroup, and who each cgroup is.
    rows: Option<(PerCpuHashMap<MapData, BucketKey, u64>, Owners)>,
    lost: PerCpuArray<MapData, u64>,
    snapshots: hists::Snapshots,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

impl RunqLatency {
    pub fn attach(per_pod: bool, targets: &ResolvedTargets) -> Result<Self, Failure> {
        let offsets = task::Offsets::required_by(NAME)?;
        let filter = FilterGlobals::new(targets);
        let per_pod_flag = u8::from(per_pod);
        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        without_events(&mut loader);
        offsets.apply(&mut loader);
        loader
            .override_global("PER_POD", &per_pod_flag, true)
            .map_max_entries("QUEUED", slots::in_flight(MAX_IN_FLIGHT));
        if !per_pod {
            loader.map_max_entries("ROWS", 1);
        }
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        // The switch first, so no thread is queued before something can dequeue it.
        for (program, tracepoint) in [
            ("runq_latency_switch", "sched_switch"),
            ("runq_latency_wakeup", "sched_wakeup"),
            ("runq_latency_wakeup_new", "sched_wakeup_new"),
        ] {
            attach_raw_tracepoint(&mut ebpf, program, tracepoint)?;
        }
        let rows = if per_pod {
            Some((maps::take(&mut ebpf, "ROWS")?, Owners::new(targets)))
        } else {
            None
        };
        Ok(RunqLatency {
            hist: maps::take(&mut ebpf, "HIST")?,
            rows,
            lost: maps::take(&mut ebpf, "LOST")?,
            snapshots: hists::Snapshots::new(NAME, "latency", "ns"),
            ebpf,
        })
    }
}

impl Probe for RunqLatency {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        let mut rows: BTreeMap<Key, Row> = BTreeMap::new();
        match &mut self.rows {
            Some((counters, owners)) => {
                for ((cgroup, _), row) in hists::read_counters(counters)? {
                    hists::add(rows.entry(owners.key(cgroup)).or_insert(hists::EMPTY), &row);
                }
            }
            None => {
                rows.insert(Key::new(), hists::sum_rows(&self.hist, 0)?);
            }
        }
        self.snapshots.write(rows, complete, out);
        let lost = hists::sum(&self.lost, LOST_START_NOT_RECORDED)?
            .wrapping_add(hists::sum(&self.lost, LOST_ROWS_FULL)?);
        self.snapshots.lost(lost, complete, out);
        Ok(())
    }
}
