//! Pods NAME-0..NAME-(N-1) per StatefulSet (all at once, as with Parallel management).

use serde_json::json;

use super::{is_deleting, meta, owned_pods, pod_from_template, pod_ready, set_count};
use crate::{cluster::Cluster, resources, store::is_terminal_pod};

pub fn reconcile(cluster: &Cluster) {
    let store = &cluster.store;
    let pods_res = resources::by_plural("pods");
    let (sets, _) = store.list("statefulsets", None);
    for sts in sets.iter().filter(|s| !is_deleting(s)) {
        let (ns, name, uid) = (meta(sts, "namespace"), meta(sts, "name"), meta(sts, "uid"));
        let want = sts["spec"]["replicas"].as_u64().unwrap_or(1) as usize;
        let pods = owned_pods(store, ns, uid);
        for i in 0..want {
            let pod_name = format!("{name}-{i}");
            match pods.iter().find(|p| meta(p, "name") == pod_name) {
                Some(p) if is_terminal_pod(p) && !is_deleting(p) => {
                    let _ = store.delete(pods_res, ns, &pod_name, &Default::default());
                }
                Some(_) => {}
                None => {
                    let mut pod =
                        pod_from_template(sts, &sts["spec"]["template"], Some(pod_name.clone()));
                    pod["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] =
                        json!(pod_name);
                    pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] =
                        json!(i.to_string());
                    pod["spec"]["hostname"] = json!(pod_name);
                    let _ = store.create(pods_res, ns, pod);
                }
            }
        }
        for p in &pods {
            let index = meta(p, "name")
                .strip_prefix(&format!("{name}-"))
                .and_then(|i| i.parse::<usize>().ok());
            if index.is_none_or(|i| i >= want) && !is_deleting(p) {
                let _ = store.delete(pods_res, ns, meta(p, "name"), &Default::default());
            }
        }
        let pods = owned_pods(store, ns, uid);
        let live = pods.iter().filter(|p| !is_deleting(p)).count();
        let ready = pods.iter().filter(|p| pod_ready(p)).count();
        let generation = sts["metadata"]["generation"].clone();
        store.mutate("statefulsets", ns, name, |s| {
            let st = &mut s["status"];
            st["replicas"] = json!(live);
            st["observedGeneration"] = generation;
            set_count(st, "readyReplicas", ready);
            set_count(st, "availableReplicas", ready);
            set_count(st, "currentReplicas", live);
            set_count(st, "updatedReplicas", live);
        });
    }
}
