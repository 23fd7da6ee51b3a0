//! Interrupting cluster traces at random moments and counting what they leave behind.
//! Each trial starts a real `kubectl-ebpf trace` against the API double (whose kubelet
//! runs the real tracer), waits a random time, interrupts it one way, and then watches
//! the jobs namespace until nothing of the trace is left or its Jobs' deadline and TTL
//! have passed (the double runs those `JOB_CLOCK_SPEED` times faster).

use std::{
    fs::File,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::cluster::{Cluster, workload_deployment};

/// How much faster than the wall clock the double runs Jobs' deadlines and TTLs.
pub const JOB_CLOCK_SPEED: u64 = 20;
/// Each trial traces for this long unless interrupted.
const TRACE_SECS: u64 = 2;
/// The latest moment of an interruption, after the plugin starts: a 2 s trace ends
/// about then, so the moments span resolving, creating, starting, tracing and ending.
const LATEST_MS: u64 = 3_500;
/// A plugin that has not ended this long after its interruption is hung.
const HANG: Duration = Duration::from_secs(90);
/// The plugin's Job deadline (duration plus its grace) and TTL, in seconds of the Job
/// clock; objects may stay that long after a SIGKILL, and no longer.
const DEADLINE_AND_TTL_SECS: u64 = TRACE_SECS + 120 + 120;
/// Slack beyond that for the double's controllers and a slow machine.
const SLACK: Duration = Duration::from_secs(10);

/// How a trial ends the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Interruption {
    /// None: the trace runs to its duration.
    None,
    /// SIGINT to the plugin, as Ctrl-C in a terminal.
    CtrlC,
    /// SIGTERM to the plugin, as a supervisor stopping it.
    Term,
    /// SIGKILL to the plugin: it cannot clean up.
    KillPlugin,
    /// The trace's tracer processes SIGKILLed, as the OOM killer would.
    KillTracers,
}

impl Interruption {
    pub const ALL: [Interruption; 5] = [
        Interruption::None,
        Interruption::CtrlC,
        Interruption::Term,
        Interruption::KillPlugin,
        Interruption::KillTracers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Interruption::None => "none (runs to its end)",
            Interruption::CtrlC => "Ctrl-C (SIGINT)",
            Interruption::Term => "SIGTERM",
            Interruption::KillPlugin => "SIGKILL of the plugin",
            Interruption::KillTracers => "SIGKILL of the tracers",
        }
    }

    /// Whether the plugin lives to clean up after itself.
    pub fn plugin_survives(self) -> bool {
        self != Interruption::KillPlugin
    }
}

/// What one trial saw.
#[derive(Debug)]
pub struct Trial {
    pub interruption: Interruption,
    /// When the interruption came, after the plugin started.
    pub after_ms: u64,
    /// Whether the plugin had already ended by then.
    pub ended_first: bool,
    /// Tracer processes killed (`KillTracers` before they start kills none).
    pub tracers_killed: usize,
    /// The plugin's exit code; `None` when a signal ended it.
    pub exit: Option<i32>,
    /// The plugin panicked or hung.
    pub misbehaved: Option<String>,
    /// The plugin's last line on stderr.
    pub last_said: String,
    /// Objects of the trace present as the plugin exited (a surviving plugin must leave
    /// none).
    pub left_at_exit: Vec<String>,
    /// How long after the plugin's exit the last object went.
    pub gone_after: Option<Duration>,
    /// Objects still there once the deadline, the TTL and the slack had passed.
    pub leaked: Vec<String>,
}

impl Trial {
    /// What is wrong with this trial, if anything.
    pub fn fault(&self) -> Option<String> {
        if let Some(misbehaved) = &self.misbehaved {
            return Some(misbehaved.clone());
        }
        if self.interruption.plugin_survives() && !self.left_at_exit.is_empty() {
            return Some(format!("left at exit: {:?}", self.left_at_exit));
        }
        if !self.leaked.is_empty() {
            return Some(format!("leaked: {:?}", self.leaked));
        }
        None
    }
}

/// A cluster of two nodes with a two-replica Deployment to trace, and a seeded source of
/// random moments.
pub struct Trials {
    pub cluster: Cluster,
    random: u64,
}

impl Trials {
    pub fn start(seed: u64) -> Trials {
        let speed = JOB_CLOCK_SPEED.to_string();
        let cluster = Cluster::start(2, &["--job-clock-speed", &speed]);
        let trigger = cluster.trigger("never");
        cluster.apply(&workload_deployment("checkout", 2, 1, &trigger));
        cluster.wait_running("default", "app=checkout", 2);
        Trials {
            cluster,
            random: seed | 1,
        }
    }

    /// xorshift64*: enough to spread moments, and repeatable from the seed.
    fn next(&mut self) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A random way to interrupt.
    pub fn pick(&mut self) -> Interruption {
        Interruption::ALL[(self.next() % Interruption::ALL.len() as u64) as usize]
    }

    /// One trial: start a trace, interrupt it at a random moment, and watch what stays.
    pub fn run(&mut self, interruption: Interruption) -> Trial {
        let after_ms = self.next() % LATEST_MS;
        let stderr_path = self.cluster.dir.join("trial.stderr");
        let stderr = File::create(&stderr_path).expect("plugin stderr file");
        let mut plugin = self
            .cluster
            .plugin()
            .args([
                "trace",
                "syscall-count",
                "deploy/checkout",
                "-d",
                &format!("{TRACE_SECS}s"),
                "-o",
                "json",
            ])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start kubectl-ebpf");
        let started = Instant::now();
        let ended_first = wait_until(&mut plugin, started + Duration::from_millis(after_ms));
        let tracers_killed = if ended_first {
            0
        } else {
            self.interrupt(&plugin, interruption)
        };
        let (exit, hung) = match wait_until(&mut plugin, Instant::now() + HANG) {
            true => (plugin.wait().ok().and_then(|status| status.code()), false),
            false => {
                let _ = plugin.kill();
                let _ = plugin.wait();
                (None, true)
            }
        };
        let exited = Instant::now();
        let said = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let misbehaved = if hung {
            Some(format!("hung for {HANG:?}: {said}"))
        } else if exit == Some(101) || said.contains("panicked") {
            Some(format!("panicked: {said}"))
        } else {
            None
        };
        let left_at_exit = self.cluster.trace_objects();
        let limit =
            Duration::from_secs_f64(DEADLINE_AND_TTL_SECS as f64 / JOB_CLOCK_SPEED as f64) + SLACK;
        let mut left = left_at_exit.clone();
        while !left.is_empty() && exited.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(200));
            left = self.cluster.trace_objects();
        }
        let gone_after = if left_at_exit.is_empty() {
            Some(Duration::ZERO)
        } else {
            left.is_empty().then(|| exited.elapsed())
        };
        Trial {
            interruption,
            after_ms,
            ended_first,
            tracers_killed,
            exit,
            misbehaved,
            last_said: said.lines().last().unwrap_or_default().to_owned(),
            left_at_exit,
            gone_after,
            leaked: left,
        }
    }

    /// Interrupts the plugin or its tracers; how many tracers it killed.
    fn interrupt(&self, plugin: &Child, interruption: Interruption) -> usize {
        let signal = match interruption {
            Interruption::None => return 0,
            Interruption::CtrlC => libc::SIGINT,
            Interruption::Term => libc::SIGTERM,
            Interruption::KillPlugin => libc::SIGKILL,
            Interruption::KillTracers => return self.kill_tracers(),
        };
        // SAFETY: signalling our own child, which has not been reaped (it had not ended).
        unsafe { libc::kill(plugin.id() as libc::pid_t, signal) };
        0
    }

    /// SIGKILLs the tracer processes of the pods in the jobs namespace (only this trial's
    /// exist: each trial waits for the last one's to go), found by their pods' uids in
    /// their cgroup paths, so tracers of anything else on the machine are left alone.
    fn kill_tracers(&self) -> usize {
        let pods = self
            .cluster
            .get_json(&["get", "pods", "-n", "kubectl-ebpf"]);
        let uids: Vec<String> = pods["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|pod| pod["metadata"]["uid"].as_str())
            .flat_map(|uid| [uid.to_owned(), uid.replace('-', "_")])
            .collect();
        let mut killed = 0;
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                continue;
            };
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            let cgroup = std::fs::read_to_string(entry.path().join("cgroup")).unwrap_or_default();
            if comm.trim() == "tracer-job" && uids.iter().any(|uid| cgroup.contains(uid.as_str())) {
                // SAFETY: a plain kill(2) of a tracer this trial's cluster started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed += 1;
            }
        }
        killed
    }
}

/// Waits for the child to end until `deadline`; whether it ended (it is not reaped).
fn wait_until(child: &mut Child, deadline: Instant) -> bool {
    loop {
        // SAFETY: waitid with WNOWAIT only looks; the child stays to be reaped by `wait`.
        let ended = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                child.id(),
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            ) == 0
                && info.si_pid() != 0
        };
        if ended {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
