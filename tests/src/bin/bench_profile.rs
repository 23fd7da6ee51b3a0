//! Benchmark: `kubectl ebpf profile` against bpftrace's profiler one-liner, in one run.
//!
//! The profiled program is the frame-pointer build of `profile-workload spin`, which
//! reports the rounds of work it did in a fixed time. In interleaved rounds it runs
//! untraced, profiled by us (`kubectl-ebpf profile --local --exact-stats --pid PID` at
//! 99 Hz), and
//! profiled by `bpftrace -e 'profile:hz:99 /pid == PID/ { @[ustack, kstack] = count(); }'`
//! (the one-liner, with the same process filter as ours). For each it records
//! the work done per second, the samples captured, the time from start to attached, and
//! the wall time from the stop (SIGINT, as Ctrl-C) to the printed result; ours also
//! reports the time it spent symbolizing and the kernel CPU time of its eBPF program (the
//! kernel's own count). Prints a markdown report of medians.
//!
//! `bench-profile [--rounds N] [--work-ms MS] [--out FILE] [--summary FILE]`; run as root with bpftrace
//! installed. The workload binary comes from the tests' build (`PROFILE_WORKLOAD_FP`).

use std::{
    io::{BufRead, BufReader, Read, Write},
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    sync::mpsc,
    time::Instant,
};

use e2e::{
    binaries,
    stats::{median, range},
    summary::Figure,
};

const WORKLOAD: &str = env!("PROFILE_WORKLOAD_FP");

const FREQUENCY_HZ: u64 = 99;

#[derive(Clone, Copy, PartialEq)]
enum Tracer {
    Untraced,
    Ours,
    Bpftrace,
}

impl Tracer {
    const ALL: [Tracer; 3] = [Tracer::Untraced, Tracer::Ours, Tracer::Bpftrace];

    fn label(self) -> &'static str {
        match self {
            Tracer::Untraced => "untraced",
            Tracer::Ours => "ours",
            Tracer::Bpftrace => "bpftrace",
        }
    }
}

/// What one round of one tracer measured.
#[derive(Default)]
struct Measured {
    rounds_per_s: f64,
    samples: f64,
    attach_ms: f64,
    result_ms: f64,
    symbolize_ms: f64,
    /// Kernel CPU time of our eBPF program, as the kernel counted it.
    ebpf_ms: f64,
}

struct Workload {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Workload {
    fn start(work_ms: u64) -> Workload {
        let mut child = Command::new(WORKLOAD)
            .args(["spin", &work_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the workload");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut workload = Workload {
            child,
            stdin,
            stdout,
        };
        assert_eq!(workload.line(), "ready");
        workload
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the workload");
        line.trim().to_owned()
    }

    /// Runs the work; the rounds done.
    fn run(&mut self) -> u64 {
        writeln!(self.stdin, "go").expect("start the work");
        self.stdin.flush().expect("flush");
        assert_eq!(self.line(), "done");
        let rounds = self.line();
        rounds
            .strip_prefix("rounds ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("the workload said {rounds:?}"))
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A profiler running on the workload; its stdout is collected by a thread.
struct Profiler {
    child: Child,
    output: mpsc::Receiver<String>,
    attach_ms: f64,
}

impl Profiler {
    fn start(tracer: Tracer, pid: u32) -> Option<Profiler> {
        let started = Instant::now();
        let mut child = match tracer {
            Tracer::Untraced => return None,
            Tracer::Ours => Command::new(binaries::plugin())
                // Counted throughout, so the eBPF CPU column is the kernel's exact count;
                // at 99 Hz that costs the profile a few µs a second.
                .args(["profile", "--local", "--exact-stats", "-d", "600s", "-o", "json"])
                .arg("--pid")
                .arg(pid.to_string())
                .args(["-F", &FREQUENCY_HZ.to_string()])
                .env("KUBECTL_EBPF_TRACER", binaries::tracer())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start kubectl-ebpf"),
            Tracer::Bpftrace => Command::new("bpftrace")
                .args([
                    "-e",
                    &format!(
                        "BEGIN {{ printf(\"attached\\n\"); }} \
                         profile:hz:{FREQUENCY_HZ} /pid == {pid}/ {{ @[ustack, kstack] = count(); }}"
                    ),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start bpftrace"),
        };
        // Attached: our progress line on stderr, bpftrace's BEGIN on stdout.
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        match tracer {
            Tracer::Ours => {
                let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
                let mut line = String::new();
                while !line.starts_with("Tracing on ") {
                    line.clear();
                    let read = stderr.read_line(&mut line).expect("read progress");
                    assert!(read > 0, "kubectl-ebpf ended before attaching");
                }
                std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
            }
            _ => {
                let mut line = String::new();
                while line.trim() != "attached" {
                    line.clear();
                    let read = stdout.read_line(&mut line).expect("read bpftrace");
                    assert!(read > 0, "bpftrace ended before attaching");
                }
            }
        }
        let attach_ms = started.elapsed().as_secs_f64() * 1e3;
        let (sender, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            let _ = sender.send(text);
        });
        Some(Profiler {
            child,
            output,
            attach_ms,
        })
    }

    /// Stops it as Ctrl-C would; its output and the wall time until it was all written.
    fn stop(mut self) -> (String, f64) {
        let stopped = Instant::now();
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let output = self.output.recv().unwrap_or_default();
        let _ = self.child.wait();
        (output, stopped.elapsed().as_secs_f64() * 1e3)
    }
}

fn one(tracer: Tracer, work_ms: u64) -> Measured {
    let mut workload = Workload::start(work_ms);
    let profiler = Profiler::start(tracer, workload.child.id());
    let rounds = workload.run();
    let mut measured = Measured {
        rounds_per_s: rounds as f64 * 1000.0 / work_ms as f64,
        ..Measured::default()
    };
    if let Some(profiler) = profiler {
        measured.attach_ms = profiler.attach_ms;
        let (output, result_ms) = profiler.stop();
        measured.result_ms = result_ms;
        match tracer {
            Tracer::Ours => {
                let json: serde_json::Value =
                    serde_json::from_str(&output).expect("one JSON document");
                measured.samples = json["samples"].as_f64().unwrap_or(f64::NAN);
                measured.symbolize_ms = json["symbolize_ms"].as_f64().unwrap_or(f64::NAN);
                measured.ebpf_ms =
                    json["overhead"]["ebpf_cpu_ns"].as_f64().unwrap_or(f64::NAN) / 1e6;
            }
            _ => {
                // Map entries end in a line `]: COUNT`, or `, ]: COUNT` when the
                // kernel stack is empty.
                measured.samples = output
                    .lines()
                    .filter_map(|line| line.rsplit_once("]: "))
                    .filter(|(before, _)| matches!(before.trim(), "" | ","))
                    .filter_map(|(_, count)| count.trim().parse::<f64>().ok())
                    .sum();
            }
        }
    }
    measured
}

fn main() {
    let mut rounds = 5usize;
    let mut work_ms = 3000u64;
    let mut out_file = None;
    let mut summary = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match arg.as_str() {
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--work-ms" => work_ms = value().parse().expect("--work-ms MS"),
            "--out" => out_file = Some(value()),
            "--summary" => summary = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    one(Tracer::Untraced, 500); // warm up
    let mut all: [Vec<Measured>; 3] = Default::default();
    for round in 0..rounds {
        eprint!("round {}/{rounds}:", round + 1);
        // The order rotates, so no tracer always follows the same one.
        for step in 0..Tracer::ALL.len() {
            let index = (round + step) % Tracer::ALL.len();
            let tracer = Tracer::ALL[index];
            let measured = one(tracer, work_ms);
            eprint!(
                " {} {:.1} rounds/s, {} samples;",
                tracer.label(),
                measured.rounds_per_s,
                measured.samples
            );
            all[index].push(measured);
        }
        eprintln!();
    }
    let med =
        |index: usize, field: fn(&Measured) -> f64| median(all[index].iter().map(field).collect());
    let untraced = med(0, |m| m.rounds_per_s);
    // Each round's drop against the untraced run of the same round, which ran within
    // seconds of it: the machine's slower drifts cancel out.
    let drops = |index: usize| -> Vec<f64> {
        all[index]
            .iter()
            .zip(&all[0])
            .map(|(traced, plain)| (1.0 - traced.rounds_per_s / plain.rounds_per_s) * 100.0)
            .collect()
    };
    let overhead = |index: usize| median(drops(index));
    let drop_range = |index: usize| {
        let (low, high) = range(&drops(index));
        format!("{low:.2} to {high:.2}%")
    };
    let expected = FREQUENCY_HZ as f64 * work_ms as f64 / 1000.0;
    let untraced_runs: Vec<f64> = all[0].iter().map(|m| m.rounds_per_s).collect();
    let (slowest, fastest) = range(&untraced_runs);
    let ebpf_ms = med(1, |m| m.ebpf_ms);
    let ours_range = drop_range(1);
    let bpftrace_range = drop_range(2);
    let ebpf_share = ebpf_ms / work_ms as f64 * 100.0;
    let ebpf_per_sample_us = ebpf_ms * 1e3 / med(1, |m| m.samples);
    let report = format!(
        "# `kubectl ebpf profile` against bpftrace\n\n\
Produced by `tests/src/bin/bench_profile.rs` (release build, run as root:\n\
`target/release/bench-profile --rounds {rounds} --work-ms {work_ms} --out docs/benchmarks-profile.md`,\n\
after `cargo build --release --locked -p tracer-job -p kubectl-ebpf -p e2e --bins`; \
`tests/bench.sh` does both).\n\
Each round runs the workload untraced, profiled by us, and profiled by bpftrace, one\n\
after the other (the order rotating from round to round), so drifts of the machine touch\n\
all three alike.\n\n\
Medians of {rounds} interleaved rounds. The workload: `profile-workload spin {work_ms}` \
built with frame pointers, one thread spinning for {work_ms} ms in known functions \
({expected:.0} samples expected at {FREQUENCY_HZ} Hz); work is its rounds per second. \
Ours: `kubectl-ebpf profile --local --exact-stats --pid PID -F {FREQUENCY_HZ} -o json`; bpftrace: \
`profile:hz:{FREQUENCY_HZ} /pid == PID/ {{ @[ustack, kstack] = count(); }}`. Both are \
stopped with SIGINT when the work ends; \"to result\" is from then until the output is \
complete.\nMachine: {} CPUs, kernel {}, {}.\n\n\
| | work, rounds/s | overhead | samples | attach ms | to result ms | symbolize ms | eBPF CPU ms |\n\
|---|---:|---:|---:|---:|---:|---:|---:|\n\
| untraced | {untraced:.1} | | | | | | |\n\
| ours | {:.1} | {:.2}% | {:.0} | {:.0} | {:.0} | {:.0} | {ebpf_ms:.2} |\n\
| bpftrace | {:.1} | {:.2}% | {:.0} | {:.0} | {:.0} | (in to result) | |\n\n\
How to read it:\n\n\
- **Overhead** is the drop in the workload's rounds per second against the untraced \
run of the same round, the median over rounds (ours {ours_range}, bpftrace \
{bpftrace_range}). At {FREQUENCY_HZ} Hz either profiler takes about a hundred samples a \
second from one busy thread, a cost far below the spread between rounds of the \
untraced workload itself (here {slowest:.0} to {fastest:.0} rounds/s), so this column \
is mostly that noise.\n\
- **eBPF CPU** is the measured cost instead: the kernel's own count of the time our \
program ran (`BPF_ENABLE_STATS`), {ebpf_per_sample_us:.1} µs per sample, \
{ebpf_share:.3}% of the {work_ms} ms the \
workload ran. What it leaves out is the timer interrupt that takes each sample.\n\
- **Samples**: both capture about what {FREQUENCY_HZ} Hz over the work should give ({expected:.0}); missing \
samples are time the workload did not hold a CPU.\n\
- **To result**: ours symbolizes as the profile goes (each second, new stacks only), so \
the stop costs a last snapshot; bpftrace symbolizes every stack when it prints its map \
at exit. `symbolize ms` is our total symbolization time over the profile.\n\
- **Attach** is from starting the command to its \"attached\" signal: our plugin spawning \
the tracer, loading the program and opening a perf event per CPU; bpftrace compiling \
its one-liner with LLVM and attaching.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        Command::new("bpftrace")
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|_| "bpftrace not found".to_owned()),
        med(1, |m| m.rounds_per_s),
        overhead(1),
        med(1, |m| m.samples),
        med(1, |m| m.attach_ms),
        med(1, |m| m.result_ms),
        med(1, |m| m.symbolize_ms),
        med(2, |m| m.rounds_per_s),
        overhead(2),
        med(2, |m| m.samples),
        med(2, |m| m.attach_ms),
        med(2, |m| m.result_ms),
    );
    // A drop smaller than the untraced workload's own spread between rounds says nothing
    // either way; the kernel-counted figure judges the profile then.
    let spread = (fastest - slowest) / untraced * 100.0;
    let drop_figure = {
        let figure = "profile at 99 Hz: drop in the workload's work";
        if overhead(1).abs() <= spread {
            let target = format!(
                "under 1% overhead; within the noise, as the untraced workload moved by \
                 {spread:.1}% between rounds (see the kernel-counted figure)"
            );
            Figure::new("bench-profile", figure, "%", overhead(1), &target)
                .against("bpftrace", overhead(2))
        } else {
            Figure::new(
                "bench-profile",
                figure,
                "%",
                overhead(1),
                "under 1% overhead",
            )
            .against("bpftrace", overhead(2))
            .met(overhead(1) < 1.0)
        }
    };
    e2e::summary::append(
        summary.as_deref(),
        &[
            Figure::new(
                "bench-profile",
                "profile at 99 Hz: eBPF CPU, kernel-counted, share of the workload's time",
                "%",
                ebpf_share,
                "under 1% overhead",
            )
            .met(ebpf_share < 1.0),
            drop_figure,
            Figure::new(
                "bench-profile",
                "profile: stop to result",
                "ms",
                med(1, |m| m.result_ms),
                "faster than bpftrace",
            )
            .against("bpftrace", med(2, |m| m.result_ms))
            .met(med(1, |m| m.result_ms) < med(2, |m| m.result_ms)),
        ],
    );
    print!("{report}");
    if let Some(path) = out_file {
        std::fs::write(&path, &report).unwrap_or_else(|err| panic!("write {path}: {err}"));
    }
}
