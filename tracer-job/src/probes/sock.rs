//! The user side of `ebpf/probes/src/sock.rs`: where `struct sock` keeps what probes read.

use aya::EbpfLoader;

use crate::btf::Btf;

/// Offsets into `struct sock`; zero means unknown, and the probe then attributes no drop
/// by socket rather than read a wrong place. The last steps from a cgroup to its id are
/// task.rs's: apply `task::Offsets` to the same loader.
#[derive(Debug, Default)]
pub struct Offsets {
    state: u32,
    cgroup: u32,
}

impl Offsets {
    /// From the running kernel's BTF; unknown when it has none.
    pub fn from_kernel() -> Self {
        let Ok(btf) = Btf::from_sys_fs() else {
            return Offsets::default();
        };
        let offset = |path: &[&str]| btf.member("sock", path).map_or(0, |member| member.offset);
        let state = offset(&["__sk_common", "skc_state"]);
        let cgroup = offset(&["sk_cgrp_data", "cgroup"]);
        // Both or neither: without the state, a timewait socket would be read as a full one.
        if state == 0 || cgroup == 0 {
            return Offsets::default();
        }
        Offsets { state, cgroup }
    }

    /// Whether a socket's cgroup can be read (with `task::Offsets::knows_cgroup` for the
    /// rest of the way to its id).
    pub fn knows_cgroup(&self) -> bool {
        self.cgroup != 0
    }

    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("SOCK_STATE_OFFSET", &self.state, true)
            .override_global("SOCK_CGROUP_OFFSET", &self.cgroup, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_running_kernels_socket_layout() {
        let offsets = Offsets::from_kernel();
        assert_ne!(offsets.cgroup, 0, "{offsets:?}");
        assert_ne!(offsets.state, 0, "{offsets:?}");
    }
}
