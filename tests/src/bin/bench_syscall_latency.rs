//! Benchmark: syscall-latency against bpftrace doing the same job, in one run.
//!
//! Measures, in interleaved rounds, (1) wall time from start to attached and peak RSS of
//! each tracer, and (2) nanoseconds added to each syscall of a tight `getppid` loop while
//! each tracer runs, against an untraced loop and a floor (two tracepoints that only bump
//! a per-CPU counter). Prints a markdown report of medians and ratios.
//!
//! `bench-syscall-latency [--rounds N] [--calls N] [--out FILE]`; run as root with
//! bpftrace installed and tracefs mounted (`tests/bench.sh` does both).

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use e2e::{binaries, stats::median, summary::Figure};

const BPFTRACE_LATENCY: &str = "tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; } \
tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @lat = hist(nsecs - @s[tid]); delete(@s[tid]); }";
const BPFTRACE_FLOOR: &str = "tracepoint:raw_syscalls:sys_enter { @enter = count(); } tracepoint:raw_syscalls:sys_exit { @exit = count(); }";
/// Printed once every probe is attached.
const READY: &str = "BEGIN { printf(\"attached\\n\"); }";

#[derive(Clone, Copy, PartialEq)]
enum Tracer {
    Untraced,
    Ours,
    OursNoStats,
    OursExactStats,
    OursBySyscall,
    Bpftrace,
    Floor,
}

impl Tracer {
    const ALL: [Tracer; 7] = [
        Tracer::Untraced,
        Tracer::Ours,
        Tracer::OursNoStats,
        Tracer::OursExactStats,
        Tracer::OursBySyscall,
        Tracer::Bpftrace,
        Tracer::Floor,
    ];

    fn label(self) -> &'static str {
        match self {
            Tracer::Untraced => "untraced",
            Tracer::Ours => "tracer-job syscall-latency",
            Tracer::OursNoStats => "tracer-job syscall-latency --no-stats",
            Tracer::OursExactStats => "tracer-job syscall-latency --exact-stats",
            Tracer::OursBySyscall => "tracer-job syscall-latency --by syscall",
            Tracer::Bpftrace => "bpftrace, same histogram",
            Tracer::Floor => "floor: bpftrace, two tracepoints + per-CPU count",
        }
    }

    fn start(self) -> Option<Running> {
        let mut command = match self {
            Tracer::Untraced => return None,
            Tracer::Ours | Tracer::OursNoStats | Tracer::OursExactStats | Tracer::OursBySyscall => {
                let mut command = Command::new(binaries::tracer());
                command.arg("-");
                command
            }
            Tracer::Bpftrace | Tracer::Floor => {
                let script = if self == Tracer::Bpftrace {
                    BPFTRACE_LATENCY
                } else {
                    BPFTRACE_FLOOR
                };
                let mut command = Command::new("bpftrace");
                command.args(["-B", "none", "-e", &format!("{script} {READY}")]);
                command
            }
        };
        let started = Instant::now();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", self.label()));
        if matches!(
            self,
            Tracer::Ours | Tracer::OursNoStats | Tracer::OursExactStats | Tracer::OursBySyscall
        ) {
            let by_syscall = self == Tracer::OursBySyscall;
            // Without stats the kernel does not time each program run; by default it
            // times them a tenth of the time, with exact stats all of it (protocol.md).
            let stats = self != Tracer::OursNoStats;
            let exact = self == Tracer::OursExactStats;
            let spec = format!(
                r#"{{"version":1,"probes":[{{"probe":"syscall-latency","by_syscall":{by_syscall}}}],"stats":{stats},"stats_exact":{exact}}}"#
            );
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin.write_all(spec.as_bytes()).expect("write spec");
        }
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let marker = if self == Tracer::Bpftrace || self == Tracer::Floor {
            "attached"
        } else {
            "\"type\":\"attached\""
        };
        wait_for(&mut stdout, marker, self.label());
        Some(Running {
            child,
            _stdout: stdout,
            attach: started.elapsed(),
        })
    }
}

struct Running {
    child: Child,
    /// Kept open so the tracer never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
    attach: Duration,
}

impl Running {
    /// Stops the tracer with SIGINT; returns its peak RSS in KiB and the time it took
    /// to exit (final output and detaching).
    fn stop(self) -> (u64, Duration) {
        let pid = self.child.id() as libc::pid_t;
        let stopping = Instant::now();
        // SAFETY: signalling and reaping our own child.
        let rss = unsafe {
            libc::kill(pid, libc::SIGINT);
            let mut status = 0;
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::wait4(pid, &mut status, 0, &mut usage);
            usage.ru_maxrss as u64
        };
        (rss, stopping.elapsed())
    }
}

fn wait_for(stdout: &mut impl BufRead, marker: &str, who: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let read = stdout.read_line(&mut line).expect("read tracer output");
        assert!(
            read > 0,
            "{who} ended before attaching (run as root; is tracefs mounted?)"
        );
        if line.contains(marker) {
            return;
        }
    }
}

/// Mean nanoseconds per getppid call over `calls` calls.
fn getppid_loop(calls: u64) -> f64 {
    let started = Instant::now();
    for _ in 0..calls {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    started.elapsed().as_nanos() as f64 / calls as f64
}

struct Samples {
    per_call_ns: Vec<f64>,
    attach_ms: Vec<f64>,
    exit_ms: Vec<f64>,
    rss_kib: Vec<f64>,
}

const BENCH: &str = "bench-syscall-latency";

/// The pause before each tracer starts. A tracepoint that lost its last probe (the
/// previous tracer's) and gets one again within an RCU grace period makes the attach
/// wait for that grace period (the kernel's 1-0-1 transition sync): a tracer started
/// right after another exited attached in 16-20 ms against 5-7 ms here.
const SETTLE: Duration = Duration::from_millis(100);

fn main() {
    let mut rounds = 7usize;
    let mut calls = 2_000_000u64;
    let mut out_file = None;
    let mut summary = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match arg.as_str() {
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--calls" => calls = value().parse().expect("--calls N"),
            "--out" => out_file = Some(value()),
            "--summary" => summary = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }

    let mut samples: Vec<Samples> = Tracer::ALL
        .iter()
        .map(|_| Samples {
            per_call_ns: Vec::new(),
            attach_ms: Vec::new(),
            exit_ms: Vec::new(),
            rss_kib: Vec::new(),
        })
        .collect();
    getppid_loop(calls / 4); // warm up
    for round in 1..=rounds {
        eprint!("round {round}/{rounds}:");
        for (index, tracer) in Tracer::ALL.iter().enumerate() {
            if *tracer != Tracer::Untraced {
                std::thread::sleep(SETTLE);
            }
            let running = tracer.start();
            let per_call = getppid_loop(calls);
            let sample = &mut samples[index];
            sample.per_call_ns.push(per_call);
            if let Some(running) = running {
                sample.attach_ms.push(running.attach.as_secs_f64() * 1e3);
                let (rss, exit) = running.stop();
                sample.rss_kib.push(rss as f64);
                sample.exit_ms.push(exit.as_secs_f64() * 1e3);
            }
            eprint!(" {per_call:.0}ns");
        }
        eprintln!();
    }

    let optional_median = |values: &[f64]| (!values.is_empty()).then(|| median(values.to_vec()));
    let medians: Vec<Medians> = samples
        .iter()
        .map(|s| Medians {
            per_call: median(s.per_call_ns.clone()),
            attach_ms: optional_median(&s.attach_ms),
            exit_ms: optional_median(&s.exit_ms),
            rss_kib: optional_median(&s.rss_kib),
        })
        .collect();
    let base = medians[0].per_call;
    let of = |tracer: Tracer| {
        let index = Tracer::ALL
            .iter()
            .position(|t| *t == tracer)
            .expect("known tracer");
        &medians[index]
    };
    let added = |tracer: Tracer| of(tracer).per_call - base;
    let attach = |tracer: Tracer| of(tracer).attach_ms.unwrap_or(f64::NAN);
    let rss = |tracer: Tracer| of(tracer).rss_kib.unwrap_or(f64::NAN);

    let mut report = String::new();
    report.push_str(&format!(
        "Medians of {rounds} interleaved rounds; {calls} getppid calls per measurement.\n\
Machine: {} CPUs, kernel {}, {}.\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        bpftrace_version(),
    ));
    report.push_str(
        "| tracer | ns per getppid | added ns | start → attached | SIGINT → exited | peak RSS |\n",
    );
    report.push_str("|---|---:|---:|---:|---:|---:|\n");
    let ms = |value: Option<f64>| value.map_or("-".to_owned(), |ms| format!("{ms:.0} ms"));
    for (tracer, m) in Tracer::ALL.iter().zip(&medians) {
        report.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {} |\n",
            tracer.label(),
            m.per_call,
            if *tracer == Tracer::Untraced {
                "-".to_owned()
            } else {
                format!("{:.0}", m.per_call - base)
            },
            ms(m.attach_ms),
            ms(m.exit_ms),
            m.rss_kib
                .map_or("-".to_owned(), |kib| format!("{:.1} MiB", kib / 1024.0)),
        ));
    }
    report.push_str(&format!(
        "\nRatios (ours ÷ reference):\n\n\
- added ns per syscall, ours ÷ bpftrace: **{:.2}×**\n\
- added ns per syscall, ours ÷ floor: **{:.2}×**\n\
- start → attached, ours ÷ bpftrace: **{:.2}×**\n\
- peak RSS, ours ÷ bpftrace: **{:.2}×**\n\n\
Counting eBPF run time for the overhead line, per syscall (two program runs), against \
--no-stats: **{:.0} ns** sampled (the default, a tenth of the time), **{:.0} ns** with \
--exact-stats (all of it).\n",
        added(Tracer::Ours) / added(Tracer::Bpftrace),
        added(Tracer::Ours) / added(Tracer::Floor),
        attach(Tracer::Ours) / attach(Tracer::Bpftrace),
        rss(Tracer::Ours) / rss(Tracer::Bpftrace),
        of(Tracer::Ours).per_call - of(Tracer::OursNoStats).per_call,
        of(Tracer::OursExactStats).per_call - of(Tracer::OursNoStats).per_call,
    ));
    let rss_mib = rss(Tracer::Ours) / 1024.0;
    e2e::summary::append(
        summary.as_deref(),
        &[
            Figure::new(
                BENCH,
                "added ns per syscall, syscall-latency histogram",
                "ns",
                added(Tracer::Ours),
                "≤ 0.5× bpftrace",
            )
            .against("bpftrace", added(Tracer::Bpftrace))
            .met(added(Tracer::Ours) <= 0.5 * added(Tracer::Bpftrace)),
            Figure::new(
                BENCH,
                "added ns per syscall, against the floor",
                "ns",
                added(Tracer::Ours),
                "≤ 1.3× the floor",
            )
            .against("floor", added(Tracer::Floor))
            .met(added(Tracer::Ours) <= 1.3 * added(Tracer::Floor)),
            Figure::new(
                BENCH,
                "start → attached",
                "ms",
                attach(Tracer::Ours),
                "≤ 0.1× bpftrace",
            )
            .against("bpftrace", attach(Tracer::Bpftrace))
            .met(attach(Tracer::Ours) <= 0.1 * attach(Tracer::Bpftrace)),
            Figure::new(BENCH, "tracer peak RSS", "MiB", rss_mib, "≤ 20 MiB")
                .against("bpftrace", rss(Tracer::Bpftrace) / 1024.0)
                .met(rss_mib <= 20.0),
        ],
    );
    print!("{report}");
    if let Some(path) = out_file {
        std::fs::write(&path, &report).unwrap_or_else(|err| panic!("write {path}: {err}"));
    }
}

struct Medians {
    per_call: f64,
    attach_ms: Option<f64>,
    exit_ms: Option<f64>,
    rss_kib: Option<f64>,
}

fn bpftrace_version() -> String {
    Command::new("bpftrace")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|_| "bpftrace not found".to_owned())
}
