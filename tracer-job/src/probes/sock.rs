//! The user side of `ebpf/probes/src/sock.rs`: where a socket keeps its owner's cgroup.

use aya::EbpfLoader;

use crate::btf::Btf;

/// Offsets on the way from a `struct sock` to its cgroup v2 id,
/// `sk->sk_cgrp_data.cgroup->kn->id`; all zero when unknown, and the probe then cannot
/// tell whose a socket is.
#[derive(Debug, Default)]
pub struct Offsets {
    sock_cgroup: u32,
    cgroup_kn: u32,
    kernfs_node_id: u32,
}

impl Offsets {
    /// From the running kernel's BTF; unknown when it has none.
    pub fn from_kernel() -> Self {
        let Ok(btf) = Btf::from_sys_fs() else {
            return Offsets::default();
        };
        let offset = |owner: &str, path: &[&str]| btf.member(owner, path).map_or(0, |m| m.offset);
        // A chain is all known or all unknown, so no probe follows half of it.
        let mut chain = [
            offset("sock", &["sk_cgrp_data", "cgroup"]),
            offset("cgroup", &["kn"]),
            offset("kernfs_node", &["id"]),
        ];
        if chain.contains(&0) {
            chain = [0; 3];
        }
        let [sock_cgroup, cgroup_kn, kernfs_node_id] = chain;
        Offsets {
            sock_cgroup,
            cgroup_kn,
            kernfs_node_id,
        }
    }

    /// Whether a socket's cgroup id can be read.
    pub fn knows_cgroup(&self) -> bool {
        self.sock_cgroup != 0
    }

    /// Sets the globals; call before `load`, after any `task::Offsets::apply` (both set
    /// the cgroup-to-id part of the chain).
    pub fn apply<'a>(&'a self, loader: &mut EbpfLoader<'a>) {
        loader
            .override_global("SOCK_CGROUP_OFFSET", &self.sock_cgroup, true)
            .override_global("CGROUP_KN_OFFSET", &self.cgroup_kn, true)
            .override_global("KERNFS_NODE_ID_OFFSET", &self.kernfs_node_id, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_running_kernels_socket_cgroup() {
        let offsets = Offsets::from_kernel();
        assert!(offsets.knows_cgroup(), "{offsets:?}");
        assert_ne!(offsets.cgroup_kn, 0);
        assert_ne!(offsets.kernfs_node_id, 0);
    }
}
