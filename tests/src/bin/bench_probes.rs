//! Benchmark: the event probes against bpftrace one-liners doing the same job, in one run.
//!
//! For each probe it measures (1) the nanoseconds the probe adds to the operation that
//! triggers it (an exec, an open, ...), against the untraced operation and bpftrace's
//! equivalent, in interleaved rounds; and (2) the event rate the probe sustains without
//! loss: the operation runs flat out, then at halved paces, until no event is lost.
//! Prints a markdown report of medians and ratios.
//!
//! `bench-probes [--rounds N] [--only PROBE] [--out FILE]`; run as root with bpftrace
//! installed and tracefs mounted (`tests/bench.sh` does both).

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use e2e::binaries;

/// One probe, its trigger and bpftrace's version of the same job.
struct Case {
    probe: &'static str,
    /// The operation that fires the probe, and how often to time it per measurement.
    trigger: &'static str,
    ops: u64,
    op: fn(),
    bpftrace: &'static str,
}

const CASES: &[Case] = &[
    Case {
        probe: "exec",
        trigger: "fork + exec of /bin/true",
        ops: 400,
        op: exec_true,
        bpftrace: "tracepoint:syscalls:sys_enter_execve { printf(\"%d %s \", pid, str(args->filename)); join(args->argv); } \
tracepoint:syscalls:sys_exit_execve { printf(\"%d %d\\n\", pid, args->ret); }",
    },
    Case {
        probe: "open",
        trigger: "openat + close of /etc/hostname",
        ops: 200_000,
        op: open_close,
        bpftrace: "tracepoint:syscalls:sys_enter_openat { @f[tid] = args->filename; @t[tid] = nsecs; } \
tracepoint:syscalls:sys_exit_openat /@t[tid]/ { printf(\"%d %s %d %d\\n\", pid, str(@f[tid]), args->ret, nsecs - @t[tid]); delete(@f[tid]); delete(@t[tid]); }",
    },
];

/// Printed by bpftrace once every probe is attached.
const READY: &str = "BEGIN { printf(\"attached\\n\"); }";

fn exec_true() {
    let status = Command::new("/bin/true").status().expect("run /bin/true");
    assert!(status.success());
}

fn open_close() {
    // SAFETY: a NUL-terminated path; the descriptor is closed at once.
    unsafe {
        let fd = libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Tracer {
    Untraced,
    Ours,
    Bpftrace,
}

impl Tracer {
    const ALL: [Tracer; 3] = [Tracer::Untraced, Tracer::Ours, Tracer::Bpftrace];
}

/// A running tracer whose output a thread reads and counts.
struct Running {
    child: Child,
    events: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
    reader: std::thread::JoinHandle<()>,
}

impl Running {
    fn start(tracer: Tracer, case: &Case) -> Option<Result<Running, String>> {
        let mut command = match tracer {
            Tracer::Untraced => return None,
            Tracer::Ours => Command::new(binaries::tracer()),
            Tracer::Bpftrace => {
                let mut command = Command::new("bpftrace");
                command.args(["-B", "full", "-e", &format!("{} {READY}", case.bpftrace)]);
                command
            }
        };
        let mut child = match command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(err) => return Some(Err(format!("cannot start: {err}"))),
        };
        if tracer == Tracer::Ours {
            let spec = format!(r#"{{"version":1,"probes":[{{"probe":"{}"}}]}}"#, case.probe);
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin.write_all(spec.as_bytes()).expect("write spec");
        }
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let events = Arc::new(AtomicU64::new(0));
        let lost = Arc::new(AtomicU64::new(0));
        let (attached, is_attached) = mpsc::channel();
        let reader = {
            let (events, lost) = (events.clone(), lost.clone());
            std::thread::spawn(move || count_lines(stdout, tracer, &events, &lost, attached))
        };
        match is_attached.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => Some(Ok(Running {
                child,
                events,
                lost,
                reader,
            })),
            Ok(Err(why)) => Some(Err(why)),
            Err(_) => Some(Err("did not attach within 30 s".to_owned())),
        }
    }

    /// Stops the tracer with SIGINT and returns (events, lost) it reported.
    fn stop(mut self) -> (u64, u64) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let _ = self.child.wait();
        let _ = self.reader.join();
        (
            self.events.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
        )
    }
}

fn count_lines(
    stdout: impl BufRead,
    tracer: Tracer,
    events: &AtomicU64,
    lost: &AtomicU64,
    attached: mpsc::Sender<Result<(), String>>,
) {
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        match tracer {
            Tracer::Ours => {
                if line.contains(r#""type":"event""#) {
                    events.fetch_add(1, Ordering::Relaxed);
                } else if line.contains(r#""type":"attached""#) {
                    let _ = attached.send(Ok(()));
                } else if line.contains(r#""type":"lost""#) {
                    let count = serde_json::from_str::<serde_json::Value>(&line)
                        .ok()
                        .and_then(|value| value["count"].as_u64())
                        .unwrap_or(0);
                    lost.store(count, Ordering::Relaxed);
                } else if line.contains(r#""type":"error""#) {
                    let _ = attached.send(Err(line.clone()));
                }
            }
            Tracer::Bpftrace => {
                if line == "attached" {
                    let _ = attached.send(Ok(()));
                } else {
                    events.fetch_add(1, Ordering::Relaxed);
                }
            }
            Tracer::Untraced => {}
        }
    }
    let _ = attached.send(Err("ended before attaching".to_owned()));
}

/// Mean nanoseconds per operation over `ops` operations.
fn time_ops(case: &Case, ops: u64) -> f64 {
    let started = Instant::now();
    for _ in 0..ops {
        (case.op)();
    }
    started.elapsed().as_nanos() as f64 / ops as f64
}

/// Runs the operation for `period` at `rate` per second (flat out when `None`); returns
/// how many ran.
fn paced(case: &Case, period: Duration, rate: Option<f64>) -> u64 {
    let started = Instant::now();
    let mut done = 0u64;
    while started.elapsed() < period {
        if let Some(rate) = rate {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            if done >= due {
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
        }
        (case.op)();
        done += 1;
    }
    done
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Added cost per operation, medians of `rounds`: (untraced ns, ours added, bpftrace added).
fn cost(case: &Case, rounds: usize) -> Result<[f64; 3], String> {
    time_ops(case, case.ops / 10 + 1); // warm up
    let mut samples: [Vec<f64>; 3] = Default::default();
    for round in 1..=rounds {
        eprint!("  {} cost round {round}/{rounds}:", case.probe);
        for (index, tracer) in Tracer::ALL.iter().enumerate() {
            let running = Running::start(*tracer, case).transpose()?;
            let per_op = time_ops(case, case.ops);
            if let Some(running) = running {
                running.stop();
            }
            samples[index].push(per_op);
            eprint!(" {per_op:.0}ns");
        }
        eprintln!();
    }
    let [untraced, ours, bpftrace] = samples.map(|mut values| median(&mut values));
    Ok([untraced, ours - untraced, bpftrace - untraced])
}

/// The highest event rate delivered with nothing lost: flat out first, then halving the
/// pace until no loss. Returns (events/s delivered, offered/s, lost at flat out).
fn sustained_rate(case: &Case) -> Result<(f64, f64, u64), String> {
    const PERIOD: Duration = Duration::from_secs(2);
    let mut rate: Option<f64> = None;
    let mut lost_flat_out = 0;
    for _ in 0..8 {
        let running = Running::start(Tracer::Ours, case).ok_or("no tracer")??;
        let started = Instant::now();
        let done = paced(case, PERIOD, rate);
        let offered = done as f64 / started.elapsed().as_secs_f64();
        let (events, lost) = running.stop();
        eprintln!(
            "  {} rate: offered {offered:.0}/s, {events} events, {lost} lost",
            case.probe
        );
        if rate.is_none() {
            lost_flat_out = lost;
        }
        if lost == 0 {
            return Ok((events as f64 / PERIOD.as_secs_f64(), offered, lost_flat_out));
        }
        rate = Some(offered / 2.0);
    }
    Err("events were lost at every pace tried".to_owned())
}

fn main() {
    let mut rounds = 5usize;
    let mut only: Option<String> = None;
    let mut out_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match arg.as_str() {
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--only" => only = Some(value()),
            "--out" => out_file = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    let mut report = format!(
        "Medians of {rounds} interleaved rounds per probe. Node-wide traces (every process \
on the machine is a target), output read and discarded.\nMachine: {} CPUs, kernel {}, {}.\n\n\
| probe | trigger | untraced ns/op | added ns/op, ours | added ns/op, bpftrace | ours ÷ bpftrace | events/s without loss | lost at flat out |\n\
|---|---|---:|---:|---:|---:|---:|---:|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        bpftrace_version(),
    );
    for case in CASES {
        if only.as_deref().is_some_and(|only| only != case.probe) {
            continue;
        }
        eprintln!("{}:", case.probe);
        let row = match (cost(case, rounds), sustained_rate(case)) {
            (Ok([untraced, ours, bpftrace]), Ok((rate, offered, lost))) => format!(
                "| {} | {} | {untraced:.0} | {ours:.0} | {bpftrace:.0} | **{:.2}×** | {rate:.0} (offered {offered:.0}) | {lost} |\n",
                case.probe,
                case.trigger,
                ours / bpftrace,
            ),
            (Err(why), _) | (_, Err(why)) => {
                format!("| {} | {} | n/a: {why} |||||\n", case.probe, case.trigger)
            }
        };
        report.push_str(&row);
    }
    print!("{report}");
    if let Some(path) = out_file {
        std::fs::write(&path, &report).unwrap_or_else(|err| panic!("write {path}: {err}"));
    }
}

fn bpftrace_version() -> String {
    Command::new("bpftrace")
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|_| "bpftrace not found".to_owned())
}
