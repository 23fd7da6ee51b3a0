//! The built-in probes the CLI offers. Names are the CLI contract.

pub struct ProbeInfo {
    pub name: &'static str,
    pub kind: Kind,
    pub summary: &'static str,
    /// Tracepoints attached to, as `category:name` (raw tracepoints too).
    pub hooks: &'static [&'static str],
    /// The fields of each event (or the keys of each row), in display order.
    pub fields: &'static [&'static str],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Histogram,
    Counts,
    Events,
    /// Events as they come, and a counts table at the end.
    CountsAndEvents,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Histogram => "histogram",
            Kind::Counts => "counts",
            Kind::Events => "events",
            Kind::CountsAndEvents => "counts+events",
        }
    }

    /// Whether the probe ends with tables of counts.
    pub fn has_counts(self) -> bool {
        matches!(self, Kind::Counts | Kind::CountsAndEvents)
    }
}

/// The hooks of the socket-payload capture that `http`, `http-red` and `dns` share.
const PAYLOAD_HOOKS: &[&str] = &[
    "syscalls:sys_enter_read",
    "syscalls:sys_exit_read",
    "syscalls:sys_enter_write",
    "syscalls:sys_exit_write",
    "syscalls:sys_enter_readv",
    "syscalls:sys_exit_readv",
    "syscalls:sys_enter_writev",
    "syscalls:sys_exit_writev",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_exit_recvfrom",
    "syscalls:sys_enter_sendto",
    "syscalls:sys_exit_sendto",
    "syscalls:sys_enter_recvmsg",
    "syscalls:sys_exit_recvmsg",
    "syscalls:sys_enter_sendmsg",
    "syscalls:sys_exit_sendmsg",
    "syscalls:sys_enter_recvmmsg",
    "syscalls:sys_exit_recvmmsg",
    "syscalls:sys_enter_sendmmsg",
    "syscalls:sys_exit_sendmmsg",
    "syscalls:sys_enter_close",
];

pub const PROBES: &[ProbeInfo] = &[
    ProbeInfo {
        name: "syscall-latency",
        kind: Kind::Histogram,
        summary: "time spent in each syscall; one histogram per syscall with --by syscall",
        hooks: &["raw_syscalls:sys_enter", "raw_syscalls:sys_exit"],
        fields: &["syscall"],
    },
    ProbeInfo {
        name: "exec",
        kind: Kind::Events,
        summary: "programs started: parent, path, arguments (first 16, 127 bytes each), result",
        hooks: &[
            "syscalls:sys_enter_execve",
            "syscalls:sys_exit_execve",
            "syscalls:sys_enter_execveat",
            "syscalls:sys_exit_execveat",
            "sched:sched_process_exec",
        ],
        fields: &["ppid", "error", "filename", "args"],
    },
    ProbeInfo {
        name: "exit",
        kind: Kind::Events,
        summary: "processes that end: exit code or killing signal, core dump, lifetime",
        hooks: &["sched:sched_process_exit"],
        fields: &["ppid", "code", "signal", "core_dumped", "lifetime_ns"],
    },
    ProbeInfo {
        name: "open",
        kind: Kind::Events,
        summary: "files opened: path (first 255 bytes), flags, fd or error, latency",
        // Plain open too where the architecture has it (x86_64; not arm64).
        hooks: &[
            "syscalls:sys_enter_openat",
            "syscalls:sys_exit_openat",
            "syscalls:sys_enter_openat2",
            "syscalls:sys_exit_openat2",
        ],
        fields: &["ret", "error", "latency_ns", "flags", "path"],
    },
    ProbeInfo {
        name: "signal",
        kind: Kind::Events,
        summary: "signals sent by or to the targets: sender, receiver, signal, origin, result",
        hooks: &["signal:signal_generate"],
        fields: &[
            "signal",
            "target_pid",
            "target_comm",
            "target_pod",
            "code",
            "result",
        ],
    },
    ProbeInfo {
        name: "oom-kill",
        kind: Kind::Events,
        summary: "processes the OOM killer chose: victim, its memory (KiB), the task that triggered it",
        hooks: &["oom:mark_victim"],
        fields: &[
            "anon_rss_kb",
            "file_rss_kb",
            "shmem_rss_kb",
            "total_vm_kb",
            "oom_score_adj",
            "trigger_pid",
            "trigger_comm",
        ],
    },
    ProbeInfo {
        name: "syscall-count",
        kind: Kind::Counts,
        summary: "syscalls made, by name and errno; failures listed apart; --top N rows",
        hooks: &["raw_syscalls:sys_exit"],
        fields: &["syscall", "error"],
    },
    ProbeInfo {
        name: "runq-latency",
        kind: Kind::Histogram,
        summary: "time runnable threads wait for a CPU; one histogram per pod with --per-pod",
        hooks: &[
            "sched:sched_wakeup",
            "sched:sched_wakeup_new",
            "sched:sched_switch",
        ],
        fields: &[],
    },
    ProbeInfo {
        name: "block-latency",
        kind: Kind::Histogram,
        summary: "block I/O latency from request start to completion, by device and operation",
        hooks: &["block:block_io_start", "block:block_rq_complete"],
        fields: &["device", "op"],
    },
    ProbeInfo {
        name: "cpu-time",
        kind: Kind::Counts,
        summary: "on-CPU time by pod, container and process, and its share of the node's CPUs",
        hooks: &["sched:sched_switch"],
        fields: &["pid", "comm"],
    },
    ProbeInfo {
        name: "packet-drop",
        kind: Kind::CountsAndEvents,
        summary: "packets the kernel dropped: reason, protocol, dropping function, flow; counts by reason",
        hooks: &["skb:kfree_skb"],
        fields: &["reason", "protocol", "src", "dst", "location", "by"],
    },
    ProbeInfo {
        name: "tcp-connect",
        kind: Kind::Events,
        summary: "outbound TCP connects: source, destination, handshake latency, or why they failed (refused, timed out)",
        hooks: &["sock:inet_sock_set_state"],
        fields: &["src", "dst", "latency_ns", "result", "state", "error"],
    },
    ProbeInfo {
        name: "tcp-reset",
        kind: Kind::Events,
        summary: "TCP resets sent and received: flow, direction, socket state, the kernel's reason",
        hooks: &["tcp:tcp_send_reset", "tcp:tcp_receive_reset"],
        fields: &["direction", "src", "dst", "state", "reason"],
    },
    ProbeInfo {
        name: "http",
        kind: Kind::Events,
        summary: "HTTP/1.x requests and responses, as client or server: method, path, status, latency, sizes, endpoints (parsed on the node)",
        hooks: PAYLOAD_HOOKS,
        fields: &[
            "side",
            "method",
            "path",
            "status",
            "latency_ns",
            "request_bytes",
            "response_bytes",
            "local",
            "remote",
        ],
    },
    ProbeInfo {
        name: "dns",
        kind: Kind::CountsAndEvents,
        summary: "DNS lookups over UDP and TCP port 53: name, type, response code, answers, latency, resolver; NXDOMAIN, SERVFAIL and timeouts counted per name",
        hooks: PAYLOAD_HOOKS,
        fields: &[
            "side",
            "name",
            "type",
            "rcode",
            "answers",
            "latency_ns",
            "resolver",
        ],
    },
    ProbeInfo {
        name: "http-red",
        kind: Kind::Counts,
        summary: "HTTP/1.x rate, errors and latency per pod, side, method and route (ids in paths collapsed), merged across nodes",
        hooks: PAYLOAD_HOOKS,
        fields: &["side", "method", "route", "requests", "errors", "latency"],
    },
    ProbeInfo {
        name: "tcp-life",
        kind: Kind::Events,
        summary: "TCP connections that close: endpoints, direction, lifetime, bytes sent and received, closing state",
        hooks: &["sock:inet_sock_set_state"],
        fields: &[
            "direction",
            "src",
            "dst",
            "duration_ns",
            "tx_bytes",
            "rx_bytes",
            "close_state",
        ],
    },
    ProbeInfo {
        name: "tcp-retransmit",
        kind: Kind::CountsAndEvents,
        summary: "TCP retransmits: flow and state as they happen, and a count per flow and state at the end",
        hooks: &["tcp:tcp_retransmit_skb", "tcp:tcp_retransmit_synack"],
        fields: &["src", "dst", "state", "error"],
    },
];

pub fn names() -> impl Iterator<Item = &'static str> {
    PROBES.iter().map(|probe| probe.name)
}

pub fn find(name: &str) -> Option<&'static ProbeInfo> {
    PROBES.iter().find(|probe| probe.name == name)
}
