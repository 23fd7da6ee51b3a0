//! The garbage collector: dependents whose owners are all gone are deleted; owners in
//! foreground deletion lose their `foregroundDeletion` finalizer once no dependents remain.

use std::collections::HashSet;

use serde_json::Value;

use super::{is_deleting, meta};
use crate::{
    cluster::Cluster,
    resources,
    store::{DeleteOptions, Propagation, owner_refs, remove_finalizer},
};

const KINDS: [&str; 7] = [
    "pods",
    "replicasets",
    "deployments",
    "statefulsets",
    "daemonsets",
    "jobs",
    "configmaps",
];

pub fn reconcile(cluster: &Cluster) {
    let store = &cluster.store;
    let mut uids = HashSet::new();
    let mut foreground: Vec<(&str, Value)> = Vec::new();
    let mut dependents: Vec<(&str, Value)> = Vec::new();
    for kind in KINDS {
        for obj in store.scan(kind, |o| Some(o.clone())) {
            uids.insert(meta(&obj, "uid").to_string());
            let in_foreground = obj["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"));
            if in_foreground {
                foreground.push((kind, obj.clone()));
            }
            if !owner_refs(&obj).is_empty() {
                dependents.push((kind, obj));
            }
        }
    }
    let deleting_uids: HashSet<&str> = foreground.iter().map(|(_, o)| meta(o, "uid")).collect();
    for (kind, obj) in &dependents {
        if is_deleting(obj) {
            continue;
        }
        let refs = owner_refs(obj);
        let orphaned = refs
            .iter()
            .all(|r| !uids.contains(r["uid"].as_str().unwrap_or_default()));
        let owner_going = refs
            .iter()
            .any(|r| deleting_uids.contains(r["uid"].as_str().unwrap_or_default()));
        if orphaned || owner_going {
            let propagation = if *kind == "pods" {
                Propagation::Background
            } else if owner_going {
                Propagation::Foreground
            } else {
                Propagation::Background
            };
            let opts = DeleteOptions {
                propagation: Some(propagation),
                ..Default::default()
            };
            let _ = store.delete(
                resources::by_plural(kind),
                meta(obj, "namespace"),
                meta(obj, "name"),
                &opts,
            );
        }
    }
    for (kind, owner) in &foreground {
        let uid = meta(owner, "uid");
        let remaining = dependents
            .iter()
            .filter(|(_, d)| owner_refs(d).iter().any(|r| r["uid"] == uid))
            .filter(|(k, d)| {
                store
                    .try_get(k, meta(d, "namespace"), meta(d, "name"))
                    .is_some()
            })
            .count();
        if remaining == 0 {
            store.mutate(kind, meta(owner, "namespace"), meta(owner, "name"), |o| {
                remove_finalizer(o, "foregroundDeletion");
            });
        }
    }
}
