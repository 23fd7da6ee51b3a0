//! Each tracer's own cost per operation, counted rather than subtracted: the run time
//! the kernel counts for the eBPF programs the tracer holds, plus the CPU time of the
//! tracer process, over the timed operations. The sections above take a traced
//! operation's time minus the untraced one's, and for most probes that difference is
//! smaller than how much this machine's times move between rounds, so their ratios can
//! go either way from one run to the next; these two counts move far less.

use std::fs;

use aya::sys::{Stats, enable_stats};
use e2e::{stats::median, summary::Figure};

use crate::{
    BENCH, Case, Running, StartError, Tracer, WorkloadCgroup, process_cpu_ns, ratio, time_ops,
};

/// ns per operation, medians of interleaved rounds.
pub struct KernelTime {
    /// The programs' run time, as the kernel counted it.
    pub ours: f64,
    pub bpftrace: f64,
    /// The tracer process's own CPU time.
    pub ours_process: f64,
    pub bpftrace_process: f64,
    pub rounds: usize,
}

impl KernelTime {
    fn ours_total(&self) -> f64 {
        self.ours + self.ours_process
    }

    fn bpftrace_total(&self) -> f64 {
        self.bpftrace + self.bpftrace_process
    }
}

/// Run time (ns) of the eBPF programs process `pid` holds, as the kernel counts it
/// (`run_time_ns` in `/proc/PID/fdinfo`), and how many times they ran.
fn program_time(pid: u32) -> (u64, u64) {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (0, 0);
    };
    let mut total = (0, 0);
    for fd in fds.flatten() {
        let is_program = fs::read_link(fd.path())
            .is_ok_and(|target| target.as_os_str() == "anon_inode:bpf-prog");
        if !is_program {
            continue;
        }
        let info = fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|value| value.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        total.0 += field("run_time_ns:");
        total.1 += field("run_cnt:");
    }
    total
}

/// Both tracers' program run time per operation of `case`, in interleaved rounds whose
/// order rotates.
pub fn measure(case: &Case, rounds: usize, cgroup: &WorkloadCgroup) -> Result<KernelTime, String> {
    // Held for the whole measurement, so both tracers' programs are counted alike
    // whatever either does with statistics itself.
    let _stats = enable_stats(Stats::RunTime)
        .map_err(|err| format!("cannot turn on run-time statistics: {err}"))?;
    let mut op = (case.workload)();
    time_ops(&mut op, case.ops / 10 + 1); // warm up
    let tracers = [Tracer::Ours, Tracer::Bpftrace];
    let mut per_op: [Vec<f64>; 2] = Default::default();
    let mut process_per_op: [Vec<f64>; 2] = Default::default();
    for round in 0..rounds {
        for step in 0..tracers.len() {
            let index = (round + step) % tracers.len();
            let tracer = tracers[index];
            let running = match Running::start(tracer, case, cgroup) {
                Some(Ok(running)) => running,
                Some(Err(StartError::Failed(why))) => return Err(why),
                Some(Err(StartError::NoProbe)) | None => {
                    return Err(format!("{} has no probe", tracer.label()));
                }
            };
            let pid = running.child.id();
            let (before, _) = program_time(pid);
            let process_before = process_cpu_ns(pid).unwrap_or(0);
            time_ops(&mut op, case.ops);
            let process_after = process_cpu_ns(pid).unwrap_or(0);
            let (after, runs) = program_time(pid);
            running.stop();
            // Programs the kernel never counted measured nothing.
            if runs == 0 {
                return Err(format!("{}'s programs never ran", tracer.label()));
            }
            per_op[index].push(after.saturating_sub(before) as f64 / case.ops as f64);
            process_per_op[index]
                .push(process_after.saturating_sub(process_before) as f64 / case.ops as f64);
        }
    }
    let [ours, bpftrace] = per_op;
    let [ours_process, bpftrace_process] = process_per_op;
    Ok(KernelTime {
        ours: median(ours),
        bpftrace: median(bpftrace),
        ours_process: median(ours_process),
        bpftrace_process: median(bpftrace_process),
        rounds,
    })
}

pub fn report(times: &[(&Case, Result<KernelTime, String>)]) -> String {
    let mut out = String::from(
        "\n## Each tracer's own cost per operation, counted\n\n\
The sections above subtract an untraced operation's time from a traced one's, and for \
most probes that difference is smaller than how much this machine's times move between \
rounds. Here each tracer's cost is counted instead, over the same timed operations: \
the run time of every eBPF program the tracer holds, as the kernel counts it \
(`run_time_ns` in `/proc/PID/fdinfo`, with run-time statistics held on by the \
benchmark for both tracers), plus the CPU time of the tracer process \
(`/proc/PID/task/*/schedstat`), per operation; medians of interleaved rounds, the order \
rotating. Left out, for both alike: what reaching the hook costs, and the statistics' \
own clock reads.\n\n\
| probe | rounds | eBPF, ours | eBPF, bpftrace | process, ours | process, bpftrace | \
total, ours | total, bpftrace | ours ÷ bpftrace |\n\
|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (case, time) in times {
        match time {
            Ok(time) => out.push_str(&format!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} |\n",
                case.probe,
                time.rounds,
                time.ours,
                time.bpftrace,
                time.ours_process,
                time.bpftrace_process,
                time.ours_total(),
                time.bpftrace_total(),
                ratio(true, time.ours_total(), time.bpftrace_total())
            )),
            Err(why) => out.push_str(&format!(
                "| {} | failed: {} | | | | | | | |\n",
                case.probe,
                crate::one_line(why)
            )),
        }
    }
    out
}

pub fn figures(times: &[(&Case, Result<KernelTime, String>)]) -> Vec<Figure> {
    times
        .iter()
        .filter_map(|(case, time)| {
            let time = time.as_ref().ok()?;
            Some(
                Figure::new(
                    BENCH,
                    &format!(
                        "eBPF run time + tracer process CPU per operation, counted, {}",
                        case.probe
                    ),
                    "ns",
                    time.ours_total(),
                    "lower than bpftrace",
                )
                .against("bpftrace", time.bpftrace_total())
                .met(time.ours_total() < time.bpftrace_total()),
            )
        })
        .collect()
}
