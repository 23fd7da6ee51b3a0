//! Running a container's process for real: in its cgroup before exec, output captured
//! line by line into its log.

use std::{io, os::fd::AsRawFd, path::Path, process::Stdio, sync::Arc};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, BufReader},
    process::{Child, Command},
    task::JoinHandle,
};

use super::logs::LogBuf;

pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct Running {
    pub child: Child,
    pub pumps: Vec<JoinHandle<()>>,
}

/// Starts `argv` with exactly `env`, inside `cgroup` (when cgroups are in use), its output going to `log`.
pub fn spawn(
    argv: &[String],
    env: &[(String, String)],
    cgroup: Option<&Path>,
    log: &Arc<LogBuf>,
) -> io::Result<Running> {
    let Some((program, args)) = argv.split_first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no command to run",
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", PATH)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // Opened before fork (close-on-exec), written by the child before it execs.
    let procs = match cgroup {
        Some(dir) => Some(
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))?,
        ),
        None => None,
    };
    if let Some(fd) = procs.as_ref().map(AsRawFd::as_raw_fd) {
        // SAFETY: the hook only calls write(2), which is async-signal-safe, on an fd that
        // stays open in the child until exec.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::write(fd, b"0".as_ptr().cast(), 1);
                if r < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn()?;
    drop(procs);
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(out, log.clone())));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(err, log.clone())));
    }
    Ok(Running { child, pumps })
}

async fn pump(stream: impl AsyncRead + Unpin, log: Arc<LogBuf>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => log.push(line),
        }
    }
}

/// The exit code as a container runtime reports it (128 + signal when killed).
pub fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(255)
}
