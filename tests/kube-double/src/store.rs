//! The object store: JSON objects keyed by resource, namespace and name, one cluster-wide
//! resourceVersion counter, and a bounded history of changes for watches.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use crate::{
    clock, defaults, ids,
    resources::{self, Resource},
    shape,
    status::ApiError,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: EventType,
    pub resource: &'static str,
    pub namespace: String,
    pub object: Value,
    /// The object before a modification, so selector watches can see it leave.
    pub old: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Foreground,
    Background,
    Orphan,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<Propagation>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// The result of a DELETE: the object is gone, or it is still there, marked for deletion.
#[derive(Debug)]
pub enum Deleted {
    Gone(Value),
    Pending(Value),
}

type Key = (&'static str, String, String);

struct Inner {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    history: VecDeque<Arc<Change>>,
    /// Changes up to and including this resourceVersion are no longer in `history`.
    compacted: u64,
}

pub struct Store {
    inner: Mutex<Inner>,
    history_limit: usize,
    changes: broadcast::Sender<Arc<Change>>,
    latest: watch::Sender<u64>,
}

pub struct Subscription {
    pub backlog: Vec<Arc<Change>>,
    pub live: broadcast::Receiver<Arc<Change>>,
    pub rv: u64,
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (changes, _) = broadcast::channel(history_limit.clamp(1024, 65_536));
        Store {
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                rv: 0,
                history: VecDeque::new(),
                compacted: 0,
            }),
            history_limit: history_limit.max(1),
            changes,
            latest: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wakes on every write; controllers and kubelets loop on it.
    pub fn changed(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, res: &Resource, ns: &str, name: &str) -> Result<Value, ApiError> {
        self.try_get(res.plural, ns, name)
            .ok_or_else(|| ApiError::not_found(res, name))
    }

    pub fn try_get(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let res = resources::ALL.iter().find(|r| r.plural == plural)?;
        self.lock()
            .objects
            .get(&(res.plural, ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of one resource, in one namespace or all; with the list's resourceVersion.
    pub fn list(&self, plural: &'static str, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|((r, n, _), _)| *r == plural && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    /// Visits objects without cloning them all.
    pub fn scan<T>(&self, plural: &str, mut f: impl FnMut(&Value) -> Option<T>) -> Vec<T> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .filter(|((r, _, _), _)| *r == plural)
            .filter_map(|(_, v)| f(v))
            .collect()
    }

    pub fn subscribe(&self, from: Option<u64>) -> Result<Subscription, ApiError> {
        let inner = self.lock();
        let live = self.changes.subscribe();
        let backlog = match from {
            None => Vec::new(),
            Some(rv) if rv < inner.compacted => {
                return Err(ApiError::gone(format!(
                    "too old resource version: {rv} ({})",
                    inner.compacted + 1
                )));
            }
            Some(rv) => inner
                .history
                .iter()
                .filter(|c| c.rv > rv)
                .cloned()
                .collect(),
        };
        Ok(Subscription {
            backlog,
            live,
            rv: inner.rv,
        })
    }

    /// Like `list`, but also subscribes to later changes with no gap in between.
    pub fn list_and_subscribe(
        &self,
        plural: &'static str,
        ns: Option<&str>,
    ) -> (Vec<Value>, Subscription) {
        let inner = self.lock();
        let live = self.changes.subscribe();
        let items = inner
            .objects
            .iter()
            .filter(|((r, n, _), _)| *r == plural && ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v.clone())
            .collect();
        let rv = inner.rv;
        (
            items,
            Subscription {
                backlog: Vec::new(),
                live,
                rv,
            },
        )
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: EventType,
        res: &'static Resource,
        object: &Value,
        old: Option<Value>,
    ) {
        let change = Arc::new(Change {
            rv: inner.rv,
            kind,
            resource: res.plural,
            namespace: meta_str(object, "namespace").to_string(),
            object: object.clone(),
            old,
        });
        inner.history.push_back(change.clone());
        while inner.history.len() > self.history_limit {
            if let Some(dropped) = inner.history.pop_front() {
                inner.compacted = dropped.rv;
            }
        }
        let _ = self.changes.send(change);
        self.latest.send_replace(inner.rv);
    }

    pub fn create(
        &self,
        res: &'static Resource,
        ns: &str,
        mut obj: Value,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
            ));
        }
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        shape::check(res, &obj)?;
        let body_ns = meta_str(&obj, "namespace").to_string();
        if res.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        let mut inner = self.lock();
        let mut name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    res,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
            loop {
                name = format!("{prefix}{}", ids::name_suffix());
                if !inner
                    .objects
                    .contains_key(&(res.plural, ns.to_string(), name.clone()))
                {
                    break;
                }
            }
        }
        if !valid_name(&name) {
            return Err(ApiError::invalid(
                res,
                &name,
                &format!(
                    "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                ),
            ));
        }
        let ns_key = if res.namespaced {
            ns.to_string()
        } else {
            String::new()
        };
        if res.namespaced {
            let namespace = inner
                .objects
                .get(&("namespaces", String::new(), ns.to_string()));
            match namespace {
                None => {
                    return Err(ApiError::not_found(resources::by_plural("namespaces"), ns));
                }
                Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => {
                    return Err(ApiError::new(
                        403,
                        "Forbidden",
                        format!(
                            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                            res.qualified()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        let key = (res.plural, ns_key.clone(), name.clone());
        if inner.objects.contains_key(&key) {
            return Err(ApiError::already_exists(res, &name));
        }
        inner.rv += 1;
        let meta = &mut obj["metadata"];
        meta["name"] = json!(name);
        if res.namespaced {
            meta["namespace"] = json!(ns_key);
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        meta["uid"] = json!(ids::uuid());
        meta["creationTimestamp"] = json!(clock::now());
        meta["resourceVersion"] = json!(inner.rv.to_string());
        meta["generation"] = json!(1);
        if let Some(m) = meta.as_object_mut() {
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
        }
        obj["kind"] = json!(res.kind);
        obj["apiVersion"] = json!(res.api_version());
        defaults::apply(res, &mut obj);
        inner.objects.insert(key, obj.clone());
        self.record(&mut inner, EventType::Added, res, &obj, None);
        Ok(obj)
    }

    /// PUT: replaces the object (or only its status), checking resourceVersion if given.
    pub fn update(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        mut obj: Value,
        status_only: bool,
    ) -> Result<Value, ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was not a JSON object",
            ));
        }
        let mut inner = self.lock();
        let key = (res.plural, scoped(res, ns), name.to_string());
        let Some(current) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(res, name));
        };
        let body_name = meta_str(&obj, "name");
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let want_rv = meta_str(&obj, "resourceVersion");
        if !want_rv.is_empty() && want_rv != meta_str(&current, "resourceVersion") {
            return Err(ApiError::conflict(res, name));
        }
        let mut next = if status_only {
            let mut next = current.clone();
            next["status"] = obj["status"].take();
            next
        } else {
            if !obj["metadata"].is_object() {
                obj["metadata"] = json!({});
            }
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match current["metadata"].get(field) {
                    Some(v) => obj["metadata"][field] = v.clone(),
                    None => {
                        if let Some(m) = obj["metadata"].as_object_mut() {
                            m.remove(field);
                        }
                    }
                }
            }
            // Status changes go through the status subresource.
            obj["status"] = current["status"].clone();
            if obj["spec"] != current["spec"] {
                let g = current["metadata"]["generation"].as_i64().unwrap_or(1);
                obj["metadata"]["generation"] = json!(g + 1);
            }
            obj["kind"] = json!(res.kind);
            obj["apiVersion"] = json!(res.api_version());
            obj
        };
        shape::check(res, &next)?;
        if next == current {
            return Ok(current);
        }
        self.write(&mut inner, res, key, next.take(), current)
    }

    /// An internal read-modify-write (controllers, kubelet); no event when nothing changed.
    pub fn mutate(
        &self,
        plural: &str,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Option<Value> {
        let res = resources::ALL.iter().find(|r| r.plural == plural)?;
        let mut inner = self.lock();
        let key = (res.plural, scoped(res, ns), name.to_string());
        let current = inner.objects.get(&key)?.clone();
        let mut next = current.clone();
        f(&mut next);
        if next == current {
            return Some(current);
        }
        self.write(&mut inner, res, key, next, current).ok()
    }

    fn write(
        &self,
        inner: &mut Inner,
        res: &'static Resource,
        key: Key,
        mut next: Value,
        current: Value,
    ) -> Result<Value, ApiError> {
        inner.rv += 1;
        next["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        // The last finalizer of an object marked for deletion is gone: it goes too.
        let has_finalizers = |v: &Value| {
            v["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
        };
        let finalized = !next["metadata"]["deletionTimestamp"].is_null()
            && has_finalizers(&current)
            && !has_finalizers(&next);
        if finalized {
            inner.objects.remove(&key);
            self.record(inner, EventType::Deleted, res, &next, Some(current));
        } else {
            inner.objects.insert(key, next.clone());
            self.record(inner, EventType::Modified, res, &next, Some(current));
        }
        Ok(next)
    }

    pub fn delete(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let mut inner = self.lock();
        let key = (res.plural, scoped(res, ns), name.to_string());
        let Some(current) = inner.objects.get(&key).cloned() else {
            return Err(ApiError::not_found(res, name));
        };
        if let Some(uid) = &opts.precondition_uid
            && uid != meta_str(&current, "uid")
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    res.qualified(),
                    meta_str(&current, "uid")
                ),
            ));
        }
        if let Some(rv) = &opts.precondition_rv
            && rv != meta_str(&current, "resourceVersion")
        {
            return Err(ApiError::conflict(res, name));
        }
        let marked = !current["metadata"]["deletionTimestamp"].is_null();
        let policy = opts.propagation.unwrap_or(if res.plural == "jobs" {
            // batch/v1 Jobs still default to orphaning their pods over the REST API.
            Propagation::Orphan
        } else {
            Propagation::Background
        });
        let mut next = current.clone();
        let mut pending = false;
        // Pods on a node terminate gracefully: the kubelet kills them, then deletes them.
        let graceful_pod = res.plural == "pods"
            && !current["spec"]["nodeName"].is_null()
            && opts.grace_period_seconds != Some(0)
            && !is_terminal_pod(&current);
        if graceful_pod {
            let grace = opts
                .grace_period_seconds
                .or_else(|| current["spec"]["terminationGracePeriodSeconds"].as_i64())
                .unwrap_or(30);
            if !marked {
                next["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
            }
            pending = true;
        }
        if res.plural == "namespaces" {
            next["status"]["phase"] = json!("Terminating");
            pending = true;
        }
        if policy == Propagation::Foreground {
            add_finalizer(&mut next, "foregroundDeletion");
            pending = true;
        }
        if policy == Propagation::Orphan {
            let uid = meta_str(&current, "uid").to_string();
            self.orphan_dependents(&mut inner, &uid);
        }
        let has_finalizers = next["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if pending || has_finalizers {
            if !marked {
                next["metadata"]["deletionTimestamp"] = json!(clock::now());
            }
            if next == current {
                return Ok(Deleted::Pending(current));
            }
            inner.rv += 1;
            next["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
            inner.objects.insert(key, next.clone());
            self.record(&mut inner, EventType::Modified, res, &next, Some(current));
            return Ok(Deleted::Pending(next));
        }
        inner.rv += 1;
        next["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.remove(&key);
        self.record(&mut inner, EventType::Deleted, res, &next, Some(current));
        Ok(Deleted::Gone(next))
    }

    fn orphan_dependents(&self, inner: &mut Inner, owner_uid: &str) {
        let keys: Vec<Key> = inner
            .objects
            .iter()
            .filter(|(_, v)| owner_refs(v).iter().any(|r| r["uid"] == owner_uid))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let Some(current) = inner.objects.get(&key).cloned() else {
                continue;
            };
            let mut next = current.clone();
            if let Some(refs) = next["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"] != owner_uid);
            }
            let res = resources::by_plural(key.0);
            let _ = self.write(inner, res, key, next, current);
        }
    }

    /// Removes an object now, whatever its finalizers (a kubelet's last word on a pod, the
    /// namespace controller's on an emptied namespace).
    pub fn remove(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let res = resources::ALL.iter().find(|r| r.plural == plural)?;
        let mut inner = self.lock();
        let key = (res.plural, scoped(res, ns), name.to_string());
        let current = inner.objects.remove(&key)?;
        inner.rv += 1;
        let mut gone = current.clone();
        gone["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        self.record(&mut inner, EventType::Deleted, res, &gone, Some(current));
        Some(gone)
    }

    /// Seeds an object at start-up (nodes, namespaces) through the normal create path.
    pub fn seed(&self, plural: &str, obj: Value) {
        let res = resources::by_plural(plural);
        let ns = meta_str(&obj, "namespace").to_string();
        if let Err(err) = self.create(res, &ns, obj) {
            eprintln!("kube-double: seeding {plural}: {}", err.message);
        }
    }
}

fn scoped(res: &Resource, ns: &str) -> String {
    if res.namespaced {
        ns.to_string()
    } else {
        String::new()
    }
}

pub fn owner_refs(obj: &Value) -> &[Value] {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

pub fn add_finalizer(obj: &mut Value, name: &str) {
    if !obj["metadata"]["finalizers"].is_array() {
        obj["metadata"]["finalizers"] = json!([]);
    }
    if let Some(f) = obj["metadata"]["finalizers"].as_array_mut()
        && !f.iter().any(|x| x == name)
    {
        f.push(json!(name));
    }
}

pub fn remove_finalizer(obj: &mut Value, name: &str) {
    if let Some(f) = obj["metadata"]["finalizers"].as_array_mut() {
        f.retain(|x| x != name);
    }
}

pub fn is_terminal_pod(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}
