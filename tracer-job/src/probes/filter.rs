//! The user side of the in-kernel target filter (`ebpf/probes/src/filter.rs`).

use crate::{failure::Failure, targets::ResolvedTargets};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData},
};

/// The filter's globals, held so the loader can borrow them until `load`.
pub struct FilterGlobals {
    by_pid: u8,
    by_cgroup: u8,
    tracer_tgid: u32,
    pids: u32,
    cgroups: u32,
}

impl FilterGlobals {
    pub fn new(targets: &ResolvedTargets) -> Self {
        FilterGlobals {
            by_pid: u8::from(!targets.pids.is_empty()),
            by_cgroup: u8::from(!targets.cgroup_ids.is_empty()),
            tracer_tgid: std::process::id(),
            pids: entries(targets.pids.len()),
            cgroups: entries(targets.cgroup_ids.len()),
        }
    }

    /// Sets the globals; call before `load`.
    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("FILTER_BY_PID", &self.by_pid, true)
            .override_global("FILTER_BY_CGROUP", &self.by_cgroup, true)
            .override_global("TRACER_TGID", &self.tracer_tgid, true)
            // The maps are filled once, before anything is attached; the kernel
            // preallocates every entry, so they get only the room they need.
            .map_max_entries("TARGET_PIDS", self.pids)
            .map_max_entries("TARGET_CGROUPS", self.cgroups);
    }
}

/// Entries for a map of `targets`; a map holds at least one.
fn entries(targets: usize) -> u32 {
    u32::try_from(targets.max(1)).unwrap_or(u32::MAX)
}

/// Fills the target maps; call after `load`, before attaching.
pub fn fill(ebpf: &mut Ebpf, targets: &ResolvedTargets) -> Result<(), Failure> {
    let mut pids: HashMap<&mut MapData, u32, u8> = super::maps::typed(ebpf, "TARGET_PIDS")?;
    for pid in &targets.pids {
        pids.insert(pid, &1, 0)
            .map_err(|err| Failure::from_kernel("adding a target process", &err))?;
    }
    let mut cgroups: HashMap<&mut MapData, u64, u8> = super::maps::typed(ebpf, "TARGET_CGROUPS")?;
    for id in &targets.cgroup_ids {
        cgroups
            .insert(id, &1, 0)
            .map_err(|err| Failure::from_kernel("adding a target cgroup", &err))?;
    }
    Ok(())
}
