//! Defaulting on create, as the API server's registry does for the fields clients read.

use serde_json::{Value, json};

use crate::{clock, qos, resources::Resource};

fn default(v: &mut Value, field: &str, value: Value) {
    if v.get(field).is_none_or(Value::is_null) {
        v[field] = value;
    }
}

pub fn apply(res: &Resource, obj: &mut Value) {
    match res.plural {
        "namespaces" => {
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            default(&mut obj["spec"], "finalizers", json!(["kubernetes"]));
            obj["status"] = json!({"phase": "Active"});
        }
        "pods" => pod(obj),
        "jobs" => job(obj),
        "deployments" | "replicasets" | "statefulsets" => {
            default(&mut obj["spec"], "replicas", json!(1));
            template(&mut obj["spec"]["template"]);
            selector_from_template(obj);
            if res.plural == "deployments" {
                default(
                    &mut obj["spec"],
                    "strategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
                );
                default(&mut obj["spec"], "revisionHistoryLimit", json!(10));
                default(&mut obj["spec"], "progressDeadlineSeconds", json!(600));
            }
            if obj.get("status").is_none_or(Value::is_null) {
                obj["status"] = json!({});
            }
        }
        "daemonsets" => {
            template(&mut obj["spec"]["template"]);
            selector_from_template(obj);
            obj["status"] = json!({"currentNumberScheduled": 0, "desiredNumberScheduled": 0, "numberMisscheduled": 0, "numberReady": 0});
        }
        "events" => {
            default(&mut obj["metadata"], "namespace", json!("default"));
            let now = clock::now();
            default(obj, "firstTimestamp", json!(now));
            default(obj, "lastTimestamp", json!(now));
            default(obj, "count", json!(1));
        }
        _ => {}
    }
}

fn selector_from_template(obj: &mut Value) {
    if obj["spec"]["selector"].is_null() {
        let labels = obj["spec"]["template"]["metadata"]["labels"].clone();
        obj["spec"]["selector"] = json!({ "matchLabels": labels });
    }
}

fn template(t: &mut Value) {
    if !t.is_object() {
        return;
    }
    pod_spec(&mut t["spec"]);
}

fn pod_spec(spec: &mut Value) {
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "securityContext", json!({}));
    if let Some(containers) = spec["containers"].as_array_mut() {
        for c in containers {
            let latest = c["image"].as_str().is_some_and(|i| {
                !i.rsplit('/').next().unwrap_or(i).contains(':') || i.ends_with(":latest")
            });
            default(
                c,
                "imagePullPolicy",
                json!(if latest { "Always" } else { "IfNotPresent" }),
            );
            default(c, "terminationMessagePath", json!("/dev/termination-log"));
            default(c, "terminationMessagePolicy", json!("File"));
            default(c, "resources", json!({}));
        }
    }
}

fn pod(obj: &mut Value) {
    pod_spec(&mut obj["spec"]);
    let class = qos::class(&obj["spec"]);
    obj["status"] = json!({"phase": "Pending", "qosClass": class});
}

fn job(obj: &mut Value) {
    let uid = obj["metadata"]["uid"].clone();
    let name = obj["metadata"]["name"].clone();
    let spec = &mut obj["spec"];
    default(spec, "parallelism", json!(1));
    default(spec, "completions", json!(1));
    default(spec, "backoffLimit", json!(6));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    if spec["template"]["spec"]["restartPolicy"].is_null() {
        spec["template"]["spec"]["restartPolicy"] = json!("Never");
    }
    template(&mut spec["template"]);
    let labels = &mut spec["template"]["metadata"]["labels"];
    for key in ["controller-uid", "batch.kubernetes.io/controller-uid"] {
        labels[key] = uid.clone();
    }
    for key in ["job-name", "batch.kubernetes.io/job-name"] {
        labels[key] = name.clone();
    }
    if spec["selector"].is_null() {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    }
    obj["status"] = json!({});
}
