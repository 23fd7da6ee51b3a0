//! Cluster mode end to end: the plugin against the Kubernetes API double, whose kubelet
//! runs the real `tracer-job` for each Job pod and real workload processes for each pod,
//! in kubelet-layout cgroups on this machine's kernel.

use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader, Read},
    process::{Child, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use e2e::{
    binaries,
    cluster::{
        Cluster, execing_deployment, profile_deployment, profile_pod, workload_deployment,
        workload_pod,
    },
};
use serde_json::Value;

const CALLS: u64 = 5_000;

/// The plugin running a trace, its stderr read line by line.
struct Trace {
    child: Child,
    reaped: Arc<AtomicBool>,
    stderr: BufReader<std::process::ChildStderr>,
    said: Vec<String>,
}

impl Trace {
    fn start(cluster: &Cluster, args: &[&str]) -> Trace {
        Trace::command(cluster, "trace", args)
    }

    /// `kubectl-ebpf COMMAND ARGS` (`trace`, `profile`).
    fn command(cluster: &Cluster, command: &str, args: &[&str]) -> Trace {
        let mut child = cluster
            .plugin()
            .arg(command)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kubectl-ebpf");
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let reaped = Arc::new(AtomicBool::new(false));
        watchdog(child.id(), reaped.clone());
        Trace {
            child,
            reaped,
            stderr,
            said: Vec::new(),
        }
    }

    /// Reads progress until `count` nodes said they attached.
    fn wait_attached(&mut self, count: usize) {
        let mut attached = 0;
        while attached < count {
            let mut line = String::new();
            let read = self.stderr.read_line(&mut line).expect("read progress");
            assert!(
                read > 0,
                "the plugin ended before attaching: {:?}",
                self.said
            );
            if line.starts_with("Tracing on ") {
                attached += 1;
            }
            self.said.push(line);
        }
    }

    fn interrupt(&self) {
        // SAFETY: signalling our own child, as a terminal's Ctrl-C would.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
    }

    /// Waits for the end: exit code, stdout, and all of stderr.
    fn finish(mut self) -> (Option<i32>, String, String) {
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut stdout)
            .expect("read stdout");
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).expect("read stderr");
        // Its output has ended, so it has exited (or the watchdog killed it): the watchdog
        // stands down before the pid is reaped and could be reused.
        self.reaped.store(true, Ordering::SeqCst);
        let status = self.child.wait().expect("wait for the plugin");
        (status.code(), stdout, self.said.concat() + rest.as_str())
    }
}

/// A plugin that hangs fails its test instead of hanging the suite: it is killed after
/// this long (its stdout then ends and the test's assertions fail).
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(120);

fn watchdog(pid: u32, reaped: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        std::thread::sleep(PLUGIN_TIMEOUT);
        // Only an unreaped child: its pid cannot have been reused.
        if !reaped.load(Ordering::SeqCst) {
            // SAFETY: a plain kill(2) of our own, still unreaped, child.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    });
}

/// `syscall-latency deploy/checkout --by syscall --per-node -o json -d DURATION`, plus
/// `extra` flags.
fn per_node_trace(cluster: &Cluster, duration: &str, extra: &[&str]) -> Trace {
    let mut args = vec![
        "syscall-latency",
        "deploy/checkout",
        "--by",
        "syscall",
        "--per-node",
        "-o",
        "json",
        "-d",
        duration,
    ];
    args.extend_from_slice(extra);
    Trace::start(cluster, &args)
}

/// Runs the plugin to its end and checks its exit code; its stderr.
fn run_expecting(cluster: &Cluster, args: &[&str], code: i32) -> String {
    let output = cluster
        .plugin()
        .args(args)
        .output()
        .expect("run kubectl-ebpf");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    stderr
}

/// Nodes the running pods of `selector` sit on.
fn nodes_of(pods: &[Value]) -> BTreeSet<String> {
    pods.iter()
        .map(|pod| {
            pod["spec"]["nodeName"]
                .as_str()
                .expect("scheduled")
                .to_owned()
        })
        .collect()
}

/// getppid counts per node from a `--per-node --by syscall -o json` result.
fn getppid_per_node(result: &Value) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = result["histograms"]
        .as_array()
        .expect("histograms")
        .iter()
        .filter(|h| h["key"]["syscall"] == "getppid")
        .map(|h| {
            (
                h["key"]["node"].as_str().expect("node key").to_owned(),
                h["count"].as_u64().expect("count"),
            )
        })
        .collect();
    counts.sort();
    counts
}

fn assert_exact(count: u64, what: &str) {
    assert!(
        (CALLS..=CALLS + 20).contains(&count),
        "{what}: expected the {CALLS} calls of the target, found {count}"
    );
}

/// Two replicas on two of three nodes, and a pod that must not be traced beside one.
fn checkout(cluster: &Cluster) -> BTreeSet<String> {
    let trigger = cluster.trigger("go");
    cluster.apply(&workload_deployment("checkout", 2, CALLS, &trigger));
    let nodes = nodes_of(&cluster.wait_running("default", "app=checkout", 2));
    assert_eq!(
        nodes.len(),
        2,
        "two replicas should sit on two nodes: {nodes:?}"
    );
    let first = nodes.first().expect("a node").clone();
    cluster.apply(&workload_pod("bystander", &first, CALLS, &trigger));
    cluster.wait_running("default", "app=bystander", 1);
    nodes
}

fn go(cluster: &Cluster) {
    std::fs::write(cluster.trigger("go"), b"").expect("pull the trigger");
}

#[test]
fn a_deployment_on_two_of_three_nodes_is_traced_by_two_jobs_with_exact_counts() {
    let cluster = Cluster::start(3, &[]);
    let nodes = checkout(&cluster);
    let mut trace = per_node_trace(&cluster, "4s", &[]);
    trace.wait_attached(2);

    let jobs = cluster.get_json(&["get", "jobs", "-n", "kubectl-ebpf"]);
    let job_nodes: BTreeSet<String> = jobs["items"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|job| {
            job["spec"]["template"]["spec"]["nodeName"]
                .as_str()
                .expect("pinned")
                .to_owned()
        })
        .collect();
    assert_eq!(
        job_nodes, nodes,
        "exactly one Job per node with a target pod"
    );

    go(&cluster);
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(result["partial"], false, "{result}");
    let per_node = getppid_per_node(&result);
    let seen: BTreeSet<String> = per_node.iter().map(|(node, _)| node.clone()).collect();
    assert_eq!(seen, nodes, "results from the two traced nodes only");
    for (node, count) in &per_node {
        assert_exact(*count, node);
    }
    assert!(
        cluster.trace_objects().is_empty(),
        "left behind: {:?}",
        cluster.trace_objects()
    );
}

#[test]
fn the_merged_histogram_is_the_sum_of_the_nodes() {
    let cluster = Cluster::start(3, &[]);
    checkout(&cluster);
    let mut trace = Trace::start(
        &cluster,
        &[
            "syscall-latency",
            "deploy/checkout",
            "--by",
            "syscall",
            "-o",
            "json",
            "-d",
            "3s",
        ],
    );
    trace.wait_attached(2);
    go(&cluster);
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let getppid = result["histograms"]
        .as_array()
        .expect("histograms")
        .iter()
        .find(|h| h["key"]["syscall"] == "getppid")
        .expect("a getppid histogram")["count"]
        .as_u64()
        .expect("count");
    assert!(
        (2 * CALLS..=2 * CALLS + 40).contains(&getppid),
        "two replicas' calls, not the bystander's: {getppid}"
    );
    assert_eq!(result["nodes"].as_array().expect("nodes").len(), 2);
}

#[test]
fn ctrl_c_mid_trace_prints_the_result_and_leaves_nothing() {
    let cluster = Cluster::start(2, &[]);
    checkout(&cluster);
    let mut trace = Trace::start(
        &cluster,
        &[
            "syscall-latency",
            "deploy/checkout",
            "--by",
            "syscall",
            "-o",
            "json",
        ],
    );
    trace.wait_attached(2);
    go(&cluster);
    std::thread::sleep(Duration::from_millis(500));
    trace.interrupt();
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let nodes = result["nodes"].as_array().expect("nodes");
    assert!(nodes.iter().all(|n| n["status"] == "done"), "{result}");
    assert!(
        cluster.trace_objects().is_empty(),
        "left behind: {:?}",
        cluster.trace_objects()
    );
}

#[test]
fn dry_run_through_kubectl_prints_the_objects_and_creates_nothing() {
    let cluster = Cluster::start(3, &[]);
    let nodes = checkout(&cluster);
    let plugin_dir = binaries::plugin()
        .parent()
        .expect("plugin directory")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        plugin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new(e2e::cluster::KUBECTL)
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("PATH", path)
        .args([
            "ebpf",
            "trace",
            "syscall-latency",
            "deploy/checkout",
            "--dry-run",
            "-o",
            "json",
        ])
        .output()
        .expect("run kubectl ebpf");
    assert!(output.status.success(), "{output:?}");
    let list: Value = serde_json::from_slice(&output.stdout).expect("a JSON List");
    let kinds: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["Job", "Job"]);
    let pinned: BTreeSet<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|job| {
            job["spec"]["template"]["spec"]["nodeName"]
                .as_str()
                .expect("pinned")
                .to_owned()
        })
        .collect();
    assert_eq!(pinned, nodes);
    assert!(cluster.trace_objects().is_empty());
    assert!(
        !cluster
            .kubectl(&["get", "namespace", "kubectl-ebpf"])
            .status
            .success(),
        "a dry run must not even create the jobs namespace"
    );
}

#[test]
fn a_pod_that_is_not_running_is_refused_and_nothing_is_created() {
    let cluster = Cluster::start(
        2,
        &[
            "--fault",
            r#"{"kind":"image-pull-backoff","image_contains":"example.com/stuck"}"#,
        ],
    );
    cluster.apply(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: stuck
  namespace: default
spec:
  containers:
  - name: app
    image: example.com/stuck:1
    command: ["/bin/sleep", "1000"]
"#,
    );
    let stderr = run_expecting(
        &cluster,
        &["trace", "syscall-latency", "pod/stuck", "-d", "2s"],
        2,
    );
    assert!(stderr.contains("nothing to trace in pod/stuck"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(cluster.trace_objects().is_empty());
}

#[test]
fn a_tracer_image_that_cannot_be_pulled_fails_every_node_and_cleans_up() {
    let cluster = Cluster::start(
        2,
        &[
            "--fault",
            r#"{"kind":"image-pull-backoff","image_contains":"kubectl-ebpf/tracer"}"#,
        ],
    );
    checkout(&cluster);
    let stderr = run_expecting(
        &cluster,
        &["trace", "syscall-latency", "deploy/checkout", "-d", "2s"],
        1,
    );
    assert!(stderr.contains("ImagePullBackOff"), "{stderr}");
    assert!(cluster.trace_objects().is_empty());
}

#[test]
fn a_node_that_cannot_run_its_tracer_is_reported_and_the_others_still_count() {
    let cluster = Cluster::start(2, &[]);
    let nodes = checkout(&cluster);
    let stuck = nodes.last().expect("a node").clone();
    cluster.inject(&format!(
        r#"{{"kind":"pending","node":"{stuck}","reason":"Unschedulable","message":"0/2 nodes are available"}}"#
    ));
    let mut trace = per_node_trace(&cluster, "4s", &["--start-timeout", "2s"]);
    trace.wait_attached(1);
    go(&cluster);
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(5), "partial result: {stderr}");
    assert!(stderr.contains("Unschedulable"), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let per_node = getppid_per_node(&result);
    assert_eq!(per_node.len(), 1, "{per_node:?}");
    assert_ne!(per_node[0].0, stuck);
    assert_exact(per_node[0].1, &per_node[0].0);
    assert!(cluster.trace_objects().is_empty());
}

#[test]
fn a_node_lost_mid_trace_is_reported_while_the_others_finish() {
    let cluster = Cluster::start(2, &[]);
    let nodes = checkout(&cluster);
    let lost = nodes.last().expect("a node").clone();
    let mut trace = per_node_trace(&cluster, "5s", &[]);
    trace.wait_attached(2);
    go(&cluster);
    cluster.inject(&format!(
        r#"{{"kind":"node-lost","node":"{lost}","after_ms":500}}"#
    ));
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(5), "partial result: {stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let failed: Vec<&Value> = result["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["status"] != "done")
        .collect();
    assert_eq!(failed.len(), 1, "{result}");
    assert_eq!(failed[0]["node"], lost.as_str());
    let survivor: Vec<(String, u64)> = getppid_per_node(&result)
        .into_iter()
        .filter(|(node, _)| *node != lost)
        .collect();
    assert_eq!(survivor.len(), 1, "{result}");
    assert_exact(survivor[0].1, &survivor[0].0);
}

#[test]
fn a_log_stream_cut_mid_line_is_resumed_without_double_counting() {
    let cluster = Cluster::start(
        2,
        &[
            "--fault",
            r#"{"kind":"log-cut","pod_contains":"kubectl-ebpf","after_bytes":150}"#,
        ],
    );
    checkout(&cluster);
    let mut trace = per_node_trace(&cluster, "3s", &[]);
    trace.wait_attached(2);
    go(&cluster);
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(result["malformed_lines"], 0, "{result}");
    for (node, count) in getppid_per_node(&result) {
        assert_exact(count, &node);
    }
}

#[test]
fn a_pod_watch_cut_and_expired_is_listed_again_without_losing_or_doubling_a_node() {
    let cluster = Cluster::start(
        2,
        &[
            "--fault",
            r#"{"kind":"watch-cut","path_contains":"/namespaces/kubectl-ebpf/pods","after_events":1,"expire":true}"#,
        ],
    );
    checkout(&cluster);
    cluster.forget_requests();
    let mut trace = per_node_trace(&cluster, "3s", &[]);
    trace.wait_attached(2);
    go(&cluster);
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let per_node = getppid_per_node(&result);
    assert_eq!(per_node.len(), 2, "{result}");
    for (node, count) in per_node {
        assert_exact(count, &node);
    }
    let requests = cluster.requests();
    let pod_watches = |watch: bool| {
        requests
            .iter()
            .filter(|r| {
                r.starts_with("GET /api/v1/namespaces/kubectl-ebpf/pods?")
                    && r.contains("watch=true") == watch
            })
            .count()
    };
    assert!(
        pod_watches(false) >= 2,
        "the expired watch was not followed by a new list: {requests:#?}"
    );
    assert!(pod_watches(true) >= 3, "{requests:#?}");
    assert!(cluster.trace_objects().is_empty());
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let cluster = Cluster::start(
        2,
        &[
            "--fault",
            r#"{"kind":"http","method":"POST","path_contains":"/jobs","status":429,"times":2}"#,
            "--fault",
            r#"{"kind":"http","method":"GET","path_contains":"/namespaces/kubectl-ebpf/pods","status":503,"times":1}"#,
        ],
    );
    checkout(&cluster);
    let mut trace = Trace::start(
        &cluster,
        &["syscall-latency", "deploy/checkout", "-d", "2s"],
    );
    trace.wait_attached(2);
    let (code, _, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(cluster.trace_objects().is_empty());
}

#[test]
fn a_forbidden_job_is_one_line_exit_3_and_nothing_is_left() {
    let cluster = Cluster::start(
        2,
        &[
            "--fault",
            r#"{"kind":"http","method":"POST","path_contains":"/jobs","status":403,"times":1}"#,
        ],
    );
    checkout(&cluster);
    let stderr = run_expecting(
        &cluster,
        &["trace", "syscall-latency", "deploy/checkout", "-d", "2s"],
        3,
    );
    assert!(stderr.contains("forbidden"), "{stderr}");
    assert!(
        cluster.trace_objects().is_empty(),
        "{:?}",
        cluster.trace_objects()
    );
}

#[test]
fn admission_refusing_the_tracer_pod_is_explained() {
    let cluster = Cluster::start(
        2,
        &[
            "--fault",
            r#"{"kind":"job-pods-forbidden","namespace":"kubectl-ebpf"}"#,
        ],
    );
    checkout(&cluster);
    let stderr = run_expecting(
        &cluster,
        &["trace", "syscall-latency", "deploy/checkout", "-d", "2s"],
        3,
    );
    assert!(stderr.contains("PodSecurity"), "{stderr}");
    assert!(cluster.trace_objects().is_empty());
}

#[test]
fn list_shows_a_running_trace_and_delete_removes_it() {
    let cluster = Cluster::start(2, &[]);
    checkout(&cluster);
    let mut trace = Trace::start(
        &cluster,
        &[
            "syscall-latency",
            "deploy/checkout",
            "-o",
            "json",
            "-d",
            "60s",
        ],
    );
    trace.wait_attached(2);
    let listed = cluster
        .plugin()
        .arg("list")
        .output()
        .expect("run kubectl-ebpf list");
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    let row = table
        .lines()
        .find(|line| line.contains("syscall-latency"))
        .unwrap_or_else(|| panic!("no trace listed: {table}"));
    assert!(
        row.contains("deploy/checkout") && row.contains("2 running"),
        "{row}"
    );
    let id = row.split_whitespace().next().expect("an id").to_owned();
    let listed = cluster
        .plugin()
        .args(["list", "-o", "json"])
        .output()
        .expect("run kubectl-ebpf list -o json");
    let document: Value = serde_json::from_slice(&listed.stdout).expect("one JSON document");
    e2e::schema::assert_valid("traces-v1.json", &document);
    assert_eq!(document["traces"][0]["id"], id.as_str(), "{document:#}");
    assert_eq!(document["traces"][0]["running"], 2, "{document:#}");

    let deleted = cluster
        .plugin()
        .args(["delete", &id])
        .output()
        .expect("run kubectl-ebpf delete");
    assert!(deleted.status.success(), "{deleted:?}");
    assert!(
        cluster.trace_objects().is_empty(),
        "{:?}",
        cluster.trace_objects()
    );
    // The running trace sees its tracers stop and still prints what they flushed.
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(result["nodes"].as_array().expect("nodes").len(), 2);
}

#[test]
fn exec_events_of_a_deployment_carry_node_namespace_pod_and_container() {
    let cluster = Cluster::start(3, &[]);
    let trigger = cluster.trigger("go");
    cluster.apply(&execing_deployment("checkout", 2, &trigger, "/bin/true"));
    let pods = cluster.wait_running("default", "app=checkout", 2);
    let first = nodes_of(&pods).first().expect("a node").clone();
    cluster.apply(&workload_pod("bystander", &first, CALLS, &trigger));
    cluster.wait_running("default", "app=bystander", 1);
    let mut trace = Trace::start(
        &cluster,
        &["exec", "deploy/checkout", "-o", "json", "-d", "3s"],
    );
    trace.wait_attached(2);
    go(&cluster);
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    let result: Value = serde_json::from_str(&stdout).expect("JSON result");
    let events = result["events"].as_array().expect("events");
    let pod_names: BTreeSet<&str> = pods
        .iter()
        .map(|pod| pod["metadata"]["name"].as_str().expect("name"))
        .collect();
    let mut seen = BTreeSet::new();
    for event in events {
        assert_eq!(event["probe"], "exec");
        assert_eq!(event["namespace"], "default", "{event}");
        assert_eq!(event["container"], "app", "{event}");
        let pod = event["pod"].as_str().expect("every event names its pod");
        assert!(
            pod_names.contains(pod),
            "{pod} is not a checkout pod: {event}"
        );
        assert_eq!(event["fields"]["filename"], "/bin/true", "{event}");
        assert_eq!(event["fields"]["ret"], 0, "{event}");
        let node = pods
            .iter()
            .find(|p| p["metadata"]["name"] == pod)
            .map(|p| p["spec"]["nodeName"].clone());
        assert_eq!(Some(event["node"].clone()), node, "{event}");
        seen.insert(pod);
    }
    assert_eq!(seen, pod_names, "one exec per checkout pod: {events:?}");
    assert_eq!(result["events_total"], 2, "{events:?}");
}

#[test]
fn profile_of_a_deployment_roots_each_replica_at_its_pod_and_names_the_hot_functions() {
    let cluster = Cluster::start(3, &[]);
    let trigger = cluster.trigger("go");
    cluster.apply(&profile_deployment("checkout", 2, "spin", 3000, &trigger));
    let pods = cluster.wait_running("default", "app=checkout", 2);
    assert_eq!(nodes_of(&pods).len(), 2, "two replicas on two nodes");
    // The same workload outside the deployment, beside a replica: not profiled.
    let first = nodes_of(&pods).first().expect("a node").clone();
    cluster.apply(&profile_pod("bystander", &first, "spin", 3000, &trigger));
    cluster.wait_running("default", "app=bystander", 1);
    let mut trace = Trace::command(
        &cluster,
        "profile",
        &["deploy/checkout", "-o", "folded", "-d", "5s"],
    );
    trace.wait_attached(2);
    go(&cluster);
    let (code, stdout, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");

    let roots: BTreeSet<String> = pods
        .iter()
        .map(|pod| {
            format!(
                "default/{}/app",
                pod["metadata"]["name"].as_str().expect("name")
            )
        })
        .collect();
    let mut per_root: std::collections::BTreeMap<&str, (u64, u64, u64)> = Default::default();
    for line in stdout.lines() {
        let (stack, count) = line.rsplit_once(' ').expect("`stack count` lines");
        let count: u64 = count.parse().expect("a count");
        let frames: Vec<&str> = stack.split(';').collect();
        assert!(
            roots.contains(frames[0]),
            "a stack not rooted at a checkout container: {line}"
        );
        assert_eq!(frames[1], "profile-workloa", "{line}");
        let (total, long, short) = per_root.entry(frames[0]).or_default();
        *total += count;
        let leaf = *frames.last().expect("frames");
        let under_spin = frames.len() >= 3 && frames[frames.len() - 2] == "profile_workload::spin";
        if leaf == "profile_workload::hot_long" && under_spin {
            *long += count;
        }
        if leaf == "profile_workload::hot_short" && under_spin {
            *short += count;
        }
    }
    let seen: BTreeSet<String> = per_root.keys().map(|root| (*root).to_owned()).collect();
    assert_eq!(seen, roots, "each replica has its own root:\n{stdout}");
    for (root, (total, long, short)) in &per_root {
        assert!(*short >= 5, "{root}: too few samples to judge:\n{stdout}");
        assert!(
            (long + short) * 10 >= total * 8,
            "{root}: the hot functions hold {long} + {short} of {total} samples:\n{stdout}"
        );
        assert!(long > short, "{root}: hot_long {long} <= hot_short {short}");
    }
    assert!(
        cluster.trace_objects().is_empty(),
        "left behind: {:?}",
        cluster.trace_objects()
    );
}

#[test]
fn programs_lists_each_nodes_programs_and_names_the_pod_holding_them() {
    let cluster = Cluster::start(2, &[]);
    let trigger = cluster.trigger("go");
    cluster.apply(&workload_deployment("checkout", 2, CALLS, &trigger));
    let pods = cluster.wait_running("default", "app=checkout", 2);
    assert_eq!(nodes_of(&pods).len(), 2, "one replica per node");
    // A trace runs on both nodes: its tracers hold programs while the inventory is taken.
    let mut trace = Trace::start(
        &cluster,
        &["syscall-latency", "deploy/checkout", "-d", "30s"],
    );
    trace.wait_attached(2);
    let tracer_pods = cluster.get_json(&["get", "pods", "-n", "kubectl-ebpf"]);
    let tracer_pods: Vec<(String, String)> = tracer_pods["items"]
        .as_array()
        .expect("pods")
        .iter()
        .map(|pod| {
            (
                pod["spec"]["nodeName"].as_str().expect("node").to_owned(),
                pod["metadata"]["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    assert_eq!(tracer_pods.len(), 2, "{tracer_pods:?}");

    let output = cluster
        .plugin()
        .args(["programs", "--all-nodes", "-o", "json", "-d", "1s"])
        .output()
        .expect("run kubectl-ebpf programs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let document: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(document["nodes"].as_array().expect("nodes").len(), 2);
    let programs = document["programs"].as_array().expect("programs");
    for (node, pod) in &tracer_pods {
        // Each node names the tracer pod it runs, in the jobs namespace.
        let held = programs.iter().find(|program| {
            program["node"] == node.as_str()
                && program["owners"].as_array().is_some_and(|owners| {
                    owners.iter().any(|owner| {
                        owner["comm"] == "tracer-job"
                            && owner["namespace"] == "kubectl-ebpf"
                            && owner["pod"] == pod.as_str()
                    })
                })
        });
        let held = held.unwrap_or_else(|| panic!("{node}: no program held by {pod}: {document:#}"));
        assert_eq!(held["program_type"], "raw_tracepoint", "{held}");
    }
    trace.interrupt();
    let (code, _, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        cluster.trace_objects().is_empty(),
        "left behind: {:?}",
        cluster.trace_objects()
    );
}

#[test]
fn programs_takes_nodes_only() {
    let cluster = Cluster::start(1, &[]);
    let stderr = run_expecting(&cluster, &["programs", "deploy/checkout"], 2);
    assert_eq!(
        stderr.trim(),
        "error: programs lists whole nodes; deployment/checkout is not a node; \
         give node/NAME, --all-nodes, or --local"
    );
    assert!(cluster.trace_objects().is_empty());
}

#[test]
fn version_reads_each_running_tracers_hello() {
    let cluster = Cluster::start(2, &[]);
    let trigger = cluster.trigger("go");
    cluster.apply(&workload_deployment("checkout", 2, CALLS, &trigger));
    cluster.wait_running("default", "app=checkout", 2);
    let mut trace = Trace::start(&cluster, &["syscall-count", "deploy/checkout", "-d", "30s"]);
    trace.wait_attached(2);

    let output = cluster
        .plugin()
        .args(["version", "-o", "json"])
        .output()
        .expect("run kubectl-ebpf version");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let versions: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    let plugin = versions["plugin"].as_str().expect("the plugin's version");
    let tracers = versions["tracers"].as_array().expect("tracers");
    assert_eq!(tracers.len(), 2, "{versions:#}");
    for tracer in tracers {
        assert_eq!(tracer["version"], plugin, "{tracer}");
        assert!(
            tracer["kernel"].as_str().is_some_and(|k| !k.is_empty()),
            "{tracer}"
        );
    }
    let nodes: BTreeSet<&str> = tracers.iter().filter_map(|t| t["node"].as_str()).collect();
    assert_eq!(nodes.len(), 2, "one tracer per node: {versions:#}");

    trace.interrupt();
    let (code, _, stderr) = trace.finish();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_tracer_of_another_version_is_warned_about() {
    let dir = std::env::temp_dir().join(format!("kubectl-ebpf-skew-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    let log = dir.join("tracer.log");
    std::fs::write(
        &log,
        concat!(
            r#"{"type":"hello","version":1,"node":"{{node}}","kernel":"6.18","btf":true,"tracer_version":"0.0.1"}"#,
            "\n",
            r#"{"type":"attached","probes":["syscall-count"],"ms":5}"#,
            "\n",
            r#"{"type":"done","reason":"duration"}"#,
            "\n"
        ),
    )
    .expect("write the log");
    let log_arg = log.display().to_string();
    let cluster = Cluster::start(2, &["--replay-tracer-log", &log_arg]);
    let stderr = run_expecting(
        &cluster,
        &["trace", "syscall-count", "--all-nodes", "-d", "1s"],
        0,
    );
    let warning = stderr
        .lines()
        .find(|line| line.starts_with("warning: tracer-job version 0.0.1 on "))
        .unwrap_or_else(|| panic!("no skew warning: {stderr}"));
    assert!(
        warning.contains("differs from this plugin's") && warning.contains("tracer:v"),
        "{warning}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_api_request_rate_stays_within_the_client_side_limit() {
    let cluster = Cluster::start(2, &[]);
    const QPS: f64 = 4.0;
    cluster.forget_requests();
    let started = std::time::Instant::now();
    let qps = QPS.to_string();
    run_expecting(
        &cluster,
        &[
            "trace",
            "syscall-count",
            "--all-nodes",
            "-d",
            "1s",
            "--api-qps",
            &qps,
            "--api-burst",
            "1",
        ],
        0,
    );
    let took = started.elapsed().as_secs_f64();
    let requests = cluster.requests().len();
    assert!(requests > 8, "too few requests to judge: {requests}");
    // A burst of one, then one request every 1/QPS s.
    let least = (requests - 1) as f64 / QPS;
    assert!(
        took >= least * 0.95,
        "{requests} requests in {took:.2}s: faster than {QPS} a second"
    );
    assert!(
        cluster.trace_objects().is_empty(),
        "{:?}",
        cluster.trace_objects()
    );
}
