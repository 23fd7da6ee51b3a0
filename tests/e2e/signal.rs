//! The `signal` probe: signals sent from a target pod, signals sent to it from outside,
//! and one between two other processes, which must not show.

use std::{os::unix::process::ExitStatusExt, process::Child};

use e2e::{
    binaries,
    events::{self, Event},
    pods::EmulatedNode,
    tracer::TracerRun,
    workload::ready_sleeper,
};
use serde_json::json;
use tracer_protocol::{ProbeSpec, QosClass, Record, Targets, TraceSpec};

fn workload() -> String {
    binaries::path("proc-workload").display().to_string()
}

fn ended_by(mut child: Child, signal: i32) {
    let status = child.wait().expect("wait the sleeper");
    assert_eq!(status.signal(), Some(signal), "{status}");
}

fn kill(pid: u32, signal: i32) {
    // SAFETY: signalling a child of this test.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
}

#[test]
fn shows_signals_from_and_to_a_target_pod_and_nothing_else() {
    let node = EmulatedNode::new();
    let target = node.container("checkout-7d9f", "app", QosClass::Burstable, false);
    let neighbour = node.container("cart-5c8b", "app", QosClass::BestEffort, false);
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::Signal {
            filter: Default::default(),
        }],
        Targets {
            containers: vec![target.target.clone()],
            ..Targets::default()
        },
    );
    spec.node = Some("node-1".to_owned());
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();

    // From the target pod to its neighbour.
    let in_neighbour = ready_sleeper(neighbour.cgroup().command(&workload()));
    let sent = target
        .cgroup()
        .command(&workload())
        .args(["kill", &in_neighbour.id().to_string(), "10"])
        .output()
        .expect("run the sender");
    assert_eq!(String::from_utf8_lossy(&sent.stdout).trim(), "sent");
    let neighbour_pid = in_neighbour.id();
    ended_by(in_neighbour, libc::SIGUSR1);

    // From outside (this test) into the target pod.
    let in_target = ready_sleeper(target.cgroup().command(&workload()));
    let target_pid = in_target.id();
    kill(target_pid, libc::SIGUSR2);
    ended_by(in_target, libc::SIGUSR2);

    // Between two processes that are not targets.
    let elsewhere = ready_sleeper(neighbour.cgroup().command(&workload()));
    let elsewhere_pid = elsewhere.id();
    kill(elsewhere_pid, libc::SIGTERM);
    ended_by(elsewhere, libc::SIGTERM);

    tracer.wait_for("the signal into the target pod", |record| {
        matches!(record, Record::Event { fields, .. }
            if fields.get("target_pid") == Some(&json!(target_pid)))
    });
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");
    let events = events::of_probe(&records, "signal");
    let to = |pid: u32, signal: &str| -> &Event {
        events
            .iter()
            .find(|event| {
                event.field("target_pid") == &json!(pid) && event.field("signal") == &json!(signal)
            })
            .unwrap_or_else(|| panic!("no {signal} to {pid} in {events:#?}"))
    };

    let event = to(neighbour_pid, "SIGUSR1");
    assert_eq!(event.comm, "proc-workload");
    assert_eq!(event.cgroup, target.cgroup().id());
    assert_eq!(event.pod.as_deref(), Some("checkout-7d9f"));
    assert_eq!(event.container.as_deref(), Some("app"));
    assert_eq!(event.field("target_comm"), &json!("proc-workload"));
    assert_eq!(
        event.field("target_cgroup"),
        &json!(neighbour.cgroup().id())
    );
    assert_eq!(event.field("code"), &json!("SI_USER"));
    assert_eq!(event.field("result"), &json!("delivered"));
    assert_eq!(event.field("scope"), &json!("process"));
    assert!(event.fields.get("target_pod").is_none(), "{event:?}");

    // The sender is this test, outside every pod; the receiver is named after its pod.
    let event = to(target_pid, "SIGUSR2");
    assert_eq!(event.pid, std::process::id());
    assert_eq!(event.pod, None);
    assert_eq!(event.field("target_cgroup"), &json!(target.cgroup().id()));
    assert_eq!(event.field("target_pod"), &json!("default/checkout-7d9f"));
    assert_eq!(event.field("target_container"), &json!("app"));
    assert_eq!(event.field("code"), &json!("SI_USER"));
    assert_eq!(event.field("result"), &json!("delivered"));

    assert!(
        !events
            .iter()
            .any(|event| event.field("target_pid") == &json!(elsewhere_pid)),
        "a signal between two processes outside the target was traced: {events:#?}"
    );
    assert_eq!(events::lost(&records, "signal"), Some(0));
}
