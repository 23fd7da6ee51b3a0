//! Turns the spec's targets into what the kernel filter matches on: process ids and
//! cgroup v2 ids (the inode number of the cgroup's directory, which is what
//! `bpf_get_current_cgroup_id` returns), and the names of the cgroups the trace meets.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use tracer_protocol::{ContainerTarget, ErrorCode, Targets, spec::MAX_TARGETS};

use crate::{
    containers::{self, Limits, Naming, Resolution},
    failure::Failure,
};

/// The filter as the kernel sees it. Both lists empty means the whole node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedTargets {
    pub pids: Vec<u32>,
    pub cgroup_ids: Vec<u64>,
    /// What became of the container targets; their ids are in `cgroup_ids`.
    pub containers: Resolution,
    /// cgroup id to pod and container, for naming events: the found target containers,
    /// or every pod container on the node when the trace is not filtered to containers.
    pub naming: Naming,
    /// The `cgroup_paths` targets by id, as paths below the cgroup2 mount, for naming
    /// the rows a trace splits by cgroup.
    pub cgroup_names: BTreeMap<u64, String>,
    /// The target cgroups' directories (`cgroup_paths` and found containers), where
    /// their processes are listed.
    pub cgroup_dirs: Vec<std::path::PathBuf>,
}

/// Resolves every target. A pid or cgroup path that does not exist is fatal; a
/// container that is not found is only reported (see `ResolvedTargets::require_some`).
pub fn resolve(
    targets: &Targets,
    node_containers: &[ContainerTarget],
) -> Result<ResolvedTargets, Failure> {
    let mut resolved = ResolvedTargets {
        pids: targets.pids.clone(),
        cgroup_ids: targets.cgroup_ids.clone(),
        ..ResolvedTargets::default()
    };
    for pid in &targets.pids {
        if *pid == 0 || !Path::new(&format!("/proc/{pid}")).exists() {
            return Err(Failure::new(
                ErrorCode::InvalidTarget,
                format!("process {pid} does not exist"),
                "check the pid with `ps -p PID`",
            ));
        }
    }
    if !targets.cgroup_paths.is_empty() {
        let mount = cgroup2_mount()?;
        for path in &targets.cgroup_paths {
            let (id, relative) = cgroup_id(&mount, path)?;
            resolved.cgroup_ids.push(id);
            resolved
                .cgroup_dirs
                .push(mount.join(relative.trim_start_matches('/')));
            resolved.cgroup_names.insert(id, relative);
        }
    }
    let roots = cgroup2_mounts()?;
    let limits = Limits::default();
    if targets.containers.is_empty() {
        resolved.naming = Naming::for_node(&roots, node_containers, &limits);
    } else {
        resolved.containers = containers::resolve(&roots, &targets.containers, &limits);
        resolved.naming = resolved.containers.naming();
        for found in &resolved.containers.found {
            resolved.cgroup_ids.extend(&found.ids);
            resolved.cgroup_dirs.push(found.path.clone());
        }
    }
    resolved.pids.sort_unstable();
    resolved.pids.dedup();
    resolved.cgroup_ids.sort_unstable();
    resolved.cgroup_ids.dedup();
    if resolved.pids.len() + resolved.cgroup_ids.len() > MAX_TARGETS {
        return Err(Failure::new(
            ErrorCode::InvalidTarget,
            format!(
                "the targets come to {} processes and cgroups; the limit is {MAX_TARGETS}",
                resolved.pids.len() + resolved.cgroup_ids.len()
            ),
            "trace fewer pods at a time",
        ));
    }
    Ok(resolved)
}

impl ResolvedTargets {
    /// Fails when container targets were asked for and nothing at all was found: a
    /// filter left empty would trace the whole node instead.
    pub fn require_some(&self, node: &str) -> Result<(), Failure> {
        let resolution = &self.containers;
        if resolution.missing.is_empty()
            || !resolution.found.is_empty()
            || !self.pids.is_empty()
            || !self.cgroup_ids.is_empty()
        {
            return Ok(());
        }
        let mut uids: Vec<&str> = resolution
            .missing
            .iter()
            .map(|target| target.pod_uid.as_str())
            .collect();
        uids.sort_unstable();
        uids.dedup();
        const SHOWN: usize = 5;
        let mut listed = uids
            .iter()
            .take(SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if uids.len() > SHOWN {
            listed.push_str(&format!(" and {} more", uids.len() - SHOWN));
        }
        let roots = resolution
            .searched
            .iter()
            .map(|root| root.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut message = match resolution.missing.as_slice() {
            [only] => format!(
                "target container {}/{}/{} has no cgroup on node {node} (searched pod uid {listed} under {roots})",
                only.namespace, only.pod, only.container
            ),
            all => format!(
                "none of the {} target containers has a cgroup on node {node} (searched pod uids {listed} under {roots})",
                all.len()
            ),
        };
        if resolution.truncated {
            message.push_str("; the search stopped early, the hierarchy is too large");
        }
        Err(Failure::new(
            ErrorCode::InvalidTarget,
            message,
            "the containers may have exited, restarted or moved to another node; check `kubectl get pods -o wide` and trace again",
        ))
    }
}

/// Where the cgroup v2 hierarchy is mounted: `/sys/fs/cgroup` on unified hosts,
/// `/sys/fs/cgroup/unified` on hybrid ones.
pub fn cgroup2_mount() -> Result<PathBuf, Failure> {
    let mountinfo = read_mountinfo()?;
    cgroup2_mount_in(&mountinfo).ok_or_else(no_cgroup2)
}

/// Every cgroup2 mount point, in mount order. A container sees its own cgroup
/// namespace at one and may have the host's hierarchy bind-mounted at another; the
/// container search walks them all.
pub fn cgroup2_mounts() -> Result<Vec<PathBuf>, Failure> {
    let mounts = cgroup2_mounts_in(&read_mountinfo()?);
    if mounts.is_empty() {
        return Err(no_cgroup2());
    }
    Ok(mounts)
}

fn read_mountinfo() -> Result<String, Failure> {
    fs::read_to_string("/proc/self/mountinfo").map_err(|err| {
        Failure::new(
            ErrorCode::Internal,
            format!("cannot read /proc/self/mountinfo: {err}"),
            "mount /proc",
        )
    })
}

fn no_cgroup2() -> Failure {
    Failure::new(
        ErrorCode::KernelUnsupported,
        "no cgroup v2 hierarchy is mounted",
        "mount one with `mount -t cgroup2 none /sys/fs/cgroup/unified`",
    )
}

/// The first cgroup2 mount point in a mountinfo table.
fn cgroup2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    cgroup2_mounts_in(mountinfo).into_iter().next()
}

/// The cgroup2 mount points of a mountinfo table, each once.
fn cgroup2_mounts_in(mountinfo: &str) -> Vec<PathBuf> {
    let mut mounts: Vec<PathBuf> = Vec::new();
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let fs_type = after.split_whitespace().next();
        let mount_point = before.split_whitespace().nth(4);
        if let (Some("cgroup2"), Some(point)) = (fs_type, mount_point) {
            let point = PathBuf::from(unescape_octal(point));
            if !mounts.contains(&point) {
                mounts.push(point);
            }
        }
    }
    mounts
}

/// mountinfo escapes spaces and a few other bytes as `\NNN`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Some(byte) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|digits| u8::from_str_radix(digits, 8).ok())
        {
            out.push(byte);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The id of a cgroup given by path, checked to be a directory of the v2 hierarchy, and
/// its path below the mount (`/` for the root).
fn cgroup_id(mount: &Path, path: &str) -> Result<(u64, String), Failure> {
    let given = Path::new(path);
    let full = if given.is_absolute() {
        given.to_path_buf()
    } else {
        mount.join(given)
    };
    let not_found = |why: String| {
        Failure::new(
            ErrorCode::InvalidTarget,
            format!("cgroup {path} {why}"),
            format!(
                "give a directory of the cgroup v2 hierarchy mounted at {}",
                mount.display()
            ),
        )
    };
    let canonical = full
        .canonicalize()
        .map_err(|err| not_found(format!("cannot be opened: {err}")))?;
    if !canonical.starts_with(mount) {
        return Err(not_found("is not in the cgroup v2 hierarchy".to_owned()));
    }
    let metadata =
        fs::metadata(&canonical).map_err(|err| not_found(format!("cannot be read: {err}")))?;
    if !metadata.is_dir() {
        return Err(not_found("is not a directory".to_owned()));
    }
    let relative = canonical
        .strip_prefix(mount)
        .map_or_else(|_| path.to_owned(), |rest| format!("/{}", rest.display()));
    Ok((metadata.ino(), relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_unified_mount_on_hybrid_hosts() {
        let table = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        assert_eq!(
            cgroup2_mount_in(table),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        assert_eq!(cgroup2_mount_in("1 2 0:1 / /proc rw - proc proc rw"), None);
    }

    #[test]
    fn lists_every_cgroup2_mount_once() {
        let table = "\
41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
52 41 0:38 / /host/sys/fs/cgroup ro,relatime - cgroup2 cgroup2 rw
53 41 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw
54 41 0:40 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
garbage line
";
        assert_eq!(
            cgroup2_mounts_in(table),
            vec![
                PathBuf::from("/sys/fs/cgroup"),
                PathBuf::from("/host/sys/fs/cgroup")
            ]
        );
    }

    #[test]
    fn spec_limit_fits_the_kernel_filter() {
        assert_eq!(
            tracer_protocol::spec::MAX_TARGETS,
            ebpf_common::filter::MAX_TARGETS as usize
        );
    }

    #[test]
    fn unescapes_mount_points() {
        assert_eq!(unescape_octal(r"/mnt/with\040space"), "/mnt/with space");
        assert_eq!(unescape_octal(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn refuses_missing_processes_and_cgroups() {
        let missing_pid = Targets {
            pids: vec![u32::MAX - 1],
            ..Targets::default()
        };
        let err = resolve(&missing_pid, &[]).expect_err("no such process");
        assert_eq!(err.code, ErrorCode::InvalidTarget);

        let outside = Targets {
            cgroup_paths: vec!["/etc".into()],
            ..Targets::default()
        };
        if let Err(err) = resolve(&outside, &[]) {
            assert_eq!(err.code, ErrorCode::InvalidTarget, "{}", err.message);
        } else {
            panic!("/etc accepted as a cgroup");
        }
    }

    fn container(uid: &str, name: &str) -> ContainerTarget {
        ContainerTarget {
            pod_uid: uid.to_owned(),
            container_id: "abc".to_owned(),
            qos: None,
            namespace: "shop".to_owned(),
            pod: "checkout".to_owned(),
            container: name.to_owned(),
        }
    }

    #[test]
    fn nothing_found_is_an_invalid_target_naming_the_search() {
        let mut resolved = ResolvedTargets::default();
        resolved.containers.searched = vec![PathBuf::from("/sys/fs/cgroup")];
        resolved.containers.missing = vec![container("uid-1", "app"), container("uid-2", "db")];
        let err = resolved
            .require_some("node-1")
            .expect_err("nothing to trace");
        assert_eq!(err.code, ErrorCode::InvalidTarget);
        assert_eq!(
            err.message,
            "none of the 2 target containers has a cgroup on node node-1 \
             (searched pod uids uid-1, uid-2 under /sys/fs/cgroup)"
        );
        assert!(err.hint.contains("kubectl get pods"), "{}", err.hint);

        resolved.containers.missing.truncate(1);
        let err = resolved
            .require_some("node-1")
            .expect_err("nothing to trace");
        assert!(
            err.message
                .starts_with("target container shop/checkout/app has no cgroup on node node-1"),
            "{}",
            err.message
        );

        // Something else to trace: the missing container is only reported.
        resolved.pids = vec![1];
        assert!(resolved.require_some("node-1").is_ok());
        // No container targets at all: node-wide is what was asked.
        assert!(ResolvedTargets::default().require_some("node-1").is_ok());
    }
}
