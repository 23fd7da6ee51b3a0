//! Container targets on the real kernel: the tracer finds emulated pod containers (real
//! cgroup v2 directories in kubelet's systemd layout, below a private prefix) by pod uid
//! and container id, filters to them, and reports what became of each.

use e2e::{
    pods::EmulatedNode,
    tracer::{TracerRun, hist_count},
    workload::Workload,
};
use tracer_protocol::{ProbeSpec, QosClass, Record, TargetState, Targets, TraceSpec};

const INSIDE_CALLS: u64 = 20_000;
const OUTSIDE_CALLS: u64 = 50_000;
/// getppid calls a workload makes besides its loop (none today; a little room for libc).
const SLACK: u64 = 20;

fn container_spec(targets: Vec<tracer_protocol::ContainerTarget>) -> TraceSpec {
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::SyscallLatency {
            by_syscall: true,
            min_latency_ns: 0,
            per_pod: false,
        }],
        Targets {
            containers: targets,
            ..Targets::default()
        },
    );
    spec.node = Some("node-1".to_owned());
    spec
}

fn target_records(records: &[Record]) -> Vec<(String, TargetState, Option<u64>)> {
    records
        .iter()
        .filter_map(|record| match record {
            Record::Target {
                container,
                state,
                cgroup,
                ..
            } => Some((container.clone(), *state, *cgroup)),
            _ => None,
        })
        .collect()
}

fn inode(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .ino()
}

/// The target's processes run in crun's `container` child of the scope, so this also
/// proves the child's id reaches the kernel filter.
#[test]
fn traces_a_target_container_and_not_its_neighbour() {
    let node = EmulatedNode::new();
    let target = node.container("checkout-7d9f", "app", QosClass::Burstable, true);
    let neighbour = node.container("cart-5c8b", "app", QosClass::BestEffort, false);
    let mut inside = Workload::spawn(INSIDE_CALLS);
    let mut outside = Workload::spawn(OUTSIDE_CALLS);
    target.add(inside.pid());
    neighbour.add(outside.pid());

    let mut spec = container_spec(vec![target.target.clone()]);
    spec.node_containers = vec![target.target.clone(), neighbour.target.clone()];
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    inside.run();
    outside.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");

    assert_eq!(
        target_records(&records),
        vec![(
            "app".to_owned(),
            TargetState::Found,
            Some(inode(target.path()))
        )]
    );
    let count = hist_count(&records, "syscall", "getppid").expect("getppid histogram");
    assert!(
        (INSIDE_CALLS..=INSIDE_CALLS + SLACK).contains(&count),
        "expected the {INSIDE_CALLS} calls from inside the target container only, counted {count}"
    );
    assert!(matches!(records.last(), Some(Record::Done { .. })));
}

#[test]
fn a_missing_container_is_an_invalid_target() {
    let node = EmulatedNode::new();
    let present = node.container("checkout-7d9f", "app", QosClass::Guaranteed, false);
    let mut missing = present.target.clone();
    missing.container_id = "f".repeat(64);
    missing.container = "sidecar".to_owned();

    let (status, records) = TracerRun::start(&container_spec(vec![missing.clone()])).finish();
    assert_eq!(status.code(), Some(2), "{records:?}");
    assert_eq!(
        target_records(&records),
        vec![("sidecar".to_owned(), TargetState::Missing, None)]
    );
    let errors: Vec<_> = records
        .iter()
        .filter_map(|record| match record {
            Record::Error {
                code,
                message,
                hint,
            } => Some((code.as_str(), message.clone(), hint.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 1, "{records:?}");
    let (code, message, hint) = &errors[0];
    assert_eq!(*code, "invalid-target");
    assert!(
        message.contains("has no cgroup on node node-1") && message.contains(&missing.pod_uid),
        "{message}"
    );
    assert!(!hint.is_empty());
    assert!(!records.iter().any(|r| matches!(r, Record::Attached { .. })));
}

/// A container that exits mid-trace is reported once and the trace goes on.
#[test]
fn a_container_that_goes_away_is_reported_gone() {
    let node = EmulatedNode::new();
    let target = node.container("checkout-7d9f", "app", QosClass::Burstable, false);
    let other = node.container("checkout-7d9f-b", "app", QosClass::Burstable, false);
    let id = inode(target.path());
    let mut workload = Workload::spawn(INSIDE_CALLS);
    target.add(workload.pid());

    let mut spec = container_spec(vec![target.target.clone(), other.target.clone()]);
    spec.interval_ms = 100;
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    workload.run();
    // Moves the workload out and removes the directory, as when the container exits.
    target.remove();
    tracer.wait_for("a gone target", |record| {
        matches!(
            record,
            Record::Target {
                state: TargetState::Gone,
                ..
            }
        )
    });
    // Another interval passes: gone is said once.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let states = target_records(&records);
    assert_eq!(
        states,
        vec![
            ("app".to_owned(), TargetState::Found, Some(id)),
            (
                "app".to_owned(),
                TargetState::Found,
                Some(inode(other.path()))
            ),
            ("app".to_owned(), TargetState::Gone, Some(id)),
        ]
    );
    let count = hist_count(&records, "syscall", "getppid").expect("getppid histogram");
    assert!(
        (INSIDE_CALLS..=INSIDE_CALLS + SLACK).contains(&count),
        "counted {count}"
    );
    assert!(
        matches!(records.last(), Some(Record::Done { reason }) if reason == "SIGTERM"),
        "{:?}",
        records.last()
    );
}
