//! `block-latency`: log2 histograms of block request latency, from the request's start
//! to its completion, one per device and operation (and per pod container with
//! `--per-pod`).

use std::collections::{BTreeMap, HashMap};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use ebpf_common::{
    block_latency::{LOST_ROWS_FULL, LOST_START_NOT_RECORDED, MAX_IN_FLIGHT, op_name, split_row},
    rows::BucketKey,
};
use tracer_protocol::{ErrorCode, Record};

use super::{
    Probe, attach_tracepoint,
    filter::FilterGlobals,
    hists::{self, Row},
    load, maps,
    owners::{Key, Owners},
    slots, without_events,
};
use crate::{
    failure::Failure,
    targets::ResolvedTargets,
    tracefs::{self, Format},
};

const NAME: &str = "block-latency";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/block-latency"));

pub struct BlockLatency {
    rows: PerCpuHashMap<MapData, BucketKey, u64>,
    /// With `--per-pod`, who each cgroup is.
    owners: Option<Owners>,
    devices: DeviceNames,
    lost: PerCpuArray<MapData, u64>,
    snapshots: hists::Snapshots,
    /// Holds the programs and their links; dropping it detaches them.
    ebpf: Ebpf,
}

impl BlockLatency {
    pub fn attach(per_pod: bool, targets: &ResolvedTargets) -> Result<Self, Failure> {
        // block_io_start (Linux 6.5) runs in the submitter's context; block_rq_issue,
        // before it, may run in a kworker that dispatches the queue.
        let start = if tracefs::has_tracepoint("block", "block_io_start") {
            "block_io_start"
        } else {
            "block_rq_issue"
        };
        let start_format = Format::load("block", start)?;
        let complete_format = Format::load("block", "block_rq_complete")?;
        let rwbs = start_format.field("rwbs")?;
        if rwbs.size < 2 {
            return Err(Failure::new(
                ErrorCode::KernelUnsupported,
                format!("tracepoint block:{start} field rwbs is {} bytes", rwbs.size),
                "this kernel's tracepoint layout differs from what the probe knows",
            ));
        }
        let offsets = [
            ("START_DEV_OFFSET", start_format.offset("dev", 4)?),
            ("START_SECTOR_OFFSET", start_format.offset("sector", 8)?),
            ("START_RWBS_OFFSET", rwbs.offset),
            ("COMPLETE_DEV_OFFSET", complete_format.offset("dev", 4)?),
            (
                "COMPLETE_SECTOR_OFFSET",
                complete_format.offset("sector", 8)?,
            ),
        ];
        let filter = FilterGlobals::new(targets);
        let per_pod_flag = u8::from(per_pod);
        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        without_events(&mut loader);
        loader
            .override_global("PER_POD", &per_pod_flag, true)
            .map_max_entries("IN_FLIGHT", slots::in_flight(MAX_IN_FLIGHT));
        for (name, offset) in &offsets {
            loader.override_global(name, offset, true);
        }
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        // Completion first, so no request starts before something can end it.
        attach_tracepoint(
            &mut ebpf,
            "block_latency_complete",
            "block",
            "block_rq_complete",
        )?;
        attach_tracepoint(&mut ebpf, "block_latency_start", "block", start)?;
        Ok(BlockLatency {
            rows: maps::take(&mut ebpf, "ROWS")?,
            owners: per_pod.then(|| Owners::new(targets)),
            devices: DeviceNames::default(),
            lost: maps::take(&mut ebpf, "LOST")?,
            snapshots: hists::Snapshots::new(NAME, "latency", "ns"),
            ebpf,
        })
    }
}

impl Probe for BlockLatency {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        let mut rows: BTreeMap<Key, Row> = BTreeMap::new();
        for ((cgroup, row), counts) in hists::read_counters(&self.rows)? {
            let mut key = match &mut self.owners {
                Some(owners) => owners.key(cgroup),
                None => Key::new(),
            };
            let (dev, op) = split_row(row);
            key.insert("device".to_owned(), self.devices.name(dev));
            key.insert("op".to_owned(), op_name(op).to_owned());
            hists::add(rows.entry(key).or_insert(hists::EMPTY), &counts);
        }
        self.snapshots.write(rows, complete, out);
        let lost = hists::sum(&self.lost, LOST_START_NOT_RECORDED)?
            .wrapping_add(hists::sum(&self.lost, LOST_ROWS_FULL)?);
        self.snapshots.lost(lost, complete, out);
        Ok(())
    }
}

/// Block device names by the kernel's `dev_t` (major in the high 12 bits, minor in the
/// low 20), from `/sys/dev/block/MAJOR:MINOR/uevent`.
#[derive(Default)]
struct DeviceNames {
    known: HashMap<u32, String>,
}

impl DeviceNames {
    fn name(&mut self, dev: u32) -> String {
        self.known
            .entry(dev)
            .or_insert_with(|| {
                let (major, minor) = (dev >> 20, dev & 0xf_ffff);
                std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
                    .ok()
                    .and_then(|uevent| devname(&uevent))
                    .unwrap_or_else(|| format!("{major}:{minor}"))
            })
            .clone()
    }
}

fn devname(uevent: &str) -> Option<String> {
    uevent
        .lines()
        .find_map(|line| line.strip_prefix("DEVNAME="))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_devices_from_uevent_or_numbers() {
        assert_eq!(
            devname("MAJOR=7\nMINOR=0\nDEVNAME=loop0\nDEVTYPE=disk\n"),
            Some("loop0".to_owned())
        );
        assert_eq!(devname("MAJOR=7\n"), None);
        let mut names = DeviceNames::default();
        // No device has major 4095 minor 1048575.
        assert_eq!(names.name(u32::MAX), "4095:1048575");
    }
}
