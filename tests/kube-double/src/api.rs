//! REST routing: `/api/v1/...` and `/apis/GROUP/v1/...` onto the store, plus the double's
//! own `/double/...` control endpoints.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, Request, Response, body::Incoming, header};
use serde_json::{Value, json};

use crate::{
    body::{self, Body},
    cluster::Cluster,
    discovery, faults, kubelet, openapi, patch, proto,
    query::Query,
    resources::{self, Resource},
    selectors::{FieldSelector, LabelSelector},
    status::{self, ApiError},
    store::{DeleteOptions, Deleted, Propagation},
    table, watch,
};

struct Route {
    res: &'static Resource,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn route(path: &str) -> Option<Result<Route, ApiError>> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return None,
    };
    let namespaced = rest.len() >= 3
        && rest[0] == "namespaces"
        && resources::find(group, version, rest[2]).is_some_and(|r| r.namespaced);
    let (namespace, rest) = if namespaced {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let Some(res) = resources::find(group, version, rest[0]) else {
        return Some(Err(ApiError::not_found_path()));
    };
    if rest.len() > 3 || (res.namespaced && namespace.is_none() && rest.len() > 1) {
        return Some(Err(ApiError::not_found_path()));
    }
    let sub = rest.get(2).map(|s| s.to_string());
    if let Some(s) = &sub
        && !res.subresources.contains(&s.as_str())
    {
        return Some(Err(ApiError::not_found_path()));
    }
    Some(Ok(Route {
        res,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        sub,
    }))
}

pub async fn handle(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
    server: String,
) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let q = Query::parse(req.uri().query());
    let req_query = req.uri().query().map(str::to_owned);
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if let Some(rest) = path.strip_prefix("/double/") {
        return control(&cluster, &method, rest, &body);
    }
    cluster.record_request(match req_query.as_deref() {
        Some(query) => format!("{method} {path}?{query}"),
        None => format!("{method} {path}"),
    });
    // kubectl's generators send protobuf: decode it into the JSON everything else uses.
    let (body, content_type) = if proto::is_protobuf(&content_type) {
        match proto::decode(&body) {
            Ok(v) => (Bytes::from(v.to_string()), "application/json".to_string()),
            Err(msg) => {
                return body::error(&ApiError::new(415, "UnsupportedMediaType", msg));
            }
        }
    } else {
        (body, content_type)
    };
    if let Some(err) = cluster.faults.http(method.as_str(), &path) {
        return body::error(&err);
    }
    let table = table::wanted(&accept);
    let call = Call {
        method: &method,
        path: &path,
        q: &q,
        content_type: &content_type,
        body: &body,
        server: &server,
        table,
    };
    match dispatch(&cluster, call).await {
        Ok(resp) => resp,
        Err(err) => body::error(&err),
    }
}

fn control(cluster: &Arc<Cluster>, method: &Method, rest: &str, body: &Bytes) -> Response<Body> {
    match (method, rest.trim_end_matches('/')) {
        (&Method::POST, "faults") => {
            let text = String::from_utf8_lossy(body);
            match faults::parse(&text) {
                Ok(fault) => {
                    kubelet::on_fault(cluster, &fault);
                    cluster.faults.add(fault);
                    body::json(201, &json!({"status": "added"}))
                }
                Err(msg) => body::error(&ApiError::bad_request(msg)),
            }
        }
        (&Method::DELETE, "faults") => {
            cluster.faults.clear();
            body::json(200, &json!({"status": "cleared"}))
        }
        (&Method::GET, "requests") => body::json(200, &json!({"requests": cluster.requests()})),
        (&Method::DELETE, "requests") => {
            cluster.forget_requests();
            body::json(200, &json!({"status": "cleared"}))
        }
        (&Method::GET, "faults") => body::json(
            200,
            &json!({"faults": format!("{:?}", cluster.faults.list())}),
        ),
        _ => body::error(&ApiError::not_found_path()),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({e})"
        ))
    })
}

/// One API request, as routed.
struct Call<'a> {
    method: &'a Method,
    path: &'a str,
    q: &'a Query,
    content_type: &'a str,
    body: &'a Bytes,
    server: &'a str,
    /// The client asked for server-side Tables.
    table: bool,
}

async fn dispatch(cluster: &Arc<Cluster>, call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let Call {
        method,
        path,
        q,
        content_type,
        body,
        server,
        table,
    } = call;
    if method == Method::GET {
        if let Some(doc) = discovery::serve(path, server).or_else(|| openapi::serve(path)) {
            return Ok(body::json(200, &doc));
        }
        if matches!(path, "/healthz" | "/readyz" | "/livez") {
            return Ok(body::text(200, "ok"));
        }
    }
    let r = match route(path) {
        Some(r) => r?,
        None => return Err(ApiError::not_found_path()),
    };
    let ns = r.namespace.clone().unwrap_or_default();
    let store = &cluster.store;
    match (method.clone(), r.name.as_deref(), r.sub.as_deref()) {
        (Method::GET, None, _) => {
            let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
            let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
            let filter = watch::Filter {
                resource: r.res,
                namespace: r.namespace.clone(),
                labels,
                fields,
                table,
            };
            if q.flag("watch") {
                return watch::serve(cluster, filter, q, path);
            }
            let (items, rv) = store.list(r.res.plural, r.namespace.as_deref());
            let items: Vec<Value> = items.into_iter().filter(|o| filter.matches(o)).collect();
            if table {
                return Ok(body::json(200, &table::render(r.res, &items, rv)));
            }
            Ok(body::json(
                200,
                &json!({
                    "kind": format!("{}List", r.res.kind),
                    "apiVersion": r.res.api_version(),
                    "metadata": {"resourceVersion": rv.to_string()},
                    "items": items,
                }),
            ))
        }
        (Method::GET, Some(name), Some("log")) => kubelet::logs::serve(cluster, &ns, name, q),
        (Method::GET, Some(name), _) => {
            let obj = store.get(r.res, &ns, name)?;
            if table {
                return Ok(body::json(200, &table::single(r.res, &obj)));
            }
            Ok(body::json(200, &obj))
        }
        (Method::POST, None, None) => {
            if r.res.namespaced && r.namespace.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = parse_body(body)?;
            if q.get("dryRun").is_some() {
                return Ok(body::json(201, &obj));
            }
            Ok(body::json(201, &store.create(r.res, &ns, obj)?))
        }
        (Method::PUT, Some(name), sub @ (None | Some("status"))) => {
            let obj = parse_body(body)?;
            Ok(body::json(
                200,
                &store.update(r.res, &ns, name, obj, sub.is_some())?,
            ))
        }
        (Method::PATCH, Some(name), sub @ (None | Some("status"))) => {
            patch_object(cluster, r.res, &ns, name, sub.is_some(), content_type, body)
        }
        (Method::DELETE, Some(name), None) => {
            let opts = delete_options(q, body)?;
            match store.delete(r.res, &ns, name, &opts)? {
                Deleted::Pending(obj) => Ok(body::json(202, &obj)),
                Deleted::Gone(obj) if r.res.plural == "pods" => Ok(body::json(200, &obj)),
                Deleted::Gone(obj) => {
                    let mut s = status::success();
                    s["details"] = json!({
                        "name": name, "group": r.res.group, "kind": r.res.plural,
                        "uid": obj["metadata"]["uid"],
                    });
                    Ok(body::json(200, &s))
                }
            }
        }
        (Method::DELETE, None, None) => {
            let opts = delete_options(q, body)?;
            let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())?;
            let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())?;
            let (items, _) = store.list(r.res.plural, r.namespace.as_deref());
            let mut gone = Vec::new();
            for obj in items
                .iter()
                .filter(|o| labels.matches(o) && fields.matches(o))
            {
                let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                let obj_ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
                if let Ok(Deleted::Gone(o) | Deleted::Pending(o)) =
                    store.delete(r.res, obj_ns, name, &opts)
                {
                    gone.push(o);
                }
            }
            Ok(body::json(
                200,
                &json!({
                    "kind": format!("{}List", r.res.kind), "apiVersion": r.res.api_version(),
                    "metadata": {"resourceVersion": store.current_rv().to_string()}, "items": gone,
                }),
            ))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn patch_object(
    cluster: &Cluster,
    res: &'static Resource,
    ns: &str,
    name: &str,
    status_only: bool,
    content_type: &str,
    body: &Bytes,
) -> Result<Response<Body>, ApiError> {
    let patch = parse_body(body)?;
    let current = match cluster.store.get(res, ns, name) {
        Ok(c) => c,
        // Server-side apply creates what is missing.
        Err(err) if content_type.starts_with("application/apply-patch") && err.code == 404 => {
            let mut obj = patch;
            if !obj.is_object() || !(obj["metadata"].is_object() || obj["metadata"].is_null()) {
                return Err(ApiError::bad_request("an apply patch must be an object"));
            }
            obj["metadata"]["name"] = json!(name);
            return Ok(body::json(201, &cluster.store.create(res, ns, obj)?));
        }
        Err(err) => return Err(err),
    };
    let mut next = current.clone();
    if content_type.starts_with("application/json-patch+json") {
        patch::json_patch(&mut next, &patch)?;
    } else if content_type.starts_with("application/merge-patch+json")
        || content_type.starts_with("application/strategic-merge-patch+json")
        || content_type.starts_with("application/apply-patch")
    {
        patch::merge(&mut next, &patch);
    } else {
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type:?})"
            ),
        ));
    }
    // A patch that names no resourceVersion applies to whatever is current.
    if patch["metadata"]["resourceVersion"].is_null() {
        next["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"].clone();
    }
    Ok(body::json(
        200,
        &cluster.store.update(res, ns, name, next, status_only)?,
    ))
}

fn delete_options(q: &Query, body: &Bytes) -> Result<DeleteOptions, ApiError> {
    let from_body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        parse_body(body)?
    };
    let policy = q
        .get("propagationPolicy")
        .map(str::to_string)
        .or_else(|| from_body["propagationPolicy"].as_str().map(str::to_string));
    let mut propagation = match policy.as_deref() {
        None | Some("") => None,
        Some("Foreground") => Some(Propagation::Foreground),
        Some("Background") => Some(Propagation::Background),
        Some("Orphan") => Some(Propagation::Orphan),
        Some(other) => {
            return Err(ApiError::new(
                422,
                "Invalid",
                format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                ),
            ));
        }
    };
    if propagation.is_none() {
        let orphan = q
            .get("orphanDependents")
            .map(|v| v == "true")
            .or_else(|| from_body["orphanDependents"].as_bool());
        propagation = orphan.map(|o| {
            if o {
                Propagation::Orphan
            } else {
                Propagation::Background
            }
        });
    }
    Ok(DeleteOptions {
        propagation,
        grace_period_seconds: q
            .number("gracePeriodSeconds")
            .or_else(|| from_body["gracePeriodSeconds"].as_i64()),
        precondition_uid: from_body["preconditions"]["uid"]
            .as_str()
            .map(str::to_string),
        precondition_rv: from_body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
    })
}
