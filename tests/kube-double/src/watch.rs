//! Watch streams: newline-delimited `{"type", "object"}` events, chunked.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::{
    body::{self, Body, Sink},
    cluster::Cluster,
    query::Query,
    resources::Resource,
    selectors::{FieldSelector, LabelSelector},
    status::ApiError,
    store::{Change, EventType},
};

pub struct Filter {
    pub resource: &'static Resource,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// Events carry one-row Tables instead of objects.
    pub table: bool,
}

impl Filter {
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// What a watcher with this filter sees of a change, if anything.
    fn view(&self, change: &Change) -> Option<(&'static str, Value)> {
        if change.resource != self.resource.plural
            || self
                .namespace
                .as_deref()
                .is_some_and(|ns| ns != change.namespace)
        {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.old.as_ref().is_some_and(|o| self.matches(o));
        let kind = match change.kind {
            EventType::Added if now => "ADDED",
            EventType::Deleted if before || now => "DELETED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            _ => return None,
        };
        let object = if self.table {
            crate::table::single(self.resource, &change.object)
        } else {
            change.object.clone()
        };
        Some((kind, object))
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn bookmark(res: &Resource, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        &json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": meta}),
    )
}

/// A watch of `path` (for the faults that name watches by path).
pub fn serve(
    cluster: &Arc<Cluster>,
    filter: Filter,
    q: &Query,
    path: &str,
) -> Result<Response<Body>, ApiError> {
    let rv = q.get("resourceVersion").unwrap_or_default();
    let send_initial = q.flag("sendInitialEvents");
    let bookmarks = q.flag("allowWatchBookmarks");
    let timeout = Duration::from_secs(
        q.number("timeoutSeconds")
            .map_or(1800, |t| t.clamp(1, 86_400) as u64),
    );
    let resuming = !(rv.is_empty() || rv == "0" || send_initial);
    let (initial, sub, expired) = if resuming && cluster.faults.take_expired_resume(path) {
        let sub = cluster.store.subscribe(None)?;
        let err = ApiError::gone(format!("too old resource version: {rv}"));
        (Vec::new(), sub, Some(err))
    } else if !resuming {
        let (items, sub) = cluster
            .store
            .list_and_subscribe(filter.resource.plural, filter.namespace.as_deref());
        (items, sub, None)
    } else {
        let from: u64 = rv
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        match cluster.store.subscribe(Some(from)) {
            Ok(sub) => (Vec::new(), sub, None),
            // The server answers 200 and then an ERROR event carrying 410 Expired.
            Err(err) => {
                let sub = cluster.store.subscribe(None)?;
                (Vec::new(), sub, Some(err))
            }
        }
    };
    let events = Budget(cluster.faults.take_watch_cut(path));
    let (tx, body) = body::channel();
    tokio::spawn(pump(
        tx,
        events,
        filter,
        initial,
        sub,
        expired,
        send_initial,
        bookmarks,
        timeout,
    ));
    Ok(body::stream("application/json", body))
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, each a watch parameter"
)]
async fn pump(
    tx: Sink,
    mut events: Budget,
    filter: Filter,
    initial: Vec<Value>,
    mut sub: crate::store::Subscription,
    expired: Option<ApiError>,
    send_initial: bool,
    bookmarks: bool,
    timeout: Duration,
) {
    if let Some(err) = expired {
        let _ = tx.send(Ok(line("ERROR", &err.body()))).await;
        return;
    }
    for obj in initial.iter().filter(|o| filter.matches(o)) {
        if !events.take() {
            return;
        }
        let obj = if filter.table {
            crate::table::single(filter.resource, obj)
        } else {
            obj.clone()
        };
        if tx.send(Ok(line("ADDED", &obj))).await.is_err() {
            return;
        }
    }
    let mut last_rv = sub.rv;
    if send_initial
        && tx
            .send(Ok(bookmark(filter.resource, last_rv, true)))
            .await
            .is_err()
    {
        return;
    }
    for change in std::mem::take(&mut sub.backlog) {
        last_rv = change.rv;
        if let Some((kind, obj)) = filter.view(&change)
            && (!events.take() || tx.send(Ok(line(kind, &obj))).await.is_err())
        {
            return;
        }
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            _ = tick.tick() => {
                if bookmarks && tx.send(Ok(bookmark(filter.resource, last_rv, false))).await.is_err() {
                    return;
                }
            }
            change = sub.live.recv() => match change {
                Ok(change) => {
                    if change.rv <= last_rv {
                        continue;
                    }
                    last_rv = change.rv;
                    if let Some((kind, obj)) = filter.view(&change)
                        && (!events.take() || tx.send(Ok(line(kind, &obj))).await.is_err())
                    {
                        return;
                    }
                }
                // Too slow a reader: end the stream cleanly; the client resumes from its
                // last resourceVersion.
                Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
            },
        }
    }
}

/// How many more events a watch a fault cuts may carry; unlimited without one.
struct Budget(Option<usize>);

impl Budget {
    /// Whether one more event may go out (and counts it).
    fn take(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
        }
    }
}
