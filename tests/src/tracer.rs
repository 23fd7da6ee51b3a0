//! Drives `tracer-job` directly: spec on stdin, records from stdout.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    time::{Duration, Instant},
};

use tracer_protocol::{Decoded, Record, TraceSpec, decode_line};

use crate::binaries;

pub struct TracerRun {
    child: Child,
    records: Receiver<Record>,
    pub seen: Vec<Record>,
}

impl TracerRun {
    pub fn start(spec: &TraceSpec) -> Self {
        Self::spawn(Command::new(binaries::tracer()), spec)
    }

    /// Starts the tracer as user `nobody`, without any capability.
    pub fn start_unprivileged(spec: &TraceSpec) -> Self {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(binaries::tracer());
        command.uid(65534).gid(65534);
        Self::spawn(command, spec)
    }

    fn spawn(mut command: Command, spec: &TraceSpec) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tracer-job");
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(&serde_json::to_vec(spec).expect("encode spec"))
            .expect("write spec");
        drop(stdin);
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, records) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match decode_line(&line) {
                    Decoded::Record(record) => {
                        if sender.send(record).is_err() {
                            break;
                        }
                    }
                    Decoded::Skip => {}
                    Decoded::Malformed(why) => {
                        panic!("tracer wrote a malformed line {line:?}: {why}")
                    }
                }
            }
        });
        TracerRun {
            child,
            records,
            seen: Vec::new(),
        }
    }

    /// Waits for `attached`; panics with what the tracer said instead.
    pub fn wait_attached(&mut self) {
        self.wait_for("attached", |record| {
            matches!(record, Record::Attached { .. })
        });
    }

    /// Waits up to 30 s for a record that `wanted` accepts and returns it; panics with
    /// what the tracer said instead.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&Record) -> bool) -> Record {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.records.recv_timeout(left) {
                Ok(record) => {
                    let found = wanted(&record);
                    self.seen.push(record.clone());
                    if found {
                        return record;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("tracer never wrote {what}: {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("tracer ended before writing {what}: {:?}", self.seen)
                }
            }
        }
    }

    /// The tracer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and returns the exit status once every record is read.
    pub fn stop(self) -> (ExitStatus, Vec<Record>) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.finish()
    }

    /// SIGKILLs the tracer, which gets no chance to clean up, and reaps it.
    pub fn kill(mut self) -> ExitStatus {
        self.child.kill().expect("SIGKILL tracer");
        self.child.wait().expect("wait tracer")
    }

    /// Waits for the tracer to end by itself.
    pub fn finish(mut self) -> (ExitStatus, Vec<Record>) {
        while let Ok(record) = self.records.recv_timeout(Duration::from_secs(30)) {
            self.seen.push(record);
        }
        let status = self.child.wait().expect("wait tracer");
        (status, std::mem::take(&mut self.seen))
    }
}

/// A test that fails mid-trace still ends its tracer: a tracer left running keeps probes
/// loaded and holds the test's stderr open, so a piped `cargo test` would never end.
impl Drop for TracerRun {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last cumulative count of the histogram whose key has `key_name = key_value`.
pub fn hist_count(records: &[Record], key_name: &str, key_value: &str) -> Option<u64> {
    records.iter().rev().find_map(|record| match record {
        Record::Hist { key, buckets, .. }
            if key.get(key_name).map(String::as_str) == Some(key_value) =>
        {
            Some(buckets.iter().map(|b| b.count).sum())
        }
        _ => None,
    })
}

/// The last cumulative value of every counter named `name` of `probe`, by key.
pub fn last_counts(
    records: &[Record],
    probe: &str,
    name: &str,
) -> std::collections::BTreeMap<std::collections::BTreeMap<String, String>, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for record in records {
        if let Record::Count {
            probe: p,
            name: n,
            key,
            value,
        } = record
            && p == probe
            && n == name
        {
            counts.insert(key.clone(), *value);
        }
    }
    counts
}

/// The last cumulative buckets of every histogram of `probe`, by key.
pub fn last_hists(
    records: &[Record],
    probe: &str,
) -> std::collections::BTreeMap<
    std::collections::BTreeMap<String, String>,
    Vec<tracer_protocol::Bucket>,
> {
    let mut hists = std::collections::BTreeMap::new();
    for record in records {
        if let Record::Hist {
            probe: p,
            key,
            buckets,
            ..
        } = record
            && p == probe
        {
            hists.insert(key.clone(), buckets.clone());
        }
    }
    hists
}

/// The kernel's loss count the tracer reported last for `probe`.
pub fn last_lost(records: &[Record], probe: &str) -> Option<u64> {
    records.iter().rev().find_map(|record| match record {
        Record::Lost { probe: p, count } if p == probe => Some(*count),
        _ => None,
    })
}
