//! What a trace cost, measured: the `stats` record of tracer-job and the overhead the
//! plugin prints and puts in its JSON.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use e2e::{
    binaries,
    cgroup::TestCgroup,
    tracer::{TracerRun, last_hists},
    workload::Workload,
};
use serde_json::Value;
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

const CALLS: u64 = 20_000;

/// A node-wide syscall-latency histogram of what runs in `cgroup`.
fn syscall_latency_in(cgroup: &TestCgroup) -> TraceSpec {
    TraceSpec::new(
        vec![ProbeSpec::SyscallLatency {
            by_syscall: false,
            min_latency_ns: 0,
            per_pod: false,
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    )
}

#[test]
fn the_stats_record_measures_the_programs_and_the_tracer() {
    let cgroup = TestCgroup::create("overhead");
    let mut workload = Workload::spawn(CALLS);
    cgroup.add(workload.pid());
    let mut spec = syscall_latency_in(&cgroup);
    // Counted throughout, so every call is in the count.
    spec.stats_exact = true;
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    workload.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");

    let [.., stats, Record::Done { .. }] = records.as_slice() else {
        panic!("the trace should end with stats then done: {records:?}");
    };
    let Record::Stats {
        programs,
        run_time_counted,
        cpu_ns,
        max_rss_bytes,
        lost,
        elapsed_ms,
        run_time_counted_ms,
    } = stats
    else {
        panic!("expected the stats record before done, got {stats:?}");
    };
    assert!(*run_time_counted, "the kernel did not count run time");
    assert_eq!(
        *run_time_counted_ms, None,
        "counted throughout, not sampled"
    );
    let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["syscall_latency_enter", "syscall_latency_exit"],
        "{programs:?}"
    );
    for program in programs {
        assert_eq!(program.probe, "syscall-latency");
        // The raw tracepoints run for every syscall on the machine, and the workload's
        // getppid calls are among them.
        assert!(
            program.run_count >= CALLS,
            "{} ran {} times, fewer than the workload's {CALLS} calls",
            program.name,
            program.run_count
        );
        assert!(program.run_time_ns > 0, "{program:?}");
    }
    let runs: u64 = programs.iter().map(|p| p.run_count).sum();
    assert!(runs >= 2 * CALLS, "enter and exit ran {runs} times in all");
    assert!(cpu_ns.is_some_and(|ns| ns > 0), "tracer CPU {cpu_ns:?}");
    assert!(
        max_rss_bytes.is_some_and(|bytes| bytes > 1024 * 1024),
        "tracer peak RSS {max_rss_bytes:?}"
    );
    assert_eq!(*lost, 0);
    assert!(*elapsed_ms > 0);
}

#[test]
fn a_sampled_count_is_scaled_up_to_the_whole_trace() {
    let cgroup = TestCgroup::create("overhead-sampled");
    let spec = syscall_latency_in(&cgroup);
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    // A steady load for several periods of the sampling, so the windows land in it
    // wherever they fall.
    let busy = Instant::now();
    while busy.elapsed() < Duration::from_secs(3) {
        let mut workload = Workload::spawn(100_000);
        cgroup.add(workload.pid());
        workload.run();
    }
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");

    let Some(Record::Stats {
        programs,
        run_time_counted: true,
        run_time_counted_ms: Some(counted_ms),
        elapsed_ms,
        ..
    }) = records.iter().rev().nth(1)
    else {
        panic!("expected a sampled stats record before done: {records:?}");
    };
    // The first window, then one in each second that followed.
    assert!(
        *counted_ms >= 100 && *counted_ms <= elapsed_ms / 4,
        "counted {counted_ms} ms of {elapsed_ms}"
    );
    // The exit program runs for every syscall on the node, the traced ones among them:
    // scaled up, its runs are at least about those (a share of them unscaled).
    let traced: u64 = last_hists(&records, "syscall-latency")
        .values()
        .flatten()
        .map(|bucket| bucket.count)
        .sum();
    let exit = programs
        .iter()
        .find(|program| program.name == "syscall_latency_exit")
        .unwrap_or_else(|| panic!("no exit program in {programs:?}"));
    assert!(traced > 1_000_000, "the workload made {traced} calls");
    assert!(
        exit.run_count >= traced / 2 && exit.run_count <= traced * 20,
        "{} runs estimated for {traced} traced calls",
        exit.run_count
    );
    assert!(exit.run_time_ns > 0, "{exit:?}");
}

#[test]
fn the_plugin_prints_the_overhead_line_and_puts_it_in_json() {
    let table = Command::new(binaries::plugin())
        .args(["trace", "syscall-latency", "--local", "--duration", "700ms"])
        .output()
        .expect("run kubectl-ebpf");
    assert!(table.status.success(), "{table:?}");
    let stderr = String::from_utf8_lossy(&table.stderr);
    let line = stderr
        .lines()
        .find(|line| line.starts_with("overhead: "))
        .unwrap_or_else(|| panic!("no overhead line on stderr: {stderr}"));
    assert!(
        line.starts_with("overhead: eBPF ") && line.contains(" CPU over 1 node ("),
        "{line}"
    );
    assert!(
        line.contains("tracer-job ") && line.contains("peak RSS"),
        "{line}"
    );
    assert!(line.contains("events lost"), "{line}");
    assert!(
        !String::from_utf8_lossy(&table.stdout).contains("overhead:"),
        "the overhead line belongs on stderr"
    );

    let json = Command::new(binaries::plugin())
        .args([
            "trace",
            "syscall-latency",
            "--local",
            "--duration",
            "700ms",
            "-o",
            "json",
        ])
        .output()
        .expect("run kubectl-ebpf");
    assert!(json.status.success(), "{json:?}");
    let result: Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    let overhead = &result["overhead"];
    assert_eq!(overhead["nodes"], 1, "{overhead}");
    assert_eq!(overhead["ebpf_nodes"], 1, "{overhead}");
    assert!(
        overhead["ebpf_cpu_ns"].as_u64().is_some_and(|ns| ns > 0),
        "{overhead}"
    );
    assert!(
        overhead["ebpf_cpu_share"].as_f64().is_some_and(|s| s > 0.0),
        "{overhead}"
    );
    assert!(
        overhead["tracer_max_rss_bytes"]
            .as_u64()
            .is_some_and(|bytes| bytes > 1024 * 1024),
        "{overhead}"
    );
    assert_eq!(overhead["unknown_nodes"], Value::Array(Vec::new()));
    assert_eq!(
        overhead["programs"].as_array().map(Vec::len),
        Some(2),
        "{overhead}"
    );
}
