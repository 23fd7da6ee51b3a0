//! `--per-pod` on syscall-latency: rows split by cgroup in the kernel come back named
//! after the pod and container, with each pod's exact calls; through the plugin, each
//! replica of a deployment on its own node keeps its own row.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read},
    process::Stdio,
};

use e2e::{
    cluster::{Cluster, workload_deployment, workload_pod},
    pods::EmulatedNode,
    tracer::{TracerRun, last_hists},
    workload::Workload,
};
use serde_json::Value;
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

const CALLS: u64 = 4_000;

/// Two checkout replicas on two nodes and a bystander beside one of them, all making
/// `CALLS` getppid calls once triggered, traced with `args` after `deploy/checkout`.
/// The names of the replicas and the plugin's stdout.
fn trace_checkout(args: &[&str]) -> (BTreeSet<String>, String) {
    let cluster = Cluster::start(3, &[]);
    let trigger = cluster.trigger("go");
    cluster.apply(&workload_deployment("checkout", 2, CALLS, &trigger));
    let pods = cluster.wait_running("default", "app=checkout", 2);
    let names: BTreeSet<String> = pods
        .iter()
        .map(|pod| pod["metadata"]["name"].as_str().expect("named").to_owned())
        .collect();
    let first_node = pods[0]["spec"]["nodeName"].as_str().expect("scheduled");
    cluster.apply(&workload_pod("bystander", first_node, CALLS, &trigger));
    cluster.wait_running("default", "app=bystander", 1);

    let mut plugin = cluster
        .plugin()
        .args(["trace", "syscall-latency", "deploy/checkout"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl-ebpf");
    let mut stderr = BufReader::new(plugin.stderr.take().expect("piped stderr"));
    let mut attached = 0;
    let mut said = String::new();
    while attached < 2 {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("read progress");
        assert!(read > 0, "the plugin ended before attaching: {said}");
        attached += usize::from(line.starts_with("Tracing on "));
        said.push_str(&line);
    }
    std::fs::write(&trigger, b"").expect("pull the trigger");
    let mut stdout = String::new();
    plugin
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    let _ = stderr.read_to_string(&mut said);
    let status = plugin.wait().expect("wait for the plugin");
    assert_eq!(status.code(), Some(0), "{said}");
    (names, stdout)
}

#[test]
fn the_plugin_keeps_each_replica_apart_across_nodes() {
    let (names, stdout) =
        trace_checkout(&["--by", "syscall", "--per-pod", "-o", "json", "-d", "3s"]);
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let getppid: Vec<&Value> = result["histograms"]
        .as_array()
        .expect("histograms")
        .iter()
        .filter(|h| h["key"]["syscall"] == "getppid")
        .collect();
    let seen: BTreeSet<String> = getppid
        .iter()
        .map(|h| h["key"]["pod"].as_str().expect("a pod key").to_owned())
        .collect();
    assert_eq!(seen, names, "one row per replica, none for the bystander");
    for histogram in getppid {
        assert_eq!(histogram["key"]["namespace"], "default");
        assert_eq!(histogram["key"]["container"], "app");
        let count = histogram["count"].as_u64().expect("count");
        assert!(
            (CALLS..=CALLS + SLACK).contains(&count),
            "{}: expected {CALLS} getppid calls, counted {count}",
            histogram["key"]
        );
    }
}

#[test]
fn side_by_side_draws_the_replicas_next_to_each_other_with_their_counts() {
    let (names, stdout) =
        trace_checkout(&["--by", "syscall", "--per-pod", "--side-by-side", "-d", "3s"]);
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|line| {
            *line == "syscall-latency (ns) syscall=getppid, side by side on one scale:"
        })
        .unwrap_or_else(|| panic!("no side-by-side getppid histograms:\n{stdout}"));
    let titles = lines[at + 1];
    let mut columns: Vec<(usize, &String)> = names
        .iter()
        .map(|name| {
            let title = format!("default/{name}/app");
            let column = titles
                .find(&title)
                .unwrap_or_else(|| panic!("no column for {name}: {titles}"));
            (column, name)
        })
        .collect();
    columns.sort();
    // Each column's counts (the number before each `|@`) add up to that replica's calls.
    let mut sums = vec![0u64; columns.len()];
    for row in lines[at + 2..]
        .iter()
        .take_while(|line| line.starts_with('['))
    {
        let counts: Vec<u64> = row
            .split('|')
            .step_by(2)
            .filter_map(|cell| cell.split_whitespace().last()?.parse().ok())
            .collect();
        assert_eq!(counts.len(), columns.len(), "{row}");
        for (sum, count) in sums.iter_mut().zip(counts) {
            *sum += count;
        }
    }
    for ((_, name), sum) in columns.iter().zip(sums) {
        assert!(
            (CALLS..=CALLS + SLACK).contains(&sum),
            "{name}: expected {CALLS} getppid calls side by side, counted {sum}:\n{stdout}"
        );
    }
}
