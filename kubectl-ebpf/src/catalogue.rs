//! The built-in probes the CLI offers. Names are the CLI contract.

pub struct ProbeInfo {
    pub name: &'static str,
    pub kind: Kind,
    pub summary: &'static str,
    pub hooks: &'static str,
    /// The fields of each event (or the keys of each row), in display order.
    pub fields: &'static [&'static str],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Histogram,
    Counts,
    Events,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Histogram => "histogram",
            Kind::Counts => "counts",
            Kind::Events => "events",
        }
    }
}

pub const PROBES: &[ProbeInfo] = &[
    ProbeInfo {
        name: "syscall-latency",
        kind: Kind::Histogram,
        summary: "time spent in each syscall; one histogram per syscall with --by syscall",
        hooks: "raw_syscalls:sys_enter, raw_syscalls:sys_exit",
        fields: &["syscall"],
    },
    ProbeInfo {
        name: "exec",
        kind: Kind::Events,
        summary: "programs started: parent, path, arguments (first 16, 127 bytes each), result",
        hooks: "syscalls:sys_{enter,exit}_execve{,at}, sched:sched_process_exec",
        fields: &["ppid", "error", "filename", "args"],
    },
    ProbeInfo {
        name: "syscall-count",
        kind: Kind::Counts,
        summary: "syscalls made, by name and errno; failures listed apart; --top N rows",
        hooks: "raw_syscalls:sys_exit",
        fields: &["syscall", "error"],
    },
    ProbeInfo {
        name: "runq-latency",
        kind: Kind::Histogram,
        summary: "time runnable threads wait for a CPU; one histogram per pod with --per-pod",
        hooks: "raw tracepoints sched_wakeup, sched_wakeup_new, sched_switch",
        fields: &[],
    },
    ProbeInfo {
        name: "block-latency",
        kind: Kind::Histogram,
        summary: "block I/O latency from request start to completion, by device and operation",
        hooks: "block:block_io_start (block_rq_issue before 6.5), block:block_rq_complete",
        fields: &["device", "op"],
    },
    ProbeInfo {
        name: "cpu-time",
        kind: Kind::Counts,
        summary: "on-CPU time by pod, container and process, and its share of the node's CPUs",
        hooks: "raw tracepoint sched_switch",
        fields: &["pid", "comm"],
    },
];

pub fn names() -> impl Iterator<Item = &'static str> {
    PROBES.iter().map(|probe| probe.name)
}

pub fn find(name: &str) -> Option<&'static ProbeInfo> {
    PROBES.iter().find(|probe| probe.name == name)
}
