//! A child process that makes an exact number of getppid calls on demand.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
};

use crate::binaries;

pub struct Workload {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    /// Starts the process; it waits until `run` is called.
    pub fn spawn(getppid_calls: u64) -> Self {
        let mut child = Command::new(binaries::path("syscall-workload"))
            .arg(getppid_calls.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start syscall-workload");
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
        let stdin = self.stdin.as_mut().expect("workload still open");
        writeln!(stdin, "go").expect("signal workload");
        stdin.flush().expect("flush");
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
