//! Tests of the Kubernetes API double: every test starts its own double (a child process)
//! so they run in parallel.

mod controllers;
mod faults;
mod jobs;
mod kube_rs;
mod kubectl;
mod kubelet;
mod store;

use std::{
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use kube_double::{client, spawn::Double};
use serde_json::{Value, json};

pub fn start(nodes: usize, extra: &[&str]) -> Double {
    Double::start(nodes, extra).unwrap_or_else(|e| panic!("start kube-double: {e}"))
}

/// Polls until `f` gives a value, or panics naming what never happened.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn get(d: &Double, path: &str) -> Value {
    let r = client::get(&d.base_url, path).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    r.json()
}

pub fn create(d: &Double, path: &str, body: Value) -> Value {
    let r = client::post(&d.base_url, path, &body).unwrap_or_else(|e| panic!("POST {path}: {e}"));
    assert_eq!(r.status, 201, "POST {path}: {}", r.text());
    r.json()
}

pub fn delete(d: &Double, path: &str) -> client::Response {
    client::delete(&d.base_url, path).unwrap_or_else(|e| panic!("DELETE {path}: {e}"))
}

/// A pod spec with one container running `sh -c script`.
pub fn pod(name: &str, script: &str, restart: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": name}},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": "busybox", "command": ["/bin/sh", "-c", script]}],
        },
    })
}

pub fn pod_path(name: &str) -> String {
    format!("/api/v1/namespaces/default/pods/{name}")
}

pub fn wait_phase(d: &Double, name: &str, phase: &str) -> Value {
    wait_for(
        &format!("pod {name} {phase}"),
        Duration::from_secs(20),
        || {
            let p = get(d, &pod_path(name));
            (p["status"]["phase"] == phase).then_some(p)
        },
    )
}

/// Reads the full log of a container.
pub fn logs(d: &Double, name: &str, query: &str) -> String {
    let r =
        client::get(&d.base_url, &format!("{}/log?{query}", pod_path(name))).expect("log request");
    assert_eq!(r.status, 200, "log of {name}: {}", r.text());
    r.text()
}

/// The pid a container printed as `pid=N`.
pub fn printed_pid(d: &Double, name: &str) -> i32 {
    wait_for(
        &format!("{name} to print its pid"),
        Duration::from_secs(20),
        || {
            let r = client::get(&d.base_url, &format!("{}/log", pod_path(name))).ok()?;
            r.text()
                .lines()
                .find_map(|l| l.strip_prefix("pid=")?.trim().parse().ok())
        },
    )
}

pub fn alive(pid: i32) -> bool {
    // A zombie is as good as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.split(") ").nth(1).unwrap_or_default().starts_with('Z'))
        .unwrap_or(false)
}

pub fn cgroup_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap_or_default()
}

pub const KUBECTL: &str = "/usr/bin/kubectl";

pub fn have_kubectl() -> bool {
    if Path::new(KUBECTL).is_file() {
        return true;
    }
    eprintln!(
        "SKIPPED: {KUBECTL} is not installed; install kubectl to run the kubectl compatibility tests"
    );
    false
}

pub fn kubectl(d: &Double, args: &[&str]) -> Output {
    Command::new(KUBECTL)
        .arg("--kubeconfig")
        .arg(&d.kubeconfig)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run kubectl {args:?}: {e}"))
}

pub fn kubectl_ok(d: &Double, args: &[&str]) -> String {
    let out = kubectl(d, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
