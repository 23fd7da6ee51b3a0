//! What a trace cost, measured: the `stats` record of tracer-job and the overhead the
//! plugin prints and puts in its JSON.

use std::process::Command;

use e2e::{binaries, cgroup::TestCgroup, tracer::TracerRun, workload::Workload};
use serde_json::Value;
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

const CALLS: u64 = 20_000;

#[test]
fn the_stats_record_measures_the_programs_and_the_tracer() {
    let cgroup = TestCgroup::create("overhead");
    let mut workload = Workload::spawn(CALLS);
    cgroup.add(workload.pid());
    let spec = TraceSpec::new(
        vec![ProbeSpec::SyscallLatency {
            by_syscall: false,
            min_latency_ns: 0,
            per_pod: false,
        }],
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
    );
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
    } = stats
    else {
        panic!("expected the stats record before done, got {stats:?}");
    };
    assert!(*run_time_counted, "the kernel did not count run time");
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
