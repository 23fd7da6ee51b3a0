//! The user side of `ebpf/probes/src/task_ptr.rs`: where `task_struct` and the structs
//! on the way to its cgroup v2 id keep what scheduler probes read.

use aya::EbpfLoader;
use tracer_protocol::ErrorCode;

use crate::{btf::Btf, failure::Failure};

/// Offsets into `task_struct`, `css_set`, `cgroup` and `kernfs_node`.
#[derive(Debug, Default)]
pub struct Offsets {
    pid: u32,
    tgid: u32,
    cgroups: u32,
    dfl_cgrp: u32,
    kn: u32,
    kn_id: u32,
    group_leader: u32,
    comm: u32,
}

impl Offsets {
    /// From the running kernel's BTF. `probe` names who needs them, for the error.
    pub fn from_kernel(probe: &str) -> Result<Self, Failure> {
        let unsupported = |why: String| {
            Failure::new(
                ErrorCode::KernelUnsupported,
                format!("the {probe} probe reads task ids through the kernel's BTF: {why}"),
                "use a kernel built with CONFIG_DEBUG_INFO_BTF (/sys/kernel/btf/vmlinux)",
            )
        };
        let btf = Btf::from_sys_fs().map_err(|err| unsupported(err.to_string()))?;
        let offset = |strukt: &str, member: &str| {
            btf.member(strukt, &[member])
                .map(|member| member.offset)
                .map_err(|err| unsupported(err.to_string()))
        };
        Ok(Offsets {
            pid: offset("task_struct", "pid")?,
            tgid: offset("task_struct", "tgid")?,
            cgroups: offset("task_struct", "cgroups")?,
            dfl_cgrp: offset("css_set", "dfl_cgrp")?,
            kn: offset("cgroup", "kn")?,
            kn_id: offset("kernfs_node", "id")?,
            group_leader: offset("task_struct", "group_leader")?,
            comm: offset("task_struct", "comm")?,
        })
    }

    /// Sets the globals; call before `load`.
    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("TASK_PID_OFFSET", &self.pid, true)
            .override_global("TASK_TGID_FIELD_OFFSET", &self.tgid, true)
            .override_global("TASK_CGROUPS_OFFSET", &self.cgroups, true)
            .override_global("CSS_SET_DFL_CGRP_OFFSET", &self.dfl_cgrp, true)
            .override_global("CGROUP_KN_OFFSET", &self.kn, true)
            .override_global("KERNFS_NODE_ID_OFFSET", &self.kn_id, true)
            .override_global("TASK_GROUP_LEADER_OFFSET", &self.group_leader, true)
            .override_global("TASK_COMM_OFFSET", &self.comm, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the machine's BTF; skipped where there is none.
    #[test]
    fn finds_every_offset_on_this_kernel() {
        if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            return;
        }
        let offsets = Offsets::from_kernel("test").expect("offsets");
        assert!(offsets.pid > 0 && offsets.tgid > offsets.pid, "{offsets:?}");
        assert!(offsets.cgroups > 0 && offsets.dfl_cgrp > 0 && offsets.kn > 0);
    }
}
