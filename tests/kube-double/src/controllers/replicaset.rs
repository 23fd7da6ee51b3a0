//! Keeps `spec.replicas` pods per ReplicaSet.

use serde_json::json;

use super::{
    is_active, is_deleting, meta, owned_pods, pod_from_template, pod_ready, record_event, set_count,
};
use crate::{cluster::Cluster, resources};

pub fn reconcile(cluster: &Cluster) {
    let store = &cluster.store;
    let (sets, _) = store.list("replicasets", None);
    for rs in sets.iter().filter(|r| !is_deleting(r)) {
        let (ns, name, uid) = (meta(rs, "namespace"), meta(rs, "name"), meta(rs, "uid"));
        let want = rs["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
        let pods = owned_pods(store, ns, uid);
        let mut active: Vec<_> = pods.iter().filter(|p| is_active(p)).collect();
        for _ in active.len()..want {
            let pod = pod_from_template(rs, &rs["spec"]["template"], None);
            if let Ok(p) = store.create(resources::by_plural("pods"), ns, pod) {
                record_event(
                    store,
                    rs,
                    "Normal",
                    "SuccessfulCreate",
                    &format!("Created pod: {}", meta(&p, "name")),
                    "replicaset-controller",
                );
            }
        }
        if active.len() > want {
            // Not-ready and newest pods go first.
            active.sort_by_key(|p| {
                (
                    pod_ready(p),
                    std::cmp::Reverse(meta(p, "creationTimestamp").to_string()),
                )
            });
            for p in &active[..active.len() - want] {
                let _ = store.delete(
                    resources::by_plural("pods"),
                    ns,
                    meta(p, "name"),
                    &Default::default(),
                );
            }
        }
        let pods = owned_pods(store, ns, uid);
        let active: Vec<_> = pods.iter().filter(|p| is_active(p)).collect();
        let ready = active.iter().filter(|p| pod_ready(p)).count();
        let generation = rs["metadata"]["generation"].clone();
        store.mutate("replicasets", ns, name, |r| {
            let s = &mut r["status"];
            s["replicas"] = json!(active.len());
            s["fullyLabeledReplicas"] = json!(active.len());
            set_count(s, "readyReplicas", ready);
            set_count(s, "availableReplicas", ready);
            s["observedGeneration"] = generation;
        });
    }
}
