//! The trace spec: what one node should trace. The plugin writes it (into a ConfigMap in
//! cluster mode, into the tracer's stdin in local mode); `tracer-job` reads it.

use serde::{Deserialize, Serialize};

use crate::SCHEMA_VERSION;

/// Largest spec a tracer accepts.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// Most targets (pids plus cgroups) one spec may name.
pub const MAX_TARGETS: usize = 4096;

/// Shortest snapshot interval, so a typo cannot make the tracer spin.
pub const MIN_INTERVAL_MS: u64 = 100;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    pub version: u32,
    /// Correlates records, Jobs and logs of one trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The node name to report; the tracer's host name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub probes: Vec<ProbeSpec>,
    #[serde(default)]
    pub targets: Targets,
    /// How long to trace; until SIGINT/SIGTERM when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// How often cumulative snapshots are written.
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    /// Every container the plugin knows on this node, so a node-wide trace can name the
    /// pods whose cgroups it meets. Not a filter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_containers: Vec<ContainerTarget>,
    /// A script that handles the events of `probes` on the node (`kubectl ebpf run`).
    /// The probes are the sources the script declares; their events go to the script
    /// instead of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<ScriptSpec>,
    /// Have the kernel count every eBPF program's run time while the trace runs, for the
    /// `stats` record (BPF_ENABLE_STATS; node-wide, a clock read per program run): for
    /// a tenth of the time, scaled up, unless `stats_exact`.
    #[serde(default = "default_stats", skip_serializing_if = "is_default_stats")]
    pub stats: bool,
    /// With `stats`, count for the whole trace instead of a sample of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stats_exact: bool,
}

/// Largest script source a spec may carry.
pub const MAX_SCRIPT_BYTES: usize = 64 * 1024;

/// Most `--arg` values a script may be given.
pub const MAX_SCRIPT_ARGS: usize = 64;

/// Longest `--arg NAME=VALUE` a script may be given, name and value together.
pub const MAX_SCRIPT_ARG_BYTES: usize = 4 * 1024;

/// A rhai script and the arguments it reads with `arg(...)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptSpec {
    /// The file name errors point at (`failed-opens.rhai`, `-e`).
    pub name: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub args: std::collections::BTreeMap<String, String>,
}

fn default_interval_ms() -> u64 {
    1000
}

fn default_stats() -> bool {
    true
}

// Written only when off, so a tracer from before the field reads the default spec.
fn is_default_stats(stats: &bool) -> bool {
    *stats
}

/// Whom to trace. Every list empty means the whole node. A task is traced when its
/// process or its cgroup is listed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Process ids (all threads of each process).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<u32>,
    /// cgroup v2 ids (the directory's inode number).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_ids: Vec<u64>,
    /// cgroup v2 directories, absolute or relative to the cgroup2 mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_paths: Vec<String>,
    /// Kubernetes containers; the tracer finds each one's cgroup on the node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerTarget>,
}

/// A container as the API server knows it. The tracer maps it to its cgroup v2 directory
/// (pod uid, QoS class and container id are what kubelet names cgroups after) and the
/// names label every record that comes from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerTarget {
    pub pod_uid: String,
    /// The runtime's id, scheme (`containerd://`) stripped.
    pub container_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<QosClass>,
    pub namespace: String,
    pub pod: String,
    pub container: String,
}

/// A pod's QoS class, which decides its cgroup parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    /// From a pod's `status.qosClass`.
    pub fn from_pod_status(value: &str) -> Option<QosClass> {
        match value {
            "Guaranteed" => Some(QosClass::Guaranteed),
            "Burstable" => Some(QosClass::Burstable),
            "BestEffort" => Some(QosClass::BestEffort),
            _ => None,
        }
    }
}

impl Targets {
    pub fn is_node_wide(&self) -> bool {
        self.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pids.len() + self.cgroup_ids.len() + self.cgroup_paths.len() + self.containers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One probe and its kernel-side options. The tag is the probe's CLI name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProbeSpec {
    SyscallLatency {
        /// One histogram per syscall instead of one for all.
        #[serde(default)]
        by_syscall: bool,
        /// Syscalls faster than this are not recorded.
        #[serde(default)]
        min_latency_ns: u64,
        /// Rows split by pod container (by cgroup in the kernel). Left out when false,
        /// so tracers that predate it still read the spec.
        #[serde(default, skip_serializing_if = "is_false")]
        per_pod: bool,
    },
    /// execve/execveat: path, arguments, parent and result.
    Exec {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// Processes that end: exit status or signal, core dump, lifetime.
    Exit {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// open/openat/openat2: path, flags, result, latency.
    Open {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// Signals sent by or to targets: signal, sender, receiver, origin, result.
    Signal {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// Processes the OOM killer chooses: victim, its memory, the triggering task.
    OomKill {},
    /// Syscalls counted by name and errno.
    SyscallCount {},
    /// Time runnable threads wait for a CPU.
    RunqLatency {
        #[serde(default, skip_serializing_if = "is_false")]
        per_pod: bool,
    },
    /// Block request latency by device and operation.
    BlockLatency {
        #[serde(default, skip_serializing_if = "is_false")]
        per_pod: bool,
    },
    /// On-CPU time per process.
    CpuTime {},
    /// On-CPU stacks sampled at `frequency_hz` on every CPU, counted in the kernel and
    /// symbolized on the node (`count` records named `samples`, see docs/protocol.md).
    /// With `off_cpu`, time blocked instead, by the stack it blocked in (`count` records
    /// named `blocked_us`); blocks shorter than `min_block_ns` are left out.
    Profile {
        #[serde(default = "default_frequency_hz")]
        frequency_hz: u64,
        /// Take user stacks.
        #[serde(default = "yes")]
        user: bool,
        /// Take kernel stacks.
        #[serde(default = "yes")]
        kernel: bool,
        #[serde(default, skip_serializing_if = "is_false")]
        off_cpu: bool,
        #[serde(default = "default_min_block_ns")]
        min_block_ns: u64,
    },
    /// Packets the kernel drops: reason, protocol, location, flow; counts and events.
    PacketDrop {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// Outbound TCP connects: endpoints, handshake latency, or how they failed.
    TcpConnect {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// TCP resets sent and received: flow, direction, state, reason.
    TcpReset {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// TCP connections that close: endpoints, lifetime, bytes, closing state.
    TcpLife {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// TCP retransmits: flow and state, as events and counts per flow.
    TcpRetransmit {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
    },
    /// HTTP/1.x requests and their responses, parsed on the node from the first
    /// `capture_bytes` of each read and write on the targets' TCP sockets: one event per
    /// exchange (method, path, status, latency, sizes, endpoints). Payloads never leave
    /// the node; of the headers, only those named in `capture_headers` do.
    Http {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
        #[serde(default = "default_capture_bytes")]
        capture_bytes: u32,
        /// Header names (any case) whose values the events carry.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        capture_headers: Vec<String>,
        /// Keep the query string of paths (left out by default: it can hold secrets).
        #[serde(default, skip_serializing_if = "is_false")]
        keep_query: bool,
    },
    /// DNS lookups over UDP and TCP port 53, made or answered by the targets, parsed on
    /// the node: one event per query and its answer (name, type, rcode, answers,
    /// latency, resolver), and `count` records named `lookups` by name, type and rcode.
    Dns {},
    /// Rate, errors and duration of HTTP/1.x requests, parsed as `http` does, per pod
    /// container, side, method and route (the path with ids collapsed): `count` records
    /// `requests` and `errors` (5xx and unanswered) and `hist` records `latency`.
    HttpRed {
        #[serde(default, skip_serializing_if = "EventFilter::is_none")]
        filter: EventFilter,
        #[serde(default = "default_capture_bytes")]
        capture_bytes: u32,
    },
    /// Scripts' generic source: the raw records of any tracepoints (`category:name`),
    /// as events with the tracepoint's fields by name and a `tracepoint` field; and
    /// `counts` of tracepoints' records by some of their fields, kept in the kernel and
    /// written as `count` records of the script's map.
    Tracepoint {
        tracepoints: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        counts: Vec<TracepointCount>,
    },
    /// Scripts' generic user-space source: functions of binaries in the targets, at
    /// entry (arguments) or return (return value), as events with a `uprobe` field.
    Uprobe { functions: Vec<UprobeFunction> },
    /// Not a probe: the inventory of every eBPF program loaded on the node (anyone's),
    /// taken when the trace ends, as `program` records with what each ran meanwhile.
    /// Loads nothing; must be the spec's only probe.
    Programs {},
}

/// A script's map that the kernel fills: a tracepoint's records counted by some of its
/// fields (`count_in_kernel`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracepointCount {
    /// The map's name, as the script's other maps are named.
    pub name: String,
    /// `category:name`.
    pub tracepoint: String,
    /// The tracepoint's fields whose values make the key.
    pub fields: Vec<String>,
}

/// Fields one kernel count may be keyed by, and the bytes of each it keeps.
pub const MAX_COUNT_FIELDS: usize = 4;
pub const COUNT_FIELD_BYTES: usize = 32;

/// One function a uprobe source attaches to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UprobeFunction {
    /// The binary or library, as an absolute path inside the target containers.
    pub binary: String,
    /// Where: a symbol (as `nm` shows it: mangled for Rust and C++), a symbol and a byte
    /// offset into it (`SYMBOL+0x1c`), or a virtual address (`0x4f2a0`, as `nm` and
    /// `objdump -d` show it), for stripped binaries ([`UprobeFunction::location`]).
    pub function: String,
    /// At the function's return instead of its entry.
    #[serde(default, skip_serializing_if = "is_false")]
    pub at_return: bool,
    /// At entry: the argument (0 to 5) whose NUL-terminated string to read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_arg: Option<u8>,
}

/// Functions one uprobe source attaches to, at entry and at return each.
pub const MAX_UPROBES_PER_KIND: usize = 8;

impl UprobeFunction {
    /// `uprobe:/usr/lib/libc.so.6:malloc` or `uretprobe:...` as a script names it.
    pub fn source_name(&self) -> String {
        let kind = if self.at_return {
            "uretprobe"
        } else {
            "uprobe"
        };
        format!("{kind}:{}:{}", self.binary, self.function)
    }

    /// From `uprobe:PATH:FUNCTION` or `uretprobe:PATH:FUNCTION`, when well formed.
    pub fn parse(name: &str) -> Option<UprobeFunction> {
        let (at_return, rest) = if let Some(rest) = name.strip_prefix("uretprobe:") {
            (true, rest)
        } else {
            (false, name.strip_prefix("uprobe:")?)
        };
        let (binary, function) = rest.rsplit_once(':')?;
        let function_ok = function.len() <= 512 && location(function).is_some();
        (valid_binary_path(binary) && function_ok).then(|| UprobeFunction {
            binary: binary.to_owned(),
            function: function.to_owned(),
            at_return,
            read_arg: None,
        })
    }
}

/// A C identifier, as tracepoint fields are named.
fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where in a binary a uprobe attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UprobeLocation<'a> {
    Symbol(&'a str),
    /// Bytes past the symbol's start.
    SymbolOffset(&'a str, u64),
    /// A virtual address, as the binary's symbol table and disassembly show it.
    Address(u64),
}

impl UprobeFunction {
    /// Where `function` points; `None` when malformed (validated by [`Self::parse`]).
    pub fn location(&self) -> Option<UprobeLocation<'_>> {
        location(&self.function)
    }
}

/// `SYMBOL`, `SYMBOL+OFFSET` or `0xADDRESS`; offsets in hex (`0x1c`) or decimal.
fn location(function: &str) -> Option<UprobeLocation<'_>> {
    let number = |text: &str| match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    };
    let symbol_ok = |symbol: &str| {
        !symbol.is_empty()
            && !symbol.starts_with(|c: char| c.is_ascii_digit())
            && symbol
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$' | '@'))
    };
    if let Some(hex) = function.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16)
            .ok()
            .filter(|address| *address != 0)
            .map(UprobeLocation::Address);
    }
    match function.rsplit_once('+') {
        Some((symbol, offset)) => {
            let offset = number(offset)?;
            symbol_ok(symbol).then_some(UprobeLocation::SymbolOffset(symbol, offset))
        }
        None => symbol_ok(function).then_some(UprobeLocation::Symbol(function)),
    }
}

/// An absolute path with no `..`, no empty or `.` parts and no NUL: what the tracer may
/// open below a process's root.
pub fn valid_binary_path(path: &str) -> bool {
    path.starts_with('/')
        && path.len() <= 4096
        && !path.contains('\0')
        && path[1..]
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Most tracepoints one generic source attaches to (one program each).
pub const MAX_TRACEPOINTS: usize = 16;

/// `category:name` as its two parts, when both are tracefs names (letters, digits,
/// `_`, `-`, `.`; never a path).
pub fn split_tracepoint(tracepoint: &str) -> Option<(&str, &str)> {
    let (category, name) = tracepoint.split_once(':')?;
    let valid = |part: &str| {
        !part.is_empty()
            && part.len() <= 128
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    (valid(category) && valid(name)).then_some((category, name))
}

/// What an event probe drops in the kernel before it sends an event: the parameters of
/// `on(probe, #{...})` in scripts. Each probe takes some of them ([`EventFilter::takes`]);
/// an unset one filters nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Drop calls (open) or handshakes (tcp-connect) faster than this.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_latency_ns: u64,
    /// Keep only the calls or connects that failed.
    #[serde(default, skip_serializing_if = "is_false")]
    pub failed: bool,
    /// Keep only paths that start with this, as the program passed them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
    /// Keep only connections to this port: the remote one for tcp-connect, either end
    /// for the other network probes.
    #[serde(default, skip_serializing_if = "is_zero_port")]
    pub port: u16,
    /// Keep only this signal (1 to 64): the one sent (signal), the one that killed the
    /// process (exit).
    #[serde(default, skip_serializing_if = "is_zero_signal")]
    pub signal: u8,
    /// Keep only responses of this status (`404`) or class (`5xx`); checked on the node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
}

/// Bytes of each payload the `http` probe captures by default, and at most.
pub const DEFAULT_CAPTURE_BYTES: u32 = 256;
pub const MAX_CAPTURE_BYTES: u32 = 4096;

/// Header names an `http` trace may capture.
pub const MAX_CAPTURE_HEADERS: usize = 16;

fn default_capture_bytes() -> u32 {
    DEFAULT_CAPTURE_BYTES
}

/// `404` or `5xx`.
fn is_status_filter(status: &str) -> bool {
    match status.as_bytes() {
        [class @ b'1'..=b'5', b'x', b'x'] => class.is_ascii_digit(),
        _ => status
            .parse::<u16>()
            .is_ok_and(|code| (100..=599).contains(&code)),
    }
}

/// An HTTP token (RFC 9110), at most 64 bytes.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Longest `path_prefix` the kernel compares.
pub const MAX_PATH_PREFIX_BYTES: usize = 64;

impl EventFilter {
    pub fn is_none(&self) -> bool {
        *self == EventFilter::default()
    }

    /// The parameters `probe` takes, by their script names.
    pub fn takes(probe: &str) -> &'static [&'static str] {
        match probe {
            "exec" => &["failed", "path_prefix"],
            "exit" => &["failed", "signal"],
            "open" => &["min_latency", "failed", "path_prefix"],
            "signal" => &["signal"],
            "tcp-connect" => &["min_latency", "failed", "port"],
            "tcp-life" | "tcp-reset" | "tcp-retransmit" | "packet-drop" => &["port"],
            "http" => &["min_latency", "path_prefix", "status"],
            "http-red" => &["path_prefix"],
            _ => &[],
        }
    }

    /// The parameters set, by their script names.
    pub fn set(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        if self.min_latency_ns != 0 {
            set.push("min_latency");
        }
        if self.failed {
            set.push("failed");
        }
        if !self.path_prefix.is_empty() {
            set.push("path_prefix");
        }
        if self.port != 0 {
            set.push("port");
        }
        if !self.status.is_empty() {
            set.push("status");
        }
        if self.signal != 0 {
            set.push("signal");
        }
        set
    }

    /// A filter that lets through everything either lets through: what one probe
    /// attaches with when several handlers with different filters share it.
    pub fn loosest(&self, other: &EventFilter) -> EventFilter {
        let common = self
            .path_prefix
            .bytes()
            .zip(other.path_prefix.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        // A prefix cut inside a character is still a byte prefix of both.
        let path_prefix = if self.path_prefix.is_empty() || other.path_prefix.is_empty() {
            String::new()
        } else {
            String::from_utf8_lossy(&self.path_prefix.as_bytes()[..common])
                .trim_end_matches('\u{FFFD}')
                .to_owned()
        };
        EventFilter {
            min_latency_ns: self.min_latency_ns.min(other.min_latency_ns),
            failed: self.failed && other.failed,
            path_prefix,
            port: if self.port == other.port {
                self.port
            } else {
                0
            },
            status: if self.status == other.status {
                self.status.clone()
            } else {
                String::new()
            },
            signal: if self.signal == other.signal {
                self.signal
            } else {
                0
            },
        }
    }
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

fn is_zero_port(value: &u16) -> bool {
    *value == 0
}

fn is_zero_signal(value: &u8) -> bool {
    *value == 0
}

/// Highest signal number (`SIGRTMAX`).
pub const MAX_SIGNAL: u8 = 64;

/// Samples per second per CPU when the spec does not say: off the timer tick's multiples,
/// so sampling does not run in lockstep with periodic work.
pub const DEFAULT_FREQUENCY_HZ: u64 = 99;

/// Highest sampling frequency a spec may ask for.
pub const MAX_FREQUENCY_HZ: u64 = 10_000;

/// Off-CPU blocks shorter than this are left out when the spec does not say.
pub const DEFAULT_MIN_BLOCK_NS: u64 = 1_000_000;

fn default_min_block_ns() -> u64 {
    DEFAULT_MIN_BLOCK_NS
}

fn default_frequency_hz() -> u64 {
    DEFAULT_FREQUENCY_HZ
}

fn yes() -> bool {
    true
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl ProbeSpec {
    /// The tracepoints a tracepoint source attaches to: those whose events it sends, then
    /// those it only counts, each once.
    pub fn attached_tracepoints<'a>(
        tracepoints: &'a [String],
        counts: &'a [TracepointCount],
    ) -> Vec<&'a str> {
        let mut attached: Vec<&str> = Vec::new();
        let named = tracepoints
            .iter()
            .map(String::as_str)
            .chain(counts.iter().map(|count| count.tracepoint.as_str()));
        for tracepoint in named {
            if !attached.contains(&tracepoint) {
                attached.push(tracepoint);
            }
        }
        attached
    }

    /// The kernel-side filter of an event probe that takes one.
    pub fn filter(&self) -> Option<&EventFilter> {
        match self {
            ProbeSpec::Exec { filter }
            | ProbeSpec::Exit { filter }
            | ProbeSpec::Open { filter }
            | ProbeSpec::Signal { filter }
            | ProbeSpec::PacketDrop { filter }
            | ProbeSpec::TcpConnect { filter }
            | ProbeSpec::TcpReset { filter }
            | ProbeSpec::TcpLife { filter }
            | ProbeSpec::TcpRetransmit { filter }
            | ProbeSpec::Http { filter, .. }
            | ProbeSpec::HttpRed { filter, .. } => Some(filter),
            _ => None,
        }
    }

    /// The filter, to set; `None` for probes that take none.
    pub fn filter_mut(&mut self) -> Option<&mut EventFilter> {
        match self {
            ProbeSpec::Exec { filter }
            | ProbeSpec::Exit { filter }
            | ProbeSpec::Open { filter }
            | ProbeSpec::Signal { filter }
            | ProbeSpec::PacketDrop { filter }
            | ProbeSpec::TcpConnect { filter }
            | ProbeSpec::TcpReset { filter }
            | ProbeSpec::TcpLife { filter }
            | ProbeSpec::TcpRetransmit { filter }
            | ProbeSpec::Http { filter, .. }
            | ProbeSpec::HttpRed { filter, .. } => Some(filter),
            _ => None,
        }
    }

    /// The probe's name as the CLI and the records spell it.
    pub fn name(&self) -> &'static str {
        match self {
            ProbeSpec::SyscallLatency { .. } => "syscall-latency",
            ProbeSpec::Exec { .. } => "exec",
            ProbeSpec::Exit { .. } => "exit",
            ProbeSpec::Open { .. } => "open",
            ProbeSpec::Signal { .. } => "signal",
            ProbeSpec::OomKill {} => "oom-kill",
            ProbeSpec::SyscallCount {} => "syscall-count",
            ProbeSpec::RunqLatency { .. } => "runq-latency",
            ProbeSpec::BlockLatency { .. } => "block-latency",
            ProbeSpec::CpuTime {} => "cpu-time",
            ProbeSpec::Profile { .. } => "profile",
            ProbeSpec::PacketDrop { .. } => "packet-drop",
            ProbeSpec::TcpConnect { .. } => "tcp-connect",
            ProbeSpec::TcpReset { .. } => "tcp-reset",
            ProbeSpec::TcpLife { .. } => "tcp-life",
            ProbeSpec::TcpRetransmit { .. } => "tcp-retransmit",
            ProbeSpec::Http { .. } => "http",
            ProbeSpec::HttpRed { .. } => "http-red",
            ProbeSpec::Dns {} => "dns",
            ProbeSpec::Tracepoint { .. } => "tracepoint",
            ProbeSpec::Uprobe { .. } => "uprobe",
            ProbeSpec::Programs {} => "programs",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("the programs inventory runs alone, not with other probes")]
    ProgramsNotAlone,
    /// The size read so far: a reader stops one byte past the limit.
    #[error("trace spec is larger than the limit of {MAX_SPEC_BYTES} bytes")]
    TooLarge(usize),
    #[error("trace spec is not valid: {0}")]
    Syntax(#[from] serde_json::Error),
    #[error("trace spec version {found} is not supported (this tracer speaks {SCHEMA_VERSION})")]
    Version { found: u32 },
    #[error("trace spec names no probe")]
    NoProbe,
    #[error("trace spec names {0} targets; the limit is {MAX_TARGETS}")]
    TooManyTargets(usize),
    #[error("trace spec interval {0} ms is below the minimum of {MIN_INTERVAL_MS} ms")]
    IntervalTooShort(u64),
    #[error("trace spec duration must be above zero")]
    ZeroDuration,
    #[error("sampling frequency {0} Hz is outside 1..={MAX_FREQUENCY_HZ} Hz")]
    Frequency(u64),
    #[error("the profile takes neither user nor kernel stacks")]
    NoStacks,
    #[error("probe {probe} takes no kernel-side parameter {parameter}")]
    FilterNotTaken {
        probe: &'static str,
        parameter: &'static str,
    },
    #[error("path prefix is {0} bytes; the kernel compares at most {MAX_PATH_PREFIX_BYTES}")]
    PathPrefixTooLong(usize),
    #[error("signal filter {0} is no signal: signals are 1 to {MAX_SIGNAL}")]
    Signal(u8),
    #[error("status filter `{0}` is neither a status code (100 to 599) nor a class (1xx to 5xx)")]
    Status(String),
    #[error("capture of {0} bytes per payload is outside 1..={MAX_CAPTURE_BYTES}")]
    CaptureBytes(u32),
    #[error("{0} headers to capture; the limit is {MAX_CAPTURE_HEADERS}")]
    CaptureHeaderCount(usize),
    #[error("`{0}` is not an HTTP header name")]
    HeaderName(String),
    #[error(
        "a kernel count of `{0}` needs a name, 1 to {MAX_COUNT_FIELDS} field names, and no other count of that tracepoint"
    )]
    TracepointCountFields(String),
    #[error("the tracepoint source names {0} tracepoints; it takes 1 to {MAX_TRACEPOINTS}")]
    TracepointCount(usize),
    #[error("`{0}` is not a tracepoint name (category:name)")]
    TracepointName(String),
    #[error(
        "the uprobe source attaches to {0} functions; it takes 1 to {MAX_UPROBES_PER_KIND} at entry and as many at return"
    )]
    UprobeCount(usize),
    #[error("uprobe `{0}` needs an absolute binary path without `..` and a symbol name")]
    UprobeName(String),
    #[error("uprobe {0} reads argument {1}; arguments are numbered 0 to 5, and read only at entry")]
    UprobeReadArg(String, u8),
    #[error("script {name} is {size} bytes; the limit is {MAX_SCRIPT_BYTES}")]
    ScriptTooLarge { name: String, size: usize },
    #[error("script {name} is given {count} arguments; the limit is {MAX_SCRIPT_ARGS}")]
    TooManyScriptArgs { name: String, count: usize },
    #[error(
        "script {name} is given --arg {arg}=... of {size} bytes; the limit is {MAX_SCRIPT_ARG_BYTES}"
    )]
    ScriptArgTooLarge {
        name: String,
        arg: String,
        size: usize,
    },
}

impl TraceSpec {
    /// A spec for the current schema version with default interval.
    pub fn new(probes: Vec<ProbeSpec>, targets: Targets) -> Self {
        TraceSpec {
            version: SCHEMA_VERSION,
            trace_id: None,
            node: None,
            probes,
            targets,
            duration_ms: None,
            interval_ms: default_interval_ms(),
            node_containers: Vec::new(),
            script: None,
            stats: default_stats(),
            stats_exact: false,
        }
    }

    /// Parses and validates a spec from untrusted bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, SpecError> {
        if bytes.len() > MAX_SPEC_BYTES {
            return Err(SpecError::TooLarge(bytes.len()));
        }
        let spec: TraceSpec = serde_json::from_slice(bytes)?;
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<(), SpecError> {
        if self.version != SCHEMA_VERSION {
            return Err(SpecError::Version {
                found: self.version,
            });
        }
        if self.probes.is_empty() {
            return Err(SpecError::NoProbe);
        }
        if self.targets.len() > MAX_TARGETS {
            return Err(SpecError::TooManyTargets(self.targets.len()));
        }
        if self.interval_ms < MIN_INTERVAL_MS {
            return Err(SpecError::IntervalTooShort(self.interval_ms));
        }
        if self.duration_ms == Some(0) {
            return Err(SpecError::ZeroDuration);
        }
        if let Some(script) = &self.script {
            if script.source.len() > MAX_SCRIPT_BYTES {
                return Err(SpecError::ScriptTooLarge {
                    name: script.name.clone(),
                    size: script.source.len(),
                });
            }
            if script.args.len() > MAX_SCRIPT_ARGS {
                return Err(SpecError::TooManyScriptArgs {
                    name: script.name.clone(),
                    count: script.args.len(),
                });
            }
            if let Some((arg, value)) = script
                .args
                .iter()
                .find(|(arg, value)| arg.len() + value.len() > MAX_SCRIPT_ARG_BYTES)
            {
                return Err(SpecError::ScriptArgTooLarge {
                    name: script.name.clone(),
                    arg: arg.chars().take(64).collect(),
                    size: arg.len() + value.len(),
                });
            }
        }
        if self.probes.len() > 1 && self.probes.contains(&ProbeSpec::Programs {}) {
            return Err(SpecError::ProgramsNotAlone);
        }
        for probe in &self.probes {
            if let Some(filter) = probe.filter() {
                let takes = EventFilter::takes(probe.name());
                if let Some(parameter) = filter.set().into_iter().find(|p| !takes.contains(p)) {
                    return Err(SpecError::FilterNotTaken {
                        probe: probe.name(),
                        parameter,
                    });
                }
                if filter.path_prefix.len() > MAX_PATH_PREFIX_BYTES {
                    return Err(SpecError::PathPrefixTooLong(filter.path_prefix.len()));
                }
                if !filter.status.is_empty() && !is_status_filter(&filter.status) {
                    return Err(SpecError::Status(filter.status.chars().take(16).collect()));
                }
                if filter.signal > MAX_SIGNAL {
                    return Err(SpecError::Signal(filter.signal));
                }
            }
            if let ProbeSpec::HttpRed { capture_bytes, .. } = probe
                && !(1..=MAX_CAPTURE_BYTES).contains(capture_bytes)
            {
                return Err(SpecError::CaptureBytes(*capture_bytes));
            }
            if let ProbeSpec::Http {
                capture_bytes,
                capture_headers,
                ..
            } = probe
            {
                if !(1..=MAX_CAPTURE_BYTES).contains(capture_bytes) {
                    return Err(SpecError::CaptureBytes(*capture_bytes));
                }
                if capture_headers.len() > MAX_CAPTURE_HEADERS {
                    return Err(SpecError::CaptureHeaderCount(capture_headers.len()));
                }
                if let Some(bad) = capture_headers.iter().find(|name| !is_header_name(name)) {
                    return Err(SpecError::HeaderName(bad.chars().take(64).collect()));
                }
            }
            if let ProbeSpec::Uprobe { functions } = probe {
                let returns = functions.iter().filter(|f| f.at_return).count();
                let entries = functions.len() - returns;
                if functions.is_empty()
                    || entries > MAX_UPROBES_PER_KIND
                    || returns > MAX_UPROBES_PER_KIND
                {
                    return Err(SpecError::UprobeCount(functions.len()));
                }
                for function in functions {
                    let name = function.source_name();
                    if UprobeFunction::parse(&name).is_none() {
                        return Err(SpecError::UprobeName(name.chars().take(256).collect()));
                    }
                    if let Some(arg) = function.read_arg
                        && (arg > 5 || function.at_return)
                    {
                        return Err(SpecError::UprobeReadArg(name, arg));
                    }
                }
            }
            if let ProbeSpec::Tracepoint {
                tracepoints,
                counts,
            } = probe
            {
                let attached = ProbeSpec::attached_tracepoints(tracepoints, counts);
                if !(1..=MAX_TRACEPOINTS).contains(&attached.len()) {
                    return Err(SpecError::TracepointCount(attached.len()));
                }
                if let Some(bad) = attached.iter().find(|t| split_tracepoint(t).is_none()) {
                    return Err(SpecError::TracepointName(bad.chars().take(128).collect()));
                }
                for (i, count) in counts.iter().enumerate() {
                    let fields_ok = (1..=MAX_COUNT_FIELDS).contains(&count.fields.len())
                        && count.fields.iter().all(|field| is_identifier(field));
                    let once = counts[..i].iter().all(|c| c.tracepoint != count.tracepoint);
                    if count.name.is_empty() || count.name.len() > 128 || !fields_ok || !once {
                        return Err(SpecError::TracepointCountFields(
                            count.tracepoint.chars().take(128).collect(),
                        ));
                    }
                }
            }
            if let ProbeSpec::Profile {
                frequency_hz,
                user,
                kernel,
                ..
            } = probe
            {
                if !(1..=MAX_FREQUENCY_HZ).contains(frequency_hz) {
                    return Err(SpecError::Frequency(*frequency_hz));
                }
                if !user && !kernel {
                    return Err(SpecError::NoStacks);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency() -> ProbeSpec {
        ProbeSpec::SyscallLatency {
            by_syscall: true,
            min_latency_ns: 0,
            per_pod: false,
        }
    }

    #[test]
    fn uprobe_names_are_absolute_paths_and_symbols() {
        let parsed = UprobeFunction::parse("uprobe:/usr/lib/libc.so.6:malloc").expect("valid");
        assert_eq!(
            (
                parsed.binary.as_str(),
                parsed.function.as_str(),
                parsed.at_return
            ),
            ("/usr/lib/libc.so.6", "malloc", false)
        );
        assert!(
            UprobeFunction::parse("uretprobe:/app/server:_ZN3app4main17h1E")
                .is_some_and(|f| f.at_return)
        );
        let location = |name: &str| {
            UprobeFunction::parse(name)
                .and_then(|f| f.location().map(|l| format!("{l:?}")))
                .unwrap_or_default()
        };
        assert_eq!(
            location("uprobe:/bin/app:main+0x1c"),
            r#"SymbolOffset("main", 28)"#
        );
        assert_eq!(
            location("uprobe:/bin/app:main+16"),
            r#"SymbolOffset("main", 16)"#
        );
        assert_eq!(location("uretprobe:/bin/app:0x4f2a0"), "Address(324256)");
        for bad in [
            "uprobe:/bin/app:0x",
            "uprobe:/bin/app:0x0",
            "uprobe:/bin/app:0xzz",
            "uprobe:/bin/app:main+",
            "uprobe:/bin/app:+4",
            "uprobe:/bin/app:1234",
            "uprobe:libc.so.6:malloc",
            "uprobe:/usr/../etc/shadow:x",
            "uprobe:/usr/lib/libc.so.6:",
            "uprobe:/usr/lib/libc.so.6:mal loc",
            "kprobe:/x:y",
            "uprobe:/a//b:f",
        ] {
            assert!(UprobeFunction::parse(bad).is_none(), "{bad}");
        }
        let mut spec = TraceSpec::new(
            vec![ProbeSpec::Uprobe {
                functions: vec![UprobeFunction {
                    read_arg: Some(7),
                    ..parsed
                }],
            }],
            Targets::default(),
        );
        assert!(matches!(
            spec.validate(),
            Err(SpecError::UprobeReadArg(_, 7))
        ));
        spec.probes = vec![ProbeSpec::Uprobe { functions: vec![] }];
        assert!(matches!(spec.validate(), Err(SpecError::UprobeCount(0))));
    }

    #[test]
    fn tracepoint_names_are_never_paths() {
        assert_eq!(
            split_tracepoint("sched:sched_switch"),
            Some(("sched", "sched_switch"))
        );
        for bad in ["sched", "../x:y", "a:..", "a/b:c", ":x", "a:", "a:b:c"] {
            assert_eq!(split_tracepoint(bad), None, "{bad}");
        }
        let mut spec = TraceSpec::new(
            vec![ProbeSpec::Tracepoint {
                tracepoints: vec!["../../etc:passwd".into()],
                counts: Vec::new(),
            }],
            Targets::default(),
        );
        assert!(matches!(spec.validate(), Err(SpecError::TracepointName(_))));
        spec.probes = vec![ProbeSpec::Tracepoint {
            tracepoints: vec![],
            counts: Vec::new(),
        }];
        assert!(matches!(
            spec.validate(),
            Err(SpecError::TracepointCount(0))
        ));
        // Counted only is a source; a count needs 1 to 4 identifiers, once per
        // tracepoint.
        let count = |tracepoint: &str, fields: &[&str]| TracepointCount {
            name: "n".into(),
            tracepoint: tracepoint.into(),
            fields: fields.iter().map(|field| field.to_string()).collect(),
        };
        spec.probes = vec![ProbeSpec::Tracepoint {
            tracepoints: vec!["sched:sched_switch".into()],
            counts: vec![count("sched:sched_switch", &["prev_comm"])],
        }];
        assert!(spec.validate().is_ok());
        for counts in [
            vec![count("sched:sched_switch", &[])],
            vec![count("sched:sched_switch", &["a", "b", "c", "d", "e"])],
            vec![count("sched:sched_switch", &["x; y"])],
            vec![count("a:b", &["x"]), count("a:b", &["y"])],
        ] {
            spec.probes = vec![ProbeSpec::Tracepoint {
                tracepoints: Vec::new(),
                counts,
            }];
            assert!(
                matches!(spec.validate(), Err(SpecError::TracepointCountFields(_))),
                "{:?}",
                spec.probes
            );
        }
    }

    #[test]
    fn round_trips() {
        let mut spec = TraceSpec::new(
            vec![latency()],
            Targets {
                pids: vec![42],
                ..Targets::default()
            },
        );
        spec.duration_ms = Some(5000);
        let json = serde_json::to_vec(&spec).expect("serializes");
        assert_eq!(TraceSpec::parse(&json).expect("parses"), spec);
    }

    #[test]
    fn minimal_spec_is_node_wide_with_defaults() {
        let spec = TraceSpec::parse(br#"{"version":1,"probes":[{"probe":"syscall-latency"}]}"#)
            .expect("parses");
        assert!(spec.targets.is_node_wide());
        assert_eq!(spec.interval_ms, 1000);
        assert_eq!(
            spec.probes,
            vec![ProbeSpec::SyscallLatency {
                by_syscall: false,
                min_latency_ns: 0,
                per_pod: false,
            }]
        );
    }

    #[test]
    fn per_pod_travels_only_when_set() {
        let plain = serde_json::to_string(&latency()).expect("serializes");
        assert!(!plain.contains("per_pod"), "{plain}");
        let split = ProbeSpec::RunqLatency { per_pod: true };
        let json = serde_json::to_string(&split).expect("serializes");
        assert_eq!(json, r#"{"probe":"runq-latency","per_pod":true}"#);
        assert_eq!(
            serde_json::from_str::<ProbeSpec>(&json).expect("parses"),
            split
        );
        for (name, spec) in [
            ("syscall-count", ProbeSpec::SyscallCount {}),
            ("block-latency", ProbeSpec::BlockLatency { per_pod: false }),
            ("cpu-time", ProbeSpec::CpuTime {}),
        ] {
            assert_eq!(spec.name(), name);
            let json = format!(r#"{{"probe":"{name}"}}"#);
            assert_eq!(
                serde_json::from_str::<ProbeSpec>(&json).expect("parses"),
                spec
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let cases: &[(&[u8], &str)] = &[
            (
                br#"{"version":2,"probes":[{"probe":"syscall-latency"}]}"#,
                "version 2",
            ),
            (br#"{"version":1,"probes":[]}"#, "no probe"),
            (
                br#"{"version":1,"probes":[{"probe":"nope"}]}"#,
                "unknown variant",
            ),
            (
                br#"{"version":1,"probes":[{"probe":"syscall-latency"}],"extra":1}"#,
                "unknown field",
            ),
            (
                br#"{"version":1,"probes":[{"probe":"syscall-latency"}],"interval_ms":1}"#,
                "below the minimum",
            ),
            (
                br#"{"version":1,"probes":[{"probe":"syscall-latency"}],"duration_ms":0}"#,
                "above zero",
            ),
            (b"not json", "not valid"),
            (
                br#"{"version":1,"probes":[{"probe":"profile","frequency_hz":0}]}"#,
                "outside 1..=10000 Hz",
            ),
            (
                br#"{"version":1,"probes":[{"probe":"profile","user":false,"kernel":false}]}"#,
                "neither user nor kernel",
            ),
        ];
        for (input, expected) in cases {
            let err = TraceSpec::parse(input)
                .expect_err("must be refused")
                .to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn profile_defaults_to_both_stacks_at_99_hz() {
        let spec =
            TraceSpec::parse(br#"{"version":1,"probes":[{"probe":"profile"}]}"#).expect("parses");
        assert_eq!(
            spec.probes,
            vec![ProbeSpec::Profile {
                frequency_hz: 99,
                user: true,
                kernel: true,
                off_cpu: false,
                min_block_ns: 1_000_000,
            }]
        );
        assert_eq!(spec.probes[0].name(), "profile");
        let off_cpu = TraceSpec::parse(
            br#"{"version":1,"probes":[{"probe":"profile","off_cpu":true,"min_block_ns":5}]}"#,
        )
        .expect("parses");
        assert!(matches!(
            off_cpu.probes[0],
            ProbeSpec::Profile {
                off_cpu: true,
                min_block_ns: 5,
                ..
            }
        ));
    }

    #[test]
    fn carries_a_bounded_script() {
        let mut spec = TraceSpec::new(
            vec![ProbeSpec::Open {
                filter: Default::default(),
            }],
            Targets::default(),
        );
        spec.script = Some(ScriptSpec {
            name: "opens.rhai".into(),
            source: r#"on("open", |e| count("opens", e.path));"#.into(),
            args: [("min".to_owned(), "5".to_owned())].into(),
        });
        let json = serde_json::to_vec(&spec).expect("serializes");
        assert_eq!(TraceSpec::parse(&json).expect("parses"), spec);
        let script = spec.script.as_mut().expect("set");
        script.source = "x".repeat(MAX_SCRIPT_BYTES + 1);
        let err = spec.validate().expect_err("too large").to_string();
        assert!(err.contains("opens.rhai") && err.contains("limit"), "{err}");
    }

    #[test]
    fn refuses_too_many_or_oversized_script_arguments() {
        let mut spec = TraceSpec::new(
            vec![ProbeSpec::Open {
                filter: Default::default(),
            }],
            Targets::default(),
        );
        let script = |args: std::collections::BTreeMap<String, String>| ScriptSpec {
            name: "opens.rhai".into(),
            source: r#"on("open", |e| count("opens", e.path));"#.into(),
            args,
        };
        let at_limit = "v".repeat(MAX_SCRIPT_ARG_BYTES - 3);
        spec.script = Some(script([("min".to_owned(), at_limit.clone())].into()));
        spec.validate().expect("an argument at the limit");

        spec.script = Some(script([("min".to_owned(), at_limit + "v")].into()));
        let err = spec.validate().expect_err("too large").to_string();
        assert_eq!(
            err,
            format!(
                "script opens.rhai is given --arg min=... of {} bytes; the limit is {MAX_SCRIPT_ARG_BYTES}",
                MAX_SCRIPT_ARG_BYTES + 1
            )
        );

        let many = (0..=MAX_SCRIPT_ARGS)
            .map(|i| (format!("a{i}"), String::new()))
            .collect();
        spec.script = Some(script(many));
        let err = spec.validate().expect_err("too many").to_string();
        assert!(err.contains("65 arguments; the limit is 64"), "{err}");
    }

    #[test]
    fn refuses_oversized_input_before_parsing() {
        let big = vec![b' '; MAX_SPEC_BYTES + 1];
        assert!(matches!(
            TraceSpec::parse(&big),
            Err(SpecError::TooLarge(_))
        ));
    }
}
