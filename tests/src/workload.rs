//! Child processes that do known work on demand: `syscall-workload` (getppid calls,
//! failing opens), `sched-workload` (spinning, sleeping), `block-workload` (direct I/O).

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

use crate::binaries;

/// A `proc-workload sleep` started by `command` (inside a cgroup or not), once it says
/// it is ready: a process to signal, or to find running.
pub fn ready_sleeper(mut command: Command) -> Child {
    let mut child = command
        .arg("sleep")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start a sleeper");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut ready)
        .expect("read the sleeper");
    assert_eq!(ready.trim(), "ready");
    child
}

pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    /// Starts the process; it waits until `run` is called.
    pub fn spawn(getppid_calls: u64) -> Self {
        Self::start("syscall-workload", &[getppid_calls.to_string()])
    }

    /// Starts one of the workload binaries with `args`; it waits until `run` or `go`.
    pub fn start(program: &str, args: &[String]) -> Self {
        Self::start_at(&binaries::path(program), args)
    }

    /// Starts the workload binary at `program` with `args`; it waits until `run` or `go`.
    pub fn start_at(program: &Path, args: &[String]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", program.display()));
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut workload = Workload {
            child,
            stdin,
            stdout,
        };
        workload.expect_line("ready");
        workload
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Makes the calls and returns once they are all made.
    pub fn run(&mut self) {
        self.go();
        self.wait_done();
    }

    /// Starts the work without waiting for it, so several workloads can run at once.
    pub fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("workload still open");
        writeln!(stdin, "go").expect("signal workload");
        stdin.flush().expect("flush");
    }

    /// Waits for the work `go` started.
    pub fn wait_done(&mut self) {
        self.expect_line("done");
    }

    fn expect_line(&mut self, expected: &str) {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read workload");
        assert_eq!(line.trim(), expected, "workload said {line:?}");
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
