//! One ReplicaSet per Deployment template, named NAME-<pod-template-hash>; older ones are
//! scaled to zero.

use serde_json::{Value, json};

use super::{controller_uid, is_deleting, meta, owner_ref, record_event, set_condition, set_count};
use crate::{cluster::Cluster, ids, resources};

pub fn template_hash(template: &Value) -> String {
    ids::safe_encode(ids::fnv32a(template.to_string().as_bytes()))
}

pub fn reconcile(cluster: &Cluster) {
    let store = &cluster.store;
    let (deploys, _) = store.list("deployments", None);
    for d in deploys.iter().filter(|d| !is_deleting(d)) {
        let (ns, name, uid) = (meta(d, "namespace"), meta(d, "name"), meta(d, "uid"));
        let want = d["spec"]["replicas"].as_u64().unwrap_or(1);
        let hash = template_hash(&d["spec"]["template"]);
        let rs_name = format!("{name}-{hash}");
        let owned = store.scan("replicasets", |r| {
            (meta(r, "namespace") == ns && controller_uid(r) == Some(uid)).then(|| r.clone())
        });
        let revision = owned.len() + 1;
        if !owned.iter().any(|r| meta(r, "name") == rs_name) {
            let mut template = d["spec"]["template"].clone();
            template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({
                "metadata": {
                    "name": rs_name, "labels": template["metadata"]["labels"],
                    "annotations": {"deployment.kubernetes.io/revision": revision.to_string(),
                                    "deployment.kubernetes.io/desired-replicas": want.to_string()},
                    "ownerReferences": [owner_ref(d)],
                },
                "spec": {"replicas": want, "selector": selector, "template": template},
            });
            if store
                .create(resources::by_plural("replicasets"), ns, rs)
                .is_ok()
            {
                record_event(
                    store,
                    d,
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {rs_name} from 0 to {want}"),
                    "deployment-controller",
                );
            }
        }
        for r in &owned {
            let target = if meta(r, "name") == rs_name { want } else { 0 };
            if r["spec"]["replicas"].as_u64() != Some(target) {
                store.mutate("replicasets", ns, meta(r, "name"), |r| {
                    r["spec"]["replicas"] = json!(target);
                });
            }
        }
        let owned = store.scan("replicasets", |r| {
            (meta(r, "namespace") == ns && controller_uid(r) == Some(uid)).then(|| r.clone())
        });
        let count = |f: &str| -> u64 {
            owned
                .iter()
                .map(|r| r["status"][f].as_u64().unwrap_or(0))
                .sum()
        };
        let (replicas, ready, available) = (
            count("replicas"),
            count("readyReplicas"),
            count("availableReplicas"),
        );
        let updated = owned
            .iter()
            .find(|r| meta(r, "name") == rs_name)
            .and_then(|r| r["status"]["replicas"].as_u64())
            .unwrap_or(0);
        let generation = d["metadata"]["generation"].clone();
        store.mutate("deployments", ns, name, |d| {
            let s = &mut d["status"];
            s["observedGeneration"] = generation;
            set_count(s, "replicas", replicas as usize);
            set_count(s, "updatedReplicas", updated as usize);
            set_count(s, "readyReplicas", ready as usize);
            set_count(s, "availableReplicas", available as usize);
            set_count(
                s,
                "unavailableReplicas",
                want.saturating_sub(available) as usize,
            );
            if available >= want {
                set_condition(
                    d,
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                );
            } else {
                set_condition(
                    d,
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                );
            }
            if updated == want && available >= want {
                set_condition(
                    d,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                );
            } else {
                set_condition(
                    d,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{rs_name}\" is progressing."),
                );
            }
            d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                json!(revision.max(1).to_string());
        });
    }
}
