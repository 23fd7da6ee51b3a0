//! The user side of `ebpf/probes/src/task.rs`: where task_struct keeps what probes read.

use aya::EbpfLoader;

use crate::btf::Btf;

/// Offsets into `struct task_struct`; zero means unknown, and the probe then leaves the
/// field out rather than read a wrong place.
#[derive(Debug, Default)]
pub struct Offsets {
    real_parent: u32,
    tgid: u32,
}

impl Offsets {
    /// From the running kernel's BTF; unknown when it has none.
    pub fn from_kernel() -> Self {
        let Ok(btf) = Btf::from_sys_fs() else {
            return Offsets::default();
        };
        let offset = |member: &str| {
            btf.member("task_struct", &[member])
                .map_or(0, |member| member.offset)
        };
        Offsets {
            real_parent: offset("real_parent"),
            tgid: offset("tgid"),
        }
    }

    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("TASK_REAL_PARENT_OFFSET", &self.real_parent, true)
            .override_global("TASK_TGID_OFFSET", &self.tgid, true);
    }
}
