//! The garbage collector: dependents whose owners are all gone are deleted; owners in
//! foreground deletion lose their `foregroundDeletion` finalizer once no dependents remain.

use std::collections::{HashMap, HashSet};

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
    // Pass one: every uid, and the owners waiting for their dependents to go.
    let mut uids: HashSet<String> = HashSet::new();
    let mut foreground: Vec<(&str, Value)> = Vec::new();
    for kind in KINDS {
        for obj in store.scan(kind, |o| {
            uids.insert(meta(o, "uid").to_string());
            let waiting = o["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "foregroundDeletion"));
            waiting.then(|| o.clone())
        }) {
            foreground.push((kind, obj));
        }
    }
    let going: HashSet<&str> = foreground.iter().map(|(_, o)| meta(o, "uid")).collect();
    // Pass two: dependents to delete, and how many dependents each waiting owner has.
    let mut remaining: HashMap<String, usize> = HashMap::new();
    let mut doomed: Vec<(&str, String, String, bool)> = Vec::new();
    for kind in KINDS {
        doomed.extend(store.scan(kind, |o| {
            let refs = owner_refs(o);
            if refs.is_empty() {
                return None;
            }
            for r in refs {
                if let Some(uid) = r["uid"].as_str().filter(|u| going.contains(u)) {
                    *remaining.entry(uid.to_string()).or_default() += 1;
                }
            }
            if is_deleting(o) {
                return None;
            }
            let owner_going = refs
                .iter()
                .any(|r| going.contains(r["uid"].as_str().unwrap_or_default()));
            let orphaned = refs
                .iter()
                .all(|r| !uids.contains(r["uid"].as_str().unwrap_or_default()));
            (orphaned || owner_going).then(|| {
                (
                    kind,
                    meta(o, "namespace").to_string(),
                    meta(o, "name").to_string(),
                    owner_going,
                )
            })
        }));
    }
    for (kind, ns, name, owner_going) in doomed {
        // Dependents of a foreground deletion go in the foreground too, except pods,
        // which terminate gracefully.
        let propagation = if owner_going && kind != "pods" {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        let opts = DeleteOptions {
            propagation: Some(propagation),
            ..Default::default()
        };
        let _ = store.delete(resources::by_plural(kind), &ns, &name, &opts);
    }
    for (kind, owner) in &foreground {
        if remaining.get(meta(owner, "uid")).copied().unwrap_or(0) == 0 {
            store.mutate(kind, meta(owner, "namespace"), meta(owner, "name"), |o| {
                remove_finalizer(o, "foregroundDeletion");
            });
        }
    }
}
