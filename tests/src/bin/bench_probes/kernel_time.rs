//! The probes whose work is all in the kernel (counted in maps) add less per operation
//! than this machine's wall and CPU times move between rounds, so the ratios of the
//! sections above can go either way from one run to the next. The kernel counts each
//! program's own run time when run-time statistics are on; that count, per operation, is
//! compared here, ours against bpftrace's one-liner, both under the same statistics.

use std::fs;

use aya::sys::{Stats, enable_stats};
use e2e::{stats::median, summary::Figure};

use crate::{BENCH, Case, Running, StartError, Tracer, WorkloadCgroup, ratio, time_ops};

/// The probes compared by their programs' kernel-counted run time.
pub const PROBES: &[&str] = &["syscall-count", "runq-latency", "block-latency"];

/// ns of program run time per operation, medians of interleaved rounds.
pub struct KernelTime {
    pub ours: f64,
    pub bpftrace: f64,
    pub rounds: usize,
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
            time_ops(&mut op, case.ops);
            let (after, runs) = program_time(pid);
            running.stop();
            // Programs the kernel never counted measured nothing.
            if runs == 0 {
                return Err(format!("{}'s programs never ran", tracer.label()));
            }
            per_op[index].push(after.saturating_sub(before) as f64 / case.ops as f64);
        }
    }
    let [ours, bpftrace] = per_op;
    Ok(KernelTime {
        ours: median(ours),
        bpftrace: median(bpftrace),
        rounds,
    })
}

pub fn report(times: &[(&Case, Result<KernelTime, String>)]) -> String {
    let mut out = String::from(
        "\n## eBPF time per operation, as the kernel counts it\n\n\
For the probes whose work is all in the kernel, whose figures above move between runs \
by more than the tracers differ by: the run time of every eBPF program each tracer \
holds (`run_time_ns` in `/proc/PID/fdinfo`) over the timed operations, per operation, \
with the kernel's run-time statistics on for both tracers (the benchmark holds them on \
for the whole measurement). The same operations as above, medians of interleaved \
rounds. It is the programs' own time: what reaching the hook costs, and the \
statistics' own clock reads, are not in it.\n\n\
| probe | rounds | ours ns/op | bpftrace ns/op | ours ÷ bpftrace |\n\
|---|---:|---:|---:|---:|\n",
    );
    for (case, time) in times {
        match time {
            Ok(time) => out.push_str(&format!(
                "| {} | {} | {:.0} | {:.0} | {} |\n",
                case.probe,
                time.rounds,
                time.ours,
                time.bpftrace,
                ratio(true, time.ours, time.bpftrace)
            )),
            Err(why) => out.push_str(&format!(
                "| {} | failed: {} | | | |\n",
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
                    &format!("eBPF time per operation, kernel-counted, {}", case.probe),
                    "ns",
                    time.ours,
                    "lower than bpftrace",
                )
                .against("bpftrace", time.bpftrace)
                .met(time.ours < time.bpftrace),
            )
        })
        .collect()
}
