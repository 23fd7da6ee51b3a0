//! Drives `net-workload` (usage in `src/bin/net_workload.rs`): one line per outcome on
//! its stdout, read here with a deadline so a stuck workload fails its test instead of
//! hanging it.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    time::{Duration, Instant},
};

use crate::{binaries, netns::NetNs};

/// How long any one line may take; the workloads' own timeouts are shorter.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `net-workload`, killed when dropped.
pub struct NetWorkload {
    child: Child,
    lines: Receiver<String>,
}

impl NetWorkload {
    /// `net-workload ARGS` as a command that will run inside `netns`; add
    /// `TestCgroup::enter` or `EmulatedContainer::enter` to also start it in a pod.
    pub fn command(netns: &NetNs, args: &[&str]) -> Command {
        let mut command = netns.command(binaries::path("net-workload"));
        command.args(args);
        command
    }

    /// Starts `net-workload ARGS` in `netns` and waits for its `ready`.
    pub fn start(netns: &NetNs, args: &[&str]) -> Self {
        Self::spawn(Self::command(netns, args))
    }

    /// Starts `command` (from `NetWorkload::command`) and waits for its `ready`.
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .expect("start net-workload");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut workload = NetWorkload { child, lines };
        workload.expect_line("ready");
        workload
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line; panics if the workload ends or says nothing for 30 s.
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("net-workload said nothing for {LINE_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("net-workload ended: {:?}", self.child.try_wait())
            }
        }
    }

    /// The next line, which must start with `prefix`.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        let line = self.next_line();
        assert!(
            line.starts_with(prefix),
            "net-workload said {line:?}, expected {prefix:?}"
        );
        line
    }

    /// Waits for the workload to exit by itself; returns its status and the lines it
    /// printed since the last one read.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait net-workload") {
                break status;
            }
            assert!(
                start.elapsed() < LINE_TIMEOUT,
                "net-workload still running after {LINE_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader thread ends at EOF, which follows the exit.
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(LINE_TIMEOUT) {
            lines.push(line);
        }
        (status, lines)
    }
}

impl Drop for NetWorkload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
