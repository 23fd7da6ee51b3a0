//! A real cgroup v2 directory for one test, removed when dropped.

use std::{
    fs,
    os::{fd::AsRawFd, unix::process::CommandExt},
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

pub struct TestCgroup {
    path: PathBuf,
    mount: PathBuf,
}

/// The cgroup2 mount point (`/sys/fs/cgroup` or `/sys/fs/cgroup/unified`), found as the
/// tracer finds it.
pub fn cgroup2_mount() -> PathBuf {
    tracer_job::targets::cgroup2_mount()
        .unwrap_or_else(|failure| panic!("tests need a cgroup2 hierarchy: {}", failure.message))
}

impl TestCgroup {
    /// Creates `<mount>/<relative>` (parents included), unique per process and call.
    pub fn create(prefix: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mount = cgroup2_mount();
        let name = format!(
            "kubectl-ebpf-test-{}-{}-{prefix}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self::create_at(&mount, &name)
    }

    /// Creates a nested layout such as kubelet's, relative to the cgroup2 mount.
    pub fn create_at(mount: &Path, relative: &str) -> Self {
        let path = mount.join(relative);
        fs::create_dir_all(&path).unwrap_or_else(|err| {
            panic!(
                "create cgroup {} (tests run as root): {err}",
                path.display()
            )
        });
        TestCgroup {
            path,
            mount: mount.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command whose process joins this cgroup before it executes `program`, so even
    /// its exec happens inside.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        self.enter(&mut command);
        command
    }

    /// The cgroup's id, as `bpf_get_current_cgroup_id` returns it.
    pub fn id(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(&self.path)
            .unwrap_or_else(|err| panic!("stat {}: {err}", self.path.display()))
            .ino()
    }

    /// Moves a process into this cgroup.
    pub fn add(&self, pid: u32) {
        fs::write(self.path.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|err| panic!("move {pid} into {}: {err}", self.path.display()));
    }

    /// Makes `command`'s child move itself into this cgroup before it execs, so all it
    /// does is counted here: unlike `add`, nothing races the program's first syscalls.
    pub fn enter<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        let path = self.path.join("cgroup.procs");
        let procs = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_or_else(|err| panic!("open {}: {err}", path.display()));
        // SAFETY: the closure runs between fork and exec and only makes one syscall on a
        // descriptor opened before the fork; it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                // "0" is the writing process itself.
                if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) == 1 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            })
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // Move anything still inside back to the root, then remove the directory and any
        // parents this test created below the mount.
        if let Ok(procs) = fs::read_to_string(self.path.join("cgroup.procs")) {
            for pid in procs.split_whitespace() {
                let _ = fs::write(self.mount.join("cgroup.procs"), pid);
            }
        }
        let mut dir = self.path.clone();
        while dir != self.mount && fs::remove_dir(&dir).is_ok() {
            dir.pop();
        }
    }
}
