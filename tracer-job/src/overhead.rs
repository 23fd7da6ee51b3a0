//! What a trace cost on its node, measured: the kernel's run time and run count of each
//! of our eBPF programs, our own CPU time and peak memory, and the events lost.
//!
//! The kernel counts program run time only while BPF stats are on (BPF_ENABLE_STATS). By
//! default a trace turns them on once attached, keeps them on for a sample of its time
//! (`sampling`) and scales what was counted up to the whole trace. When its spec says
//! `stats_exact`, it turns them on before the first program is attached and keeps them
//! on throughout. That needs CAP_SYS_ADMIN; without it the count is still there when the
//! node has the `kernel.bpf_stats_enabled` sysctl on, and is reported unknown otherwise.

use std::{
    collections::BTreeMap,
    os::fd::OwnedFd,
    time::{Duration, Instant},
};

use aya::sys::{Stats, enable_stats};
use tracer_protocol::{ProgramStats, Record, TraceSpec};

use crate::{
    probes::Probe,
    sampling::{Schedule, Switch},
};

/// How a trace has the kernel count its programs' run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    Off,
    /// For a sample of the trace, scaled up.
    Sampled,
    /// For all of it.
    Whole,
}

impl Counting {
    pub fn of(spec: &TraceSpec) -> Self {
        match (spec.stats, spec.stats_exact) {
            (false, _) => Counting::Off,
            (true, false) => Counting::Sampled,
            (true, true) => Counting::Whole,
        }
    }
}

/// Keeps the kernel counting program run time, throughout or in samples.
pub struct RunTimeStats {
    counting: Counting,
    enabled: Option<OwnedFd>,
    /// The node counts for every program already (the sysctl).
    node_counts: bool,
    /// Counting was on when the programs were attached; a sampled trace switches it
    /// off and on after that.
    counted: bool,
    sampling: Option<Sampling>,
}

/// A sampled trace's switch, and what the kernel counted in its windows. Only what ran
/// while our own switch was on is taken: something else on the node may count at other
/// times (another trace sampling, say), and would make those times look counted when
/// they were only partly.
struct Sampling {
    schedule: Schedule,
    /// While counting is on: since when, and each program's counts then.
    window: Option<(Instant, Counts)>,
    /// What the closed windows counted, and how long they lasted.
    counted: Counts,
    counted_for: Duration,
}

impl Sampling {
    /// What the windows counted up to `now`, and for how long, the open one included.
    fn counted_until(&self, now: Instant, probes: &[Box<dyn Probe>]) -> (Counts, Duration) {
        let mut counted = self.counted.clone();
        let mut counted_for = self.counted_for;
        if let Some((since, at_start)) = &self.window {
            add_difference(&mut counted, &counts(probes), at_start);
            counted_for += now.saturating_duration_since(*since);
        }
        (counted, counted_for)
    }
}

/// Each program's run time and runs as the kernel counted them, by probe (its index in
/// the trace, and name) and program name.
type Counts = BTreeMap<(usize, &'static str, String), (u64, u64)>;

fn counts(probes: &[Box<dyn Probe>]) -> Counts {
    let mut counts = Counts::new();
    for (index, probe) in probes.iter().enumerate() {
        for (name, program) in probe.ebpf().programs() {
            // Programs a probe did not load (an unused mode) have no numbers.
            let Ok(info) = program.info() else {
                continue;
            };
            let run_time = u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX);
            counts.insert(
                (index, probe.name(), name.to_owned()),
                (run_time, info.run_count()),
            );
        }
    }
    counts
}

/// Adds what each program ran between `before` and `after` to `total`.
fn add_difference(total: &mut Counts, after: &Counts, before: &Counts) {
    for (program, (time, runs)) in after {
        let (time_before, runs_before) = before.get(program).copied().unwrap_or_default();
        let sum = total.entry(program.clone()).or_default();
        sum.0 += time.saturating_sub(time_before);
        sum.1 += runs.saturating_sub(runs_before);
    }
}

impl RunTimeStats {
    /// Prepares the kernel's run time statistics. A trace counted whole turns them on now,
    /// before its first program is attached; a sampled trace turns them on in `attached`,
    /// once the attached record is out, so the switch (a static key: a few hundred µs of
    /// patching the kernel's code) is not on the way to attaching. Never fails: without
    /// them the trace goes on and its `stats` record says the run time is unknown.
    pub fn start(counting: Counting) -> Self {
        let node_counts = sysctl_on();
        let mut stats = RunTimeStats {
            counting,
            counted: node_counts,
            enabled: None,
            node_counts,
            sampling: None,
        };
        if counting == Counting::Whole {
            stats.enable();
        }
        stats
    }

    fn enable(&mut self) {
        match enable_stats(Stats::RunTime) {
            Ok(fd) => {
                self.enabled = Some(fd);
                self.counted = true;
            }
            Err(err) => {
                if !self.node_counts {
                    eprintln!(
                        "warning: the kernel will not count eBPF run time ({}: {}); \
                         it needs CAP_SYS_ADMIN or the kernel.bpf_stats_enabled sysctl",
                        err.call, err.io_error
                    );
                }
            }
        }
    }

    /// Whether the kernel counts run time.
    pub fn counted(&self) -> bool {
        self.counted
    }

    /// The programs are attached and the attached record is out: a sampled trace turns
    /// counting on and starts its windows from now. Not when the node counts for everyone
    /// (the sysctl), as nothing would be saved.
    pub fn attached(&mut self, probes: &[Box<dyn Probe>]) {
        if self.counting != Counting::Sampled || self.node_counts {
            return;
        }
        self.enable();
        if self.enabled.is_none() {
            return;
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        let now = Instant::now();
        self.sampling = Some(Sampling {
            schedule: Schedule::new(now, seed),
            window: Some((now, counts(probes))),
            counted: Counts::new(),
            counted_for: Duration::ZERO,
        });
    }

    /// When the sampling next switches counting on or off, if it does.
    pub fn next_switch(&self) -> Option<Instant> {
        self.sampling
            .as_ref()
            .map(|sampling| sampling.schedule.next())
    }

    /// Switches counting on or off when the sampling says it is time.
    pub fn switch_if_due(&mut self, probes: &[Box<dyn Probe>]) {
        let Some(sampling) = self.sampling.as_mut() else {
            return;
        };
        let now = Instant::now();
        match sampling.schedule.due(now) {
            Some(Switch::Off) => {
                (sampling.counted, sampling.counted_for) = sampling.counted_until(now, probes);
                sampling.window = None;
                self.enabled = None;
            }
            Some(Switch::On) => {
                // Should the kernel refuse now, this window is simply not counted.
                self.enabled = enable_stats(Stats::RunTime).ok();
                if self.enabled.is_some() {
                    sampling.window = Some((Instant::now(), counts(probes)));
                }
            }
            None => {}
        }
    }

    /// The `stats` record, read once at the end, while the programs are still loaded.
    pub fn record(&self, probes: &[Box<dyn Probe>], lost: u64, attached_for: Duration) -> Record {
        // A sampled trace stands for the time since its first window: the instant between
        // attaching and turning counting on is not counted, nor scaled for.
        let (counted, counted_for, span) = match &self.sampling {
            Some(sampling) => {
                let now = Instant::now();
                let (counted, counted_for) = sampling.counted_until(now, probes);
                let span = now.saturating_duration_since(sampling.schedule.start());
                (counted, Some(counted_for), span)
            }
            None => (counts(probes), None, attached_for),
        };
        let scale = counted_for
            .filter(|counted_for| !counted_for.is_zero() && *counted_for < span)
            .map(|counted_for| span.as_secs_f64() / counted_for.as_secs_f64());
        let scaled = |value: u64| match scale {
            Some(scale) => (value as f64 * scale).round() as u64,
            None => value,
        };
        let mut programs: Vec<ProgramStats> = counted
            .into_iter()
            .map(
                |((_, probe, name), (run_time_ns, run_count))| ProgramStats {
                    probe: probe.to_owned(),
                    name,
                    run_time_ns: scaled(run_time_ns),
                    run_count: scaled(run_count),
                },
            )
            .collect();
        programs.sort_by(|a, b| (&a.probe, &a.name).cmp(&(&b.probe, &b.name)));
        let usage = own_usage();
        Record::Stats {
            programs,
            run_time_counted: self.counted,
            cpu_ns: usage.map(|(cpu_ns, _)| cpu_ns),
            max_rss_bytes: usage.map(|(_, rss)| rss),
            lost,
            elapsed_ms: millis(attached_for),
            run_time_counted_ms: scale.and(counted_for).map(millis),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The node counts run time for every program already (`sysctl kernel.bpf_stats_enabled=1`).
fn sysctl_on() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .is_ok_and(|value| value.trim() == "1")
}

/// This process's user plus system CPU time in nanoseconds and peak resident memory in
/// bytes.
fn own_usage() -> Option<(u64, u64)> {
    let cpu_ns = own_cpu_ns()?;
    Some((
        cpu_ns,
        peak_rss_bytes(&std::fs::read_to_string("/proc/self/status").ok()?)?,
    ))
}

/// `VmHWM` of a `/proc/PID/status`: the peak of this program's own memory. Not getrusage's
/// `ru_maxrss`, which keeps the peak of the image before exec, so a tracer would report the
/// size of whatever started it (a kubelet's runtime, the plugin) as its own.
fn peak_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn own_cpu_ns() -> Option<u64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given and touches nothing else.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: getrusage succeeded, so the struct is filled (and it was zeroed before).
    let usage = unsafe { usage.assume_init() };
    let ns = |time: libc::timeval| {
        u64::try_from(time.tv_sec).unwrap_or(0) * 1_000_000_000
            + u64::try_from(time.tv_usec).unwrap_or(0) * 1_000
    };
    Some(ns(usage.ru_utime) + ns(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_usage_is_measured() {
        let mut spin = 0u64;
        for i in 0..2_000_000u64 {
            spin = spin.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(spin);
        let (cpu_ns, rss) = own_usage().expect("getrusage works");
        assert!(cpu_ns > 0, "{cpu_ns}");
        assert!(rss > 1024 * 1024, "{rss}");
    }

    #[test]
    fn the_peak_is_this_programs_own() {
        let status =
            "Name:\ttracer-job\nVmPeak:\t  200000 kB\nVmHWM:\t   21504 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(peak_rss_bytes(status), Some(21504 * 1024));
        assert_eq!(peak_rss_bytes("Name:\tx\n"), None);
    }
}
