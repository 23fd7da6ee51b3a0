//! Controllers: level-triggered loops over the store, run after every change (and on a
//! short tick for time-based work such as deadlines and TTLs).

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::{clock, cluster::Cluster, ids, store::Store};

mod daemonset;
mod deployment;
mod gc;
mod job;
mod namespace;
mod replicaset;
mod scheduler;
mod statefulset;

#[derive(Default)]
pub struct State {
    scheduler: scheduler::State,
    jobs: job::State,
}

pub async fn run(cluster: Arc<Cluster>) {
    let mut changed = cluster.store.changed();
    let mut state = State::default();
    loop {
        scheduler::reconcile(&cluster, &mut state.scheduler);
        deployment::reconcile(&cluster);
        replicaset::reconcile(&cluster);
        statefulset::reconcile(&cluster);
        daemonset::reconcile(&cluster);
        job::reconcile(&cluster, &mut state.jobs);
        gc::reconcile(&cluster);
        namespace::reconcile(&cluster);
        tokio::select! {
            _ = changed.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        // Let a burst of writes land before the next pass.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

pub fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The uid of the controlling owner, if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    crate::store::owner_refs(obj)
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| r["uid"].as_str())
}

pub fn owner_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    })
}

pub fn pod_ready(pod: &Value) -> bool {
    condition_true(&pod["status"]["conditions"], "Ready")
}

pub fn condition_true(conditions: &Value, kind: &str) -> bool {
    conditions
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == kind && c["status"] == "True")
}

/// Sets a condition; its transition time changes only when its status does.
pub fn set_condition(obj: &mut Value, kind: &str, status: &str, reason: &str, message: &str) {
    if !obj["status"]["conditions"].is_array() {
        obj["status"]["conditions"] = json!([]);
    }
    let Some(list) = obj["status"]["conditions"].as_array_mut() else {
        return;
    };
    let now = clock::now();
    match list.iter_mut().find(|c| c["type"] == kind) {
        Some(c) => {
            if c["status"] != status {
                c["lastTransitionTime"] = json!(now);
                c["status"] = json!(status);
            }
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        None => list.push(json!({
            "type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": now, "lastProbeTime": null,
        })),
    }
}

/// A pod for `owner` from its template.
pub fn pod_from_template(owner: &Value, template: &Value, name: Option<String>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone(),
    });
    if !pod["metadata"].is_object() {
        pod["metadata"] = json!({});
    }
    match name {
        Some(n) => pod["metadata"]["name"] = json!(n),
        None => pod["metadata"]["generateName"] = json!(format!("{}-", meta(owner, "name"))),
    }
    pod["metadata"]["ownerReferences"] = json!([owner_ref(owner)]);
    pod
}

/// Records a core/v1 Event about `involved`, or bumps the count of the same one.
pub fn record_event(
    store: &Store,
    involved: &Value,
    kind: &str,
    reason: &str,
    message: &str,
    component: &str,
) {
    let ns = match meta(involved, "namespace") {
        "" => "default",
        ns => ns,
    };
    // One Event per object, reason and message (the count goes up), found by name.
    let key = format!("{}/{reason}/{message}", meta(involved, "uid"));
    let name = format!(
        "{}.{:08x}{:08x}",
        meta(involved, "name"),
        ids::fnv32a(key.as_bytes()),
        ids::fnv32a(format!("{key}#").as_bytes())
    );
    let now = clock::now();
    let bumped = store.mutate("events", ns, &name, |e| {
        e["count"] = json!(e["count"].as_i64().unwrap_or(1) + 1);
        e["lastTimestamp"] = json!(now);
    });
    if bumped.is_some() {
        return;
    }
    let event = json!({
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {
            "apiVersion": involved["apiVersion"], "kind": involved["kind"],
            "name": involved["metadata"]["name"], "namespace": involved["metadata"]["namespace"],
            "uid": involved["metadata"]["uid"], "resourceVersion": involved["metadata"]["resourceVersion"],
        },
        "reason": reason, "message": message, "type": kind,
        "source": {"component": component},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "reportingComponent": component, "reportingInstance": "",
    });
    let _ = store.create(crate::resources::by_plural("events"), ns, event);
}

/// Pods in `ns` controlled by the owner with `uid`.
pub fn owned_pods(store: &Store, ns: &str, uid: &str) -> Vec<Value> {
    store.scan("pods", |p| {
        (meta(p, "namespace") == ns && controller_uid(p) == Some(uid)).then(|| p.clone())
    })
}

/// Every pod with a controller, by the controller's uid.
pub fn pods_by_controller(store: &Store) -> std::collections::HashMap<String, Vec<Value>> {
    let mut index: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for pod in store.scan("pods", |p| controller_uid(p).is_some().then(|| p.clone())) {
        if let Some(uid) = controller_uid(&pod).map(str::to_string) {
            index.entry(uid).or_default().push(pod);
        }
    }
    index
}

/// Pods that count as replicas: neither finished nor being deleted.
pub fn is_active(pod: &Value) -> bool {
    !is_deleting(pod) && !crate::store::is_terminal_pod(pod)
}

/// Sets `obj[field] = n`, leaving it out when zero as the API does for optional counts.
pub fn set_count(status: &mut Value, field: &str, n: usize) {
    if n == 0 {
        if let Some(m) = status.as_object_mut() {
            m.remove(field);
        }
    } else {
        status[field] = json!(n);
    }
}
