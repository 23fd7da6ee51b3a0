//! Starting the `kube-double` binary as a child process from tests.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

/// A running `kube-double` child process; SIGTERM (then SIGKILL) on drop, which makes it
/// kill its pods' processes and remove its cgroups.
pub struct Double {
    child: Child,
    pub kubeconfig: PathBuf,
    pub base_url: String,
    dir: PathBuf,
}

/// `kube-double` in the same target directory as the running test or binary.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("kube-double")
}

impl Double {
    /// Starts `kube-double --nodes N` with extra arguments, waits for `ready`.
    pub fn start(nodes: usize, extra: &[&str]) -> std::io::Result<Double> {
        Self::start_with(&binary(), nodes, extra)
    }

    pub fn start_with(binary: &Path, nodes: usize, extra: &[&str]) -> std::io::Result<Double> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        if !binary.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} is missing; build it with `cargo build -p kube-double` (cargo test of the kube-double package builds it)",
                    binary.display()
                ),
            ));
        }
        let dir = std::env::temp_dir().join(format!(
            "kube-double-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let kubeconfig = dir.join("kubeconfig");
        let mut child = Command::new(binary)
            .arg("--nodes")
            .arg(nodes.to_string())
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take();
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "ready" {
            let _ = child.kill();
            let status = child.wait()?;
            return Err(std::io::Error::other(format!(
                "kube-double did not become ready ({status})"
            )));
        }
        let text = std::fs::read_to_string(&kubeconfig)?;
        let base_url = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: "))
            .unwrap_or_default()
            .to_string();
        Ok(Double {
            child,
            kubeconfig,
            base_url,
            dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to 10 s, then SIGKILL) for the double to clean up.
    pub fn stop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child by pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
