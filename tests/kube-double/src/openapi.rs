//! Just enough OpenAPI v3 for kubectl: a root index and, per group/version, the PATCH
//! operation of each resource listing the `fieldValidation` query parameter. kubectl
//! (1.27+) reads that to decide it may leave schema validation to the server
//! (`?fieldValidation=Strict`) instead of downloading full schemas; with 404 here it
//! refuses `create -f`/`apply -f` unless `--validate=false`. The double accepts the
//! parameter and validates nothing beyond names.

use serde_json::{Value, json};

use crate::resources;

fn gv_path(group: &str) -> String {
    if group.is_empty() {
        "api/v1".into()
    } else {
        format!("apis/{group}/v1")
    }
}

pub fn serve(path: &str) -> Option<Value> {
    let rest = path.strip_prefix("/openapi/v3")?.trim_matches('/');
    let mut groups = vec![""];
    groups.extend(resources::groups());
    if rest.is_empty() {
        let paths: serde_json::Map<String, Value> = groups
            .iter()
            .map(|g| {
                let p = gv_path(g);
                let url = json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=0")});
                (p, url)
            })
            .collect();
        return Some(json!({ "paths": paths }));
    }
    let group = groups.into_iter().find(|g| gv_path(g) == rest)?;
    let mut paths = serde_json::Map::new();
    for r in resources::ALL.iter().filter(|r| r.group == group) {
        let scope = if r.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let gvk = json!({"group": r.group, "version": r.version, "kind": r.kind});
        let param = json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
        let op = |action: &str| {
            json!({
                "operationId": format!("{action}{}", r.kind),
                "parameters": [param],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        paths.insert(
            format!("/{}/{scope}{}/{{name}}", gv_path(group), r.plural),
            json!({"patch": op("patch"), "put": op("put")}),
        );
        paths.insert(
            format!("/{}/{scope}{}", gv_path(group), r.plural),
            json!({"post": op("post")}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.4"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
