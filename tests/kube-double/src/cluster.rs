//! The simulated cluster: options, the store, faults, and the simulated nodes.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::json;

use crate::{clock, faults::Faults, kubelet::Kubelet, store::Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CgroupDriver {
    Systemd,
    Cgroupfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Runtime {
    Containerd,
    Crio,
    Docker,
}

impl Runtime {
    /// The scheme of `status.containerStatuses[].containerID`.
    pub fn scheme(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::Crio => "cri-o",
            Runtime::Docker => "docker",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd://1.7.24",
            Runtime::Crio => "cri-o://1.32.1",
            Runtime::Docker => "docker://27.5.1",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: usize,
    pub cgroup_driver: CgroupDriver,
    pub runtime: Runtime,
    /// The binary run for containers of the tracer image.
    pub tracer_job: PathBuf,
    /// Lines served as the log of every tracer container instead of running it.
    pub replay: Option<Vec<String>>,
    /// How many changes watches can resume from before they get 410 Expired.
    pub watch_history: usize,
    /// How many times faster than the wall clock Jobs' `activeDeadlineSeconds` and
    /// `ttlSecondsAfterFinished` run out, so tests can wait for them.
    pub job_clock_speed: f64,
}

impl Options {
    /// `seconds` of a Job's deadline or TTL, as wall time at the Job clock's speed.
    pub fn job_seconds(&self, seconds: u64) -> Duration {
        Duration::from_secs_f64(seconds as f64 / self.job_clock_speed.max(1e-3))
    }
}

impl Default for Options {
    /// One node, systemd driver, containerd, the tracer next to the running executable.
    fn default() -> Self {
        let tracer_job = std::env::current_exe()
            .ok()
            .and_then(|exe| {
                let mut dir = exe.parent()?.to_path_buf();
                if dir.ends_with("deps") {
                    dir.pop();
                }
                Some(dir.join("tracer-job"))
            })
            .unwrap_or_else(|| PathBuf::from("tracer-job"));
        Options {
            nodes: 1,
            cgroup_driver: CgroupDriver::Systemd,
            runtime: Runtime::Containerd,
            tracer_job,
            replay: None,
            watch_history: 100_000,
            job_clock_speed: 1.0,
        }
    }
}

pub struct Cluster {
    pub opts: Options,
    pub store: Store,
    pub faults: Faults,
    pub kubelet: Kubelet,
    pub nodes: Vec<String>,
    /// Every API request served, as `METHOD path?query`, oldest first (`GET
    /// /double/requests`): what a client asked for, for RBAC and fan-out checks.
    requests: Mutex<Vec<String>>,
}

/// Requests remembered at most; later ones are not recorded.
const MAX_RECORDED_REQUESTS: usize = 1_000_000;

impl Cluster {
    pub fn new(opts: Options) -> anyhow::Result<Arc<Self>> {
        let nodes: Vec<String> = (1..=opts.nodes).map(|i| format!("node-{i}")).collect();
        let kubelet = Kubelet::new(&opts)?;
        let cluster = Arc::new(Cluster {
            store: Store::new(opts.watch_history),
            faults: Faults::default(),
            kubelet,
            nodes,
            opts,
            requests: Mutex::default(),
        });
        cluster.seed();
        Ok(cluster)
    }

    pub fn record_request(&self, request: String) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if requests.len() < MAX_RECORDED_REQUESTS {
            requests.push(request);
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn forget_requests(&self) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn seed(&self) {
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            self.store
                .seed("namespaces", json!({"metadata": {"name": ns}}));
        }
        let kernel = kernel_release();
        for (i, node) in self.nodes.iter().enumerate() {
            let now = clock::now();
            let condition = |t: &str, status: &str, reason: &str, message: &str| {
                json!({"type": t, "status": status, "reason": reason, "message": message,
                       "lastHeartbeatTime": now, "lastTransitionTime": now})
            };
            self.store.seed(
                "nodes",
                json!({
                    "metadata": {"name": node, "labels": {
                        "kubernetes.io/hostname": node,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                        "beta.kubernetes.io/os": "linux",
                    }},
                    "spec": {"podCIDR": format!("10.244.{}.0/24", i + 1)},
                    "status": {
                        "conditions": [
                            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                        ],
                        "addresses": [
                            {"type": "InternalIP", "address": host_ip(i)},
                            {"type": "Hostname", "address": node},
                        ],
                        "capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                        "allocatable": {"cpu": "2", "memory": "24Gi", "pods": "110"},
                        "nodeInfo": {
                            "kernelVersion": kernel,
                            "osImage": "Debian GNU/Linux 13 (trixie)",
                            "containerRuntimeVersion": self.opts.runtime.version(),
                            "kubeletVersion": "v1.32.4",
                            "kubeProxyVersion": "v1.32.4",
                            "operatingSystem": "linux",
                            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                            "machineID": format!("{:032x}", i + 1),
                            "systemUUID": crate::ids::uuid(),
                            "bootID": crate::ids::uuid(),
                        },
                    },
                }),
            );
        }
    }

    pub fn node_index(&self, node: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n == node)
    }
}

/// The InternalIP of the i-th node (0-based).
pub fn host_ip(i: usize) -> String {
    format!("172.18.{}.{}", i / 250, i % 250 + 2)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
