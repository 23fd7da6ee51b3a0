//! `syscall-count`: how many syscalls each target made, by syscall and by errno, as
//! cumulative `count` records named `calls`.

use std::collections::{BTreeMap, HashMap};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use ebpf_common::syscall_count::{CountKey, LOST_MAP_FULL};
use tracer_protocol::Record;

use super::{Probe, attach_tracepoint, filter::FilterGlobals, hists, load, maps};
use crate::{failure::Failure, names, syscalls, targets::ResolvedTargets, tracefs::Format};

const NAME: &str = "syscall-count";

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/syscall-count"));

pub struct SyscallCount {
    counts: PerCpuHashMap<MapData, CountKey, u64>,
    lost: PerCpuArray<MapData, u64>,
    written: HashMap<CountKey, u64>,
    snapshots: hists::Snapshots,
    /// Holds the program and its link; dropping it detaches them.
    ebpf: Ebpf,
}

impl SyscallCount {
    pub fn attach(targets: &ResolvedTargets) -> Result<Self, Failure> {
        let exit = Format::load("raw_syscalls", "sys_exit")?;
        let id_offset = exit.offset("id", 8)?;
        let ret_offset = exit.offset("ret", 8)?;
        let filter = FilterGlobals::new(targets);
        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        loader
            .override_global("EXIT_ID_OFFSET", &id_offset, true)
            .override_global("EXIT_RET_OFFSET", &ret_offset, true);
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        attach_tracepoint(&mut ebpf, "syscall_count_exit", "raw_syscalls", "sys_exit")?;
        Ok(SyscallCount {
            counts: maps::take(&mut ebpf, "COUNTS")?,
            lost: maps::take(&mut ebpf, "LOST")?,
            written: HashMap::new(),
            snapshots: hists::Snapshots::new(NAME, "calls", ""),
            ebpf,
        })
    }
}

/// The key of a (syscall, errno) row: `syscall`, and `error` for failures only.
fn key(count: &CountKey) -> BTreeMap<String, String> {
    let mut key = BTreeMap::from([("syscall".to_owned(), syscalls::name(u64::from(count.nr)))]);
    if count.errno != 0 {
        key.insert("error".to_owned(), names::errno(i64::from(count.errno)));
    }
    key
}

impl Probe for SyscallCount {
    fn ebpf(&self) -> &Ebpf {
        &self.ebpf
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn snapshot(&mut self, complete: bool, out: &mut Vec<Record>) -> Result<(), Failure> {
        for entry in self.counts.iter() {
            let (count_key, per_cpu) =
                entry.map_err(|err| Failure::from_kernel("reading the syscall counts", &err))?;
            let value = per_cpu.iter().fold(0u64, |total, v| total.wrapping_add(*v));
            if !complete && self.written.get(&count_key) == Some(&value) {
                continue;
            }
            out.push(Record::Count {
                probe: NAME.to_owned(),
                name: "calls".to_owned(),
                key: key(&count_key),
                value,
            });
            self.written.insert(count_key, value);
        }
        let lost = hists::sum(&self.lost, LOST_MAP_FULL)?;
        self.snapshots.lost(lost, complete, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_the_errno_name() {
        let ok = key(&CountKey { nr: 110, errno: 0 });
        assert_eq!(ok.get("error"), None);
        assert!(ok.contains_key("syscall"));
        let failed = key(&CountKey { nr: 2, errno: 2 });
        assert_eq!(failed["error"], "ENOENT");
    }
}
