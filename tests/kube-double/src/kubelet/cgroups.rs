//! Real cgroup v2 directories laid out as kubelet lays them out, under a private root
//! (`<cgroup2 mount>/kube-double-<pid>/<node>/`) so parallel doubles never collide.

use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

use crate::cluster::{CgroupDriver, Runtime};

/// The cgroup2 mount point from /proc/self/mountinfo (`/sys/fs/cgroup` on unified hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        if fstype == "cgroup2" {
            left.split_whitespace().nth(4).map(PathBuf::from)
        } else {
            None
        }
    })
}

pub const ROOT_PREFIX: &str = "kube-double-";

/// The pod's directory relative to a node's root.
pub fn pod_dir(driver: CgroupDriver, qos: &str, uid: &str) -> PathBuf {
    let qos = qos.to_ascii_lowercase();
    let guaranteed = qos == "guaranteed";
    match driver {
        CgroupDriver::Systemd => {
            let uid = uid.replace('-', "_");
            let mut p = PathBuf::from("kubepods.slice");
            if guaranteed {
                p.push(format!("kubepods-pod{uid}.slice"));
            } else {
                p.push(format!("kubepods-{qos}.slice"));
                p.push(format!("kubepods-{qos}-pod{uid}.slice"));
            }
            p
        }
        CgroupDriver::Cgroupfs => {
            let mut p = PathBuf::from("kubepods");
            if !guaranteed {
                p.push(qos);
            }
            p.push(format!("pod{uid}"));
            p
        }
    }
}

/// The container's directory name inside its pod's directory.
pub fn container_dir(driver: CgroupDriver, runtime: Runtime, cid: &str) -> String {
    match driver {
        CgroupDriver::Cgroupfs => cid.to_string(),
        CgroupDriver::Systemd => match runtime {
            Runtime::Containerd => format!("cri-containerd-{cid}.scope"),
            Runtime::Crio => format!("crio-{cid}.scope"),
            Runtime::Docker => format!("docker-{cid}.scope"),
        },
    }
}

/// CRI-O's empty sibling for its monitor process (systemd driver only).
pub fn conmon_dir(driver: CgroupDriver, runtime: Runtime, cid: &str) -> Option<String> {
    (driver == CgroupDriver::Systemd && runtime == Runtime::Crio)
        .then(|| format!("crio-conmon-{cid}.scope"))
}

/// Kills every process in the cgroup tree (cgroup.kill, or SIGKILL one by one).
pub fn kill(dir: &Path) {
    if fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    for pid in procs(dir) {
        // SAFETY: plain kill(2) of a pid read from the cgroup.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

pub fn procs(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(procs(&e.path()));
        }
    }
    out
}

/// Removes a cgroup directory tree, deepest first; retries briefly while killed processes
/// leave.
pub fn remove_tree(dir: &Path) {
    for attempt in 0..50 {
        if remove_once(dir) || !dir.exists() {
            return;
        }
        if attempt == 0 {
            kill(dir);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn remove_once(dir: &Path) -> bool {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_once(&e.path());
            }
        }
    }
    fs::remove_dir(dir).is_ok()
}

/// Removes the roots of doubles that died without cleaning up.
pub fn remove_stale(mount: &Path) {
    let Ok(entries) = fs::read_dir(mount) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(ROOT_PREFIX) else {
            continue;
        };
        let pid = pid.split('-').next().unwrap_or_default();
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            kill(&e.path());
            remove_tree(&e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let uid = "1234-ab";
        assert_eq!(
            pod_dir(CgroupDriver::Systemd, "Burstable", uid),
            PathBuf::from(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_ab.slice"
            )
        );
        assert_eq!(
            pod_dir(CgroupDriver::Systemd, "Guaranteed", uid),
            PathBuf::from("kubepods.slice/kubepods-pod1234_ab.slice")
        );
        assert_eq!(
            pod_dir(CgroupDriver::Cgroupfs, "BestEffort", uid),
            PathBuf::from("kubepods/besteffort/pod1234-ab")
        );
        assert_eq!(
            pod_dir(CgroupDriver::Cgroupfs, "Guaranteed", uid),
            PathBuf::from("kubepods/pod1234-ab")
        );
        assert_eq!(
            container_dir(CgroupDriver::Systemd, Runtime::Crio, "c"),
            "crio-c.scope"
        );
        assert_eq!(
            container_dir(CgroupDriver::Cgroupfs, Runtime::Docker, "c"),
            "c"
        );
    }
}
