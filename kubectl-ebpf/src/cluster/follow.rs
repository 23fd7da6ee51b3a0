//! Following a trace's tracer pods: watch them by trace id, report why a node is not
//! tracing yet, stream each tracer's log as soon as it runs, and say how each node ended.
//! Everything arrives as [`NodeEvent`]s, the same ones local mode produces.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Node, Pod};
use kube::{
    Api, Client,
    api::{ListParams, LogParams},
    runtime::{WatchStreamExt, watcher},
};
use tokio::sync::mpsc;
use tracer_protocol::ErrorCode;

use super::manifest::{NODE_ANNOTATION, TRACE_ID_LABEL, TRACER_CONTAINER};
use crate::launch::NodeEvent;

/// Waiting reasons that will not clear by themselves: the node fails at once.
const FATAL_REASONS: &[&str] = &[
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// A log stream that ends while its container still runs is reopened this often at most
/// before the node is given up as lost.
const MAX_REOPENINGS: u32 = 10;

/// How long a log stream may go on after its container ended.
const LOG_DRAIN_WAIT: Duration = Duration::from_secs(15);

/// How often pods that never appeared are explained from the Job's events.
const EVENT_CHECK_EVERY: Duration = Duration::from_secs(2);

/// What to follow.
#[derive(Clone, Debug)]
pub struct Follow {
    pub namespace: String,
    pub trace_id: String,
    /// Node → its Job's name.
    pub jobs: BTreeMap<String, String>,
    pub start_timeout: Duration,
}

/// Per node: where its tracer is and what is known of its end.
#[derive(Debug)]
struct Track {
    job: String,
    pod: Option<String>,
    following: bool,
    lines_seen: usize,
    log_ended: bool,
    reopenings: u32,
    /// How the container ended, once it has, and when that was seen.
    terminated: Option<(String, bool)>,
    terminated_at: Option<Instant>,
    ended: bool,
    why: String,
}

/// A log follower's last word.
struct LogEnded {
    node: String,
    lines_seen: usize,
    error: Option<String>,
}

pub fn spawn(
    client: Client,
    follow: Follow,
    events: mpsc::Sender<NodeEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(client, follow, events))
}

async fn run(client: Client, follow: Follow, events: mpsc::Sender<NodeEvent>) {
    let started = Instant::now();
    let mut tracks: BTreeMap<String, Track> = follow
        .jobs
        .iter()
        .map(|(node, job)| {
            let track = Track {
                job: job.clone(),
                pod: None,
                following: false,
                lines_seen: 0,
                log_ended: false,
                reopenings: 0,
                terminated: None,
                terminated_at: None,
                ended: false,
                why: "waiting for the Job's pod".to_owned(),
            };
            (node.clone(), track)
        })
        .collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &follow.namespace);
    let config =
        watcher::Config::default().labels(&format!("{TRACE_ID_LABEL}={}", follow.trace_id));
    let mut pod_events = watcher(pods.clone(), config).default_backoff().boxed();
    let (log_tx, mut log_rx) = mpsc::channel::<LogEnded>(64);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut last_event_check = Instant::now();
    let mut follower = Follower {
        pods: pods.clone(),
        lines: events.clone(),
        ended: log_tx,
    };
    while tracks.values().any(|track| !track.ended) {
        tokio::select! {
            event = pod_events.next() => match event {
                Some(Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => {
                    on_pod(&mut tracks, &pod, false, &mut follower, &events).await;
                }
                Some(Ok(watcher::Event::Delete(pod))) => {
                    on_pod(&mut tracks, &pod, true, &mut follower, &events).await;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => {
                    // The watcher retries with backoff; say so only once per failure.
                    for (node, track) in tracks.iter_mut().filter(|(_, t)| !t.ended && !t.following) {
                        let why = format!("watching pods failed, retrying: {err}");
                        if track.why != why {
                            track.why.clone_from(&why);
                            let _ = events.send(NodeEvent::Waiting { node: node.clone(), why }).await;
                        }
                    }
                }
                None => break,
            },
            Some(ended) = log_rx.recv() => {
                on_log_ended(&client, &mut tracks, ended, &mut follower, &events).await;
            }
            _ = tick.tick() => {
                // A log that never ends after its container did must not hold the trace.
                for (node, track) in tracks.iter_mut().filter(|(_, t)| !t.ended) {
                    if let (Some((how, success)), Some(at)) = (track.terminated.clone(), track.terminated_at)
                        && at.elapsed() >= LOG_DRAIN_WAIT
                    {
                        end(node, track, how, success, &events).await;
                    }
                }
                let check_events = last_event_check.elapsed() >= EVENT_CHECK_EVERY;
                if check_events {
                    last_event_check = Instant::now();
                }
                for (node, track) in tracks.iter_mut().filter(|(_, t)| !t.ended && !t.following) {
                    if check_events && track.pod.is_none()
                        && let Some(refusal) = job_refusal(&client, &follow.namespace, &track.job).await
                    {
                            let hint = if refusal.contains("PodSecurity") {
                                "label the jobs namespace pod-security.kubernetes.io/enforce=privileged, or use --job-namespace"
                            } else {
                                "check the Job's events (kubectl describe job -n NAMESPACE) and quotas"
                            };
                            fail(node, track, ErrorCode::PermissionDenied, format!("the tracer pod was refused: {refusal}"), hint, &events).await;
                            continue;
                    }
                    if started.elapsed() >= follow.start_timeout {
                        let why = format!(
                            "the tracer did not start within {}s ({})",
                            follow.start_timeout.as_secs(),
                            track.why
                        );
                        fail(node, track, ErrorCode::Internal, why, "see `kubectl describe pod` in the jobs namespace, or raise --start-timeout", &events).await;
                    }
                }
            }
        }
    }
}

/// Starts log followers and sends their lines on.
struct Follower {
    pods: Api<Pod>,
    lines: mpsc::Sender<NodeEvent>,
    ended: mpsc::Sender<LogEnded>,
}

impl Follower {
    fn start(&self, node: &str, pod: &str, skip_lines: usize, delay: Duration) {
        let pods = self.pods.clone();
        let lines = self.lines.clone();
        let ended = self.ended.clone();
        let node = node.to_owned();
        let pod = pod.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let (lines_seen, error) = stream_log(&pods, &node, &pod, skip_lines, &lines).await;
            let _ = ended
                .send(LogEnded {
                    node,
                    lines_seen,
                    error,
                })
                .await;
        });
    }
}

/// Streams one tracer's log from the start, skipping the lines an earlier stream already
/// passed on. A fragment with no newline at the end of a stream is not passed on: the
/// stream was cut, and a reopened one will bring the whole line.
async fn stream_log(
    pods: &Api<Pod>,
    node: &str,
    pod: &str,
    skip_lines: usize,
    lines: &mpsc::Sender<NodeEvent>,
) -> (usize, Option<String>) {
    let params = LogParams {
        container: Some(TRACER_CONTAINER.to_owned()),
        follow: true,
        ..LogParams::default()
    };
    let mut reader = match pods.log_stream(pod, &params).await {
        Ok(reader) => reader,
        Err(err) => return (skip_lines, Some(err.to_string())),
    };
    let mut seen = 0usize;
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        match reader.read_until(b'\n', &mut buffer).await {
            Ok(0) => return (seen.max(skip_lines), None),
            Ok(_) if buffer.last() != Some(&b'\n') => {
                return (
                    seen.max(skip_lines),
                    Some("log stream cut mid-line".to_owned()),
                );
            }
            Ok(_) => {
                seen += 1;
                if seen <= skip_lines {
                    continue;
                }
                buffer.pop();
                let line = String::from_utf8_lossy(&buffer).into_owned();
                let event = NodeEvent::Line {
                    node: node.to_owned(),
                    line,
                };
                if lines.send(event).await.is_err() {
                    return (seen, None);
                }
            }
            Err(err) => return (seen.max(skip_lines), Some(err.to_string())),
        }
    }
}

async fn on_pod(
    tracks: &mut BTreeMap<String, Track>,
    pod: &Pod,
    deleted: bool,
    follower: &mut Follower,
    events: &mpsc::Sender<NodeEvent>,
) {
    let Some(node) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(NODE_ANNOTATION))
        .cloned()
    else {
        return;
    };
    let Some(track) = tracks.get_mut(&node) else {
        return;
    };
    if track.ended {
        return;
    }
    let name = pod.metadata.name.clone().unwrap_or_default();
    track.pod = Some(name.clone());
    let status = tracer_status(pod);
    if let Some(state) = status.and_then(|s| s.state.as_ref()) {
        if (state.running.is_some() || state.terminated.is_some()) && !track.following {
            track.following = true;
            let _ = events
                .send(NodeEvent::Waiting {
                    node: node.clone(),
                    why: "tracer started".to_owned(),
                })
                .await;
            follower.start(&node, &name, 0, Duration::ZERO);
        }
        if let Some(terminated) = &state.terminated {
            let success = terminated.exit_code == 0;
            let mut how = match terminated.exit_code {
                // 128 + 9: the kernel's OOM killer, or someone, sent SIGKILL.
                137 => "tracer was killed (SIGKILL, exit code 137)".to_owned(),
                code => format!("tracer exited with code {code}"),
            };
            if let Some(reason) = terminated.reason.as_deref().filter(|r| *r != "Completed") {
                how.push_str(&format!(" ({reason})"));
            }
            track.terminated = Some((how, success));
            track.terminated_at.get_or_insert_with(Instant::now);
        }
        if let Some(waiting) = &state.waiting {
            let reason = waiting
                .reason
                .clone()
                .unwrap_or_else(|| "Waiting".to_owned());
            let why = match &waiting.message {
                Some(message) => format!("{reason}: {message}"),
                None => reason.clone(),
            };
            if FATAL_REASONS.contains(&reason.as_str()) {
                let hint = if reason.contains("Image") {
                    "check --image and that the node can pull it"
                } else {
                    "see `kubectl describe pod` in the jobs namespace"
                };
                fail(
                    &node,
                    track,
                    ErrorCode::Internal,
                    format!("the tracer cannot start: {why}"),
                    hint,
                    events,
                )
                .await;
                return;
            }
            waiting_changed(&node, track, why, events).await;
        }
    } else if let Some(why) = pending_reason(pod) {
        waiting_changed(&node, track, why, events).await;
    }
    if deleted && track.terminated.is_none() {
        if track.following {
            // The log stream ends when the container does; it will say.
            track.terminated = Some(("tracer pod was deleted".to_owned(), true));
            track.terminated_at.get_or_insert_with(Instant::now);
        } else {
            end(
                &node,
                track,
                "the tracer pod was deleted before it started".to_owned(),
                false,
                events,
            )
            .await;
            return;
        }
    }
    if track.log_ended
        && let Some((how, success)) = track.terminated.clone()
    {
        end(&node, track, how, success, events).await;
    }
}

async fn on_log_ended(
    client: &Client,
    tracks: &mut BTreeMap<String, Track>,
    ended: LogEnded,
    follower: &mut Follower,
    events: &mpsc::Sender<NodeEvent>,
) {
    let Some(track) = tracks.get_mut(&ended.node) else {
        return;
    };
    track.lines_seen = ended.lines_seen;
    if track.ended {
        return;
    }
    if let Some((how, success)) = track.terminated.clone() {
        track.log_ended = true;
        end(&ended.node, track, how, success, events).await;
        return;
    }
    // The container still runs (or its end is not visible yet): the stream was cut.
    if let Some(lost) = node_not_ready(client, &ended.node).await {
        fail(
            &ended.node,
            track,
            ErrorCode::Internal,
            lost,
            "the other nodes' results are shown",
            events,
        )
        .await;
        return;
    }
    track.reopenings += 1;
    if track.reopenings > MAX_REOPENINGS {
        let why = format!(
            "its log stream broke {MAX_REOPENINGS} times{}",
            ended
                .error
                .map(|e| format!(" (last: {e})"))
                .unwrap_or_default()
        );
        end(&ended.node, track, why, false, events).await;
        return;
    }
    let Some(pod) = track.pod.clone() else {
        return;
    };
    follower.start(
        &ended.node,
        &pod,
        track.lines_seen,
        Duration::from_millis(300),
    );
}

/// Why the node is lost, when its Ready condition is not True.
async fn node_not_ready(client: &Client, node: &str) -> Option<String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let found = nodes.get(node).await.ok()?;
    let ready = found
        .status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "Ready")?;
    (ready.status != "True").then(|| {
        format!(
            "node {node} stopped reporting (Ready={}{}); its tracer's result is lost",
            ready.status,
            ready.reason.map(|r| format!(", {r}")).unwrap_or_default()
        )
    })
}

/// A FailedCreate event on the Job: admission or quota refused its pod.
async fn job_refusal(client: &Client, namespace: &str, job: &str) -> Option<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={job}"));
    let list = events.list(&params).await.ok()?;
    list.items
        .into_iter()
        .filter(|event| event.reason.as_deref() == Some("FailedCreate"))
        .filter_map(|event| event.message)
        .next_back()
}

fn tracer_status(pod: &Pod) -> Option<&ContainerStatus> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|status| status.name == TRACER_CONTAINER)
}

/// Why a pod with no container status yet is waiting (e.g. Unschedulable).
fn pending_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let condition = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.status == "False" && c.reason.is_some());
    match condition {
        Some(c) => Some(match &c.message {
            Some(message) => format!("{}: {message}", c.reason.clone().unwrap_or_default()),
            None => c.reason.clone().unwrap_or_default(),
        }),
        None => status.phase.clone(),
    }
}

async fn waiting_changed(
    node: &str,
    track: &mut Track,
    why: String,
    events: &mpsc::Sender<NodeEvent>,
) {
    if track.why != why {
        track.why.clone_from(&why);
        let _ = events
            .send(NodeEvent::Waiting {
                node: node.to_owned(),
                why,
            })
            .await;
    }
}

async fn fail(
    node: &str,
    track: &mut Track,
    code: ErrorCode,
    message: String,
    hint: &str,
    events: &mpsc::Sender<NodeEvent>,
) {
    if track.ended {
        return;
    }
    track.ended = true;
    let _ = events
        .send(NodeEvent::Failed {
            node: node.to_owned(),
            code,
            message,
            hint: hint.to_owned(),
        })
        .await;
}

async fn end(
    node: &str,
    track: &mut Track,
    status: String,
    success: bool,
    events: &mpsc::Sender<NodeEvent>,
) {
    if track.ended {
        return;
    }
    track.ended = true;
    let _ = events
        .send(NodeEvent::Ended {
            node: node.to_owned(),
            status,
            success,
            stderr: String::new(),
        })
        .await;
}
