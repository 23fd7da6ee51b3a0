//! The `syscall-count` probe: exact counts by syscall and errno for a workload inside the
//! target, and nothing from an identical one outside.

use std::collections::BTreeMap;

use e2e::{
    cgroup::TestCgroup,
    tracer::{TracerRun, last_counts, last_lost},
    workload::Workload,
};
use tracer_protocol::{ProbeSpec, Record, Targets, TraceSpec};

const INSIDE_CALLS: u64 = 3_000;
const INSIDE_FAILS: u64 = 700;
const OUTSIDE_CALLS: u64 = 5_000;
const OUTSIDE_FAILS: u64 = 900;

fn key(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn workload(calls: u64, fails: u64) -> Workload {
    Workload::start(
        "syscall-workload",
        &[
            calls.to_string(),
            "--failing-opens".to_owned(),
            fails.to_string(),
        ],
    )
}

fn trace(targets: Targets, inside: &mut Workload, outside: &mut Workload) -> Vec<Record> {
    let spec = TraceSpec::new(vec![ProbeSpec::SyscallCount {}], targets);
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    inside.run();
    outside.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    records
}

fn assert_inside_only(records: &[Record]) {
    let counts = last_counts(records, "syscall-count", "calls");
    assert_eq!(
        counts.get(&key(&[("syscall", "getppid")])),
        Some(&INSIDE_CALLS),
        "getppid calls of the target only: {counts:?}"
    );
    assert_eq!(
        counts.get(&key(&[("syscall", "openat"), ("error", "ENOENT")])),
        Some(&INSIDE_FAILS),
        "failed opens of the target only: {counts:?}"
    );
    // The workload opens nothing that exists.
    assert!(
        !counts.contains_key(&key(&[("syscall", "openat")])),
        "{counts:?}"
    );
    assert_eq!(last_lost(records, "syscall-count"), Some(0));
}

#[test]
fn counts_calls_and_failures_of_a_cgroup_and_nothing_outside() {
    let cgroup = TestCgroup::create("count");
    let mut inside = workload(INSIDE_CALLS, INSIDE_FAILS);
    let mut outside = workload(OUTSIDE_CALLS, OUTSIDE_FAILS);
    cgroup.add(inside.pid());
    let records = trace(
        Targets {
            cgroup_paths: vec![cgroup.path().display().to_string()],
            ..Targets::default()
        },
        &mut inside,
        &mut outside,
    );
    assert_inside_only(&records);
}

#[test]
fn filters_by_process_id() {
    let mut inside = workload(INSIDE_CALLS, INSIDE_FAILS);
    let mut outside = workload(OUTSIDE_CALLS, OUTSIDE_FAILS);
    let records = trace(
        Targets {
            pids: vec![inside.pid()],
            ..Targets::default()
        },
        &mut inside,
        &mut outside,
    );
    assert_inside_only(&records);
}
