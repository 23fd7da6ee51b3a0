//! The plugin tracing this machine (`kubectl-ebpf trace --local ...`), as a test drives
//! it: started, waited on until it says it attached, then read to its end.

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader, Read},
    process::{Child, ChildStderr, Command, ExitStatus, Stdio},
};

use crate::binaries;

pub struct PluginRun {
    child: Child,
    stderr: BufReader<ChildStderr>,
}

impl PluginRun {
    /// Starts `kubectl-ebpf ARGS` and returns once its first progress line says it is
    /// tracing, so a test's workload runs while the probes are attached.
    pub fn start<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> PluginRun {
        let mut child = Command::new(binaries::plugin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kubectl-ebpf");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let mut line = String::new();
        // The progress view may start with a blank line; the notice comes before anything else.
        while line.trim().is_empty() {
            line.clear();
            if stderr.read_line(&mut line).expect("read progress") == 0 {
                break;
            }
        }
        // The probes must attach: a trace that did not is a failure, not an empty result.
        assert!(
            line.starts_with("Tracing on "),
            "expected the attach notice, got {line:?}"
        );
        PluginRun { child, stderr }
    }

    /// Signals the plugin, as a terminal's Ctrl-C would.
    pub fn interrupt(&self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
    }

    /// Waits for the plugin to end: its exit status, stdout and the rest of its stderr.
    pub fn finish(mut self) -> (ExitStatus, String, String) {
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut stdout)
            .expect("read stdout");
        let mut stderr = String::new();
        let _ = self.stderr.read_to_string(&mut stderr);
        let status = self.child.wait().expect("wait for the plugin");
        (status, stdout, stderr)
    }
}
