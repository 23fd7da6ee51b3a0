//! The records `tracer-job` writes, one JSON object per line, tagged by `type`.
//!
//! Snapshots (`hist`, `count`, `lost`) are cumulative since the trace began: the last one
//! per node and key wins, so re-reading a stream never double counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// First record of every stream.
    Hello {
        version: u32,
        node: String,
        kernel: String,
        btf: bool,
        #[serde(default)]
        features: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_id: Option<String>,
        /// The tracer's own version (its crate's); absent from tracers before it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tracer_version: Option<String>,
    },
    /// Every probe is attached and recording.
    Attached {
        probes: Vec<String>,
        /// Milliseconds from the tracer's start.
        ms: u64,
    },
    /// One traced occurrence.
    Event {
        probe: String,
        time_ns: u64,
        pid: u32,
        #[serde(default)]
        tid: u32,
        #[serde(default)]
        comm: String,
        #[serde(default)]
        cgroup: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pod: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        #[serde(default)]
        fields: serde_json::Map<String, serde_json::Value>,
    },
    /// A cumulative histogram; only non-empty buckets travel.
    Hist {
        probe: String,
        name: String,
        #[serde(default)]
        key: BTreeMap<String, String>,
        unit: String,
        #[serde(default)]
        buckets: Vec<Bucket>,
    },
    /// A cumulative counter.
    Count {
        probe: String,
        name: String,
        #[serde(default)]
        key: BTreeMap<String, String>,
        value: u64,
    },
    /// A cumulative aggregate of a script's map other than a count: `sum` and `avg`
    /// carry the sum of the values and how many were added (the average is
    /// `value / count` once nodes are added up); `min` and `max` carry the extreme.
    Stat {
        probe: String,
        name: String,
        #[serde(default)]
        key: BTreeMap<String, String>,
        op: StatOp,
        value: f64,
        #[serde(default)]
        count: u64,
    },
    /// A line a script printed.
    Print { text: String },
    /// A table row a script emitted, its columns in the script's order.
    Row {
        table: String,
        columns: Vec<String>,
        values: Vec<serde_json::Value>,
    },
    /// A script's handler failed; `count` is cumulative per handler, line and message.
    /// With `disabled`, the handler ran away (too many operations) and is no longer
    /// called, so the script's results undercount from then on.
    ScriptError {
        /// `on open`, `every`, `end` or `body`.
        handler: String,
        line: u32,
        column: u32,
        message: String,
        count: u64,
        #[serde(default)]
        disabled: bool,
    },
    /// Occurrences the probe saw but could not record, cumulative.
    Lost { probe: String, count: u64 },
    /// What became of one target container: found (its cgroup is filtered on), missing
    /// (no cgroup for it on this node) or gone (its cgroup went away mid-trace, as when
    /// the container exits or restarts). Missing and gone are reported, not fatal, while
    /// some target is left.
    Target {
        namespace: String,
        pod: String,
        container: String,
        state: TargetState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cgroup: Option<u64>,
    },
    /// What the trace cost on its node, written once, before `done`: the kernel's run
    /// time and run count of each of the tracer's eBPF programs, the tracer's own CPU
    /// time and peak memory, and the events lost. All fields but `programs` came later,
    /// so a reader takes them as unknown when absent.
    Stats {
        programs: Vec<ProgramStats>,
        /// The kernel counted run time and runs (BPF stats were on), for the whole
        /// trace or a sample of it (`run_time_counted_ms`). Without, the programs'
        /// `run_time_ns` and `run_count` mean unknown.
        #[serde(default)]
        run_time_counted: bool,
        /// The tracer's user plus system CPU time, in nanoseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu_ns: Option<u64>,
        /// The tracer's peak resident memory, in bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_rss_bytes: Option<u64>,
        /// Events lost, summed over the probes' `lost` records.
        #[serde(default)]
        lost: u64,
        /// Milliseconds the programs were attached.
        #[serde(default)]
        elapsed_ms: u64,
        /// Present when the kernel counted for only this many of `elapsed_ms` (a sampled
        /// trace): the programs' `run_time_ns` and `run_count` are then what it counted,
        /// scaled up to the whole trace. Absent when it counted all of it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_time_counted_ms: Option<u64>,
    },
    /// One eBPF program loaded on the node, anyone's (the `programs` inventory, written
    /// once, before `stats`).
    Program(Box<LoadedProgram>),
    /// The tracer cannot go on; `done` may not follow.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default)]
        hint: String,
    },
    /// Last record of a stream that ended cleanly.
    Done { reason: String },
    /// A record type this build does not know: written by a newer tracer, skipped.
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetState {
    Found,
    Missing,
    Gone,
    #[serde(other)]
    Unknown,
}

/// How a script's `stat` record merges across nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatOp {
    Sum,
    Min,
    Max,
    Avg,
}

impl StatOp {
    pub fn as_str(self) -> &'static str {
        match self {
            StatOp::Sum => "sum",
            StatOp::Min => "min",
            StatOp::Max => "max",
            StatOp::Avg => "avg",
        }
    }
}

/// A histogram bucket holding values in `[low, high)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub low: u64,
    pub high: u64,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramStats {
    /// The probe that loaded the program.
    #[serde(default)]
    pub probe: String,
    /// The program's function name in the probe object.
    pub name: String,
    pub run_time_ns: u64,
    pub run_count: u64,
}

/// An eBPF program as the kernel describes it, with who holds it and where it is
/// attached, as far as the processes' open descriptors tell.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadedProgram {
    pub id: u32,
    /// The kernel's program type, lower case: `tracepoint`, `raw_tracepoint`, `xdp`...
    #[serde(rename = "program_type")]
    pub kind: String,
    /// The name it was loaded with (the kernel keeps 15 bytes).
    #[serde(default)]
    pub name: String,
    /// Its instructions' hash, in hex, as bpftool shows it.
    #[serde(default)]
    pub tag: String,
    /// Seconds since the Unix epoch when it was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<u64>,
    /// The user that loaded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Where it is attached, one entry per link or perf event found
    /// (`raw_tracepoint:sched_switch`, `tracepoint:syscalls:sys_enter_read`,
    /// `uprobe:/usr/lib/libc.so.6+0x1234`, `cgroup:ID:ingress`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<String>,
    /// Processes holding it open, directly or through a link or perf event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<ProgramOwner>,
    /// Runs and run time while the inventory was taken; unknown (absent) when the
    /// kernel did not count them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_time_ns: Option<u64>,
    /// Kernel memory of the program and of the maps it uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub map_ids: Vec<u32>,
}

/// A process holding a program, and the pod container it runs in when the node knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramOwner {
    pub pid: u32,
    #[serde(default)]
    pub comm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// Why a tracer gave up. Each maps to a documented exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The spec was malformed or asked for something impossible.
    InvalidSpec,
    /// A target (pid, cgroup) does not exist or cannot be used.
    InvalidTarget,
    /// The tracer lacks a privilege it needs (root, CAP_BPF, CAP_PERFMON).
    PermissionDenied,
    /// The kernel lacks a feature the probe needs.
    KernelUnsupported,
    /// Anything else; the message says what.
    Internal,
    /// A code this build does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidSpec => "invalid-spec",
            ErrorCode::InvalidTarget => "invalid-target",
            ErrorCode::PermissionDenied => "permission-denied",
            ErrorCode::KernelUnsupported => "kernel-unsupported",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl Record {
    /// One NDJSON line, without the newline.
    pub fn to_line(&self) -> String {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_string(self).unwrap_or_else(|err| {
            format!(
                r#"{{"type":"error","code":"internal","message":"unserializable record: {err}"}}"#
            )
        })
    }
}

impl ErrorCode {
    /// The process exit code for this failure, shared by `tracer-job` and the plugin
    /// (see docs/exit-codes.md).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorCode::InvalidSpec | ErrorCode::InvalidTarget => 2,
            ErrorCode::PermissionDenied => 3,
            ErrorCode::KernelUnsupported => 4,
            ErrorCode::Internal | ErrorCode::Unknown => 1,
        }
    }
}
