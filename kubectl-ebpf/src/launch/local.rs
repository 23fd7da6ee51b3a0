//! Local mode: `tracer-job` as a child process of the plugin, fed its spec on stdin.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
    sync::mpsc,
};
use tracer_protocol::TraceSpec;

use super::NodeEvent;
use crate::exit::CliError;

/// The node name local mode reports until the tracer says its own.
pub const LOCAL_NODE: &str = "local";

/// Keep only the end of a failing tracer's stderr.
const STDERR_TAIL_BYTES: usize = 2048;

const TRACER_BINARY: &str = "tracer-job";

/// Where to find `tracer-job`: the override (flag or env), else beside this executable.
pub fn find_tracer(override_path: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(path) = override_path {
        return if path.is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(CliError::usage(
                format!("tracer {} does not exist", path.display()),
                "point --tracer or KUBECTL_EBPF_TRACER at a tracer-job binary",
            ))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(TRACER_BINARY)));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        _ => Err(CliError::failure(
            format!("{TRACER_BINARY} was not found beside kubectl-ebpf"),
            "install both binaries in one directory, or set --tracer / KUBECTL_EBPF_TRACER",
        )),
    }
}

/// A running local tracer.
pub struct LocalTracer {
    pid: Option<u32>,
}

impl LocalTracer {
    /// Starts the tracer and streams its output into `events`.
    pub async fn start(
        tracer: &Path,
        spec: &TraceSpec,
        events: mpsc::Sender<NodeEvent>,
    ) -> Result<Self, CliError> {
        let mut child = Command::new(tracer)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| {
                CliError::failure(
                    format!("cannot run {}: {err}", tracer.display()),
                    "check that the file is an executable tracer-job",
                )
            })?;
        let spec_json = serde_json::to_vec(spec)
            .map_err(|err| CliError::failure(format!("cannot encode the spec: {err}"), ""))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A tracer that dies at once closes the pipe; its stderr will say why.
            let _ = stdin.write_all(&spec_json).await;
        }
        let pid = child.id();
        tokio::spawn(follow(child, events));
        Ok(LocalTracer { pid })
    }

    /// Asks the tracer to flush its final snapshot and exit.
    pub fn stop(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Ends the tracer at once; its probes are detached when it dies.
    pub fn kill(&self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&self, signal: libc::c_int) {
        #[cfg(unix)]
        if let Some(pid) = self.pid.and_then(|pid| libc::pid_t::try_from(pid).ok()) {
            // SAFETY: a plain syscall; a stale pid of our own reaped child is harmless here
            // because `follow` holds the child until it is reaped.
            unsafe { libc::kill(pid, signal) };
        }
    }
}

/// Forwards stdout lines, then reports how the tracer ended.
async fn follow(mut child: Child, events: mpsc::Sender<NodeEvent>) {
    let stderr_task = child.stderr.take().map(|mut stderr| {
        tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text).await;
            let start = text.len().saturating_sub(STDERR_TAIL_BYTES);
            String::from_utf8_lossy(&text[start..]).trim().to_owned()
        })
    });
    if let Some(stdout) = child.stdout.take() {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let event = NodeEvent::Line {
                node: LOCAL_NODE.to_owned(),
                line,
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
    let (status, success) = match child.wait().await {
        Ok(status) => (describe(status), status.success()),
        Err(err) => (format!("could not be waited for: {err}"), false),
    };
    let stderr = match stderr_task {
        Some(task) => task.await.unwrap_or_default(),
        None => String::new(),
    };
    let _ = events
        .send(NodeEvent::Ended {
            node: LOCAL_NODE.to_owned(),
            status,
            success,
            stderr,
        })
        .await;
}

fn describe(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "ended".to_owned(),
    }
}
