//! Container logs: a per-container-instance buffer of timestamped lines, and the
//! `pods/NAME/log` endpoint with follow, timestamps, sinceSeconds/sinceTime, tailLines,
//! limitBytes and previous.

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime},
};

use bytes::Bytes;
use hyper::Response;
use tokio::sync::watch;

use crate::{
    body::{self, Body},
    clock,
    cluster::Cluster,
    query::Query,
    resources,
    status::ApiError,
};

#[derive(Default)]
struct Inner {
    lines: Vec<(SystemTime, Bytes)>,
    closed: bool,
    aborted: bool,
}

/// The combined stdout+stderr of one container instance.
pub struct LogBuf {
    inner: Mutex<Inner>,
    version: watch::Sender<u64>,
}

impl Default for LogBuf {
    fn default() -> Self {
        LogBuf {
            inner: Mutex::default(),
            version: watch::channel(0).0,
        }
    }
}

impl LogBuf {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    pub fn push(&self, line: impl Into<Bytes>) {
        self.lock().lines.push((SystemTime::now(), line.into()));
        self.bump();
    }

    /// The container exited: followers finish cleanly once they have read everything.
    pub fn close(&self) {
        self.lock().closed = true;
        self.bump();
    }

    /// The node died: followers are cut off.
    pub fn abort(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.aborted = true;
        drop(inner);
        self.bump();
    }

    /// The last `n` lines as text.
    pub fn tail_text(&self, n: usize) -> String {
        let inner = self.lock();
        let start = inner.lines.len().saturating_sub(n);
        inner.lines[start..]
            .iter()
            .map(|(_, l)| String::from_utf8_lossy(l))
            .collect()
    }
}

fn format_line(ts: SystemTime, line: &Bytes, timestamps: bool) -> Bytes {
    if !timestamps {
        return line.clone();
    }
    let mut out = clock::rfc3339_nanos(ts).into_bytes();
    out.push(b' ');
    out.extend_from_slice(line);
    Bytes::from(out)
}

pub fn serve(
    cluster: &Arc<Cluster>,
    ns: &str,
    name: &str,
    q: &Query,
) -> Result<Response<Body>, ApiError> {
    let pod = cluster.store.get(resources::by_plural("pods"), ns, name)?;
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) if names.contains(&c) => c.to_string(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    if !node.is_empty() && cluster.kubelet.is_lost(node) {
        let ip = pod["status"]["hostIP"].as_str().unwrap_or("172.18.0.2");
        return Err(ApiError::internal(format!(
            "Get \"https://{ip}:10250/containerLogs/{ns}/{name}/{container}\": dial tcp {ip}:10250: connect: no route to host"
        )));
    }
    let waiting = || {
        let reason = pod["status"]["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["name"] == container.as_str())
            .and_then(|s| s["state"]["waiting"]["reason"].as_str())
            .unwrap_or("ContainerCreating");
        ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        ))
    };
    let previous = q.flag("previous");
    let log = cluster
        .kubelet
        .log(uid, &container, previous)
        .ok_or_else(|| {
            if previous {
                ApiError::bad_request(format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ))
            } else {
                waiting()
            }
        })?;
    let since = match (q.number("sinceSeconds"), q.get("sinceTime")) {
        (Some(s), _) => Some(
            SystemTime::now()
                .checked_sub(Duration::from_secs(s.max(0) as u64))
                .unwrap_or(SystemTime::UNIX_EPOCH),
        ),
        (None, Some(t)) => Some(clock::parse_rfc3339(t).ok_or_else(|| {
            ApiError::bad_request(format!("invalid sinceTime {t:?}: want RFC 3339"))
        })?),
        (None, None) => None,
    };
    let opts = Options {
        follow: q.flag("follow"),
        timestamps: q.flag("timestamps"),
        since,
        tail: q.number("tailLines").map(|n| n.max(0) as usize),
        limit: q.number("limitBytes").map(|n| n.max(0) as usize),
        cut_after: if q.flag("follow") {
            cluster.faults.take_log_cut(name)
        } else {
            None
        },
    };
    let (tx, body) = body::channel();
    tokio::spawn(stream(log, opts, tx));
    Ok(body::stream("text/plain", body))
}

struct Options {
    follow: bool,
    timestamps: bool,
    since: Option<SystemTime>,
    tail: Option<usize>,
    limit: Option<usize>,
    cut_after: Option<usize>,
}

async fn stream(log: Arc<LogBuf>, opts: Options, tx: body::Sink) {
    let mut changes = log.version.subscribe();
    let mut next = 0;
    let mut sent = 0usize;
    let mut first = true;
    loop {
        changes.borrow_and_update();
        let (batch, closed, aborted) = {
            let inner = log.lock();
            let mut start = next;
            if first {
                if let Some(since) = opts.since {
                    start = inner
                        .lines
                        .iter()
                        .position(|(t, _)| *t >= since)
                        .unwrap_or(inner.lines.len());
                }
                if let Some(tail) = opts.tail {
                    start = start.max(inner.lines.len().saturating_sub(tail));
                }
            }
            let batch: Vec<Bytes> = inner.lines[start..]
                .iter()
                .map(|(t, l)| format_line(*t, l, opts.timestamps))
                .collect();
            next = inner.lines.len();
            (batch, inner.closed, inner.aborted)
        };
        first = false;
        for mut chunk in batch {
            let budget = [opts.limit, opts.cut_after]
                .into_iter()
                .flatten()
                .min()
                .map(|b| b.saturating_sub(sent));
            let over = budget.is_some_and(|b| chunk.len() >= b);
            if let Some(b) = budget
                && over
            {
                chunk.truncate(b);
            }
            sent += chunk.len();
            if !chunk.is_empty() && tx.send(Ok(chunk)).await.is_err() {
                return;
            }
            if over {
                if opts.cut_after.is_some_and(|c| sent >= c) && opts.limit.is_none_or(|l| sent < l)
                {
                    cut(&tx, "log stream cut by fault").await;
                }
                return;
            }
        }
        if aborted {
            cut(&tx, "node lost").await;
            return;
        }
        if !opts.follow || closed {
            return;
        }
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            _ = tx.closed() => return,
        }
    }
}

/// Ends the response without its last chunk, after what was sent has reached the socket.
async fn cut(tx: &body::Sink, why: &str) {
    while tx.capacity() < tx.max_capacity() && !tx.is_closed() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The server writes a frame after taking it from the channel.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = tx.send(Err(std::io::Error::other(why.to_string()))).await;
}
