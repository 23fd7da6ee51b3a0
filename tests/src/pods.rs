//! Emulated pod containers: real cgroup v2 directories named and nested as kubelet (systemd
//! driver) and containerd name them, below a private prefix as a test harness's kubelet
//! would put them.

use std::{
    path::Path,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use tracer_protocol::{ContainerTarget, QosClass};

use crate::cgroup::{TestCgroup, cgroup2_mount};

/// One emulated node: every container it makes lives below
/// `<cgroup2 mount>/kubectl-ebpf-test-<pid>-<n>-node/kubepods.slice`.
pub struct EmulatedNode {
    prefix: String,
}

/// A container's cgroup and the target that names it. With a crun-style `container`
/// child, processes go into the child, as crun puts them.
pub struct EmulatedContainer {
    pub target: ContainerTarget,
    child: Option<TestCgroup>,
    scope: TestCgroup,
}

impl EmulatedNode {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        EmulatedNode {
            prefix: format!(
                "kubectl-ebpf-test-{}-{}-node",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// Creates the cgroup of container `container` of a new pod `pod`.
    pub fn container(
        &self,
        pod: &str,
        container: &str,
        qos: QosClass,
        crun_child: bool,
    ) -> EmulatedContainer {
        let uid = unique_uid();
        let container_id = format!(
            "{:064x}",
            u128::from_str_radix(&uid.replace('-', ""), 16).unwrap_or(0)
        );
        let slice_uid = uid.replace('-', "_");
        let pod_slice = match qos {
            QosClass::Guaranteed => format!("kubepods-pod{slice_uid}.slice"),
            QosClass::Burstable => {
                format!("kubepods-burstable.slice/kubepods-burstable-pod{slice_uid}.slice")
            }
            QosClass::BestEffort => {
                format!("kubepods-besteffort.slice/kubepods-besteffort-pod{slice_uid}.slice")
            }
        };
        let scope_path = format!(
            "{}/kubepods.slice/{pod_slice}/cri-containerd-{container_id}.scope",
            self.prefix
        );
        let mount = cgroup2_mount();
        let scope = TestCgroup::create_at(&mount, &scope_path);
        let child =
            crun_child.then(|| TestCgroup::create_at(&mount, &format!("{scope_path}/container")));
        EmulatedContainer {
            target: ContainerTarget {
                pod_uid: uid,
                container_id,
                qos: Some(qos),
                namespace: "default".to_owned(),
                pod: pod.to_owned(),
                container: container.to_owned(),
            },
            child,
            scope,
        }
    }
}

impl Default for EmulatedNode {
    fn default() -> Self {
        Self::new()
    }
}

impl EmulatedContainer {
    /// The container's own directory (the scope).
    pub fn path(&self) -> &Path {
        self.scope.path()
    }

    /// Moves a process into the container.
    pub fn add(&self, pid: u32) {
        self.cgroup().add(pid);
    }

    /// The cgroup its processes run in: the crun-style child when there is one.
    pub fn cgroup(&self) -> &TestCgroup {
        self.child.as_ref().unwrap_or(&self.scope)
    }

    /// Makes `command`'s child move itself into the container before it execs.
    pub fn enter<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        self.child.as_ref().unwrap_or(&self.scope).enter(command)
    }

    /// Removes the container's cgroup, as when the container exits.
    pub fn remove(self) {
        drop(self);
    }
}

impl Drop for EmulatedContainer {
    fn drop(&mut self) {
        // The child goes first: a directory with children cannot be removed.
        drop(self.child.take());
    }
}

/// A pod uid unique to this process and call, in the API server's spelling.
fn unique_uid() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!(
        "{:08x}-{:04x}-4000-8000-{:012x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff,
        u64::from(nanos)
    )
}
