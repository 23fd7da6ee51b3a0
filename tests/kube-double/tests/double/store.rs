//! Store semantics over REST: resourceVersions, watches, selectors and Status bodies.

use std::time::Duration;

use kube_double::client;
use serde_json::json;

use super::*;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn cm(name: &str, labels: Value) -> Value {
    json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}})
}

fn rv(obj: &Value) -> u64 {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("resourceVersion")
}

#[test]
fn resource_versions_increase_and_watches_resume() {
    let d = start(1, &[]);
    let a = create(&d, CMS, cm("a", json!({"app": "x"})));
    let b = create(&d, CMS, cm("b", json!({"app": "y"})));
    assert!(rv(&b) > rv(&a));
    assert_eq!(a["kind"], "ConfigMap");
    assert_eq!(a["apiVersion"], "v1");
    assert_eq!(a["metadata"]["uid"].as_str().map(str::len), Some(36));
    let list = get(&d, CMS);
    assert!(
        rv(&list["items"][1])
            <= list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0)
    );
    // Watch from a's version: b's creation, then a later update, arrive in order.
    let mut w = client::stream(
        &d.base_url,
        &format!("{CMS}?watch=1&resourceVersion={}", rv(&a)),
    )
    .expect("watch");
    w.set_timeout(Duration::from_secs(10));
    assert_eq!(w.status, 200);
    let first = w.next_json().expect("read").expect("event");
    assert_eq!(
        (
            first["type"].as_str(),
            first["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("b"))
    );
    let mut b2 = b.clone();
    b2["data"]["k"] = json!("w");
    let r = client::put(&d.base_url, &format!("{CMS}/b"), &b2).expect("put");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(rv(&r.json()) > rv(&b));
    let second = w.next_json().expect("read").expect("event");
    assert_eq!(second["type"], "MODIFIED");
    assert_eq!(second["object"]["data"]["k"], "w");
    delete(&d, &format!("{CMS}/a"));
    let third = w.next_json().expect("read").expect("event");
    assert_eq!(
        (
            third["type"].as_str(),
            third["object"]["metadata"]["name"].as_str()
        ),
        (Some("DELETED"), Some("a"))
    );
    // A stale update conflicts.
    let r = client::put(&d.base_url, &format!("{CMS}/b"), &b2).expect("put");
    assert_eq!(r.status, 409);
    let body = r.json();
    assert_eq!(
        (
            body["kind"].as_str(),
            body["reason"].as_str(),
            body["code"].as_u64()
        ),
        (Some("Status"), Some("Conflict"), Some(409))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Operation cannot be fulfilled on configmaps \"b\"")
    );
}

#[test]
fn ancient_resource_version_is_gone_and_bookmarks_flow() {
    let d = start(1, &["--watch-history", "5"]);
    let first = create(&d, CMS, cm("c0", json!({})));
    for i in 1..12 {
        create(&d, CMS, cm(&format!("c{i}"), json!({})));
    }
    let mut w = client::stream(
        &d.base_url,
        &format!("{CMS}?watch=true&resourceVersion={}", rv(&first)),
    )
    .expect("watch");
    w.set_timeout(Duration::from_secs(10));
    let ev = w.next_json().expect("read").expect("event");
    assert_eq!(ev["type"], "ERROR", "{ev}");
    assert_eq!(
        (
            ev["object"]["code"].as_u64(),
            ev["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired"))
    );
    assert!(
        ev["object"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("too old resource version")
    );
    // A recent version works, with bookmarks and a server-side timeout.
    let list = get(&d, CMS);
    let now = list["metadata"]["resourceVersion"]
        .as_str()
        .expect("list rv")
        .to_string();
    let mut w = client::stream(
        &d.base_url,
        &format!("{CMS}?watch=1&resourceVersion={now}&allowWatchBookmarks=true&timeoutSeconds=3"),
    )
    .expect("watch");
    w.set_timeout(Duration::from_secs(10));
    let mut saw_bookmark = false;
    while let Some(ev) = w.next_json().expect("clean end after timeoutSeconds") {
        saw_bookmark |= ev["type"] == "BOOKMARK";
    }
    assert!(saw_bookmark);
}

#[test]
fn selectors_filter_lists_and_watches() {
    let d = start(2, &[]);
    create(&d, CMS, cm("web", json!({"app": "web", "tier": "front"})));
    create(&d, CMS, cm("db", json!({"app": "db"})));
    create(&d, CMS, cm("plain", json!({})));
    let names = |q: &str| -> Vec<String> {
        let list = get(&d, &format!("{CMS}?{q}"));
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names("labelSelector=app%3Dweb"), ["web"]);
    assert_eq!(names("labelSelector=app%3D%3Dweb"), ["web"]);
    assert_eq!(names("labelSelector=app!%3Dweb"), ["db", "plain"]);
    assert_eq!(names("labelSelector=app%20in%20(web%2Cdb)"), ["db", "web"]);
    assert_eq!(names("labelSelector=app%20notin%20(web)"), ["db", "plain"]);
    assert_eq!(names("labelSelector=tier"), ["web"]);
    assert_eq!(names("labelSelector=!app"), ["plain"]);
    assert_eq!(names("fieldSelector=metadata.name%3Ddb"), ["db"]);
    assert_eq!(
        names("fieldSelector=metadata.namespace%3Ddefault,metadata.name!%3Ddb"),
        ["plain", "web"]
    );
    let bad =
        client::get(&d.base_url, &format!("{CMS}?labelSelector=app%20in%20web")).expect("get");
    assert_eq!(bad.status, 400);
    // Pods by node and phase, across namespaces.
    let mut p = pod("on-two", "exec sleep 1000", "Always");
    p["spec"]["nodeSelector"] = json!({"kubernetes.io/hostname": "node-2"});
    create(&d, "/api/v1/namespaces/default/pods", p);
    wait_phase(&d, "on-two", "Running");
    let on2 = get(
        &d,
        "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-2,status.phase%3DRunning",
    );
    assert_eq!(on2["items"].as_array().map(Vec::len), Some(1));
    let on1 = get(&d, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1");
    assert_eq!(on1["items"].as_array().map(Vec::len), Some(0));
    // A label change moves an object out of a selector watch as DELETED.
    let mut w = client::stream(
        &d.base_url,
        &format!("{CMS}?watch=1&labelSelector=app%3Dweb"),
    )
    .expect("watch");
    w.set_timeout(Duration::from_secs(10));
    assert_eq!(
        w.next_json().expect("read").expect("event")["type"],
        "ADDED"
    );
    let r = client::patch(
        &d.base_url,
        &format!("{CMS}/web"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"app": "other"}}}),
    )
    .expect("patch");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        w.next_json().expect("read").expect("event")["type"],
        "DELETED"
    );
}

#[test]
fn errors_are_status_objects() {
    let d = start(1, &[]);
    let r = client::get(&d.base_url, "/api/v1/namespaces/default/pods/ghost").expect("get");
    assert_eq!(r.status, 404);
    let s = r.json();
    assert_eq!(
        (
            s["kind"].as_str(),
            s["apiVersion"].as_str(),
            s["status"].as_str(),
            s["reason"].as_str(),
            s["message"].as_str()
        ),
        (
            Some("Status"),
            Some("v1"),
            Some("Failure"),
            Some("NotFound"),
            Some("pods \"ghost\" not found")
        )
    );
    let r = client::get(&d.base_url, "/apis/batch/v1/namespaces/default/jobs/ghost").expect("get");
    assert_eq!(r.json()["message"], "jobs.batch \"ghost\" not found");
    create(&d, CMS, cm("dup", json!({})));
    let r = client::post(&d.base_url, CMS, &cm("dup", json!({}))).expect("post");
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "AlreadyExists");
    assert_eq!(r.json()["message"], "configmaps \"dup\" already exists");
    let made = create(&d, CMS, json!({"metadata": {"generateName": "gen-"}}));
    let name = made["metadata"]["name"].as_str().expect("name");
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    let r = client::post(
        &d.base_url,
        "/api/v1/namespaces/nowhere/configmaps",
        &cm("x", json!({})),
    )
    .expect("post");
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (404, Some("namespaces \"nowhere\" not found"))
    );
    let r = client::post(&d.base_url, CMS, &cm("Bad_Name", json!({}))).expect("post");
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (422, Some("Invalid"))
    );
    // Deleting a namespace deletes what is in it.
    create(
        &d,
        "/api/v1/namespaces",
        json!({"metadata": {"name": "scratch"}}),
    );
    create(
        &d,
        "/api/v1/namespaces/scratch/configmaps",
        cm("inside", json!({})),
    );
    let r = delete(&d, "/api/v1/namespaces/scratch");
    assert!(r.status == 200 || r.status == 202, "{}", r.text());
    wait_for("namespace gone", Duration::from_secs(10), || {
        let r = client::get(&d.base_url, "/api/v1/namespaces/scratch").ok()?;
        (r.status == 404).then_some(())
    });
    let r = client::get(&d.base_url, "/api/v1/namespaces/scratch/configmaps/inside").expect("get");
    assert_eq!(r.status, 404);
}

#[test]
fn in_process_double_serves_and_shuts_down() {
    use kube_double::{
        cluster::{Cluster, Options},
        server,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let cluster = Cluster::new(Options {
            nodes: 2,
            ..Options::default()
        })
        .expect("cluster");
        let running = server::start(cluster, Vec::new()).await.expect("start");
        let base = running.base_url();
        let (version, nodes) = tokio::task::spawn_blocking(move || {
            let v = client::get(&base, "/version").expect("version").json();
            let n = client::get(&base, "/api/v1/nodes").expect("nodes").json();
            (v, n)
        })
        .await
        .expect("blocking client");
        assert_eq!(version["gitVersion"], "v1.32.4");
        assert_eq!(nodes["items"].as_array().map(Vec::len), Some(2));
        assert_eq!(nodes["items"][1]["metadata"]["name"], "node-2");
        running.shutdown().await;
    });
}
