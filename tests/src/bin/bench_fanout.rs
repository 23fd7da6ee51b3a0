//! Benchmark: the plugin fanning a trace out to many nodes. The API double simulates N
//! nodes whose tracer pods replay one recorded tracer log (a real `syscall-latency --by
//! syscall` run of this machine), so what is measured is the plugin: its CPU time, peak
//! RSS, the wall time from start to all streams merged, and the API requests it made.
//!
//! `bench-fanout [--nodes 10,100,1000] [--rounds N] [--out FILE]`; run as root (the
//! recording loads a probe) from the workspace root after `cargo build --release`.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use e2e::summary::Figure;
use kube_double::spawn::Double;

struct Args {
    nodes: Vec<usize>,
    rounds: usize,
    out: Option<PathBuf>,
    summary: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        nodes: vec![10, 100, 1000],
        rounds: 3,
        out: None,
        summary: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let value = words.next().unwrap_or_else(|| usage());
        match word.as_str() {
            "--nodes" => {
                args.nodes = value
                    .split(',')
                    .map(|n| n.parse().unwrap_or_else(|_| usage()))
                    .collect();
            }
            "--rounds" => args.rounds = value.parse().unwrap_or_else(|_| usage()),
            "--out" => args.out = Some(PathBuf::from(value)),
            "--summary" => args.summary = Some(value),
            _ => usage(),
        }
    }
    args
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-fanout [--nodes 10,100,1000] [--rounds N] [--out FILE] [--summary FILE]"
    );
    std::process::exit(2)
}

/// The binaries of this build, next to this program.
fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name(name)
}

/// One real tracer run, its log with the node name made a placeholder the double fills.
fn record_log(dir: &Path) -> PathBuf {
    let spec = r#"{"version":1,"probes":[{"probe":"syscall-latency","by_syscall":true}],"duration_ms":1500}"#;
    let mut tracer = Command::new(binary("tracer-job"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tracer-job");
    tracer
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(spec.as_bytes())
        .expect("write the spec");
    let output = tracer.wait_with_output().expect("run tracer-job");
    assert!(output.status.success(), "tracer-job failed; run as root");
    let log = String::from_utf8_lossy(&output.stdout);
    let hello = log.lines().next().unwrap_or_default().to_owned();
    let node: serde_json::Value = serde_json::from_str(&hello).expect("a hello record");
    let name = node["node"].as_str().unwrap_or_default();
    let log = log.replacen(&format!(r#""node":"{name}""#), r#""node":"{{node}}""#, 1);
    let path = dir.join("tracer.ndjson");
    std::fs::write(&path, log).expect("write the recorded log");
    path
}

/// What one plugin run cost.
#[derive(Clone, Copy, Default)]
struct Run {
    cpu_ms: f64,
    rss_mib: f64,
    wall_ms: f64,
    requests: usize,
    /// Exited 5: some node failed or lost events; the reasons are printed.
    partial: bool,
}

fn api_requests(double: &Double) -> Vec<String> {
    let address = double.base_url.trim_start_matches("http://").to_owned();
    let answer = control(&address, "GET", "requests");
    let value: serde_json::Value = serde_json::from_str(&answer).expect("requests as JSON");
    value["requests"]
        .as_array()
        .map(|requests| {
            requests
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn control(address: &str, method: &str, path: &str) -> String {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(address).expect("connect to kube-double");
    let request = format!(
        "{method} /double/{path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Traces every node of the double with the plugin; its own resource use from wait4.
fn run_plugin(double: &Double) -> Run {
    let address = double.base_url.trim_start_matches("http://").to_owned();
    control(&address, "DELETE", "requests");
    let started = Instant::now();
    // Reaped by wait4 below, which also tells its resource use.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(binary("kubectl-ebpf"))
        .env("KUBECONFIG", &double.kubeconfig)
        .args([
            "trace",
            "syscall-latency",
            "--all-nodes",
            "--by",
            "syscall",
            "-d",
            "1s",
            "-o",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl-ebpf");
    // Read while it runs, so a full pipe never blocks the plugin.
    let mut stderr = child.stderr.take().expect("piped stderr");
    let said = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid out pointers.
    let waited = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall_ms = started.elapsed().as_secs_f64() * 1e3;
    assert!(waited > 0, "wait4 failed");
    let said = said.join().unwrap_or_default();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    assert!(
        matches!(code, Some(0 | 5)),
        "the plugin failed (status {status}): {said}"
    );
    let partial = code == Some(5);
    if partial {
        for line in said.lines().filter(|line| line.starts_with("warning:")) {
            eprintln!("  partial run: {line}");
        }
    }
    let cpu = |time: libc::timeval| time.tv_sec as f64 * 1e3 + time.tv_usec as f64 / 1e3;
    Run {
        cpu_ms: cpu(usage.ru_utime) + cpu(usage.ru_stime),
        rss_mib: usage.ru_maxrss as f64 / 1024.0,
        wall_ms,
        requests: api_requests(double).len(),
        partial,
    }
}

/// The plugin's default limit on API requests (`--api-qps`, `--api-burst`).
const PLUGIN_QPS: f64 = 100.0;
const PLUGIN_BURST: f64 = 300.0;

/// The most requests a second the limit lets through over `seconds`: the burst, then
/// the sustained rate.
fn allowed_rate(seconds: f64) -> f64 {
    (PLUGIN_BURST + PLUGIN_QPS * seconds) / seconds
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let args = parse_args();
    let dir = std::env::temp_dir().join(format!("bench-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a work directory");
    let log = record_log(&dir);
    let log_arg = log.display().to_string();
    let mut rows = Vec::new();
    for &nodes in &args.nodes {
        let double = Double::start_with(
            &binary("kube-double"),
            nodes,
            &["--replay-tracer-log", &log_arg],
        )
        .expect("start kube-double");
        let runs: Vec<Run> = (0..args.rounds).map(|_| run_plugin(&double)).collect();
        let pick = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
        let row = (
            nodes,
            pick(|r| r.cpu_ms),
            pick(|r| r.rss_mib),
            pick(|r| r.wall_ms),
            pick(|r| r.requests as f64),
            runs.iter().filter(|r| r.partial).count(),
        );
        eprintln!(
            "{nodes} nodes: {:.0} ms CPU, {:.1} MiB, {:.0} ms wall, {:.0} requests",
            row.1, row.2, row.3, row.4
        );
        rows.push(row);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let mut report = String::new();
    report.push_str("| nodes | plugin CPU (ms) | peak RSS (MiB) | start to merged (ms) | API requests | CPU per node (ms) | partial runs |\n");
    report.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    for (nodes, cpu, rss, wall, requests, partial) in &rows {
        report.push_str(&format!(
            "| {nodes} | {cpu:.0} | {rss:.1} | {wall:.0} | {requests:.0} | {:.2} | {partial} of {} |\n",
            cpu / *nodes as f64,
            args.rounds
        ));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let document = format!(
        "# Cluster fan-out\n\n\
         The plugin tracing every node of a simulated cluster: the API double (`tests/kube-double`) \
         runs N nodes whose tracer pods replay one recorded `syscall-latency --by syscall` log, so \
         the plugin does all its real work (resolving nodes, creating one Job per node, following \
         N log streams, merging, cleaning up) and the tracers cost nothing. Medians of {} runs per \
         size, on {cpus} CPUs, the double on the same machine. `plugin CPU` is user + system time \
         of the plugin process; `start to merged` its wall time from start to exit: the double serves \
         a replayed log at once, so it holds no trace time, only launching, following, merging \
         and cleaning up.\n\n\
         Rerun: `cargo build --release --locked && sudo target/release/bench-fanout --out docs/benchmarks-fanout.md`.\n\n{report}",
        args.rounds
    );
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        let (nodes, cpu, rss, wall, requests, _) = *last;
        let per_node = |row: &(usize, f64, f64, f64, f64, usize)| row.1 / row.0 as f64;
        let bench = "bench-fanout";
        e2e::summary::append(
            args.summary.as_deref(),
            &[
                Figure::new(
                    bench,
                    &format!("plugin CPU at {nodes} nodes"),
                    "s",
                    cpu / 1e3,
                    "≤ 5 s at 1,000 nodes",
                )
                .met(cpu <= 5_000.0),
                Figure::new(
                    bench,
                    &format!("plugin peak RSS at {nodes} nodes"),
                    "MiB",
                    rss,
                    "≤ 200 MiB at 1,000 nodes",
                )
                .met(rss <= 200.0),
                Figure::new(
                    bench,
                    &format!("plugin CPU per node, {nodes} nodes against {}", first.0),
                    "ms",
                    per_node(last),
                    "linear or better in nodes",
                )
                .against(&format!("{} nodes", first.0), per_node(first))
                .met(per_node(last) <= per_node(first)),
                Figure::new(
                    bench,
                    &format!("API requests per second at {nodes} nodes"),
                    "requests/s",
                    requests / (wall / 1e3),
                    &format!(
                        "within the client-side limit ({PLUGIN_QPS:.0}/s, burst {PLUGIN_BURST:.0})"
                    ),
                )
                .against("the limit over the run", allowed_rate(wall / 1e3))
                .met(requests / (wall / 1e3) <= allowed_rate(wall / 1e3)),
            ],
        );
    }
    match &args.out {
        Some(path) => std::fs::write(path, document).expect("write the report"),
        None => print!("{document}"),
    }
}
