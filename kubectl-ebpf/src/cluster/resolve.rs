//! From named targets to a plan: which nodes to trace and, on each, which containers (or
//! the whole node). Everything that can be refused is refused here, before anything is
//! created on the cluster.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::Job,
        core::v1::{Node, Pod},
    },
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kube::{Api, Client, api::ListParams};
use tracer_protocol::{ContainerTarget, QosClass};

use super::{
    connect::{api_error, is_not_found, retry},
    target::{Kind, TargetRef},
};
use crate::exit::CliError;

/// Where to look for what the user named.
#[derive(Clone, Debug)]
pub struct Scope {
    pub namespace: String,
    pub all_namespaces: bool,
    pub selector: Option<String>,
    pub container: Option<String>,
    pub all_nodes: bool,
}

/// What each involved node traces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub nodes: BTreeMap<String, NodePlan>,
    /// Pods matched but not traced (not running yet, or finished), one line each.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodePlan {
    /// Containers to filter on; empty when the node is traced as a whole.
    pub containers: Vec<ContainerTarget>,
    pub node_wide: bool,
    /// Every container known on the node, to name what a node-wide trace meets.
    pub node_containers: Vec<ContainerTarget>,
}

pub async fn resolve(
    client: &Client,
    scope: &Scope,
    targets: &[TargetRef],
) -> Result<Plan, CliError> {
    check_combination(scope, targets)?;
    let mut plan = Plan::default();
    let mut wide_nodes = BTreeSet::new();
    if scope.all_nodes {
        let nodes: Api<Node> = Api::all(client.clone());
        let all = ListParams::default();
        let list = retry(|| nodes.list(&all))
            .await
            .map_err(|err| api_error("listing nodes", err))?;
        wide_nodes.extend(list.items.into_iter().filter_map(|node| node.metadata.name));
        if wide_nodes.is_empty() {
            return Err(CliError::usage("the cluster has no nodes", ""));
        }
    }
    for target in targets {
        match target.kind {
            Kind::Node => {
                let nodes: Api<Node> = Api::all(client.clone());
                nodes
                    .get(&target.name)
                    .await
                    .map_err(|err| api_error(&format!("looking up {target}"), err))?;
                wide_nodes.insert(target.name.clone());
            }
            Kind::Pod => {
                let pods: Api<Pod> = Api::namespaced(client.clone(), &scope.namespace);
                let pod = retry(|| pods.get(&target.name)).await.map_err(|err| {
                    if is_not_found(&err) {
                        CliError::usage(
                            format!(
                                "pod {} was not found in namespace {}",
                                target.name, scope.namespace
                            ),
                            "check the name, or pick the namespace with -n",
                        )
                    } else {
                        api_error(&format!("looking up {target}"), err)
                    }
                })?;
                let searched = format!("{target} in namespace {}", scope.namespace);
                add_pods(&mut plan, &[pod], scope, &searched, true)?;
            }
            _ => {
                let selector = workload_selector(client, &scope.namespace, target).await?;
                let pods = list_pods(client, Some(&scope.namespace), &selector).await?;
                let searched = format!(
                    "{target} in namespace {} (pods matching {selector})",
                    scope.namespace
                );
                add_pods(&mut plan, &pods, scope, &searched, false)?;
            }
        }
    }
    if let Some(selector) = &scope.selector {
        let namespace = (!scope.all_namespaces).then_some(scope.namespace.as_str());
        let pods = list_pods(client, namespace, selector).await?;
        let searched = match namespace {
            Some(ns) => format!("pods matching -l {selector} in namespace {ns}"),
            None => format!("pods matching -l {selector} in all namespaces"),
        };
        add_pods(&mut plan, &pods, scope, &searched, false)?;
    }
    if !wide_nodes.is_empty() {
        let everything = list_pods(client, None, "").await?;
        for node in wide_nodes {
            let entry = plan.nodes.entry(node.clone()).or_default();
            entry.node_wide = true;
            entry.containers.clear();
            entry.node_containers = everything
                .iter()
                .filter(|pod| pod_node(pod) == Some(node.as_str()))
                .flat_map(|pod| running_containers(pod, None))
                .collect();
        }
    }
    Ok(plan)
}

/// kubectl's rules: names or a selector, not both; names need one namespace.
pub fn check_combination(scope: &Scope, targets: &[TargetRef]) -> Result<(), CliError> {
    let named_in_namespace = targets.iter().any(|t| t.kind != Kind::Node);
    if targets.is_empty() && scope.selector.is_none() && !scope.all_nodes {
        return Err(CliError::usage(
            "name what to trace",
            "give targets such as deploy/NAME or pod/NAME, a selector with -l, \
             node/NAME or --all-nodes; or trace this machine with --local",
        ));
    }
    if named_in_namespace && scope.selector.is_some() {
        return Err(CliError::usage(
            "name targets or give a selector (-l), not both",
            "drop the names or drop -l",
        ));
    }
    if named_in_namespace && scope.all_namespaces {
        return Err(CliError::usage(
            "a named target cannot be looked up across all namespaces (-A)",
            "pick its namespace with -n",
        ));
    }
    if scope.all_nodes && scope.container.is_some() {
        return Err(CliError::usage(
            "--all-nodes traces whole nodes, so -c does not apply",
            "drop -c, or name pods instead of --all-nodes",
        ));
    }
    Ok(())
}

async fn workload_selector(
    client: &Client,
    namespace: &str,
    target: &TargetRef,
) -> Result<String, CliError> {
    let doing = format!("looking up {target} in namespace {namespace}");
    let name = target.name.as_str();
    let fail = |err: kube::Error| {
        if is_not_found(&err) {
            CliError::usage(
                format!("{target} was not found in namespace {namespace}"),
                "check the name, or pick the namespace with -n",
            )
        } else {
            api_error(&doing, err)
        }
    };
    let selector = match target.kind {
        Kind::Deployment => {
            let api = Api::<Deployment>::namespaced(client.clone(), namespace);
            retry(|| api.get(name))
                .await
                .map_err(fail)?
                .spec
                .map(|spec| spec.selector)
        }
        Kind::StatefulSet => {
            let api = Api::<StatefulSet>::namespaced(client.clone(), namespace);
            retry(|| api.get(name))
                .await
                .map_err(fail)?
                .spec
                .map(|spec| spec.selector)
        }
        Kind::DaemonSet => {
            let api = Api::<DaemonSet>::namespaced(client.clone(), namespace);
            retry(|| api.get(name))
                .await
                .map_err(fail)?
                .spec
                .map(|spec| spec.selector)
        }
        Kind::ReplicaSet => {
            let api = Api::<ReplicaSet>::namespaced(client.clone(), namespace);
            retry(|| api.get(name))
                .await
                .map_err(fail)?
                .spec
                .map(|spec| spec.selector)
        }
        Kind::Job => {
            let api = Api::<Job>::namespaced(client.clone(), namespace);
            retry(|| api.get(name))
                .await
                .map_err(fail)?
                .spec
                .and_then(|spec| spec.selector)
        }
        Kind::Pod | Kind::Node => None,
    };
    let selector = selector.map(|s| selector_string(&s)).unwrap_or_default();
    if selector.is_empty() {
        return Err(CliError::usage(
            format!("{target} has no pod selector"),
            "name its pods instead, or use -l",
        ));
    }
    Ok(selector)
}

/// A label selector in the query syntax the API server takes.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    for expr in selector.match_expressions.iter().flatten() {
        let values = expr.values.clone().unwrap_or_default().join(",");
        parts.push(match expr.operator.as_str() {
            "In" => format!("{} in ({values})", expr.key),
            "NotIn" => format!("{} notin ({values})", expr.key),
            "Exists" => expr.key.clone(),
            "DoesNotExist" => format!("!{}", expr.key),
            // An operator this build does not know: match nothing rather than everything.
            other => format!("{} in (unknown-operator-{other})", expr.key),
        });
    }
    parts.join(",")
}

async fn list_pods(
    client: &Client,
    namespace: Option<&str>,
    selector: &str,
) -> Result<Vec<Pod>, CliError> {
    let pods: Api<Pod> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let params = if selector.is_empty() {
        ListParams::default()
    } else {
        ListParams::default().labels(selector)
    };
    Ok(retry(|| pods.list(&params))
        .await
        .map_err(|err| api_error("listing pods", err))?
        .items)
}

/// Adds the running containers of `pods` to the plan. Pods not running are warnings, or
/// an error when `strict` (a pod named by the user) or when nothing at all is running.
fn add_pods(
    plan: &mut Plan,
    pods: &[Pod],
    scope: &Scope,
    searched: &str,
    strict: bool,
) -> Result<(), CliError> {
    if pods.is_empty() {
        return Err(CliError::usage(
            format!("no pods found: searched {searched}"),
            "check the name, labels and namespace (-n, or -A with -l)",
        ));
    }
    let mut added = 0;
    let mut not_running = Vec::new();
    for pod in pods {
        let name = pod_label(pod);
        let Some(node) = pod_node(pod) else {
            not_running.push(format!(
                "pod {name} is not scheduled yet{}",
                waiting_reason(pod)
            ));
            continue;
        };
        if let Some(wanted) = &scope.container {
            let has_it = pod
                .spec
                .as_ref()
                .is_some_and(|spec| spec.containers.iter().any(|c| &c.name == wanted));
            if !has_it {
                return Err(CliError::usage(
                    format!(
                        "pod {name} has no container {wanted} (it has {})",
                        container_names(pod).join(", ")
                    ),
                    "pick one of its containers with -c",
                ));
            }
        }
        let containers = running_containers(pod, scope.container.as_deref());
        if containers.is_empty() {
            not_running.push(format!(
                "pod {name} on {node} is {}{}",
                pod_phase(pod),
                waiting_reason(pod)
            ));
            continue;
        }
        added += containers.len();
        let entry = plan.nodes.entry(node.to_owned()).or_default();
        for container in containers {
            if !entry.containers.contains(&container) {
                entry.containers.push(container);
            }
        }
    }
    if added == 0 || (strict && !not_running.is_empty()) {
        return Err(CliError::usage(
            format!("nothing to trace in {searched}: {}", not_running.join("; ")),
            "wait until the pods run (kubectl get pods -w), then trace again",
        ));
    }
    plan.warnings.extend(
        not_running
            .into_iter()
            .map(|why| format!("{why}; not traced")),
    );
    Ok(())
}

fn pod_node(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

fn pod_label(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn pod_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .unwrap_or("Unknown")
}

fn container_names(pod: &Pod) -> Vec<String> {
    pod.spec
        .iter()
        .flat_map(|spec| spec.containers.iter().map(|c| c.name.clone()))
        .collect()
}

/// ` (Unschedulable: 0/3 nodes ...)` from the pod's conditions or container states.
fn waiting_reason(pod: &Pod) -> String {
    let Some(status) = &pod.status else {
        return String::new();
    };
    let from_containers = status.container_statuses.iter().flatten().find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        waiting.reason.clone()
    });
    let from_conditions = status
        .conditions
        .iter()
        .flatten()
        .find_map(|c| (c.status == "False").then(|| c.reason.clone()).flatten());
    match from_containers.or(from_conditions) {
        Some(reason) => format!(" ({reason})"),
        None => String::new(),
    }
}

/// The containers of a running pod that have a runtime id, as the tracer will look them up.
pub fn running_containers(pod: &Pod, only: Option<&str>) -> Vec<ContainerTarget> {
    let Some(status) = &pod.status else {
        return Vec::new();
    };
    if status.phase.as_deref() != Some("Running") {
        return Vec::new();
    }
    let (Some(uid), Some(namespace), Some(name)) = (
        pod.metadata.uid.as_ref(),
        pod.metadata.namespace.as_ref(),
        pod.metadata.name.as_ref(),
    ) else {
        return Vec::new();
    };
    let qos = status
        .qos_class
        .as_deref()
        .and_then(QosClass::from_pod_status);
    status
        .container_statuses
        .iter()
        .flatten()
        .filter(|c| only.is_none_or(|wanted| c.name == wanted))
        .filter(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .filter_map(|c| {
            let id = strip_scheme(c.container_id.as_deref()?)?;
            Some(ContainerTarget {
                pod_uid: uid.clone(),
                container_id: id.to_owned(),
                qos,
                namespace: namespace.clone(),
                pod: name.clone(),
                container: c.name.clone(),
            })
        })
        .collect()
}

/// `containerd://abc` → `abc`.
fn strip_scheme(id: &str) -> Option<&str> {
    let bare = id.split_once("://").map_or(id, |(_, rest)| rest);
    (!bare.is_empty()).then_some(bare)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::core::v1::{
            Container, ContainerState, ContainerStateRunning, ContainerStateWaiting,
            ContainerStatus, PodSpec, PodStatus,
        },
        apimachinery::pkg::apis::meta::v1::{LabelSelectorRequirement, ObjectMeta},
    };

    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: &str, containers: &[(&str, bool)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("shop".to_owned()),
                uid: Some(format!("uid-{name}")),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: node.map(str::to_owned),
                containers: containers
                    .iter()
                    .map(|(c, _)| Container {
                        name: (*c).to_owned(),
                        ..Container::default()
                    })
                    .collect(),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.to_owned()),
                qos_class: Some("Burstable".to_owned()),
                container_statuses: Some(
                    containers
                        .iter()
                        .map(|(c, running)| ContainerStatus {
                            name: (*c).to_owned(),
                            container_id: running.then(|| format!("containerd://{name}-{c}-id")),
                            state: Some(if *running {
                                ContainerState {
                                    running: Some(ContainerStateRunning::default()),
                                    ..ContainerState::default()
                                }
                            } else {
                                ContainerState {
                                    waiting: Some(ContainerStateWaiting {
                                        reason: Some("ImagePullBackOff".to_owned()),
                                        ..ContainerStateWaiting::default()
                                    }),
                                    ..ContainerState::default()
                                }
                            }),
                            ..ContainerStatus::default()
                        })
                        .collect(),
                ),
                ..PodStatus::default()
            }),
        }
    }

    fn scope(container: Option<&str>) -> Scope {
        Scope {
            namespace: "shop".to_owned(),
            all_namespaces: false,
            selector: None,
            container: container.map(str::to_owned),
            all_nodes: false,
        }
    }

    #[test]
    fn running_pods_become_container_targets_per_node() {
        let pods = [
            pod(
                "a",
                Some("n1"),
                "Running",
                &[("app", true), ("sidecar", true)],
            ),
            pod(
                "b",
                Some("n2"),
                "Running",
                &[("app", true), ("sidecar", true)],
            ),
            pod(
                "c",
                Some("n1"),
                "Running",
                &[("app", true), ("sidecar", true)],
            ),
        ];
        let mut plan = Plan::default();
        add_pods(&mut plan, &pods, &scope(Some("app")), "deployment/x", false).unwrap();
        assert_eq!(plan.nodes.len(), 2);
        let n1 = &plan.nodes["n1"];
        assert_eq!(n1.containers.len(), 2);
        assert_eq!(n1.containers[0].container_id, "a-app-id");
        assert_eq!(n1.containers[0].pod_uid, "uid-a");
        assert_eq!(n1.containers[0].qos, Some(QosClass::Burstable));
        assert_eq!(n1.containers[1].pod, "c");
        assert!(!n1.node_wide);
        assert!(plan.warnings.is_empty());
    }

    #[test]
    fn pods_not_running_are_warnings_unless_named() {
        let pods = [
            pod("a", Some("n1"), "Running", &[("app", true)]),
            pod("b", None, "Pending", &[("app", false)]),
        ];
        let mut plan = Plan::default();
        add_pods(&mut plan, &pods, &scope(None), "deployment/x", false).unwrap();
        assert_eq!(plan.nodes.len(), 1);
        assert_eq!(plan.warnings.len(), 1);
        assert!(plan.warnings[0].contains("shop/b is not scheduled yet (ImagePullBackOff)"));

        let err = add_pods(
            &mut Plan::default(),
            &pods[1..],
            &scope(None),
            "pod/b",
            true,
        )
        .expect_err("a pending pod cannot be traced");
        assert!(
            err.message.contains("nothing to trace in pod/b"),
            "{}",
            err.message
        );
        assert_eq!(err.code, crate::exit::USAGE);
    }

    #[test]
    fn a_missing_container_names_the_ones_there() {
        let pods = [pod("a", Some("n1"), "Running", &[("app", true)])];
        let err = add_pods(
            &mut Plan::default(),
            &pods,
            &scope(Some("db")),
            "pod/a",
            true,
        )
        .expect_err("no such container");
        assert!(
            err.message.contains("has no container db (it has app)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn nothing_found_says_what_was_searched() {
        let err = add_pods(
            &mut Plan::default(),
            &[],
            &scope(None),
            "deployment/x in shop",
            false,
        )
        .expect_err("empty");
        assert!(
            err.message.contains("searched deployment/x in shop"),
            "{}",
            err.message
        );
    }

    #[test]
    fn selectors_render_in_query_syntax() {
        let selector = LabelSelector {
            match_labels: Some([("app".to_owned(), "api".to_owned())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".to_owned(),
                    operator: "In".to_owned(),
                    values: Some(vec!["a".to_owned(), "b".to_owned()]),
                },
                LabelSelectorRequirement {
                    key: "canary".to_owned(),
                    operator: "DoesNotExist".to_owned(),
                    values: None,
                },
            ]),
        };
        assert_eq!(selector_string(&selector), "app=api,tier in (a,b),!canary");
    }

    #[test]
    fn kubectl_combination_rules() {
        let named = [TargetRef {
            kind: Kind::Pod,
            name: "a".to_owned(),
        }];
        let mut s = scope(None);
        assert!(check_combination(&s, &[]).is_err());
        s.selector = Some("app=x".to_owned());
        assert!(check_combination(&s, &named).is_err());
        assert!(check_combination(&s, &[]).is_ok());
        s.selector = None;
        s.all_namespaces = true;
        assert!(check_combination(&s, &named).is_err());
    }

    #[test]
    fn scheme_is_stripped() {
        assert_eq!(strip_scheme("cri-o://abc"), Some("abc"));
        assert_eq!(strip_scheme("abc"), Some("abc"));
        assert_eq!(strip_scheme("docker://"), None);
    }
}
