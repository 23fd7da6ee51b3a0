//! `kubectl ebpf rbac` grants what the plugin uses: every API request the plugin makes
//! against the double, in traces by deployment, by selector across namespaces and by node,
//! and in `list` and `delete`, is allowed by the rules it prints. (The double does not
//! enforce RBAC, so the check is made here, the way the API server's authorizer makes it.)

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use e2e::cluster::{Cluster, workload_deployment};
use serde_json::Value;

const JOB_NAMESPACE: &str = "kubectl-ebpf";

/// Grants used only when a create is retried after its answer was lost: the object may
/// exist already, and is then read instead.
const ONLY_ON_RETRY: &[(&str, &str)] = &[("get", "jobs")];

/// What the authorizer sees of a resource request.
#[derive(Debug)]
struct Attributes {
    verb: &'static str,
    group: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

/// The authorizer's view of `METHOD path?query`; `None` for non-resource paths
/// (discovery, version), which every authenticated user may read.
fn attributes(request: &str) -> Option<Attributes> {
    let (method, target) = request.split_once(' ')?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => ((*group).to_owned(), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => {
            (Some((*namespace).to_owned()), rest)
        }
        // The namespace object itself.
        ["namespaces", name] => (None, &["namespaces", *name][..]),
        rest => (None, rest),
    };
    let (resource, name, sub) = match rest {
        [resource] => ((*resource).to_owned(), None, None),
        [resource, name] => ((*resource).to_owned(), Some((*name).to_owned()), None),
        [resource, name, sub] => ((*resource).to_owned(), Some((*name).to_owned()), Some(*sub)),
        _ => return None,
    };
    let watch = query
        .split('&')
        .any(|pair| pair == "watch=true" || pair == "watch=1");
    let verb = match (method, name.is_some()) {
        ("GET", _) if watch => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => return None,
    };
    Some(Attributes {
        verb,
        group,
        resource: match sub {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource,
        },
        namespace,
        name,
    })
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether one PolicyRule allows the request.
fn allows(rule: &Value, request: &Attributes) -> bool {
    let names = strings(&rule["resourceNames"]);
    strings(&rule["apiGroups"]).contains(&request.group.as_str())
        && strings(&rule["resources"]).contains(&request.resource.as_str())
        && strings(&rule["verbs"]).contains(&request.verb)
        && (names.is_empty()
            || request
                .name
                .as_deref()
                .is_some_and(|name| names.contains(&name)))
}

/// Whether the printed ClusterRole (anywhere) or Role (in its namespace) allows it.
fn granted(objects: &[Value], request: &Attributes) -> bool {
    objects.iter().any(|object| {
        let applies = match object["kind"].as_str() {
            Some("ClusterRole") => true,
            Some("Role") => {
                request.namespace.as_deref() == object["metadata"]["namespace"].as_str()
            }
            _ => false,
        };
        applies
            && object["rules"]
                .as_array()
                .is_some_and(|rules| rules.iter().any(|rule| allows(rule, request)))
    })
}

fn run_ok(cluster: &Cluster, args: &[&str]) -> String {
    let output = cluster
        .plugin()
        .args(args)
        .output()
        .expect("run kubectl-ebpf");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "kubectl-ebpf {args:?}: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_printed_rbac_allows_every_request_the_plugin_makes_and_no_more() {
    let cluster = Cluster::start(2, &[]);
    let trigger = cluster.trigger("go");
    cluster.apply(&workload_deployment("checkout", 2, 1_000, &trigger));
    let pods = cluster.wait_running("default", "app=checkout", 2);
    let node = pods[0]["spec"]["nodeName"]
        .as_str()
        .expect("scheduled")
        .to_owned();
    std::fs::write(&trigger, b"").expect("pull the trigger");
    // The operator applies what `rbac` prints; this double serves no RBAC objects, so of
    // those only the jobs namespace is created.
    let printed: Value =
        serde_json::from_str(&run_ok(&cluster, &["rbac", "-o", "json"])).expect("a JSON List");
    let objects = printed["items"].as_array().expect("items").clone();
    let namespace = objects
        .iter()
        .find(|object| object["kind"] == "Namespace")
        .expect("the jobs namespace");
    assert_eq!(namespace["metadata"]["name"], JOB_NAMESPACE);
    cluster.apply(&namespace.to_string());
    cluster.forget_requests();

    for args in [
        vec![
            "trace",
            "syscall-latency",
            "deploy/checkout",
            "-d",
            "1s",
            "-o",
            "json",
        ],
        vec![
            "trace",
            "syscall-count",
            "-A",
            "-l",
            "app=checkout",
            "-d",
            "1s",
            "-o",
            "json",
        ],
        vec!["programs", "--all-nodes", "-d", "1s", "-o", "json"],
        vec![
            "trace",
            "exec",
            &format!("node/{node}"),
            "--all-nodes",
            "-d",
            "1s",
            "-o",
            "json",
        ],
    ] {
        run_ok(&cluster, &args);
    }
    // Targets that do not exist are still looked up, each with its own request.
    for target in ["sts/none", "ds/none", "rs/none", "job/none", "pod/none"] {
        let output = cluster
            .plugin()
            .args(["trace", "syscall-latency", target, "-d", "1s"])
            .output()
            .expect("run kubectl-ebpf");
        assert_eq!(output.status.code(), Some(2), "{target}: {output:?}");
    }
    // A trace whose tracer pods admission refuses is explained from the Job's events.
    cluster.inject(r#"{"kind":"job-pods-forbidden","namespace":"kubectl-ebpf"}"#);
    let refused = cluster
        .plugin()
        .args(["trace", "syscall-latency", "deploy/checkout", "-d", "1s"])
        .output()
        .expect("run kubectl-ebpf");
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    cluster.clear_faults();
    // A trace stopped from outside: `list` sees it, `delete` removes it.
    let mut running = cluster
        .plugin()
        .args([
            "trace",
            "syscall-latency",
            "deploy/checkout",
            "-d",
            "60s",
            "-o",
            "json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a trace");
    let started = Instant::now();
    while cluster.trace_objects().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the trace never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(run_ok(&cluster, &["list"]).contains("deploy/checkout"));
    run_ok(&cluster, &["version"]);
    run_ok(&cluster, &["delete", "--all"]);
    running.wait().expect("the stopped trace ends");

    let objects = &objects;
    let requests: Vec<String> = cluster.requests();
    let resource_requests: Vec<(String, Attributes)> = requests
        .iter()
        .filter_map(|request| Some((request.clone(), attributes(request)?)))
        .collect();
    assert!(
        resource_requests.len() > 20,
        "too few requests recorded to mean anything: {requests:?}"
    );
    let refused: Vec<&String> = resource_requests
        .iter()
        .filter(|(_, attributes)| !granted(objects, attributes))
        .map(|(request, _)| request)
        .collect();
    assert!(refused.is_empty(), "not granted: {refused:#?}");

    // And no more: every rule's every verb was needed by some request.
    let mut unused = Vec::new();
    for object in objects {
        for rule in object["rules"].as_array().into_iter().flatten() {
            let groups = strings(&rule["apiGroups"]);
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    let used = resource_requests.iter().any(|(_, request)| {
                        request.resource == resource
                            && request.verb == verb
                            && groups.contains(&request.group.as_str())
                    });
                    if !used && !ONLY_ON_RETRY.contains(&(verb, resource)) {
                        unused.push(format!("{} {verb} {resource}", object["kind"]));
                    }
                }
            }
        }
    }
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
}

#[test]
fn requests_are_read_the_way_the_authorizer_reads_them() {
    let get = attributes("GET /api/v1/namespaces/kubectl-ebpf/pods/p-1/log?follow=true")
        .expect("a resource request");
    assert_eq!(
        (get.verb, get.resource.as_str(), get.namespace.as_deref()),
        ("get", "pods/log", Some(JOB_NAMESPACE))
    );
    let watch = attributes("GET /api/v1/namespaces/kubectl-ebpf/pods?watch=true&labelSelector=a")
        .expect("a resource request");
    assert_eq!(watch.verb, "watch");
    let namespace = attributes("GET /api/v1/namespaces/kubectl-ebpf").expect("a namespace");
    assert_eq!(
        (namespace.resource.as_str(), namespace.name.as_deref()),
        ("namespaces", Some(JOB_NAMESPACE))
    );
    let all = attributes("GET /api/v1/pods?labelSelector=app%3Dx").expect("a list");
    assert_eq!((all.verb, all.namespace), ("list", None));
    let job = attributes("DELETE /apis/batch/v1/namespaces/kubectl-ebpf/jobs/j").expect("job");
    assert_eq!((job.verb, job.group.as_str()), ("delete", "batch"));
    assert!(attributes("GET /apis/batch/v1").is_none());
    assert!(attributes("GET /version").is_none());
}
