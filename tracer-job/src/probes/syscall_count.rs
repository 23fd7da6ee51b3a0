//! `syscall-count`: how many syscalls each target made, by syscall and by errno, as
//! cumulative `count` records named `calls`.

use std::collections::{BTreeMap, HashMap};

use aya::{
    Ebpf, EbpfLoader,
    maps::{MapData, PerCpuArray, PerCpuHashMap},
};
use ebpf_common::syscall_count::{CountKey, LOST_MAP_FULL};
use tracer_protocol::Record;

use super::{
    Probe, attach_raw_tracepoint, filter::FilterGlobals, hists, load, maps, without_events,
};
use crate::{failure::Failure, names, syscalls, targets::ResolvedTargets};

const NAME: &str = "syscall-count";

/// Where `struct pt_regs` keeps the syscall number, and whether it is 32 bits wide there:
/// x86-64's `orig_ax`, arm64's `syscallno`. Both layouts are the kernel's user ABI.
#[cfg(target_arch = "x86_64")]
const PT_REGS_NR: (u32, bool) = (15 * 8, false);
#[cfg(target_arch = "aarch64")]
const PT_REGS_NR: (u32, bool) = (34 * 8 + 8, true);

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
        let (nr_offset, nr_32_bit) = PT_REGS_NR;
        let nr_32_bit = u8::from(nr_32_bit);
        let filter = FilterGlobals::new(targets);
        let mut loader = EbpfLoader::new();
        filter.apply(&mut loader);
        without_events(&mut loader);
        loader
            .override_global("PT_REGS_NR_OFFSET", &nr_offset, true)
            .override_global("PT_REGS_NR_32_BIT", &nr_32_bit, true);
        let mut ebpf = load(loader, OBJECT, NAME, targets)?;
        attach_raw_tracepoint(&mut ebpf, "syscall_count_exit", "sys_exit")?;
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
