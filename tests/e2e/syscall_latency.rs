//! tracer-job's syscall-latency probe against known workloads.

use e2e::{
    cgroup::TestCgroup,
    tracer::{TracerRun, hist_count},
    workload::Workload,
};
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

const INSIDE_CALLS: u64 = 20_000;
const OUTSIDE_CALLS: u64 = 50_000;
/// getppid calls a workload makes besides its loop (none today; a little room for libc).
const SLACK: u64 = 20;

fn latency_spec(by_syscall: bool, min_latency_ns: u64, targets: Targets) -> TraceSpec {
    TraceSpec::new(
        vec![ProbeSpec::SyscallLatency {
            by_syscall,
            min_latency_ns,
            per_pod: false,
        }],
        targets,
    )
}

fn by_syscall(targets: Targets) -> TraceSpec {
    latency_spec(true, 0, targets)
}

fn only_pid(pid: u32) -> Targets {
    Targets {
        pids: vec![pid],
        ..Targets::default()
    }
}

/// Runs one workload inside `cgroup` (when given) and one outside, both while traced.
fn trace_two_workloads(
    spec: TraceSpec,
    inside: &mut Workload,
    outside: &mut Workload,
) -> Vec<Record> {
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    inside.run();
    outside.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    assert!(
        matches!(records.last(), Some(Record::Done { reason }) if reason == "SIGTERM"),
        "last record should be done: {:?}",
        records.last()
    );
    records
}

#[test]
fn counts_a_cgroup_and_nothing_outside_it() {
    let cgroup = TestCgroup::create("latency");
    let mut inside = Workload::spawn(INSIDE_CALLS);
    let mut outside = Workload::spawn(OUTSIDE_CALLS);
    cgroup.add(inside.pid());
    let spec = by_syscall(Targets {
        cgroup_paths: vec![cgroup.path().display().to_string()],
        ..Targets::default()
    });
    let records = trace_two_workloads(spec, &mut inside, &mut outside);
    let count = hist_count(&records, "syscall", "getppid").expect("getppid histogram");
    assert!(
        (INSIDE_CALLS..=INSIDE_CALLS + SLACK).contains(&count),
        "expected the {INSIDE_CALLS} calls from inside the cgroup only, counted {count}"
    );
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Lost { count: 0, .. }))
    );
}

#[test]
fn filters_by_process_id() {
    let mut inside = Workload::spawn(INSIDE_CALLS);
    let mut outside = Workload::spawn(OUTSIDE_CALLS);
    let spec = by_syscall(only_pid(inside.pid()));
    let records = trace_two_workloads(spec, &mut inside, &mut outside);
    let count = hist_count(&records, "syscall", "getppid").expect("getppid histogram");
    assert!(
        (INSIDE_CALLS..=INSIDE_CALLS + SLACK).contains(&count),
        "expected the {INSIDE_CALLS} calls of pid {} only, counted {count}",
        inside.pid()
    );
}

#[test]
fn node_wide_sees_every_process() {
    let mut first = Workload::spawn(INSIDE_CALLS);
    let mut second = Workload::spawn(OUTSIDE_CALLS);
    let records = trace_two_workloads(by_syscall(Targets::default()), &mut first, &mut second);
    let count = hist_count(&records, "syscall", "getppid").expect("getppid histogram");
    assert!(
        count >= INSIDE_CALLS + OUTSIDE_CALLS,
        "node-wide trace counted {count} getppid calls, fewer than the workloads made"
    );
}

#[test]
fn one_histogram_for_all_syscalls_when_not_keyed() {
    let mut workload = Workload::spawn(INSIDE_CALLS);
    let mut idle = Workload::spawn(0);
    let spec = latency_spec(false, 0, only_pid(workload.pid()));
    let records = trace_two_workloads(spec, &mut workload, &mut idle);
    let last = records
        .iter()
        .rev()
        .find_map(|record| match record {
            Record::Hist { key, buckets, .. } => Some((key.clone(), buckets.clone())),
            _ => None,
        })
        .expect("a histogram");
    assert!(last.0.is_empty(), "unkeyed histogram has key {:?}", last.0);
    let total: u64 = last.1.iter().map(|b| b.count).sum();
    // The loop's getppid calls plus the read and write around it.
    assert!(total >= INSIDE_CALLS, "counted {total}");
    for bucket in &last.1 {
        assert!(bucket.low < bucket.high && bucket.count > 0, "{bucket:?}");
    }
}

#[test]
fn min_latency_drops_fast_calls_in_the_kernel() {
    let mut workload = Workload::spawn(INSIDE_CALLS);
    let mut idle = Workload::spawn(0);
    // getppid takes well under a millisecond.
    let spec = latency_spec(true, 1_000_000, only_pid(workload.pid()));
    let records = trace_two_workloads(spec, &mut workload, &mut idle);
    let count = hist_count(&records, "syscall", "getppid").unwrap_or(0);
    assert!(
        count < INSIDE_CALLS / 100,
        "{count} getppid calls took over 1ms"
    );
}

#[test]
fn stops_by_itself_at_the_deadline() {
    let mut spec = by_syscall(Targets::default());
    spec.duration_ms = Some(300);
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    let (status, records) = tracer.finish();
    assert!(status.success());
    assert!(matches!(records.last(), Some(Record::Done { reason }) if reason == "duration"));
    assert!(matches!(
        records.first(),
        Some(Record::Hello { version: 1, .. })
    ));
}

#[test]
fn names_a_missing_cgroup_in_one_error_record() {
    let spec = by_syscall(Targets {
        cgroup_paths: vec!["no-such-cgroup-anywhere".into()],
        ..Targets::default()
    });
    let (status, records) = TracerRun::start(&spec).finish();
    assert_eq!(status.code(), Some(2));
    let errors: Vec<_> = records
        .iter()
        .filter_map(|record| match record {
            Record::Error {
                code,
                message,
                hint,
            } => Some((code, message, hint)),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{records:?}");
    let (code, message, hint) = errors[0];
    assert_eq!(code.as_str(), "invalid-target");
    assert!(message.contains("no-such-cgroup-anywhere"), "{message}");
    assert!(hint.contains("cgroup v2"), "{hint}");
}

#[test]
fn without_privilege_says_what_to_grant() {
    let (status, records) = TracerRun::start_unprivileged(&by_syscall(Targets::default())).finish();
    assert_eq!(status.code(), Some(3), "{records:?}");
    let errors: Vec<_> = records
        .iter()
        .filter_map(|record| match record {
            Record::Error { code, hint, .. } => Some((code.as_str(), hint.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{records:?}");
    assert_eq!(errors[0].0, "permission-denied");
    assert!(errors[0].1.contains("CAP_BPF"), "{}", errors[0].1);
    assert!(!records.iter().any(|r| matches!(r, Record::Attached { .. })));
}
