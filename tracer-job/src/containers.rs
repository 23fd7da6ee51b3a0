//! Finds the cgroup v2 directories of Kubernetes containers, and names the cgroups a
//! node-wide trace meets.
//!
//! kubelet names a pod's cgroup after its uid and the runtime names the container's
//! cgroup after its id, but where they sit depends on the cgroup driver, the QoS class,
//! the runtime and any custom cgroup root:
//!
//! - systemd driver: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`,
//!   the uid's `-` written as `_`; Guaranteed pods sit right under `kubepods.slice`; the
//!   scope is `crio-<id>.scope` or `docker-<id>.scope` with other runtimes, and CRI-O puts
//!   its monitor in `crio-conmon-<id>.scope` beside it.
//! - cgroupfs driver: `kubepods/burstable/pod<uid>/<id>` (CRI-O: `crio-<id>`).
//! - either below a prefix: a custom cgroup root, a node inside a container (kind), or
//!   a test harness.
//!
//! So nothing is assumed about the path: the hierarchy is walked (bounded in depth and
//! in directories visited) looking for directories named after a pod uid, with either
//! separator, and inside each pod directory for directories named after the container
//! id. The QoS class only decides which branches are walked first.
//!
//! The id of a cgroup is its directory's inode number, which is what
//! `bpf_get_current_cgroup_id` returns for a task in it. That is the task's own
//! directory, not an ancestor's: when the runtime (crun) moves the container's processes
//! into a child such as `<scope>/container`, the target must list the child's id too. A
//! found container therefore carries the ids of its directory and of every directory
//! below it at resolution time, and the kernel filter matches any of them exactly.
//! Sub-cgroups the container creates later are not followed.

use std::{
    collections::{HashMap, HashSet},
    fs, io,
    os::unix::fs::{DirEntryExt, MetadataExt},
    path::{Path, PathBuf},
};

use tracer_protocol::{ContainerTarget, QosClass, Record, TargetState};

/// How much of a cgroup hierarchy one resolution may walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest directory (below a root) that may be a pod's.
    pub max_depth: usize,
    /// Directories read before the walk gives up.
    pub max_dirs: usize,
    /// Directories below one container's that are added to its ids.
    pub max_ids_per_container: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 12,
            max_dirs: 100_000,
            max_ids_per_container: 16,
        }
    }
}

/// A target container whose cgroup was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundContainer {
    pub target: ContainerTarget,
    /// The container's own directory (the scope, never its `container` child).
    pub path: PathBuf,
    /// The inode number of `path`: the id reported in `target` records.
    pub id: u64,
    /// `id` and the ids of the directories below it, for the kernel filter.
    pub ids: Vec<u64>,
}

impl FoundContainer {
    /// Whether the container's directory still exists (it goes away when the container
    /// exits; a restarted container has another id and so another directory). An error
    /// other than "not found" counts as present: only a sure absence is reported.
    pub fn is_present(&self) -> bool {
        match fs::symlink_metadata(&self.path) {
            Ok(metadata) => metadata.ino() == self.id,
            Err(err) => err.kind() != io::ErrorKind::NotFound,
        }
    }

    pub fn record(&self, state: TargetState) -> Record {
        target_record(&self.target, state, Some(self.id))
    }
}

/// What became of the container targets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolution {
    pub found: Vec<FoundContainer>,
    pub missing: Vec<ContainerTarget>,
    /// The roots walked, for messages.
    pub searched: Vec<PathBuf>,
    /// The walk stopped at `Limits::max_dirs` before it was complete.
    pub truncated: bool,
}

impl Resolution {
    /// One `target` record per container: found ones first, then missing ones.
    pub fn records(&self) -> Vec<Record> {
        self.found
            .iter()
            .map(|found| found.record(TargetState::Found))
            .chain(
                self.missing
                    .iter()
                    .map(|target| target_record(target, TargetState::Missing, None)),
            )
            .collect()
    }

    /// Names for the cgroups of the found containers.
    pub fn naming(&self) -> Naming {
        let mut naming = Naming::default();
        for found in &self.found {
            let owner = Owner::of(&found.target);
            for id in &found.ids {
                naming.by_cgroup.insert(*id, owner.clone());
            }
        }
        naming
    }
}

pub fn target_record(target: &ContainerTarget, state: TargetState, cgroup: Option<u64>) -> Record {
    Record::Target {
        namespace: target.namespace.clone(),
        pod: target.pod.clone(),
        container: target.container.clone(),
        state,
        cgroup,
    }
}

/// Who a cgroup belongs to, as far as the cgroup names and the spec tell. The names are
/// absent for pods the plugin did not list; `container` is absent for a pod's sandbox
/// (pause) container and other directories of a known pod that match no known container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// With `-` separators, whatever the cgroup name used.
    pub pod_uid: String,
    pub container_id: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
}

impl Owner {
    fn of(target: &ContainerTarget) -> Owner {
        Owner {
            pod_uid: normalize_uid(&target.pod_uid),
            container_id: target.container_id.clone(),
            namespace: Some(target.namespace.clone()),
            pod: Some(target.pod.clone()),
            container: Some(target.container.clone()),
        }
    }
}

/// The enrichment table event records use: cgroup id → pod and container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Naming {
    by_cgroup: HashMap<u64, Owner>,
}

impl Naming {
    /// The owner of the cgroup a task ran in (`bpf_get_current_cgroup_id`).
    pub fn lookup(&self, cgroup_id: u64) -> Option<&Owner> {
        self.by_cgroup.get(&cgroup_id)
    }

    pub fn len(&self) -> usize {
        self.by_cgroup.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_cgroup.is_empty()
    }

    /// Maps every container cgroup of every pod under `roots`, named through
    /// `known` (the spec's `node_containers`) where the pod uid and container id match.
    pub fn for_node(roots: &[PathBuf], known: &[ContainerTarget], limits: &Limits) -> Naming {
        let mut names: HashMap<(String, &str), &ContainerTarget> = HashMap::new();
        let mut pods: HashMap<String, &ContainerTarget> = HashMap::new();
        for target in known {
            let uid = normalize_uid(&target.pod_uid);
            names.insert((uid.clone(), target.container_id.as_str()), target);
            pods.insert(uid, target);
        }
        let scan = find_pods(roots, None, limits);
        let mut naming = Naming::default();
        for (uid, dirs) in &scan.pods {
            for dir in dirs {
                for (name, path) in children(dir) {
                    let Some(container_id) = container_id_in(&name) else {
                        continue;
                    };
                    let owner = match names.get(&(uid.clone(), container_id)) {
                        Some(target) => Owner::of(target),
                        None => Owner {
                            pod_uid: uid.clone(),
                            container_id: container_id.to_owned(),
                            namespace: pods.get(uid).map(|t| t.namespace.clone()),
                            pod: pods.get(uid).map(|t| t.pod.clone()),
                            container: None,
                        },
                    };
                    for id in ids_below(&path, limits.max_ids_per_container) {
                        naming.by_cgroup.insert(id, owner.clone());
                    }
                }
            }
        }
        naming
    }
}

/// Finds each target's cgroup under `roots` (cgroup2 mount points).
pub fn resolve(roots: &[PathBuf], targets: &[ContainerTarget], limits: &Limits) -> Resolution {
    let wanted: HashSet<String> = targets
        .iter()
        .map(|target| normalize_uid(&target.pod_uid))
        .filter(|uid| plausible_uid(uid))
        .collect();
    let hints: Vec<QosClass> = targets.iter().filter_map(|target| target.qos).collect();
    let scan = find_pods(roots, Some((&wanted, &hints)), limits);
    let mut resolution = Resolution {
        searched: roots.to_vec(),
        truncated: scan.truncated,
        ..Resolution::default()
    };
    for target in targets {
        let uid = normalize_uid(&target.pod_uid);
        let found = scan
            .pods
            .get(&uid)
            .into_iter()
            .flatten()
            .find_map(|pod_dir| container_dir(pod_dir, &target.container_id))
            .and_then(|path| {
                let id = fs::symlink_metadata(&path).ok()?.ino();
                let ids = ids_below(&path, limits.max_ids_per_container);
                Some(FoundContainer {
                    target: target.clone(),
                    path,
                    id,
                    ids,
                })
            });
        match found {
            Some(found) => resolution.found.push(found),
            None => resolution.missing.push(target.clone()),
        }
    }
    resolution
}

/// Pod directories by uid (`-` separators), as a walk found them.
#[derive(Debug, Default)]
struct PodScan {
    pods: HashMap<String, Vec<PathBuf>>,
    truncated: bool,
}

/// Walks `roots` depth first for pod directories. With `wanted`, stops once every
/// wanted uid is found and walks first the branches the QoS hints point at; without,
/// collects every pod.
fn find_pods(
    roots: &[PathBuf],
    wanted: Option<(&HashSet<String>, &[QosClass])>,
    limits: &Limits,
) -> PodScan {
    let mut scan = PodScan::default();
    if wanted.is_some_and(|(uids, _)| uids.is_empty()) {
        return scan;
    }
    let hints = wanted.map_or(&[][..], |(_, hints)| hints);
    // The same hierarchy may be mounted twice (a host's cgroupfs bind-mounted into a
    // container beside the container's own view): walk each directory once.
    let mut visited: HashSet<(u64, u64)> = HashSet::new();
    let mut read = 0usize;
    let mut stack: Vec<(PathBuf, usize)> = roots.iter().rev().map(|r| (r.clone(), 0)).collect();
    while let Some((dir, depth)) = stack.pop() {
        if read >= limits.max_dirs {
            scan.truncated = true;
            break;
        }
        read += 1;
        let Ok(entries) = fs::read_dir(&dir) else {
            // Gone since it was listed, or unreadable: nothing to find there.
            continue;
        };
        let mut next: Vec<(u8, PathBuf)> = Vec::new();
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(device) = entry.metadata().map(|metadata| metadata.dev()) else {
                continue;
            };
            if !visited.insert((device, entry.ino())) {
                continue;
            }
            if let Some(uid) = pod_uid_in(&name) {
                if wanted.is_none_or(|(uids, _)| uids.contains(&uid)) {
                    scan.pods.entry(uid).or_default().push(entry.path());
                }
                // Pods do not nest, and their children are containers.
                continue;
            }
            if depth + 1 < limits.max_depth {
                next.push((priority(&name, hints), entry.path()));
            }
        }
        if let Some((uids, _)) = wanted
            && uids.iter().all(|uid| scan.pods.contains_key(uid))
        {
            break;
        }
        // The stack pops the last pushed first: push the least likely branches first.
        next.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        stack.extend(next.into_iter().map(|(_, path)| (path, depth + 1)));
    }
    scan
}

/// Lower is walked first: the QoS branch a target's pod is in, then other kubepods
/// branches, then everything else.
fn priority(name: &str, hints: &[QosClass]) -> u8 {
    let lower = name.to_ascii_lowercase();
    if !lower.contains("kubepods") {
        return 2;
    }
    let qos_branch = |qos: QosClass| match qos {
        QosClass::Burstable => lower.contains("burstable"),
        QosClass::BestEffort => lower.contains("besteffort"),
        QosClass::Guaranteed => !lower.contains("burstable") && !lower.contains("besteffort"),
    };
    if hints.iter().any(|qos| qos_branch(*qos)) {
        0
    } else {
        1
    }
}

/// The pod uid a directory is named after, with `-` separators: `pod<uid>` (cgroupfs
/// driver) or `<prefix>-pod<uid_>.slice` (systemd driver).
fn pod_uid_in(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".slice").unwrap_or(name);
    let candidate = if let Some(rest) = stem.strip_prefix("pod") {
        rest
    } else {
        let at = stem.rfind("-pod")?;
        stem.get(at + 4..)?
    };
    let uid = normalize_uid(candidate);
    plausible_uid(&uid).then_some(uid)
}

/// A uuid (`8-4-4-4-12` hex) or a static pod's config hash (32 hex): hex digits and
/// dashes, long enough not to match ordinary names such as `podman`.
fn plausible_uid(uid: &str) -> bool {
    (16..=64).contains(&uid.len()) && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn normalize_uid(uid: &str) -> String {
    uid.trim().replace('_', "-").to_ascii_lowercase()
}

/// The container id a directory inside a pod's is named after: `<id>`, `<runtime>-<id>`
/// or `<runtime>-<id>.scope`. CRI-O's monitor (`crio-conmon-<id>`) is not the container.
fn container_id_in(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".scope").unwrap_or(name);
    if stem.starts_with("crio-conmon-") {
        return None;
    }
    let id = stem.rsplit('-').next().unwrap_or(stem);
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then_some(id)
}

/// The directory of container `container_id` inside a pod directory, if there.
fn container_dir(pod_dir: &Path, container_id: &str) -> Option<PathBuf> {
    // The plugin strips `containerd://` and the like; an id that still has it is meant
    // the same.
    let id = container_id
        .rsplit("://")
        .next()
        .unwrap_or(container_id)
        .trim();
    if id.is_empty() || id.contains(['/', '-']) {
        return None;
    }
    children(pod_dir)
        .into_iter()
        .find(|(name, _)| container_id_in(name) == Some(id))
        .map(|(_, path)| path)
}

/// The subdirectories of `dir` with UTF-8 names; none when it cannot be read.
fn children(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut children: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter_map(|entry| Some((entry.file_name().to_str()?.to_owned(), entry.path())))
        .collect();
    children.sort();
    children
}

/// The id of `dir` and of the directories below it, breadth first, at most `max` below.
/// Empty when `dir` is gone.
fn ids_below(dir: &Path, max: usize) -> Vec<u64> {
    let Ok(metadata) = fs::symlink_metadata(dir) else {
        return Vec::new();
    };
    let mut ids = vec![metadata.ino()];
    let mut queue = std::collections::VecDeque::from([dir.to_path_buf()]);
    while let Some(next) = queue.pop_front() {
        for (_, path) in children(&next) {
            if ids.len() > max {
                return ids;
            }
            if let Ok(metadata) = fs::symlink_metadata(&path) {
                ids.push(metadata.ino());
                queue.push_back(path);
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pod_uids_of_both_drivers() {
        let uid = "1a2b3c4d-0000-4000-8000-00000000abcd";
        for name in [
            format!("pod{uid}"),
            "kubepods-burstable-pod1a2b3c4d_0000_4000_8000_00000000abcd.slice".to_owned(),
            "kubepods-pod1a2b3c4d_0000_4000_8000_00000000abcd.slice".to_owned(),
            "kubelet-kubepods-besteffort-pod1a2b3c4d_0000_4000_8000_00000000abcd.slice".to_owned(),
        ] {
            assert_eq!(pod_uid_in(&name).as_deref(), Some(uid), "{name}");
        }
        // A static pod's uid is its config hash.
        assert_eq!(
            pod_uid_in("pod0123456789abcdef0123456789abcdef").as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        for name in [
            "podman",
            "pod",
            "kubepods.slice",
            "kubepods-burstable.slice",
            "kubepods-pod.slice",
            "system.slice",
            "pod../etc",
            "podé",
        ] {
            assert_eq!(pod_uid_in(name), None, "{name}");
        }
    }

    #[test]
    fn reads_container_ids_and_skips_the_monitor() {
        assert_eq!(
            container_id_in("cri-containerd-abc123.scope"),
            Some("abc123")
        );
        assert_eq!(container_id_in("crio-abc123.scope"), Some("abc123"));
        assert_eq!(container_id_in("crio-abc123"), Some("abc123"));
        assert_eq!(container_id_in("docker-abc123.scope"), Some("abc123"));
        assert_eq!(container_id_in("abc123"), Some("abc123"));
        assert_eq!(container_id_in("crio-conmon-abc123.scope"), None);
        assert_eq!(container_id_in("crio-conmon-abc123"), None);
        assert_eq!(container_id_in("trailing-"), None);
        assert_eq!(container_id_in(".scope"), None);
    }

    #[test]
    fn walks_the_hinted_qos_branch_first() {
        assert_eq!(
            priority("kubepods-burstable.slice", &[QosClass::Burstable]),
            0
        );
        assert_eq!(
            priority("kubepods-besteffort.slice", &[QosClass::Burstable]),
            1
        );
        assert_eq!(priority("kubepods.slice", &[QosClass::Guaranteed]), 0);
        assert_eq!(priority("system.slice", &[QosClass::Guaranteed]), 2);
    }
}
