//! The key columns that name who a cgroup belongs to, for rows a probe splits by cgroup
//! (`--per-pod` histograms, per-process tables).
//!
//! A container the naming table knows becomes `namespace`, `pod` and `container` (the
//! same in every node's stream, so the plugin's merge adds a pod's rows up across nodes).
//! Any other cgroup becomes `cgroup`: its path below the cgroup2 mount when known (a
//! `--cgroup` target, or found by a bounded walk of the hierarchy), else its id.
//!
//! A cgroup keeps the key it was first given for the whole trace: snapshots are
//! cumulative per key, so a row whose key changed would be counted under both.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{containers::Naming, targets::ResolvedTargets};

pub type Key = BTreeMap<String, String>;

/// Directories one walk of the hierarchy reads at most.
const MAX_WALKED: usize = 20_000;
/// Shortest time between two walks, so a stream of unknown ids cannot make the tracer
/// walk on every snapshot.
const WALK_EVERY: Duration = Duration::from_secs(10);

pub struct Owners {
    naming: Naming,
    /// Paths below the mount by cgroup id.
    paths: HashMap<u64, String>,
    mount: Option<PathBuf>,
    walked: Option<Instant>,
    /// Keys given so far, by cgroup id.
    given: HashMap<u64, Key>,
}

impl Owners {
    pub fn new(targets: &ResolvedTargets) -> Self {
        Owners {
            naming: targets.naming.clone(),
            paths: targets
                .cgroup_names
                .iter()
                .map(|(id, path)| (*id, path.clone()))
                .collect(),
            mount: crate::targets::cgroup2_mount().ok(),
            walked: None,
            given: HashMap::new(),
        }
    }

    /// The key columns naming cgroup `id`; the same every time for one id.
    pub fn key(&mut self, id: u64) -> Key {
        if let Some(key) = self.given.get(&id) {
            return key.clone();
        }
        let key = self.name(id);
        self.given.insert(id, key.clone());
        key
    }

    fn name(&mut self, id: u64) -> Key {
        let mut key = Key::new();
        if let Some(owner) = self.naming.lookup(id) {
            if let Some(namespace) = &owner.namespace {
                key.insert("namespace".to_owned(), namespace.clone());
            }
            match &owner.pod {
                Some(pod) => key.insert("pod".to_owned(), pod.clone()),
                None => key.insert("pod_uid".to_owned(), owner.pod_uid.clone()),
            };
            if let Some(container) = &owner.container {
                key.insert("container".to_owned(), container.clone());
            }
            return key;
        }
        if !self.paths.contains_key(&id) {
            self.walk();
        }
        let name = self
            .paths
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string());
        key.insert("cgroup".to_owned(), name);
        key
    }

    /// Learns the path of every cgroup under the mount, at most once per `WALK_EVERY`.
    fn walk(&mut self) {
        let Some(mount) = &self.mount else {
            return;
        };
        if self.walked.is_some_and(|at| at.elapsed() < WALK_EVERY) {
            return;
        }
        self.walked = Some(Instant::now());
        let mut pending = vec![mount.clone()];
        let mut visited = 0;
        while let Some(dir) = pending.pop() {
            visited += 1;
            if visited > MAX_WALKED {
                break;
            }
            if let Ok(metadata) = fs::metadata(&dir) {
                self.paths
                    .entry(metadata.ino())
                    .or_insert_with(|| relative(mount, &dir));
            }
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    pending.push(entry.path());
                }
            }
        }
    }
}

/// `dir` below `mount`, written from the root: `/`, `/system.slice/cron.service`.
fn relative(mount: &Path, dir: &Path) -> String {
    dir.strip_prefix(mount).map_or_else(
        |_| dir.display().to_string(),
        |rest| format!("/{}", rest.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_cgroups_are_named_by_path_or_id() {
        let mut targets = ResolvedTargets::default();
        targets.cgroup_names.insert(7, "/test/app".to_owned());
        let mut owners = Owners::new(&targets);
        owners.mount = None;
        assert_eq!(
            owners.key(7),
            Key::from([("cgroup".to_owned(), "/test/app".to_owned())])
        );
        assert_eq!(
            owners.key(u64::MAX),
            Key::from([("cgroup".to_owned(), u64::MAX.to_string())])
        );
        // Learnt later, the path does not rename a row already written.
        owners.paths.insert(u64::MAX, "/late".to_owned());
        assert_eq!(owners.key(u64::MAX)["cgroup"], u64::MAX.to_string());
    }

    #[test]
    fn finds_the_root_by_walking() {
        let mut owners = Owners::new(&ResolvedTargets::default());
        let Some(mount) = owners.mount.clone() else {
            return;
        };
        let root = fs::metadata(&mount).map(|m| m.ino()).unwrap_or(1);
        assert_eq!(owners.key(root)["cgroup"], "/");
    }

    #[test]
    fn paths_read_from_the_root() {
        assert_eq!(
            relative(Path::new("/sys/fs/cgroup"), Path::new("/sys/fs/cgroup")),
            "/"
        );
        assert_eq!(
            relative(Path::new("/sys/fs/cgroup"), Path::new("/sys/fs/cgroup/a/b")),
            "/a/b"
        );
    }
}
