//! The `runq-latency` probe: threads that outnumber the CPUs wait for one, sleepers are
//! counted once per wakeup, and only the targets' waits are recorded.

use std::collections::BTreeMap;

use e2e::{
    cgroup::{TestCgroup, cgroup2_mount},
    pods::EmulatedNode,
    tracer::{TracerRun, last_hists, last_lost},
    workload::Workload,
};
use tracer_protocol::{Bucket, ProbeSpec, QosClass, Record, Targets, TraceSpec};

const PROBE: &str = "runq-latency";
/// Wakeups a sleeper makes besides its sleeps ("go" on stdin), and room for the odd
/// preemption while it runs.
const SLACK: u64 = 30;

/// The waits a sleeper of `sleeps` sleeps should show: one per sleep, less the few
/// whose timer fires before the thread is off its CPU (woken while still running, it
/// never waits), plus `SLACK`.
fn expected(sleeps: u64) -> std::ops::RangeInclusive<u64> {
    sleeps - sleeps / 20..=sleeps + SLACK
}

fn spinner(threads: u32, millis: u32) -> Workload {
    Workload::start(
        "sched-workload",
        &["spin".to_owned(), threads.to_string(), millis.to_string()],
    )
}

fn sleeper(count: u64) -> Workload {
    Workload::start(
        "sched-workload",
        &["sleep".to_owned(), count.to_string(), "1000".to_owned()],
    )
}

fn spec(per_pod: bool, targets: Targets) -> TraceSpec {
    TraceSpec::new(vec![ProbeSpec::RunqLatency { per_pod }], targets)
}

/// Runs every workload at once while traced.
fn trace(spec: &TraceSpec, workloads: &mut [&mut Workload]) -> Vec<Record> {
    let mut tracer = TracerRun::start(spec);
    tracer.wait_attached();
    for workload in workloads.iter_mut() {
        workload.go();
    }
    for workload in workloads.iter_mut() {
        workload.wait_done();
    }
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    assert_eq!(last_lost(&records, PROBE), Some(0), "{records:?}");
    records
}

fn count(buckets: &[Bucket]) -> u64 {
    buckets.iter().map(|bucket| bucket.count).sum()
}

#[test]
fn threads_that_outnumber_the_cpus_wait_and_only_the_cgroup_counts() {
    let cgroup = TestCgroup::create("runq");
    // Four threads inside and two outside, each wanting a second of CPU, on two CPUs.
    let mut inside = spinner(4, 1000);
    let mut outside = spinner(2, 1000);
    cgroup.add(inside.pid());
    let records = trace(
        &spec(
            true,
            Targets {
                cgroup_paths: vec![cgroup.path().display().to_string()],
                ..Targets::default()
            },
        ),
        &mut [&mut inside, &mut outside],
    );
    let hists = last_hists(&records, PROBE);
    let relative = cgroup
        .path()
        .strip_prefix(cgroup2_mount())
        .expect("below the mount");
    let key = BTreeMap::from([("cgroup".to_owned(), format!("/{}", relative.display()))]);
    assert_eq!(
        hists.keys().collect::<Vec<_>>(),
        [&key],
        "one row, the target cgroup's: {hists:?}"
    );
    let buckets = &hists[&key];
    assert!(count(buckets) >= 20, "too few waits: {buckets:?}");
    // Preempted spinners wait for another's time slice: milliseconds, not microseconds.
    assert!(
        buckets.iter().any(|bucket| bucket.low >= 1 << 20),
        "no wait of a millisecond or more: {buckets:?}"
    );
}

#[test]
fn filters_by_process_id_and_counts_one_wait_per_wakeup() {
    const SLEEPS: u64 = 300;
    let mut target = sleeper(SLEEPS);
    let mut busy = spinner(2, 500);
    let mut other_sleeper = sleeper(1_000);
    let records = trace(
        &spec(
            false,
            Targets {
                pids: vec![target.pid()],
                ..Targets::default()
            },
        ),
        &mut [&mut target, &mut busy, &mut other_sleeper],
    );
    let hists = last_hists(&records, PROBE);
    let buckets = hists.get(&BTreeMap::new()).expect("one unkeyed histogram");
    let waits = count(buckets);
    assert!(
        expected(SLEEPS).contains(&waits),
        "expected one wait per sleep of pid {} ({SLEEPS}), counted {waits}",
        target.pid()
    );
}

#[test]
fn per_pod_keeps_one_histogram_per_pod() {
    let node = EmulatedNode::new();
    let cart = node.container("cart-5c8b", "app", QosClass::Burstable, true);
    let checkout = node.container("checkout-7d9f", "app", QosClass::BestEffort, false);
    let mut in_cart = sleeper(200);
    let mut in_checkout = sleeper(400);
    let mut outside = sleeper(300);
    cart.add(in_cart.pid());
    checkout.add(in_checkout.pid());
    let mut spec = spec(
        true,
        Targets {
            containers: vec![cart.target.clone(), checkout.target.clone()],
            ..Targets::default()
        },
    );
    spec.node_containers = vec![cart.target.clone(), checkout.target.clone()];
    let records = trace(&spec, &mut [&mut in_cart, &mut in_checkout, &mut outside]);
    let hists = last_hists(&records, PROBE);
    let pod = |name: &str| {
        BTreeMap::from([
            ("namespace".to_owned(), "default".to_owned()),
            ("pod".to_owned(), name.to_owned()),
            ("container".to_owned(), "app".to_owned()),
        ])
    };
    assert_eq!(hists.len(), 2, "one row per pod and no other: {hists:?}");
    for (name, sleeps) in [("cart-5c8b", 200), ("checkout-7d9f", 400)] {
        let waits = hists.get(&pod(name)).map_or(0, |buckets| count(buckets));
        assert!(
            expected(sleeps).contains(&waits),
            "pod {name}: expected {sleeps} waits, counted {waits}: {hists:?}"
        );
    }
}
