//! Binds unscheduled pods to Ready nodes, round-robin, honouring nodeSelector and
//! required node affinity on `metadata.name` or labels.

use serde_json::{Value, json};

use super::{is_deleting, meta, record_event, set_condition};
use crate::{cluster::Cluster, selectors::LabelSelector};

#[derive(Default)]
pub struct State {
    next: usize,
}

fn node_ready(node: &Value) -> bool {
    super::condition_true(&node["status"]["conditions"], "Ready")
}

/// Whether the pod's nodeSelector and required node affinity admit the node.
pub fn fits(pod: &Value, node: &Value) -> bool {
    let labels = &node["metadata"]["labels"];
    let selector_ok = pod["spec"]["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let terms = pod["spec"]["affinity"]["nodeAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        .as_array();
    let affinity_ok = match terms {
        None => true,
        Some(terms) if terms.is_empty() => true,
        Some(terms) => terms.iter().any(|t| {
            let exprs =
                LabelSelector::from_object(&json!({"matchExpressions": t["matchExpressions"]}));
            let fields_ok = t["matchFields"].as_array().into_iter().flatten().all(|f| {
                let name = meta(node, "name");
                let values = f["values"].as_array();
                let listed = values.is_some_and(|v| v.iter().any(|x| x == name));
                match (f["key"].as_str(), f["operator"].as_str()) {
                    (Some("metadata.name"), Some("In")) => listed,
                    (Some("metadata.name"), Some("NotIn")) => !listed,
                    _ => false,
                }
            });
            exprs.matches(node) && fields_ok
        }),
    };
    selector_ok && affinity_ok
}

pub fn reconcile(cluster: &Cluster, state: &mut State) {
    let store = &cluster.store;
    let pending = store.scan("pods", |p| {
        (p["spec"]["nodeName"].is_null() && !is_deleting(p)).then(|| p.clone())
    });
    if pending.is_empty() {
        return;
    }
    let (nodes, _) = store.list("nodes", None);
    for pod in pending {
        let fitting: Vec<&Value> = nodes.iter().filter(|n| fits(&pod, n)).collect();
        let mut fault = None;
        let candidates: Vec<&Value> = fitting
            .iter()
            .copied()
            .filter(|n| node_ready(n))
            .filter(|n| match cluster.faults.pending(meta(n, "name")) {
                Some(f) => {
                    fault = Some(f);
                    false
                }
                None => true,
            })
            .collect();
        let (ns, name) = (meta(&pod, "namespace"), meta(&pod, "name"));
        if candidates.is_empty() {
            let (reason, message) = fault.unwrap_or_else(|| {
                (
                    "Unschedulable".into(),
                    format!(
                        "0/{} nodes are available: {} node(s) didn't match Pod's node affinity/selector, {} node(s) had untolerated taint {{node.kubernetes.io/unreachable: }}. preemption: 0/{} nodes are available: {} Preemption is not helpful for scheduling.",
                        nodes.len(),
                        nodes.len() - fitting.len(),
                        fitting.len(),
                        nodes.len(),
                        nodes.len()
                    ),
                )
            });
            store.mutate("pods", ns, name, |p| {
                set_condition(p, "PodScheduled", "False", &reason, &message);
            });
            continue;
        }
        let node = candidates[state.next % candidates.len()];
        state.next += 1;
        let node_name = meta(node, "name").to_string();
        let bound = store.mutate("pods", ns, name, |p| {
            if p["spec"]["nodeName"].is_null() {
                p["spec"]["nodeName"] = json!(node_name);
                set_condition(p, "PodScheduled", "True", "", "");
            }
        });
        if let Some(p) = bound {
            record_event(
                store,
                &p,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to {node_name}"),
                "default-scheduler",
            );
        }
    }
}
