//! Workload controllers and the garbage collector.

use std::time::Duration;

use kube_double::client;
use serde_json::json;

use super::*;

fn template(app: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "1000"]}]},
    })
}

fn pods_of(d: &Double, app: &str) -> Vec<Value> {
    get(
        d,
        &format!("/api/v1/namespaces/default/pods?labelSelector=app%3D{app}"),
    )["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn running(d: &Double, app: &str, n: usize) -> Vec<Value> {
    wait_for(
        &format!("{n} running {app} pods"),
        Duration::from_secs(20),
        || {
            let pods = pods_of(d, app);
            (pods.len() == n && pods.iter().all(|p| p["status"]["phase"] == "Running"))
                .then_some(pods)
        },
    )
}

#[test]
fn statefulset_and_daemonset_pods() {
    let d = start(3, &[]);
    create(
        &d,
        "/apis/apps/v1/namespaces/default/statefulsets",
        json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}}, "template": template("db")}}),
    );
    create(
        &d,
        "/apis/apps/v1/namespaces/default/daemonsets",
        json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent")}}),
    );
    let mut names: Vec<String> = running(&d, "db", 2)
        .iter()
        .map(|p| {
            p["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1"]);
    let mut nodes: Vec<String> = running(&d, "agent", 3)
        .iter()
        .map(|p| {
            p["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    nodes.sort();
    assert_eq!(nodes, ["node-1", "node-2", "node-3"]);
    let ds = wait_for("daemonset status", Duration::from_secs(10), || {
        let ds = get(&d, "/apis/apps/v1/namespaces/default/daemonsets/agent");
        (ds["status"]["numberReady"] == 3).then_some(ds)
    });
    assert_eq!(ds["status"]["desiredNumberScheduled"], 3);
    // A deleted StatefulSet pod comes back under the same name.
    delete(&d, &pod_path("db-0"));
    wait_for("db-0 replaced", Duration::from_secs(20), || {
        let p = get(&d, &pod_path("db-0"));
        (p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
            .then_some(())
    });
}

#[test]
fn orphan_and_background_deletion() {
    let d = start(1, &[]);
    let rs = json!({"metadata": {"name": "keep"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "keep"}}, "template": template("keep")}});
    create(&d, "/apis/apps/v1/namespaces/default/replicasets", rs);
    running(&d, "keep", 2);
    let r = client::delete(
        &d.base_url,
        "/apis/apps/v1/namespaces/default/replicasets/keep?propagationPolicy=Orphan",
    )
    .expect("delete");
    assert_eq!(r.status, 200, "{}", r.text());
    std::thread::sleep(Duration::from_millis(800));
    let pods = running(&d, "keep", 2);
    assert!(
        pods.iter().all(|p| p["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(Vec::is_empty)),
        "orphans lose their owner"
    );
    let rs = json!({"metadata": {"name": "drop"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "drop"}}, "template": template("drop")}});
    create(&d, "/apis/apps/v1/namespaces/default/replicasets", rs);
    running(&d, "drop", 2);
    let r = client::request(
        &d.base_url,
        "DELETE",
        "/apis/apps/v1/namespaces/default/replicasets/drop",
        "application/json",
        br#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}"#,
    )
    .expect("delete");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "Success");
    wait_for("dependents collected", Duration::from_secs(20), || {
        pods_of(&d, "drop").is_empty().then_some(())
    });
    assert_eq!(pods_of(&d, "keep").len(), 2);
}
