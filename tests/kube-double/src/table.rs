//! Server-side printing: `meta.k8s.io/v1` Tables for clients that ask for them
//! (`Accept: application/json;as=Table;...`), as kubectl does for human output.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::{clock, resources::Resource};

pub fn wanted(accept: &str) -> bool {
    accept.contains("as=Table")
}

/// Kubernetes' short human durations: `45s`, `3m20s`, `25m`, `5h10m`, `3d`.
pub fn human_age(created: &Value) -> String {
    let Some(t) = created.as_str().and_then(clock::parse_rfc3339) else {
        return "<unknown>".into();
    };
    let s = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && !s.is_multiple_of(60) => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && !m.is_multiple_of(60) => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ => format!("{d}d"),
    }
}

fn columns(res: &Resource) -> Vec<(&'static str, &'static str, u8)> {
    match res.plural {
        "pods" => vec![
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
        ],
        "nodes" => vec![
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ],
        "deployments" => vec![
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Age", "string", 0),
        ],
        "replicasets" | "statefulsets" => vec![
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
        ],
        "daemonsets" => vec![
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
        ],
        "jobs" => vec![
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Age", "string", 0),
        ],
        "configmaps" => vec![
            ("Name", "string", 0),
            ("Data", "integer", 0),
            ("Age", "string", 0),
        ],
        "events" => vec![
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        _ => vec![
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Age", "string", 0),
        ],
    }
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn pod_status(p: &Value) -> String {
    if !p["metadata"]["deletionTimestamp"].is_null() {
        return "Terminating".into();
    }
    let statuses = p["status"]["containerStatuses"].as_array();
    for c in statuses.into_iter().flatten() {
        if let Some(r) = c["state"]["waiting"]["reason"].as_str() {
            return r.into();
        }
    }
    if p["status"]["phase"] != "Running" {
        for c in statuses.into_iter().flatten() {
            if let Some(r) = c["state"]["terminated"]["reason"].as_str() {
                return r.into();
            }
        }
    }
    p["status"]["phase"].as_str().unwrap_or("Pending").into()
}

fn cells(res: &Resource, o: &Value) -> Vec<Value> {
    let name = o["metadata"]["name"].clone();
    let age = human_age(&o["metadata"]["creationTimestamp"]);
    let s = &o["status"];
    match res.plural {
        "pods" => {
            let statuses = s["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses.iter().map(|c| n(&c["restartCount"])).sum();
            let ip = s["podIP"].as_str().unwrap_or("<none>");
            let node = o["spec"]["nodeName"].as_str().unwrap_or("<none>");
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!(restarts.to_string()),
                json!(age),
                json!(ip),
                json!(node),
            ]
        }
        "nodes" => {
            let ready = s["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            let status = match ready.map(|c| c["status"].as_str().unwrap_or_default()) {
                Some("True") => "Ready",
                _ => "NotReady",
            };
            let ip = s["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["type"] == "InternalIP")
                .map(|a| a["address"].clone())
                .unwrap_or(json!("<none>"));
            let info = &s["nodeInfo"];
            vec![
                name,
                json!(status),
                json!("<none>"),
                json!(age),
                info["kubeletVersion"].clone(),
                ip,
                info["kernelVersion"].clone(),
                info["containerRuntimeVersion"].clone(),
            ]
        }
        "deployments" => vec![
            name,
            json!(format!(
                "{}/{}",
                n(&s["readyReplicas"]),
                n(&o["spec"]["replicas"])
            )),
            json!(n(&s["updatedReplicas"])),
            json!(n(&s["availableReplicas"])),
            json!(age),
        ],
        "replicasets" | "statefulsets" => vec![
            name,
            json!(n(&o["spec"]["replicas"])),
            json!(n(&s["replicas"])),
            json!(n(&s["readyReplicas"])),
            json!(age),
        ],
        "daemonsets" => vec![
            name,
            json!(n(&s["desiredNumberScheduled"])),
            json!(n(&s["currentNumberScheduled"])),
            json!(n(&s["numberReady"])),
            json!(age),
        ],
        "jobs" => {
            let conditions = s["conditions"].as_array().cloned().unwrap_or_default();
            let has = |t: &str| {
                conditions
                    .iter()
                    .any(|c| c["type"] == t && c["status"] == "True")
            };
            let status = if has("Complete") {
                "Complete"
            } else if has("Failed") {
                "Failed"
            } else {
                "Running"
            };
            vec![
                name,
                json!(status),
                json!(format!(
                    "{}/{}",
                    n(&s["succeeded"]),
                    n(&o["spec"]["completions"]).max(1)
                )),
                json!(age),
            ]
        }
        "configmaps" => vec![
            name,
            json!(o["data"].as_object().map_or(0, |d| d.len())),
            json!(age),
        ],
        "events" => {
            let obj = &o["involvedObject"];
            vec![
                json!(human_age(&o["lastTimestamp"])),
                o["type"].clone(),
                o["reason"].clone(),
                json!(format!(
                    "{}/{}",
                    obj["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    obj["name"].as_str().unwrap_or_default()
                )),
                o["message"].clone(),
            ]
        }
        _ => vec![name, s["phase"].clone(), json!(age)],
    }
}

fn row(res: &Resource, o: &Value) -> Value {
    json!({
        "cells": cells(res, o),
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]},
    })
}

pub fn render(res: &Resource, items: &[Value], rv: u64) -> Value {
    let defs: Vec<Value> = columns(res)
        .into_iter()
        .map(|(name, kind, priority)| {
            json!({"name": name, "type": kind, "format": if name == "Name" { "name" } else { "" }, "description": "", "priority": priority})
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": defs,
        "rows": items.iter().map(|o| row(res, o)).collect::<Vec<_>>(),
    })
}

/// One object as a watch event's Table.
pub fn single(res: &Resource, o: &Value) -> Value {
    let rv = o["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    render(res, std::slice::from_ref(o), rv)
}
