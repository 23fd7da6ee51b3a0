//! Merging the record streams of every node into one result. Snapshots are cumulative,
//! so each node's last snapshot per key replaces its earlier ones; nodes are then summed.

use std::collections::{BTreeMap, btree_map::Entry};

use serde::Serialize;
use tracer_protocol::{
    Bucket, Decoded, ErrorCode, LoadedProgram, ProgramStats, Record, StatOp, TargetState,
};

use crate::heatmap::{Heatmap, Timeline};

pub type Key = BTreeMap<String, String>;

/// Identifies one histogram across nodes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HistId {
    probe: String,
    name: String,
    key: Key,
}

/// A histogram summed over nodes: unit, and count per `(low, high)` bucket.
type SummedHist = (String, BTreeMap<(u64, u64), u64>);

#[derive(Clone, Debug)]
struct NodeHist {
    unit: String,
    buckets: Vec<Bucket>,
}

/// Everything one node's stream said.
#[derive(Debug, Default)]
struct NodeState {
    reported_name: Option<String>,
    kernel: Option<String>,
    tracer_version: Option<String>,
    attach_ms: Option<u64>,
    done: Option<String>,
    error: Option<NodeError>,
    ended: Option<String>,
    stderr: String,
    hists: BTreeMap<HistId, NodeHist>,
    counts: BTreeMap<HistId, u64>,
    /// A script's sums, averages, minima and maxima: value and number of values.
    stats: BTreeMap<(HistId, StatOp), (f64, u64)>,
    /// A script's failures by handler, line, column and message: count, disabled.
    script_errors: BTreeMap<(String, u32, u32, String), (u64, bool)>,
    lost: BTreeMap<String, u64>,
    malformed_lines: u64,
    first_malformed: Option<String>,
    /// Latest state of each target container, keyed `namespace/pod/container`.
    targets: BTreeMap<String, TargetState>,
    /// What the trace cost on the node, when its tracer said.
    cost: Option<NodeCost>,
    /// The eBPF programs loaded on the node (the `programs` inventory).
    programs: Vec<LoadedProgram>,
}

#[derive(Clone, Debug, Serialize)]
pub struct NodeError {
    pub code: ErrorCode,
    pub message: String,
    pub hint: String,
}

/// What the session should tell the user as it happens.
#[derive(Debug, PartialEq)]
pub enum Progress {
    Attached {
        node: String,
        ms: u64,
    },
    /// An event, to show as it arrives.
    Event(Box<Event>),
    /// A line a script printed, or a row it emitted, to show as it arrives.
    Print(Box<Printed>),
}

/// A line or table row a script wrote on a node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Printed {
    pub node: String,
    /// The table of a row; absent for a printed line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The line, or the row as `column=value` pairs.
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Events kept for the final document; later ones are only counted.
pub const MAX_KEPT_EVENTS: usize = 100_000;

#[derive(Debug, Default)]
pub struct Merger {
    nodes: BTreeMap<String, NodeState>,
    per_node: bool,
    events: Vec<Event>,
    events_seen: u64,
    /// Histograms over time, with `--heatmap`.
    timeline: Option<Timeline>,
    printed: Vec<Printed>,
}

impl Merger {
    pub fn new() -> Self {
        Merger::default()
    }

    /// Keep each node's histograms apart (keyed by `node`) instead of summing them.
    pub fn per_node(mut self, per_node: bool) -> Self {
        self.per_node = per_node;
        self
    }

    /// Also keep what each snapshot interval added, for heatmaps.
    pub fn heatmaps(mut self, interval_ms: u64) -> Self {
        self.timeline = Some(Timeline::new(interval_ms, self.per_node));
        self
    }

    /// Notes when a line of `node`'s stream arrived (`now_ms` since the start), for the
    /// heatmaps; call before `apply`. Nothing without `heatmaps`.
    pub fn observe(&mut self, node: &str, decoded: &Decoded, now_ms: u64) {
        let (Some(timeline), Decoded::Record(record)) = (&mut self.timeline, decoded) else {
            return;
        };
        let name = self
            .nodes
            .get(node)
            .and_then(|state| state.reported_name.clone())
            .unwrap_or_else(|| node.to_owned());
        timeline.record(&name, record, now_ms);
    }

    /// Takes in one decoded line of `node`'s stream.
    pub fn apply(&mut self, node: &str, decoded: Decoded) -> Option<Progress> {
        let state = self.nodes.entry(node.to_owned()).or_default();
        let record = match decoded {
            Decoded::Record(record) => record,
            Decoded::Skip => return None,
            Decoded::Malformed(why) => {
                state.malformed_lines += 1;
                state.first_malformed.get_or_insert(why);
                return None;
            }
        };
        match record {
            Record::Hello {
                node,
                kernel,
                tracer_version,
                ..
            } => {
                state.reported_name = Some(node);
                state.kernel = Some(kernel);
                state.tracer_version = tracer_version;
            }
            Record::Attached { ms, .. } => {
                state.attach_ms = Some(ms);
                let name = state
                    .reported_name
                    .clone()
                    .unwrap_or_else(|| node.to_owned());
                return Some(Progress::Attached { node: name, ms });
            }
            Record::Hist {
                probe,
                name,
                key,
                unit,
                buckets,
            } => {
                state
                    .hists
                    .insert(HistId { probe, name, key }, NodeHist { unit, buckets });
            }
            Record::Count {
                probe,
                name,
                key,
                value,
            } => {
                state.counts.insert(HistId { probe, name, key }, value);
            }
            Record::Event {
                probe,
                time_ns,
                pid,
                tid,
                comm,
                cgroup,
                namespace,
                pod,
                container,
                fields,
            } => {
                let event = Event {
                    node: state
                        .reported_name
                        .clone()
                        .unwrap_or_else(|| node.to_owned()),
                    probe,
                    time_ns,
                    pid,
                    tid,
                    comm,
                    cgroup,
                    namespace,
                    pod,
                    container,
                    fields,
                };
                self.events_seen += 1;
                if self.events.len() < MAX_KEPT_EVENTS {
                    self.events.push(event.clone());
                }
                return Some(Progress::Event(Box::new(event)));
            }
            Record::Lost { probe, count } => {
                state.lost.insert(probe, count);
            }
            Record::Error {
                code,
                message,
                hint,
            } => {
                state.error = Some(NodeError {
                    code,
                    message,
                    hint,
                });
            }
            Record::Done { reason } => state.done = Some(reason),
            Record::Program(program) => state.programs.push(*program),
            Record::Target {
                namespace,
                pod,
                container,
                state: target_state,
                ..
            } => {
                state
                    .targets
                    .insert(format!("{namespace}/{pod}/{container}"), target_state);
            }
            Record::Stat {
                probe,
                name,
                key,
                op,
                value,
                count,
            } => {
                state
                    .stats
                    .insert((HistId { probe, name, key }, op), (value, count));
            }
            Record::ScriptError {
                handler,
                line,
                column,
                message,
                count,
                disabled,
            } => {
                state
                    .script_errors
                    .insert((handler, line, column, message), (count, disabled));
            }
            Record::Print { text } => {
                let node = state
                    .reported_name
                    .clone()
                    .unwrap_or_else(|| node.to_owned());
                return Some(self.printed(Printed {
                    node,
                    table: None,
                    text,
                    row: None,
                }));
            }
            Record::Row {
                table,
                columns,
                values,
            } => {
                let node = state
                    .reported_name
                    .clone()
                    .unwrap_or_else(|| node.to_owned());
                let text = columns
                    .iter()
                    .zip(&values)
                    .map(|(column, value)| match value {
                        serde_json::Value::String(text) => format!("{column}={text}"),
                        other => format!("{column}={other}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                return Some(self.printed(Printed {
                    node,
                    table: Some(table),
                    text,
                    row: Some(columns.into_iter().zip(values).collect()),
                }));
            }
            Record::Stats {
                programs,
                run_time_counted,
                cpu_ns,
                max_rss_bytes,
                lost,
                elapsed_ms,
                run_time_counted_ms,
            } => {
                state.cost = Some(NodeCost {
                    programs,
                    run_time_counted,
                    cpu_ns,
                    max_rss_bytes,
                    lost,
                    elapsed_ms,
                    run_time_counted_ms,
                });
            }
            Record::Unknown => {}
        }
        None
    }

    fn printed(&mut self, printed: Printed) -> Progress {
        if self.printed.len() < MAX_KEPT_EVENTS {
            self.printed.push(printed.clone());
        }
        Progress::Print(Box::new(printed))
    }

    /// The node failed outside its tracer (its pod never ran, or its node was lost).
    pub fn failed(&mut self, node: &str, code: ErrorCode, message: String, hint: String) {
        let state = self.nodes.entry(node.to_owned()).or_default();
        state.ended = Some(message.clone());
        state.error.get_or_insert(NodeError {
            code,
            message,
            hint,
        });
    }

    /// The node's tracer has exited.
    pub fn ended(&mut self, node: &str, status: String, stderr: String) {
        let state = self.nodes.entry(node.to_owned()).or_default();
        state.ended = Some(status);
        state.stderr = stderr;
    }

    pub fn result(&self, probe: &str, duration_ms: u64) -> TraceResult {
        let mut merged: BTreeMap<HistId, SummedHist> = BTreeMap::new();
        for (node, state) in &self.nodes {
            for (id, hist) in &state.hists {
                let mut id = id.clone();
                if self.per_node {
                    let name = state.reported_name.clone().unwrap_or_else(|| node.clone());
                    id.key.insert("node".to_owned(), name);
                }
                let (_, buckets) = match merged.entry(id) {
                    Entry::Vacant(entry) => entry.insert((hist.unit.clone(), BTreeMap::new())),
                    Entry::Occupied(entry) => entry.into_mut(),
                };
                for bucket in &hist.buckets {
                    *buckets.entry((bucket.low, bucket.high)).or_default() += bucket.count;
                }
            }
        }
        let mut histograms: Vec<Histogram> = merged
            .into_iter()
            .map(|(id, (unit, buckets))| {
                Histogram::new(
                    id.probe,
                    id.name,
                    id.key,
                    unit,
                    buckets
                        .into_iter()
                        .map(|((low, high), count)| Bucket { low, high, count })
                        .collect(),
                )
            })
            .collect();
        histograms.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));

        let mut summed: BTreeMap<HistId, u64> = BTreeMap::new();
        for (node, state) in &self.nodes {
            for (id, value) in &state.counts {
                let mut id = id.clone();
                if self.per_node {
                    let name = state.reported_name.clone().unwrap_or_else(|| node.clone());
                    id.key.insert("node".to_owned(), name);
                }
                *summed.entry(id).or_default() += value;
            }
        }
        let mut counts: Vec<Count> = summed
            .into_iter()
            .map(|(id, value)| Count {
                probe: id.probe,
                name: id.name,
                key: id.key,
                value,
            })
            .collect();
        counts.sort_by(|a, b| {
            (&a.probe, &a.name, b.value, &a.key).cmp(&(&b.probe, &b.name, a.value, &b.key))
        });
        let mut events = self.events.clone();
        events.sort_by_key(|event| event.time_ns);
        let stats = self.stats();
        let script_errors: Vec<ScriptError> = self
            .nodes
            .iter()
            .flat_map(|(node, state)| {
                let node = state.reported_name.clone().unwrap_or_else(|| node.clone());
                state.script_errors.iter().map(
                    move |((handler, line, column, message), (count, disabled))| ScriptError {
                        node: node.clone(),
                        handler: handler.clone(),
                        line: *line,
                        column: *column,
                        message: message.clone(),
                        count: *count,
                        disabled: *disabled,
                    },
                )
            })
            .collect();

        let nodes: Vec<NodeSummary> = self
            .nodes
            .iter()
            .map(|(name, state)| state.summary(name))
            .collect();
        let lost = nodes.iter().map(|node| node.lost).sum();
        let malformed_lines = nodes.iter().map(|node| node.malformed_lines).sum();
        let partial = lost > 0
            || malformed_lines > 0
            || !script_errors.is_empty()
            || nodes.iter().any(|node| node.status != NodeStatus::Done);
        let overhead = self.overhead();
        let programs = self
            .nodes
            .iter()
            .flat_map(|(node, state)| {
                let node = state.reported_name.clone().unwrap_or_else(|| node.clone());
                state.programs.iter().map(move |program| NodeProgram {
                    node: node.clone(),
                    program: program.clone(),
                })
            })
            .collect();
        TraceResult {
            schema: RESULT_SCHEMA,
            probe: probe.to_owned(),
            duration_ms,
            partial,
            lost,
            malformed_lines,
            nodes,
            histograms,
            counts,
            events_total: self.events_seen,
            events,
            heatmaps: self
                .timeline
                .as_ref()
                .map(Timeline::heatmaps)
                .unwrap_or_default(),
            stats,
            printed: self.printed.clone(),
            script_errors,
            overhead,
            programs,
        }
    }

    /// What the trace cost, added up over the nodes that measured it.
    fn overhead(&self) -> Overhead {
        let mut overhead = Overhead::default();
        let mut programs: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        let mut ebpf: Option<(u64, u64)> = None;
        for (node, state) in &self.nodes {
            let name = state.reported_name.clone().unwrap_or_else(|| node.clone());
            let Some(cost) = &state.cost else {
                overhead.unknown_nodes.push(name);
                continue;
            };
            overhead.nodes += 1;
            overhead.lost += cost.lost;
            if let Some(cpu_ns) = cost.cpu_ns {
                *overhead.tracer_cpu_ns.get_or_insert(0) += cpu_ns;
            }
            if let Some(rss) = cost.max_rss_bytes {
                let max = overhead.tracer_max_rss_bytes.get_or_insert(0);
                *max = (*max).max(rss);
            }
            if !cost.run_time_counted {
                overhead.ebpf_unknown_nodes.push(name);
                continue;
            }
            overhead.ebpf_nodes += 1;
            overhead.ebpf_traced_ms += cost.elapsed_ms;
            overhead.ebpf_counted_ms += cost.run_time_counted_ms.unwrap_or(cost.elapsed_ms);
            let (time, runs) = ebpf.get_or_insert((0, 0));
            for program in &cost.programs {
                *time += program.run_time_ns;
                *runs += program.run_count;
                let summed = programs
                    .entry((program.probe.clone(), program.name.clone()))
                    .or_default();
                summed.0 += program.run_count;
                summed.1 += program.run_time_ns;
            }
        }
        if let Some((time, runs)) = ebpf {
            overhead.ebpf_cpu_ns = Some(time);
            overhead.ebpf_runs = Some(runs);
            if overhead.ebpf_traced_ms > 0 {
                overhead.ebpf_cpu_share =
                    Some(time as f64 / (overhead.ebpf_traced_ms as f64 * 1e6));
            }
        }
        overhead.programs = programs
            .into_iter()
            .map(|((probe, name), (run_count, run_time_ns))| ProgramCost {
                probe,
                name,
                run_count,
                run_time_ns,
            })
            .collect();
        overhead
    }

    /// Scripts' stats added up over nodes: sums and averages add, minima and maxima
    /// take the extreme.
    fn stats(&self) -> Vec<Stat> {
        let mut merged: BTreeMap<(HistId, StatOp), (f64, u64)> = BTreeMap::new();
        for (node, state) in &self.nodes {
            for ((id, op), (value, count)) in &state.stats {
                let mut id = id.clone();
                if self.per_node {
                    let name = state.reported_name.clone().unwrap_or_else(|| node.clone());
                    id.key.insert("node".to_owned(), name);
                }
                match merged.entry((id, *op)) {
                    Entry::Vacant(entry) => {
                        entry.insert((*value, *count));
                    }
                    Entry::Occupied(mut entry) => {
                        let (total, n) = entry.get_mut();
                        *n += count;
                        *total = match op {
                            StatOp::Sum | StatOp::Avg => *total + value,
                            StatOp::Min => total.min(*value),
                            StatOp::Max => total.max(*value),
                        };
                    }
                }
            }
        }
        merged
            .into_iter()
            .map(|((id, op), (value, count))| Stat {
                probe: id.probe,
                name: id.name,
                key: id.key,
                op,
                value: if op == StatOp::Avg && count > 0 {
                    value / count as f64
                } else {
                    value
                },
                count,
            })
            .collect()
    }
}

impl NodeState {
    fn targets_in(&self, wanted: TargetState) -> Vec<String> {
        self.targets
            .iter()
            .filter(|(_, state)| **state == wanted)
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn summary(&self, name: &str) -> NodeSummary {
        let status = if self.error.is_some() {
            NodeStatus::Failed
        } else if self.done.is_some() {
            NodeStatus::Done
        } else if self.ended.is_some() {
            NodeStatus::Lost
        } else {
            NodeStatus::Running
        };
        let mut detail = self.done.clone().or_else(|| self.ended.clone());
        if status == NodeStatus::Lost && !self.stderr.is_empty() {
            let last_line = self.stderr.lines().last().unwrap_or_default();
            detail = Some(format!(
                "tracer {} before finishing: {last_line}",
                self.ended.as_deref().unwrap_or("stopped")
            ));
        }
        NodeSummary {
            node: self
                .reported_name
                .clone()
                .unwrap_or_else(|| name.to_owned()),
            kernel: self.kernel.clone(),
            tracer_version: self.tracer_version.clone(),
            status,
            detail,
            attach_ms: self.attach_ms,
            lost: self.lost.values().sum(),
            malformed_lines: self.malformed_lines,
            first_malformed: self.first_malformed.clone(),
            error: self.error.clone(),
            missing_targets: self.targets_in(TargetState::Missing),
            gone_targets: self.targets_in(TargetState::Gone),
        }
    }
}

/// One node's `stats` record.
#[derive(Debug)]
struct NodeCost {
    programs: Vec<ProgramStats>,
    run_time_counted: bool,
    cpu_ns: Option<u64>,
    max_rss_bytes: Option<u64>,
    lost: u64,
    elapsed_ms: u64,
    run_time_counted_ms: Option<u64>,
}

/// What the trace cost, over the nodes whose tracers measured it. A node that did not
/// is named in `unknown_nodes` (older tracer, or no final snapshot) or, when only the
/// kernel did not count its programs' run time, in `ebpf_unknown_nodes`: unknown, never
/// counted as zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Overhead {
    /// Nodes that reported what the trace cost them.
    pub nodes: u64,
    pub unknown_nodes: Vec<String>,
    /// Kernel CPU time of the trace's eBPF programs, summed over `ebpf_nodes`; `null` when
    /// no node counted it.
    pub ebpf_cpu_ns: Option<u64>,
    /// Runs of those programs.
    pub ebpf_runs: Option<u64>,
    /// Nodes whose kernel counted the programs' run time.
    pub ebpf_nodes: u64,
    /// Time the programs were attached, summed over `ebpf_nodes`.
    pub ebpf_traced_ms: u64,
    /// Of that, the time the kernel counted their run time: less when the tracers
    /// sampled, and `ebpf_cpu_ns` and `ebpf_runs` are then scaled up from what it
    /// counted.
    pub ebpf_counted_ms: u64,
    /// `ebpf_cpu_ns` as a share of `ebpf_traced_ms` (of one CPU per node): 0.0004 is 0.04%.
    pub ebpf_cpu_share: Option<f64>,
    /// Nodes that reported, but whose kernel did not count run time.
    pub ebpf_unknown_nodes: Vec<String>,
    /// tracer-job's user and system CPU time, summed over nodes.
    pub tracer_cpu_ns: Option<u64>,
    /// tracer-job's peak resident memory, the largest of any node.
    pub tracer_max_rss_bytes: Option<u64>,
    /// Events lost, summed over the nodes that reported.
    pub lost: u64,
    /// Each program's runs and run time, summed over `ebpf_nodes`.
    pub programs: Vec<ProgramCost>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProgramCost {
    pub probe: String,
    pub name: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}

pub const RESULT_SCHEMA: &str = "kubectl-ebpf/trace-result/v1";

/// The merged result of a trace; `-o json` prints it as is (docs/json-output.md).
#[derive(Debug, Serialize)]
pub struct TraceResult {
    pub schema: &'static str,
    pub probe: String,
    pub duration_ms: u64,
    /// True when some node failed or events or lines were lost.
    pub partial: bool,
    pub lost: u64,
    pub malformed_lines: u64,
    pub nodes: Vec<NodeSummary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub histograms: Vec<Histogram>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub counts: Vec<Count>,
    /// Events received, including any beyond those kept in `events`.
    #[serde(skip_serializing_if = "is_zero")]
    pub events_total: u64,
    /// The first `MAX_KEPT_EVENTS` events, in time order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// With `--heatmap`: every histogram per snapshot interval.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub heatmaps: Vec<Heatmap>,
    /// A script's sums, averages, minima and maxima.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stats: Vec<Stat>,
    /// The first `MAX_KEPT_EVENTS` lines and rows a script wrote, as they came.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub printed: Vec<Printed>,
    /// A script's failures, per node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub script_errors: Vec<ScriptError>,
    /// What the trace cost on the nodes.
    pub overhead: Overhead,
    /// The `programs` inventory: every eBPF program on every node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<NodeProgram>,
}

/// One eBPF program loaded on a node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeProgram {
    pub node: String,
    #[serde(flatten)]
    pub program: LoadedProgram,
}

/// A script's aggregate other than a count, over nodes; `value` of an average is the
/// average.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub probe: String,
    pub name: String,
    pub key: Key,
    pub op: StatOp,
    pub value: f64,
    /// How many values went in.
    pub count: u64,
}

/// A script's handler that failed on a node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScriptError {
    pub node: String,
    pub handler: String,
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub count: u64,
    /// The handler ran away and was stopped for the rest of the trace.
    pub disabled: bool,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// A counter summed over nodes.
#[derive(Clone, Debug, Serialize)]
pub struct Count {
    pub probe: String,
    pub name: String,
    pub key: Key,
    pub value: u64,
}

/// One traced occurrence, with the node it happened on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    pub node: String,
    pub probe: String,
    /// Unix time in nanoseconds, from the node's clock.
    pub time_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub cgroup: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Finished and flushed its final snapshot.
    Done,
    /// Said why it could not trace.
    Failed,
    /// Went away without a word.
    Lost,
    /// Still running when the result was taken.
    Running,
}

#[derive(Debug, Serialize)]
pub struct NodeSummary {
    pub node: String,
    pub kernel: Option<String>,
    /// The version its tracer said it is; absent from tracers before the field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracer_version: Option<String>,
    pub status: NodeStatus,
    pub detail: Option<String>,
    pub attach_ms: Option<u64>,
    pub lost: u64,
    pub malformed_lines: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_malformed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<NodeError>,
    /// Target containers (`namespace/pod/container`) with no cgroup on the node.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_targets: Vec<String>,
    /// Target containers whose cgroup went away during the trace (exited, restarted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gone_targets: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Histogram {
    pub probe: String,
    pub name: String,
    pub key: Key,
    pub unit: String,
    pub count: u64,
    /// Estimated by linear interpolation inside the bucket; absent when empty.
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
    /// The highest non-empty bucket.
    pub slowest: Option<Bucket>,
    pub buckets: Vec<Bucket>,
}

impl Histogram {
    pub fn new(
        probe: String,
        name: String,
        key: Key,
        unit: String,
        mut buckets: Vec<Bucket>,
    ) -> Self {
        buckets.retain(|bucket| bucket.count > 0);
        buckets.sort_by_key(|bucket| bucket.low);
        let count = buckets.iter().map(|bucket| bucket.count).sum();
        Histogram {
            p50: quantile(&buckets, 0.50),
            p90: quantile(&buckets, 0.90),
            p99: quantile(&buckets, 0.99),
            slowest: buckets.last().copied(),
            probe,
            name,
            key,
            unit,
            count,
            buckets,
        }
    }
}

/// The value below which a fraction `q` of the samples lie, interpolated within its
/// bucket. `buckets` is sorted and non-empty buckets only.
pub fn quantile(buckets: &[Bucket], q: f64) -> Option<u64> {
    let total: u64 = buckets.iter().map(|bucket| bucket.count).sum();
    if total == 0 {
        return None;
    }
    let rank = (q * total as f64).ceil().max(1.0);
    let mut below = 0u64;
    for bucket in buckets {
        let through = below + bucket.count;
        if through as f64 >= rank {
            // The open last bucket has no real upper bound: assume one doubling.
            let high = if bucket.high == u64::MAX {
                bucket.low.saturating_mul(2)
            } else {
                bucket.high
            };
            let within = (rank - below as f64) / bucket.count as f64;
            let width = high.saturating_sub(bucket.low) as f64;
            return Some(bucket.low + (width * within) as u64);
        }
        below = through;
    }
    buckets.last().map(|bucket| bucket.low)
}

#[cfg(test)]
mod tests {
    use tracer_protocol::decode_line;

    use super::*;

    fn bucket(low: u64, high: u64, count: u64) -> Bucket {
        Bucket { low, high, count }
    }

    fn feed(merger: &mut Merger, node: &str, lines: &[&str]) {
        for line in lines {
            merger.apply(node, decode_line(line));
        }
    }

    const HELLO: &str = r#"{"type":"hello","version":1,"node":"n","kernel":"6.18","btf":true}"#;

    #[test]
    fn last_snapshot_per_node_wins_and_nodes_add_up() {
        let mut merger = Merger::new();
        feed(
            &mut merger,
            "a",
            &[
                HELLO,
                r#"{"type":"hist","probe":"p","name":"latency","unit":"ns","buckets":[{"low":1,"high":2,"count":5}]}"#,
                r#"{"type":"hist","probe":"p","name":"latency","unit":"ns","buckets":[{"low":1,"high":2,"count":7},{"low":2,"high":4,"count":1}]}"#,
                r#"{"type":"lost","probe":"p","count":0}"#,
                r#"{"type":"done","reason":"duration"}"#,
            ],
        );
        feed(
            &mut merger,
            "b",
            &[
                r#"{"type":"hist","probe":"p","name":"latency","unit":"ns","buckets":[{"low":2,"high":4,"count":2}]}"#,
                r#"{"type":"done","reason":"duration"}"#,
            ],
        );
        let result = merger.result("p", 1000);
        assert_eq!(result.histograms.len(), 1);
        let hist = &result.histograms[0];
        assert_eq!(hist.count, 10);
        assert_eq!(hist.buckets, vec![bucket(1, 2, 7), bucket(2, 4, 3)]);
        assert!(!result.partial);
        assert_eq!(result.nodes.len(), 2);
    }

    #[test]
    fn per_node_keeps_nodes_apart() {
        let mut merger = Merger::new().per_node(true);
        let hist = r#"{"type":"hist","probe":"p","name":"latency","unit":"ns","buckets":[{"low":1,"high":2,"count":5}]}"#;
        feed(&mut merger, "a", &[hist]);
        feed(&mut merger, "b", &[hist]);
        let result = merger.result("p", 1000);
        let nodes: Vec<&str> = result
            .histograms
            .iter()
            .map(|h| h.key["node"].as_str())
            .collect();
        assert_eq!(nodes, ["a", "b"]);
        assert!(result.histograms.iter().all(|h| h.count == 5));
    }

    #[test]
    fn keyed_histograms_stay_apart_and_sort_by_count() {
        let mut merger = Merger::new();
        feed(
            &mut merger,
            "a",
            &[
                r#"{"type":"hist","probe":"p","name":"l","key":{"syscall":"read"},"unit":"ns","buckets":[{"low":1,"high":2,"count":1}]}"#,
                r#"{"type":"hist","probe":"p","name":"l","key":{"syscall":"write"},"unit":"ns","buckets":[{"low":1,"high":2,"count":9}]}"#,
                r#"{"type":"done","reason":"signal"}"#,
            ],
        );
        let result = merger.result("p", 1);
        let keys: Vec<_> = result
            .histograms
            .iter()
            .map(|h| h.key["syscall"].as_str())
            .collect();
        assert_eq!(keys, ["write", "read"]);
    }

    #[test]
    fn losses_failures_and_garbage_make_the_result_partial() {
        let mut merger = Merger::new();
        feed(
            &mut merger,
            "a",
            &[
                r#"{"type":"lost","probe":"p","count":3}"#,
                r#"{"type":"done","reason":"x"}"#,
            ],
        );
        assert!(merger.result("p", 1).partial);

        let mut merger = Merger::new();
        feed(
            &mut merger,
            "a",
            &["garbage", r#"{"type":"done","reason":"x"}"#],
        );
        let result = merger.result("p", 1);
        assert!(result.partial);
        assert_eq!(result.malformed_lines, 1);

        let mut merger = Merger::new();
        feed(
            &mut merger,
            "a",
            &[r#"{"type":"error","code":"permission-denied","message":"m","hint":"h"}"#],
        );
        let result = merger.result("p", 1);
        assert_eq!(result.nodes[0].status, NodeStatus::Failed);

        let mut merger = Merger::new();
        feed(&mut merger, "a", &[HELLO]);
        merger.ended("a", "was killed by signal 9".into(), "boom".into());
        let result = merger.result("p", 1);
        assert_eq!(result.nodes[0].status, NodeStatus::Lost);
        assert!(
            result.nodes[0]
                .detail
                .as_deref()
                .unwrap_or_default()
                .contains("boom")
        );
    }

    #[test]
    fn reports_attachment_with_the_node_name() {
        let mut merger = Merger::new();
        merger.apply("local", decode_line(HELLO));
        let progress = merger.apply(
            "local",
            decode_line(r#"{"type":"attached","probes":["p"],"ms":12}"#),
        );
        assert_eq!(
            progress,
            Some(Progress::Attached {
                node: "n".into(),
                ms: 12
            })
        );
    }

    #[test]
    fn script_stats_merge_by_their_op_and_errors_make_it_partial() {
        let mut merger = Merger::new();
        let stat = |op: &str, value: f64, count: u64| {
            format!(
                r#"{{"type":"stat","probe":"script","name":"{op}","key":{{"pod":"a"}},"op":"{op}","value":{value},"count":{count}}}"#
            )
        };
        for (node, sum, min, max, avg) in
            [("n1", 10.0, 3.0, 9.0, 30.0), ("n2", 5.0, 1.0, 4.0, 10.0)]
        {
            let lines = [
                stat("sum", sum, 2),
                stat("min", min, 2),
                stat("max", max, 2),
                stat("avg", avg, 3),
                r#"{"type":"done","reason":"duration"}"#.to_owned(),
            ];
            let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
            feed(&mut merger, node, &lines);
        }
        let progress = merger.apply("n1", decode_line(r#"{"type":"print","text":"hi"}"#));
        assert!(matches!(progress, Some(Progress::Print(p)) if p.text == "hi" && p.node == "n1"));
        let result = merger.result("script", 1);
        let values: Vec<(StatOp, f64, u64)> = result
            .stats
            .iter()
            .map(|stat| (stat.op, stat.value, stat.count))
            .collect();
        assert_eq!(
            values,
            [
                (StatOp::Avg, 40.0 / 6.0, 6),
                (StatOp::Max, 9.0, 4),
                (StatOp::Min, 1.0, 4),
                (StatOp::Sum, 15.0, 4),
            ]
        );
        assert!(!result.partial);
        feed(
            &mut merger,
            "n2",
            &[
                r#"{"type":"script_error","handler":"on open","line":3,"column":5,"message":"boom","count":2}"#,
            ],
        );
        let result = merger.result("script", 1);
        assert!(result.partial);
        assert_eq!(result.script_errors[0].count, 2);
        assert_eq!(result.printed.len(), 1);
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let buckets = [bucket(0, 1, 0), bucket(1024, 2048, 100)];
        assert_eq!(quantile(&buckets, 0.5), Some(1536));
        assert_eq!(quantile(&buckets, 0.99), Some(1024 + 1013));
        let spread = [bucket(1, 2, 50), bucket(1024, 2048, 50)];
        assert_eq!(quantile(&spread, 0.5), Some(2));
        assert_eq!(quantile(&spread, 0.9), Some(1024 + 819));
        assert_eq!(quantile(&[], 0.5), None);
        let open = [bucket(1 << 62, u64::MAX, 1)];
        assert_eq!(quantile(&open, 0.5), Some(1 << 63));
    }
}
