//! Injected faults.

use std::{io::Read, time::Duration};

use kube_double::client;
use serde_json::json;

use super::jobs::{JOBS, job, wait_condition};
use super::*;

fn add_fault(d: &Double, fault: Value) {
    let r = client::post(&d.base_url, "/double/faults", &fault).expect("post fault");
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn http_fault_answers_status_with_retry_after() {
    let d = start(
        1,
        &[
            r#"--fault={"kind":"http","method":"POST","path_contains":"/jobs","status":429,"times":2}"#,
        ],
    );
    for _ in 0..2 {
        let r = client::post(&d.base_url, JOBS, &job("j", "true", json!({}))).expect("post");
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("1"));
        let s = r.json();
        assert_eq!(
            (s["kind"].as_str(), s["reason"].as_str(), s["code"].as_u64()),
            (Some("Status"), Some("TooManyRequests"), Some(429))
        );
    }
    assert_eq!(
        client::post(&d.base_url, JOBS, &job("j", "true", json!({})))
            .expect("post")
            .status,
        201
    );
    add_fault(
        &d,
        json!({"kind": "http", "method": "GET", "path_contains": "/pods", "status": 403, "message": "no pods for you"}),
    );
    let r = client::get(&d.base_url, "/api/v1/namespaces/default/pods").expect("get");
    assert_eq!(
        (
            r.status,
            r.json()["reason"].as_str(),
            r.json()["message"].as_str()
        ),
        (403, Some("Forbidden"), Some("no pods for you"))
    );
    add_fault(
        &d,
        json!({"kind": "http", "path_contains": "/configmaps", "status": 500}),
    );
    let r = client::get(&d.base_url, "/api/v1/namespaces/default/configmaps").expect("get");
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (500, Some("InternalError"))
    );
    add_fault(
        &d,
        json!({"kind": "http", "path_contains": "/configmaps", "status": 409, "times": 3}),
    );
    assert_eq!(
        client::delete(&d.base_url, "/double/faults")
            .expect("clear")
            .status,
        200
    );
    assert_eq!(
        client::get(&d.base_url, "/api/v1/namespaces/default/configmaps")
            .expect("get")
            .status,
        200
    );
    let bad =
        client::post(&d.base_url, "/double/faults", &json!({"kind": "meteor"})).expect("post");
    assert_eq!(bad.status, 400);
}

#[test]
fn pending_and_image_pull_backoff_faults() {
    let d = start(
        2,
        &[
            r#"--fault={"kind":"pending","node":"node-2","reason":"Unschedulable","message":"0/2 nodes are available: node-2 is cordoned"}"#,
            r#"--fault={"kind":"image-pull-backoff","image_contains":"tracer"}"#,
        ],
    );
    let mut pinned = pod("pinned", "exec sleep 1000", "Always");
    pinned["spec"]["nodeName"] = json!("node-2");
    create(&d, "/api/v1/namespaces/default/pods", pinned);
    let mut selected = pod("selected", "exec sleep 1000", "Always");
    selected["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": "node-2"});
    create(&d, "/api/v1/namespaces/default/pods", selected);
    for name in ["pinned", "selected"] {
        let p = wait_for("PodScheduled=False", Duration::from_secs(10), || {
            let p = get(&d, &pod_path(name));
            let c = p["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "PodScheduled")?
                .clone();
            (c["status"] == "False").then_some((p, c))
        });
        assert_eq!(p.1["reason"], "Unschedulable");
        assert_eq!(
            p.1["message"],
            "0/2 nodes are available: node-2 is cordoned"
        );
        assert_eq!(p.0["status"]["phase"], "Pending");
    }
    let mut tracer = pod("tracer", "true", "Never");
    tracer["spec"]["containers"][0]["image"] = json!("ghcr.io/kubectl-ebpf/tracer:0.1");
    create(&d, "/api/v1/namespaces/default/pods", tracer);
    let p = wait_for("ImagePullBackOff", Duration::from_secs(10), || {
        let p = get(&d, &pod_path("tracer"));
        (p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff")
            .then_some(p)
    });
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "Back-off pulling image \"ghcr.io/kubectl-ebpf/tracer:0.1\""
    );
    let r = client::get(&d.base_url, &format!("{}/log", pod_path("tracer"))).expect("log");
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "container \"main\" in pod \"tracer\" is waiting to start: ImagePullBackOff"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        get(&d, &pod_path("pinned"))["status"]["phase"],
        "Pending",
        "still pending"
    );
    // Clearing the faults lets everything start.
    client::delete(&d.base_url, "/double/faults").expect("clear");
    wait_phase(&d, "pinned", "Running");
    wait_phase(&d, "selected", "Running");
}

#[test]
fn job_pods_forbidden_records_an_event() {
    let d = start(1, &[]);
    create(
        &d,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "kubectl-ebpf"}}),
    );
    add_fault(
        &d,
        json!({"kind": "job-pods-forbidden", "namespace": "kubectl-ebpf"}),
    );
    let mut j = job("trace", "true", json!({}));
    j["spec"]["template"]["spec"]["hostPID"] = json!(true);
    create(&d, "/apis/batch/v1/namespaces/kubectl-ebpf/jobs", j);
    let ev = wait_for("a FailedCreate event", Duration::from_secs(10), || {
        get(
            &d,
            "/api/v1/namespaces/kubectl-ebpf/events?fieldSelector=involvedObject.name%3Dtrace",
        )["items"]
            .as_array()?
            .iter()
            .find(|e| e["reason"] == "FailedCreate")
            .cloned()
    });
    assert_eq!(ev["type"], "Warning");
    assert_eq!(ev["involvedObject"]["kind"], "Job");
    let msg = ev["message"].as_str().unwrap_or_default();
    assert!(
        msg.starts_with("Error creating: pods \"trace-")
            && msg.contains(
                "violates PodSecurity \"baseline:latest\": host namespaces (hostPID=true)"
            ),
        "{msg}"
    );
    let pods = get(&d, "/api/v1/namespaces/kubectl-ebpf/pods");
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(0));
}

#[test]
fn node_lost_kills_processes_and_cuts_logs() {
    let d = start(2, &[]);
    let mut p = pod(
        "doomed",
        "echo pid=$$; while true; do echo tick; sleep 0.1; done",
        "Always",
    );
    p["spec"]["nodeName"] = json!("node-2");
    create(&d, "/api/v1/namespaces/default/pods", p);
    wait_phase(&d, "doomed", "Running");
    let pid = printed_pid(&d, "doomed");
    let mut follow = client::stream(
        &d.base_url,
        &format!("{}/log?follow=true", pod_path("doomed")),
    )
    .expect("follow");
    follow.set_timeout(Duration::from_secs(10));
    add_fault(
        &d,
        json!({"kind": "node-lost", "node": "node-2", "after_ms": 300}),
    );
    let mut sink = Vec::new();
    let err = follow
        .read_to_end(&mut sink)
        .expect_err("the stream is cut, not ended");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert!(String::from_utf8_lossy(&sink).contains("tick"));
    wait_for("the process killed", Duration::from_secs(5), || {
        (!alive(pid)).then_some(())
    });
    let node = get(&d, "/api/v1/nodes/node-2");
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .expect("Ready");
    assert_eq!(ready["status"], "Unknown");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        get(&d, &pod_path("doomed"))["status"]["phase"],
        "Running",
        "the API still says Running"
    );
}

#[test]
fn log_cut_fault_and_resume_with_since_time() {
    let d = start(
        1,
        &[r#"--fault={"kind":"log-cut","pod_contains":"chatty","after_bytes":25}"#],
    );
    create(
        &d,
        "/api/v1/namespaces/default/pods",
        pod(
            "chatty",
            "for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.2; done; sleep 2",
            "Never",
        ),
    );
    wait_phase(&d, "chatty", "Running");
    let mut s = client::stream(
        &d.base_url,
        &format!("{}/log?follow=true&timestamps=true", pod_path("chatty")),
    )
    .expect("follow");
    s.set_timeout(Duration::from_secs(10));
    let mut got = Vec::new();
    let err = s.read_to_end(&mut got).expect_err("cut");
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    assert_eq!(got.len(), 25, "{}", String::from_utf8_lossy(&got));
    // Resume: the next request serves normally, from a timestamp.
    let full = logs(&d, "chatty", "timestamps=true&follow=true");
    let lines: Vec<&str> = full.lines().collect();
    assert_eq!(lines.len(), 6, "{full}");
    let third = lines[2].split(' ').next().expect("stamp");
    let rest = logs(&d, "chatty", &format!("sinceTime={third}"));
    assert_eq!(
        rest.lines().collect::<Vec<_>>(),
        ["line-3", "line-4", "line-5", "line-6"]
    );
}

#[test]
fn replay_serves_the_tracer_log_per_node() {
    let dir = std::env::temp_dir().join(format!("kube-double-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("replay.ndjson");
    std::fs::write(
        &file,
        "{\"type\":\"hello\",\"node\":\"{{node}}\"}\n{\"type\":\"done\"}\n",
    )
    .expect("write");
    let d = start(
        3,
        &["--replay-tracer-log", file.to_str().expect("utf-8 path")],
    );
    for node in ["node-1", "node-3"] {
        let mut j = job(&format!("t-{node}"), "true", json!({}));
        j["spec"]["template"]["spec"]["nodeName"] = json!(node);
        j["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("ghcr.io/kubectl-ebpf/tracer:dev");
        create(&d, JOBS, j);
    }
    for node in ["node-1", "node-3"] {
        wait_condition(&d, &format!("t-{node}"), "Complete");
        let pod = get(
            &d,
            &format!("/api/v1/namespaces/default/pods?labelSelector=job-name%3Dt-{node}"),
        )["items"][0]
            .clone();
        let out = logs(&d, pod["metadata"]["name"].as_str().expect("name"), "");
        assert_eq!(
            out,
            format!("{{\"type\":\"hello\",\"node\":\"{node}\"}}\n{{\"type\":\"done\"}}\n")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
