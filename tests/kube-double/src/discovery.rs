//! Discovery documents: /version, /api, /apis and the per-group resource lists.
//!
//! Aggregated discovery (requested through the Accept header) is not implemented: plain
//! APIVersions / APIGroupList / APIResourceList JSON is a legal answer and clients fall
//! back to it. OpenAPI documents are answered with 404, which makes kubectl skip client-side
//! schema validation.

use serde_json::{Value, json};

use crate::resources::{self, Resource};

pub fn serve(path: &str, server_address: &str) -> Option<Value> {
    let path = path.trim_end_matches('/');
    Some(match path {
        "/version" => json!({
            "major": "1", "minor": "32", "gitVersion": "v1.32.4",
            "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
            "buildDate": "2025-04-22T16:03:29Z", "goVersion": "go1.23.8", "compiler": "gc",
            "platform": "linux/amd64",
        }),
        "/api" => json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }),
        "/apis" => json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": resources::groups().into_iter().map(group).collect::<Vec<_>>(),
        }),
        "/api/v1" => resource_list("", "v1"),
        _ => {
            let rest = path.strip_prefix("/apis/")?;
            match rest.split('/').collect::<Vec<_>>()[..] {
                [g] if resources::groups().contains(&g) => {
                    let mut v = group(g);
                    v["kind"] = json!("APIGroup");
                    v["apiVersion"] = json!("v1");
                    v
                }
                [g, "v1"] if resources::groups().contains(&g) => resource_list(g, "v1"),
                _ => return None,
            }
        }
    })
}

fn group(name: &str) -> Value {
    let gv = json!({"groupVersion": format!("{name}/v1"), "version": "v1"});
    json!({"name": name, "versions": [gv], "preferredVersion": gv})
}

fn verbs(r: &Resource) -> Vec<&'static str> {
    let mut v = vec![
        "create", "delete", "get", "list", "patch", "update", "watch",
    ];
    if r.plural != "namespaces" {
        v.insert(1, "deletecollection");
    }
    v
}

fn resource_list(group: &str, version: &str) -> Value {
    let mut list = Vec::new();
    for r in resources::ALL
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs(r),
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        list.push(entry);
        for sub in r.subresources {
            let (kind, verbs, group_version) = match *sub {
                "log" => ("Pod", vec!["get"], None),
                "scale" => (
                    "Scale",
                    vec!["get", "patch", "update"],
                    Some("autoscaling/v1"),
                ),
                _ => (r.kind, vec!["get", "patch", "update"], None),
            };
            let mut e = json!({
                "name": format!("{}/{sub}", r.plural), "singularName": "",
                "namespaced": r.namespaced, "kind": kind, "verbs": verbs,
            });
            if let Some(gv) = group_version {
                let (g, v) = gv.split_once('/').unwrap_or(("", gv));
                e["group"] = json!(g);
                e["version"] = json!(v);
            }
            list.push(e);
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
}
