//! `--per-pod` on syscall-latency: rows split by cgroup in the kernel come back named
//! after the pod and container, with each pod's exact calls.

use e2e::{
    pods::EmulatedNode,
    tracer::{TracerRun, last_hists},
    workload::Workload,
};
use tracer_protocol::{ProbeSpec, QosClass, Targets, TraceSpec};

/// getppid calls a workload makes besides its loop (none today; a little room for libc).
const SLACK: u64 = 20;

#[test]
fn syscall_latency_keeps_each_pod_apart() {
    let node = EmulatedNode::new();
    let cart = node.container("cart-5c8b", "app", QosClass::Burstable, true);
    let checkout = node.container("checkout-7d9f", "web", QosClass::Guaranteed, false);
    let mut in_cart = Workload::spawn(10_000);
    let mut in_checkout = Workload::spawn(25_000);
    let mut outside = Workload::spawn(40_000);
    cart.add(in_cart.pid());
    checkout.add(in_checkout.pid());
    let mut spec = TraceSpec::new(
        vec![ProbeSpec::SyscallLatency {
            by_syscall: true,
            min_latency_ns: 0,
            per_pod: true,
        }],
        Targets {
            containers: vec![cart.target.clone(), checkout.target.clone()],
            ..Targets::default()
        },
    );
    spec.node_containers = vec![cart.target.clone(), checkout.target.clone()];
    let mut tracer = TracerRun::start(&spec);
    tracer.wait_attached();
    in_cart.run();
    in_checkout.run();
    outside.run();
    let (status, records) = tracer.stop();
    assert!(status.success(), "tracer exited with {status}: {records:?}");

    let hists = last_hists(&records, "syscall-latency");
    for (pod, container, calls) in [
        ("cart-5c8b", "app", 10_000),
        ("checkout-7d9f", "web", 25_000),
    ] {
        let key = [
            ("namespace", "default"),
            ("pod", pod),
            ("container", container),
            ("syscall", "getppid"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let count: u64 = hists
            .get(&key)
            .unwrap_or_else(|| panic!("no getppid row for {pod}: {:?}", hists.keys()))
            .iter()
            .map(|bucket| bucket.count)
            .sum();
        assert!(
            (calls..=calls + SLACK).contains(&count),
            "pod {pod}: expected {calls} getppid calls, counted {count}"
        );
    }
    assert!(
        hists.keys().all(|key| key.contains_key("pod")),
        "every row belongs to a target pod: {:?}",
        hists.keys()
    );
}
