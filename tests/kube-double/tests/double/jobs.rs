//! Job lifecycle: completion, failure, deadline, TTL, and foreground deletion.

use std::time::Duration;

use kube_double::client;
use serde_json::json;

use super::*;

pub const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

pub fn job(name: &str, script: &str, extra: Value) -> Value {
    let mut j = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": "busybox", "command": ["/bin/sh", "-c", script]}],
            }},
        },
    });
    kube_double::patch::merge(&mut j["spec"], &extra);
    j
}

fn condition(job: &Value, kind: &str) -> Option<Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
        .cloned()
}

pub fn wait_condition(d: &Double, name: &str, kind: &str) -> (Value, Value) {
    wait_for(
        &format!("job {name} {kind}"),
        Duration::from_secs(30),
        || {
            let j = get(d, &format!("{JOBS}/{name}"));
            condition(&j, kind).map(|c| (j, c))
        },
    )
}

fn job_pods(d: &Double, name: &str) -> Vec<Value> {
    get(
        d,
        &format!(
            "/api/v1/namespaces/default/pods?labelSelector=batch.kubernetes.io%2Fjob-name%3D{name}"
        ),
    )["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn job_success_and_failure() {
    let d = start(1, &[]);
    create(&d, JOBS, job("ok", "echo done", json!({})));
    create(&d, JOBS, job("bad", "echo oops; exit 1", json!({})));
    let (j, _) = wait_condition(&d, "ok", "Complete");
    assert_eq!(j["status"]["succeeded"], 1);
    assert!(j["status"]["startTime"].is_string() && j["status"]["completionTime"].is_string());
    assert!(j["status"]["active"].is_null());
    let pods = job_pods(&d, "ok");
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    let uid = j["metadata"]["uid"].as_str().expect("uid");
    assert!(
        p["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("ok-") && n.len() == 8)
    );
    assert_eq!(p["metadata"]["labels"]["job-name"], "ok");
    assert_eq!(p["metadata"]["labels"]["controller-uid"], uid);
    assert_eq!(
        p["metadata"]["labels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], uid);
    let (j, c) = wait_condition(&d, "bad", "Failed");
    assert_eq!(c["reason"], "BackoffLimitExceeded");
    assert_eq!(j["status"]["failed"], 1);
    assert_eq!(job_pods(&d, "bad").len(), 1, "backoffLimit 0: no retry");
}

#[test]
fn job_deadline_kills_its_pods() {
    let d = start(1, &[]);
    create(
        &d,
        JOBS,
        job(
            "slow",
            "echo pid=$$; exec sleep 1000",
            json!({"activeDeadlineSeconds": 2}),
        ),
    );
    let pod = wait_for("the job pod", Duration::from_secs(20), || {
        job_pods(&d, "slow")
            .first()
            .and_then(|p| p["metadata"]["name"].as_str().map(str::to_string))
    });
    let pid = printed_pid(&d, &pod);
    assert!(alive(pid));
    let (_, c) = wait_condition(&d, "slow", "Failed");
    assert_eq!(c["reason"], "DeadlineExceeded");
    wait_for("the process killed", Duration::from_secs(10), || {
        (!alive(pid)).then_some(())
    });
}

#[test]
fn job_ttl_deletes_job_and_pods() {
    let d = start(1, &[]);
    create(
        &d,
        JOBS,
        job("brief", "echo hi", json!({"ttlSecondsAfterFinished": 1})),
    );
    wait_condition(&d, "brief", "Complete");
    wait_for("the job deleted", Duration::from_secs(15), || {
        let r = client::get(&d.base_url, &format!("{JOBS}/brief")).ok()?;
        (r.status == 404).then_some(())
    });
    wait_for("its pods deleted", Duration::from_secs(15), || {
        job_pods(&d, "brief").is_empty().then_some(())
    });
}

#[test]
fn foreground_delete_removes_the_pod_before_the_job() {
    let d = start(1, &[]);
    create(&d, JOBS, job("fg", "exec sleep 1000", json!({})));
    let pod = wait_for("a running job pod", Duration::from_secs(20), || {
        job_pods(&d, "fg")
            .into_iter()
            .find(|p| p["status"]["phase"] == "Running")
    });
    let rv = get(&d, "/api/v1/namespaces/default/pods")["metadata"]["resourceVersion"]
        .as_str()
        .expect("rv")
        .to_string();
    let r = client::request(
        &d.base_url,
        "DELETE",
        &format!("{JOBS}/fg"),
        "application/json",
        br#"{"propagationPolicy":"Foreground"}"#,
    )
    .expect("delete");
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(
        r.json()["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"))
    );
    let deleted_rv = |path: &str, name: &str| -> u64 {
        let mut w = client::stream(&d.base_url, &format!("{path}?watch=1&resourceVersion={rv}"))
            .expect("watch");
        w.set_timeout(Duration::from_secs(20));
        loop {
            let ev = w
                .next_json()
                .expect("read")
                .expect("stream open until the deletion");
            if ev["type"] == "DELETED" && ev["object"]["metadata"]["name"] == name {
                return ev["object"]["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("rv");
            }
        }
    };
    let job_gone = deleted_rv(JOBS, "fg");
    let pod_gone = deleted_rv(
        "/api/v1/namespaces/default/pods",
        pod["metadata"]["name"].as_str().expect("name"),
    );
    assert!(
        pod_gone < job_gone,
        "pod deleted at {pod_gone}, job at {job_gone}"
    );
}
