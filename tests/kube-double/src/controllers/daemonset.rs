//! One pod per node per DaemonSet, pinned with `spec.nodeName`.

use serde_json::json;

use super::{is_deleting, meta, owned_pods, pod_from_template, pod_ready};
use crate::{cluster::Cluster, resources, store::is_terminal_pod};

pub fn reconcile(cluster: &Cluster) {
    let store = &cluster.store;
    let pods_res = resources::by_plural("pods");
    let (sets, _) = store.list("daemonsets", None);
    let (nodes, _) = store.list("nodes", None);
    for ds in sets.iter().filter(|d| !is_deleting(d)) {
        let (ns, name, uid) = (meta(ds, "namespace"), meta(ds, "name"), meta(ds, "uid"));
        let pods = owned_pods(store, ns, uid);
        let eligible: Vec<_> = nodes
            .iter()
            .filter(|n| super::scheduler::fits(&json!({"spec": ds["spec"]["template"]["spec"]}), n))
            .collect();
        let mut by_node: std::collections::HashMap<&str, Vec<&serde_json::Value>> =
            Default::default();
        for p in pods.iter().filter(|p| !is_deleting(p)) {
            by_node
                .entry(p["spec"]["nodeName"].as_str().unwrap_or_default())
                .or_default()
                .push(p);
        }
        for node in &eligible {
            let node_name = meta(node, "name");
            let on_node = by_node.get(node_name).cloned().unwrap_or_default();
            if let Some(p) = on_node.iter().find(|p| is_terminal_pod(p)) {
                let _ = store.delete(pods_res, ns, meta(p, "name"), &Default::default());
            } else if on_node.is_empty() {
                let mut pod = pod_from_template(ds, &ds["spec"]["template"], None);
                pod["spec"]["nodeName"] = json!(node_name);
                let _ = store.create(pods_res, ns, pod);
            }
        }
        let pods = owned_pods(store, ns, uid);
        let scheduled = pods.iter().filter(|p| !is_deleting(p)).count();
        let ready = pods.iter().filter(|p| pod_ready(p)).count();
        let generation = ds["metadata"]["generation"].clone();
        store.mutate("daemonsets", ns, name, |d| {
            let s = &mut d["status"];
            s["desiredNumberScheduled"] = json!(eligible.len());
            s["currentNumberScheduled"] = json!(scheduled);
            s["updatedNumberScheduled"] = json!(scheduled);
            s["numberReady"] = json!(ready);
            s["numberAvailable"] = json!(ready);
            s["numberMisscheduled"] = json!(0);
            s["observedGeneration"] = generation;
        });
    }
}
