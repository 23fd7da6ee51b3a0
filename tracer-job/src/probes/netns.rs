//! The network namespaces the targets live in, learned when a trace starts: for probes
//! whose hooks run where no target task is current (a packet dropped in softirq), a
//! packet in a target's namespace is the target's.
//!
//! A namespace is found through the processes of each target cgroup
//! (`/proc/PID/ns/net` of the pids in its `cgroup.procs`) and of each target pid. The
//! host's own namespace is left out: a pod with host networking shares it with the whole
//! node, and every packet of the node would count as the pod's.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    fs,
    os::unix::fs::{DirEntryExt, MetadataExt},
    path::{Path, PathBuf},
};

use crate::targets::{self, ResolvedTargets};

/// Directories of the cgroup hierarchy walked to find the target cgroups, at most.
const MAX_DIRS: usize = 100_000;
/// Deepest directory looked at, below a cgroup2 mount.
const MAX_DEPTH: usize = 32;
/// Processes of one cgroup whose namespace is read.
const MAX_PIDS_PER_CGROUP: usize = 64;

/// Each target network namespace's inode number, with the id of the target cgroup it
/// was found through (0 when found through a pid whose cgroup is unknown). At most
/// `limit` namespaces.
pub fn of_targets(resolved: &ResolvedTargets, limit: usize) -> BTreeMap<u32, u64> {
    let host = netns_of("1");
    let mut found = BTreeMap::new();
    let mut add = |netns: Option<u32>, cgroup: u64| {
        if let Some(netns) = netns
            && Some(netns) != host
            && found.len() < limit
        {
            found.entry(netns).or_insert(cgroup);
        }
    };
    let wanted: BTreeSet<u64> = resolved.cgroup_ids.iter().copied().collect();
    for (cgroup, dir) in cgroup_dirs(&wanted) {
        for pid in pids_in(&dir) {
            add(netns_of(&pid), cgroup);
        }
    }
    let mount = targets::cgroup2_mount().ok();
    for pid in &resolved.pids {
        let pid = pid.to_string();
        let cgroup = mount
            .as_deref()
            .and_then(|mount| cgroup_of(mount, &pid))
            .unwrap_or(0);
        add(netns_of(&pid), cgroup);
    }
    found
}

/// The inode number of a process's network namespace.
fn netns_of(pid: &str) -> Option<u32> {
    let metadata = fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
    u32::try_from(metadata.ino()).ok()
}

/// The first processes of a cgroup, as listed in its `cgroup.procs`.
fn pids_in(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .take(MAX_PIDS_PER_CGROUP)
        .map(str::to_owned)
        .collect()
}

/// The cgroup v2 id of a process, from the `0::/path` line of `/proc/PID/cgroup`.
pub(crate) fn cgroup_of(mount: &Path, pid: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = text.lines().find_map(|line| line.strip_prefix("0::"))?;
    let dir = mount.join(path.trim_start_matches('/'));
    Some(fs::metadata(dir).ok()?.ino())
}

/// The directories of the cgroups whose ids are `wanted`, found by walking every cgroup2
/// mount breadth first, until all are found or the walk's bounds are reached.
fn cgroup_dirs(wanted: &BTreeSet<u64>) -> Vec<(u64, PathBuf)> {
    let mut found = Vec::new();
    if wanted.is_empty() {
        return found;
    }
    let mut seen = BTreeSet::new();
    let mut visited = 0;
    for root in targets::cgroup2_mounts().unwrap_or_default() {
        if let Ok(metadata) = fs::metadata(&root)
            && wanted.contains(&metadata.ino())
            && seen.insert(metadata.ino())
        {
            found.push((metadata.ino(), root.clone()));
        }
        let mut queue = VecDeque::from([(root, 0usize)]);
        while let Some((dir, depth)) = queue.pop_front() {
            if seen.len() == wanted.len() || visited >= MAX_DIRS {
                return found;
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    continue;
                }
                visited += 1;
                let id = entry.ino();
                if wanted.contains(&id) && seen.insert(id) {
                    found.push((id, entry.path()));
                }
                if depth + 1 < MAX_DEPTH {
                    queue.push_back((entry.path(), depth + 1));
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_own_namespace_is_never_a_target() {
        let resolved = ResolvedTargets {
            pids: vec![std::process::id()],
            ..ResolvedTargets::default()
        };
        // This test runs in the host's namespace (as the tracer does on a node).
        if netns_of("self") == netns_of("1") {
            assert!(of_targets(&resolved, 16).is_empty());
        }
    }

    #[test]
    fn finds_the_cgroup_of_this_process() {
        let Ok(mount) = targets::cgroup2_mount() else {
            return;
        };
        let id = cgroup_of(&mount, "self").expect("this process has a cgroup v2");
        let dirs = cgroup_dirs(&BTreeSet::from([id]));
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        assert_eq!(dirs[0].0, id);
        assert_eq!(fs::metadata(&dirs[0].1).expect("stat").ino(), id);
    }
}
