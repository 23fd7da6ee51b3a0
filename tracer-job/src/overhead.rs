//! What a trace cost on its node, measured: the kernel's run time and run count of each
//! of our eBPF programs, our own CPU time and peak memory, and the events lost.
//!
//! The kernel counts program run time only while BPF stats are on. They are turned on
//! (BPF_ENABLE_STATS) before the first program is attached and stay on until the final
//! reading, so the count covers the whole trace. That needs CAP_SYS_ADMIN; without it
//! the count is still there when the node has the `kernel.bpf_stats_enabled` sysctl on,
//! and is reported unknown otherwise.

use std::{os::fd::OwnedFd, time::Duration};

use aya::sys::{Stats, enable_stats};
use tracer_protocol::{ProgramStats, Record};

use crate::probes::Probe;

/// Keeps the kernel counting program run time while it lives.
pub struct RunTimeStats {
    _enabled: Option<OwnedFd>,
    counted: bool,
}

impl RunTimeStats {
    /// Turns the kernel's run time statistics on when `wanted`. Never fails: without
    /// them the trace goes on and its `stats` record says the run time is unknown.
    pub fn start(wanted: bool) -> Self {
        let enabled = if wanted {
            match enable_stats(Stats::RunTime) {
                Ok(fd) => Some(fd),
                Err(err) => {
                    if !sysctl_on() {
                        eprintln!(
                            "warning: the kernel will not count eBPF run time ({}: {}); \
                             it needs CAP_SYS_ADMIN or the kernel.bpf_stats_enabled sysctl",
                            err.call, err.io_error
                        );
                    }
                    None
                }
            }
        } else {
            None
        };
        let counted = enabled.is_some() || sysctl_on();
        RunTimeStats {
            _enabled: enabled,
            counted,
        }
    }

    /// Whether the kernel counts run time for the whole of the trace.
    pub fn counted(&self) -> bool {
        self.counted
    }

    /// The `stats` record, read once at the end, while the programs are still loaded.
    pub fn record(&self, probes: &[Box<dyn Probe>], lost: u64, attached_for: Duration) -> Record {
        let mut programs = Vec::new();
        for probe in probes {
            for (name, program) in probe.ebpf().programs() {
                // Programs a probe did not load (an unused mode) have no numbers.
                let Ok(info) = program.info() else {
                    continue;
                };
                programs.push(ProgramStats {
                    probe: probe.name().to_owned(),
                    name: name.to_owned(),
                    run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                    run_count: info.run_count(),
                });
            }
        }
        programs.sort_by(|a, b| (&a.probe, &a.name).cmp(&(&b.probe, &b.name)));
        let usage = own_usage();
        Record::Stats {
            programs,
            run_time_counted: self.counted,
            cpu_ns: usage.map(|(cpu_ns, _)| cpu_ns),
            max_rss_bytes: usage.map(|(_, rss)| rss),
            lost,
            elapsed_ms: u64::try_from(attached_for.as_millis()).unwrap_or(u64::MAX),
        }
    }
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
