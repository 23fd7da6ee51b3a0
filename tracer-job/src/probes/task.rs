//! The user side of `ebpf/probes/src/task.rs`: where task_struct keeps what probes read.

use aya::EbpfLoader;

use tracer_protocol::ErrorCode;

use crate::{btf::Btf, failure::Failure};

/// Offsets into `struct task_struct` and the structs on the way to its cgroup; zero
/// means unknown, and the probe then leaves the field out rather than read a wrong place.
#[derive(Debug, Default)]
pub struct Offsets {
    real_parent: u32,
    tgid: u32,
    pid: u32,
    comm: u32,
    group_leader: u32,
    start_time: u32,
    exit_code: u32,
    cgroups: u32,
    css_set_dfl_cgrp: u32,
    cgroup_kn: u32,
    kernfs_node_id: u32,
}

impl Offsets {
    /// From the running kernel's BTF; unknown when it has none.
    pub fn from_kernel() -> Self {
        let Ok(btf) = Btf::from_sys_fs() else {
            return Offsets::default();
        };
        let offset = |owner: &str, member: &str| {
            btf.member(owner, &[member])
                .map_or(0, |member| member.offset)
        };
        // A chain is all known or all unknown, so no probe follows half of it.
        let mut chain = [
            offset("task_struct", "cgroups"),
            offset("css_set", "dfl_cgrp"),
            offset("cgroup", "kn"),
            offset("kernfs_node", "id"),
        ];
        if chain.contains(&0) {
            chain = [0; 4];
        }
        let [cgroups, css_set_dfl_cgrp, cgroup_kn, kernfs_node_id] = chain;
        Offsets {
            real_parent: offset("task_struct", "real_parent"),
            tgid: offset("task_struct", "tgid"),
            pid: offset("task_struct", "pid"),
            comm: offset("task_struct", "comm"),
            group_leader: offset("task_struct", "group_leader"),
            start_time: offset("task_struct", "start_time"),
            exit_code: offset("task_struct", "exit_code"),
            cgroups,
            css_set_dfl_cgrp,
            cgroup_kn,
            kernfs_node_id,
        }
    }

    /// From the running kernel's BTF, for a probe that cannot work without reading other
    /// tasks' ids and cgroups (`probe` names it in the error).
    pub fn required_by(probe: &str) -> Result<Self, Failure> {
        let offsets = Offsets::from_kernel();
        if offsets.knows_identity() && offsets.knows_cgroup() {
            return Ok(offsets);
        }
        Err(Failure::new(
            ErrorCode::KernelUnsupported,
            format!(
                "the {probe} probe reads task ids through the kernel's BTF, which this kernel does not describe"
            ),
            "use a kernel built with CONFIG_DEBUG_INFO_BTF (/sys/kernel/btf/vmlinux)",
        ))
    }

    /// Whether a task's cgroup id can be read.
    pub fn knows_cgroup(&self) -> bool {
        self.cgroups != 0
    }

    /// Whether another task's process id, thread id and command name can be read.
    pub fn knows_identity(&self) -> bool {
        self.tgid != 0 && self.pid != 0 && self.comm != 0
    }

    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("TASK_REAL_PARENT_OFFSET", &self.real_parent, true)
            .override_global("TASK_TGID_OFFSET", &self.tgid, true)
            .override_global("TASK_PID_OFFSET", &self.pid, true)
            .override_global("TASK_COMM_OFFSET", &self.comm, true)
            .override_global("TASK_GROUP_LEADER_OFFSET", &self.group_leader, true)
            .override_global("TASK_START_TIME_OFFSET", &self.start_time, true)
            .override_global("TASK_EXIT_CODE_OFFSET", &self.exit_code, true)
            .override_global("TASK_CGROUPS_OFFSET", &self.cgroups, true)
            .override_global("CSS_SET_DFL_CGRP_OFFSET", &self.css_set_dfl_cgrp, true)
            .override_global("CGROUP_KN_OFFSET", &self.cgroup_kn, true)
            .override_global("KERNFS_NODE_ID_OFFSET", &self.kernfs_node_id, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_running_kernels_task_layout() {
        let offsets = Offsets::from_kernel();
        assert!(offsets.knows_identity(), "{offsets:?}");
        assert!(offsets.knows_cgroup(), "{offsets:?}");
        assert_ne!(offsets.exit_code, 0);
        assert_ne!(offsets.start_time, 0);
        assert_ne!(offsets.group_leader, 0);
    }
}
