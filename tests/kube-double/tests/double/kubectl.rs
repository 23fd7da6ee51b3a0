//! The real kubectl against the double.

use std::{process::Command, time::Duration};

use serde_json::Value;

use super::*;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox
        command: ["/bin/sh", "-c", "echo hello; echo pid=$$; exec sleep 1000"]
"#;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: solo
  labels: {app: solo}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["/bin/sh", "-c", "echo pid=$$; exec sleep 1000"]
"#;

fn write_manifest(d: &Double, name: &str, text: &str) -> String {
    let path = d.kubeconfig.with_file_name(name);
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

fn running_pods(d: &Double) -> Vec<Value> {
    let out = kubectl_ok(d, &["get", "pods", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).expect("kubectl prints JSON");
    list["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn kubectl_create_and_apply_run_pods_on_nodes() {
    if !have_kubectl() {
        return;
    }
    let d = start(2, &[]);
    let dep = write_manifest(&d, "dep.yaml", DEPLOYMENT);
    let pod = write_manifest(&d, "pod.yaml", POD);
    assert!(kubectl_ok(&d, &["create", "-f", &dep]).contains("deployment.apps/web created"));
    assert!(kubectl_ok(&d, &["apply", "-f", &pod]).contains("pod/solo created"));
    let pods = wait_for("3 running pods", Duration::from_secs(20), || {
        let pods = running_pods(&d);
        (pods.len() == 3 && pods.iter().all(|p| p["status"]["phase"] == "Running")).then_some(pods)
    });
    let mut nodes = std::collections::HashSet::new();
    for p in &pods {
        let node = p["spec"]["nodeName"].as_str().expect("bound to a node");
        nodes.insert(node.to_string());
        let cid = p["status"]["containerStatuses"][0]["containerID"]
            .as_str()
            .expect("containerID");
        let hex = cid
            .strip_prefix("containerd://")
            .expect("containerd scheme");
        assert_eq!(hex.len(), 64, "{cid}");
        assert!(
            p["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| ip.starts_with("10.244."))
        );
    }
    assert_eq!(nodes.len(), 2, "round-robin over both nodes: {nodes:?}");
    // A second apply of the same manifest is a no-op patch.
    assert!(kubectl_ok(&d, &["apply", "-f", &pod]).contains("pod/solo"));
    let rs = kubectl_ok(&d, &["get", "rs", "-o", "json"]);
    let rs: Value = serde_json::from_str(&rs).expect("json");
    let rs = &rs["items"][0];
    assert!(
        rs["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("web-"))
    );
    assert!(rs["metadata"]["labels"]["pod-template-hash"].is_string());
    let dep = wait_for("deployment available", Duration::from_secs(10), || {
        let dep: Value =
            serde_json::from_str(&kubectl_ok(&d, &["get", "deploy", "web", "-o", "json"])).ok()?;
        (dep["status"]["readyReplicas"] == 2).then_some(dep)
    });
    let conditions = dep["status"]["conditions"].as_array().expect("conditions");
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Available" && c["status"] == "True")
    );
    let missing = kubectl(&d, &["get", "pod", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("pods \"nope\" not found"));
}

#[test]
fn kubectl_get_watch_streams_a_deletion() {
    if !have_kubectl() {
        return;
    }
    let d = start(1, &[]);
    create(
        &d,
        "/api/v1/namespaces/default/pods",
        pod("watched", "exec sleep 1000", "Always"),
    );
    wait_phase(&d, "watched", "Running");
    let watcher = Command::new("timeout")
        .args(["6", KUBECTL, "--kubeconfig"])
        .arg(&d.kubeconfig)
        .args([
            "get",
            "pods",
            "-w",
            "-o",
            "jsonpath={.metadata.name} {.metadata.deletionTimestamp}{\"\\n\"}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn kubectl get -w");
    std::thread::sleep(Duration::from_millis(1500));
    kubectl_ok(&d, &["delete", "pod", "watched", "--wait=false"]);
    let out = watcher.wait_with_output().expect("kubectl get -w output");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("watched")).collect();
    assert!(
        lines.len() >= 2,
        "the watch saw the pod and then its change: {text}"
    );
    assert!(
        lines[1..].iter().any(|l| l.trim().len() > "watched".len()),
        "a deletionTimestamp was streamed: {text}"
    );
}

#[test]
fn kubectl_wait_and_logs_follow() {
    if !have_kubectl() {
        return;
    }
    let d = start(1, &[]);
    create(
        &d,
        "/api/v1/namespaces/default/pods",
        pod(
            "printer",
            "sleep 1; for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done",
            "Never",
        ),
    );
    kubectl_ok(
        &d,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/printer",
            "--timeout=20s",
        ],
    );
    let out = kubectl_ok(&d, &["logs", "-f", "printer"]);
    let want: Vec<String> = (1..=5).map(|i| format!("line {i}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    wait_phase(&d, "printer", "Succeeded");
    let waiting = kubectl(&d, &["logs", "nothing-here"]);
    assert!(String::from_utf8_lossy(&waiting.stderr).contains("not found"));
}

#[test]
fn kubectl_delete_deployment_removes_everything() {
    if !have_kubectl() {
        return;
    }
    let d = start(2, &[]);
    let dep = write_manifest(&d, "dep.yaml", DEPLOYMENT);
    kubectl_ok(&d, &["create", "-f", &dep]);
    let pods = wait_for("2 running pods", Duration::from_secs(20), || {
        let pods = running_pods(&d);
        (pods.len() == 2 && pods.iter().all(|p| p["status"]["phase"] == "Running")).then_some(pods)
    });
    let names: Vec<String> = pods
        .iter()
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let pids: Vec<i32> = names.iter().map(|n| printed_pid(&d, n)).collect();
    let cgroups: Vec<String> = pids.iter().map(|p| cgroup_of(*p)).collect();
    let mount = kube_double::kubelet::cgroups::cgroup2_mount().expect("cgroup2 mount");
    for cg in &cgroups {
        assert!(cg.contains(&format!("kube-double-{}", d.pid())), "{cg}");
        assert!(mount.join(cg.trim_start_matches('/')).is_dir());
    }
    assert!(kubectl_ok(&d, &["delete", "deployment", "web"]).contains("deleted"));
    wait_for("pods and replicasets gone", Duration::from_secs(20), || {
        let pods = get(&d, "/api/v1/namespaces/default/pods");
        let rs = get(&d, "/apis/apps/v1/namespaces/default/replicasets");
        (pods["items"].as_array()?.is_empty() && rs["items"].as_array()?.is_empty()).then_some(())
    });
    for (pid, cg) in pids.iter().zip(&cgroups) {
        wait_for(
            "the container process to exit",
            Duration::from_secs(10),
            || (!alive(*pid)).then_some(()),
        );
        let pod_dir = mount.join(cg.trim_start_matches('/'));
        let pod_dir = pod_dir.parent().expect("pod dir");
        wait_for("the pod cgroup to go", Duration::from_secs(10), || {
            (!pod_dir.exists()).then_some(())
        });
    }
}

#[test]
fn kubectl_generators_and_table_output() {
    if !have_kubectl() {
        return;
    }
    let d = start(1, &[]);
    // These send protobuf bodies.
    kubectl_ok(&d, &["create", "namespace", "kubectl-ebpf"]);
    kubectl_ok(
        &d,
        &[
            "create",
            "configmap",
            "cfg",
            "-n",
            "kubectl-ebpf",
            "--from-literal=spec=1",
        ],
    );
    kubectl_ok(
        &d,
        &[
            "create",
            "job",
            "hello",
            "--image=busybox",
            "--",
            "/bin/sh",
            "-c",
            "echo hi from job",
        ],
    );
    kubectl_ok(
        &d,
        &[
            "wait",
            "--for=condition=complete",
            "job/hello",
            "--timeout=20s",
        ],
    );
    assert_eq!(kubectl_ok(&d, &["logs", "job/hello"]), "hi from job\n");
    let data = kubectl_ok(
        &d,
        &[
            "get",
            "cm",
            "cfg",
            "-n",
            "kubectl-ebpf",
            "-o",
            "jsonpath={.data.spec}",
        ],
    );
    assert_eq!(data, "1");
    // Human output comes from server-side Tables.
    let pods = kubectl_ok(&d, &["get", "pods", "-o", "wide"]);
    let header: Vec<&str> = pods
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    );
    assert!(
        pods.lines()
            .nth(1)
            .is_some_and(|l| l.contains("Completed") && l.contains("node-1")),
        "{pods}"
    );
    let jobs = kubectl_ok(&d, &["get", "jobs"]);
    assert!(
        jobs.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("hello") && l.contains("Complete") && l.contains("1/1")),
        "{jobs}"
    );
    let nodes = kubectl_ok(&d, &["get", "nodes"]);
    assert!(
        nodes
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("node-1") && l.contains("Ready")),
        "{nodes}"
    );
}
