//! Benchmark: events per second one core pushes through a script's three-line handler
//! (a filter and a keyed count), on the node-side runner, with synthetic `open` events.
//! No kernel is involved: this is the cost the script adds per event. Events are made
//! in batches just before they are handled, as the tracer decodes a ring buffer's worth
//! at a time; making them is not timed.
//!
//! Time is the handling thread's CPU time, not wall time: the figure is what one core
//! does, and on a busy machine the thread is not always on its core.
//!
//! `bench-script [--events N] [--rounds N] [--summary FILE]`; build with `--release`.

use std::time::Duration;

use e2e::summary::Figure;
use serde_json::json;
use tracer_protocol::{Record, ScriptSpec};
use tracer_script::Script;

// What tracer-job runs with: allocation is a good part of a handler's cost.
#[global_allocator]
static ALLOCATOR: tracer_job::Allocator = tracer_job::Allocator;

const HANDLER: &str = r#"on("open", |e| {
    if e.ret < 0 {
        count("failed opens", #{pod: e.pod, path: e.path});
    }
});"#;

/// Events made, then handled, at a time.
const BATCH: usize = 1024;

/// The `i`th synthetic open: half fail; 64 pods and 100 paths make the keys.
fn open(i: usize) -> Record {
    Record::Event {
        probe: "open".into(),
        time_ns: i as u64,
        pid: 1000 + (i % 50) as u32,
        tid: 1000 + (i % 50) as u32,
        comm: "app".into(),
        cgroup: 7,
        namespace: Some("shop".into()),
        pod: Some(format!("api-{}", i % 64)),
        container: Some("app".into()),
        fields: json!({
            "syscall": "openat",
            "path": format!("/etc/config/file-{}", i % 100),
            "flags": "O_RDONLY|O_CLOEXEC",
            "ret": if i.is_multiple_of(2) { -2 } else { 3 },
            "latency_ns": 1500,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
    }
}

/// CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec it is given.
    let done = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(done, 0, "the thread's CPU clock is readable");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: usize| {
        args.iter()
            .position(|arg| arg == name)
            .and_then(|at| args.get(at + 1))
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    };
    let events = option("--events", 300_000);
    let rounds = option("--rounds", 5);
    let spec = ScriptSpec {
        name: "bench.rhai".into(),
        // Another handler to compare against, from the environment.
        source: std::env::var("BENCH_SCRIPT_HANDLER").unwrap_or_else(|_| HANDLER.into()),
        args: Default::default(),
    };
    let mut rates = Vec::new();
    for _ in 0..rounds {
        let mut script = Script::load(&spec, "node").unwrap_or_else(|err| panic!("{err}"));
        // Measure all a core can do: the node's cap on the handlers' share is lifted.
        script.set_cpu_share(1.0);
        // Events are made a batch at a time just before they are handled, as the tracer
        // decodes a ring buffer's worth and then hands them on: only handling is timed.
        let mut elapsed = Duration::ZERO;
        for first in (0..events).step_by(BATCH) {
            let batch: Vec<Record> = (first..events.min(first + BATCH)).map(open).collect();
            let started = thread_cpu_time();
            for record in batch {
                script.handle(record);
            }
            elapsed += thread_cpu_time().saturating_sub(started);
        }
        let mut out = Vec::new();
        script.snapshot(true, &mut out);
        let counted: u64 = out
            .iter()
            .filter_map(|record| match record {
                Record::Count { value, .. } => Some(*value),
                _ => None,
            })
            .sum();
        if std::env::var_os("BENCH_SCRIPT_HANDLER").is_none() {
            assert_eq!(counted as usize, events / 2, "the script miscounted");
        }
        assert!(
            !out.iter().any(|r| matches!(r, Record::ScriptError { .. })),
            "{out:?}"
        );
        rates.push(events as f64 / elapsed.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "# Script handler throughput\n\n\
Written by `bench-script` (tests/src/bin/bench_script.rs): synthetic `open` events \
pushed through a script's handler on the node-side runner, one core, no kernel \
involved; the cost a script adds per event. Events are made {BATCH} at a time just \
before they are handled, as tracer-job decodes a ring's worth at a time; only handling \
them is timed, in the thread's CPU time (what one core does, whether or not the busy \
machine kept the thread on it). Median of {rounds} rounds.\n"
    );
    println!("| handler | events/round | rounds | median events/s | ns/event | min | max |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| filter + keyed count (3 lines) | {events} | {rounds} | {median:.0} | {:.0} | {:.0} | {:.0} |",
        1e9 / median,
        rates[0],
        rates[rates.len() - 1]
    );
    let summary = args
        .iter()
        .position(|arg| arg == "--summary")
        .and_then(|at| args.get(at + 1));
    e2e::summary::append(
        summary.map(String::as_str),
        &[Figure::new(
            "bench-script",
            "events/s through a three-line rhai handler, one core",
            "events/s",
            median,
            "≥ 500k events/s per core",
        )
        .met(median >= 500_000.0)],
    );
}
