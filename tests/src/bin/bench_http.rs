//! Benchmark: what the `http` probe costs the requests it watches, and how many requests
//! its parser takes per core.
//!
//! (1) Added time per request: `http-workload serve` answers `wrk` (two threads, eight
//! keep-alive connections, `GET /ok`, enough to keep every CPU busy) on loopback, in
//! interleaved rounds untraced and traced by `tracer-job` with the `http` probe on the
//! server's cgroup; per round, requests per second and wrk's median latency, and for
//! traced rounds the events the tracer sent, what it lost and the CPU time of the tracer
//! and of its eBPF programs. bpftrace has no HTTP parser, so it has no column here.
//!
//! (2) Parser: the node-side parser alone (`tracer_job::protocols::http`), fed a
//! request and its response per exchange, as the capture hands them over, on 64
//! connections in turn; exchanges per second on one core.
//!
//! `bench-http [--rounds N] [--seconds S] [--out FILE] [--summary FILE]`; run as root
//! with wrk installed (`tests/bench.sh` installs it).

use std::{
    fs,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Instant,
};

use e2e::{binaries, cgroup::TestCgroup, stats::median, summary::Figure, tracer::TracerRun};
use tracer_job::protocols::http::{Connection, Direction, Options};
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

/// What one round measured.
#[derive(Default, Clone)]
struct Round {
    /// Time per request at saturation: the inverse of the rate.
    latency_us: f64,
    /// wrk's median latency.
    median_us: f64,
    requests_per_s: f64,
    events: f64,
    lost: f64,
    tracer_cpu_ms: f64,
    ebpf_cpu_ms: f64,
    /// Each program's runs and mean run time, as the kernel counted them.
    programs: Vec<String>,
}

fn main() {
    let mut rounds = 5usize;
    let mut seconds = 5u64;
    let mut out_file = None;
    let mut summary = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match arg.as_str() {
            "--rounds" => rounds = value().parse().expect("--rounds N"),
            "--seconds" => seconds = value().parse().expect("--seconds S"),
            "--out" => out_file = Some(value()),
            "--summary" => summary = Some(value()),
            other => panic!("unknown argument {other}"),
        }
    }
    let cgroup = TestCgroup::create("bench-http");
    let server = Server::start(&cgroup);
    wrk(server.port, 1); // warm up
    let mut untraced = Vec::new();
    let mut traced = Vec::new();
    for round in 1..=rounds {
        let off = wrk(server.port, seconds);
        let on = traced_round(&cgroup, server.port, seconds);
        eprintln!(
            "round {round}/{rounds}: off {:.1} µs ({:.0}/s), on {:.1} µs ({:.0}/s), {} events, {} lost",
            off.latency_us,
            off.requests_per_s,
            on.latency_us,
            on.requests_per_s,
            on.events,
            on.lost
        );
        untraced.push(off);
        traced.push(on);
    }
    let parser = parser_exchanges_per_s();
    eprintln!("parser: {parser:.0} exchanges/s");

    let med =
        |rounds: &[Round], field: fn(&Round) -> f64| median(rounds.iter().map(field).collect());
    let off_latency = med(&untraced, |r| r.latency_us);
    let off_median = med(&untraced, |r| r.median_us);
    let on_median = med(&traced, |r| r.median_us);
    let on_latency = med(&traced, |r| r.latency_us);
    let added_us = on_latency - off_latency;
    let off_rps = med(&untraced, |r| r.requests_per_s);
    let on_rps = med(&traced, |r| r.requests_per_s);
    let events = med(&traced, |r| r.events);
    let lost = med(&traced, |r| r.lost);
    let requests = on_rps * seconds as f64;
    let tracer_cpu = med(&traced, |r| r.tracer_cpu_ms);
    let programs = traced
        .last()
        .map(|round| round.programs.join("; "))
        .unwrap_or_default();
    let ebpf_cpu = med(&traced, |r| r.ebpf_cpu_ms);
    let report = format!(
        "# The `http` probe: added latency and parser throughput\n\n\
Produced by `tests/src/bin/bench_http.rs` (release build, run as root:\n\
`target/release/bench-http --rounds {rounds} --seconds {seconds} --out docs/benchmarks-http.md`;\n\
`tests/bench.sh` runs it with the others).\n\n\
**Added latency.** `http-workload serve` (a keep-alive HTTP/1.1 server, one thread per \
connection) answers `wrk -t2 -c8 -d{seconds}s http://127.0.0.1:PORT/ok` on loopback. Eight \
connections keep every CPU busy, so the time per request (the inverse of the rate) \
includes everything tracing adds: the eBPF programs in the server's syscalls and the \
tracer's own CPU, which competes with the server and wrk for the same CPUs. (With one \
connection, the untraced machine idles between requests and wakes up slower than a \
traced one, which then looks faster.) wrk's median latency is beside it. Rounds alternate untraced and traced by `tracer-job` with the `http` probe \
(256 bytes captured) on the server's cgroup. Medians of {rounds} rounds.\n\n\
| | time per request | wrk median latency | requests/s | events sent | lost | tracer CPU | eBPF CPU |\n\
|---|---:|---:|---:|---:|---:|---:|---:|\n\
| untraced | {off_latency:.1} µs | {off_median:.1} µs | {off_rps:.0} | | | | |\n\
| `http` probe | {on_latency:.1} µs | {on_median:.1} µs | {on_rps:.0} | {events:.0} | {lost:.0} | {tracer_cpu:.0} ms | {ebpf_cpu:.0} ms |\n\n\
**Added per request: {added_us:.1} µs** ({:+.1}%). Each request is three captured \
syscalls of the server (its read of the request, and its two writes of the response \
head and body), and every read and write on the machine (wrk's too) runs an entry and \
an exit program that returns at once for what is not traced; the eBPF programs took {:.2} µs per request, the rest is \
the tracer's CPU ({:.1} µs per request) on the same {} CPUs. Events sent: one per \
exchange seen, of about {requests:.0} requests in a traced round (wrk's own count).\n\n\
The eBPF programs in the last traced round: {programs}.\n\n\
**Parser.** `tracer_job::protocols::http::Connection` alone, fed a 77-byte request and \
a 69-byte response per exchange on 64 connections in turn, as the capture delivers them: \
**{parser:.0} exchanges/s on one core** ({:.2} µs each).\n\n\
Machine: {} CPUs, kernel {}.\n",
        (on_latency / off_latency - 1.0) * 100.0,
        ebpf_cpu * 1000.0 / requests.max(1.0),
        tracer_cpu * 1000.0 / requests.max(1.0),
        cpus(),
        1e6 / parser,
        cpus(),
        kernel(),
    );
    match &out_file {
        Some(path) => fs::write(path, &report).expect("write the report"),
        None => print!("{report}"),
    }
    e2e::summary::append(
        summary.as_deref(),
        &[
            Figure::new(
                "bench-http",
                "http probe: added time per loopback request (wrk, 8 connections, saturated)",
                "µs",
                added_us,
                "report on vs off",
            )
            .against("untraced latency", off_latency),
            Figure::new(
                "bench-http",
                "http parser: exchanges per second on one core",
                "/s",
                parser,
                "report",
            ),
        ],
    );
}

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(cgroup: &TestCgroup) -> Server {
        let mut command = Command::new(binaries::path("http-workload"));
        cgroup.enter(&mut command);
        let mut child = command
            .arg("serve")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start http-workload serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listening line");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|port| port.parse().ok())
            .expect("a port");
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn traced_round(cgroup: &TestCgroup, port: u16, seconds: u64) -> Round {
    let spec = TraceSpec::new(
        vec![ProbeSpec::Http {
            filter: Default::default(),
            capture_bytes: 256,
            capture_headers: Vec::new(),
            keep_query: false,
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    let mut round = wrk(port, seconds);
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited {status}");
    round.events = records
        .iter()
        .filter(|record| matches!(record, Record::Event { .. }))
        .count() as f64;
    for record in &records {
        if let Record::Stats {
            programs,
            cpu_ns,
            lost,
            ..
        } = record
        {
            round.lost = *lost as f64;
            round.tracer_cpu_ms = cpu_ns.unwrap_or(0) as f64 / 1e6;
            round.ebpf_cpu_ms = programs.iter().map(|p| p.run_time_ns).sum::<u64>() as f64 / 1e6;
            round.programs = programs
                .iter()
                .map(|p| {
                    let each = p.run_time_ns as f64 / p.run_count.max(1) as f64;
                    format!("`{}` {} runs, {each:.0} ns each", p.name, p.run_count)
                })
                .collect();
        }
    }
    round
}

/// One wrk run: its mean latency and requests per second.
fn wrk(port: u16, seconds: u64) -> Round {
    let output = Command::new("wrk")
        .args(["-t2", "-c8", "--latency", &format!("-d{seconds}s")])
        .arg(format!("http://127.0.0.1:{port}/ok"))
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    let median_us = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("50%"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(micros)
        .unwrap_or_else(|| panic!("no median latency in wrk's output: {text}"));
    let requests_per_s: f64 = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk's output: {text}"));
    Round {
        latency_us: 1e6 / requests_per_s,
        median_us,
        requests_per_s,
        ..Round::default()
    }
}

/// wrk's `85.20us`, `1.02ms`, `2.00s` in microseconds.
fn micros(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        _ => return None,
    };
    Some(number * scale)
}

/// Exchanges per second through the parser alone, on this thread.
fn parser_exchanges_per_s() -> f64 {
    const CONNECTIONS: usize = 64;
    const EXCHANGES: usize = 400_000;
    let request =
        b"GET /ok HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
    let response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    let options = Options::default();
    let mut connections: Vec<Connection> = (0..CONNECTIONS).map(|_| Connection::new()).collect();
    let mut out = Vec::new();
    let mut answered = 0usize;
    let started = Instant::now();
    for i in 0..EXCHANGES {
        let connection = &mut connections[i % CONNECTIONS];
        let time = i as u64 * 1000;
        connection.feed(
            &options,
            Direction::Received,
            request,
            request.len() as u64,
            time,
            &mut out,
        );
        connection.feed(
            &options,
            Direction::Sent,
            response,
            response.len() as u64,
            time + 500,
            &mut out,
        );
        answered += out.len();
        out.clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(answered, EXCHANGES, "every exchange parsed");
    EXCHANGES as f64 / elapsed
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned()
}
