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
];

pub fn names() -> impl Iterator<Item = &'static str> {
    PROBES.iter().map(|probe| probe.name)
}

pub fn find(name: &str) -> Option<&'static ProbeInfo> {
    PROBES.iter().find(|probe| probe.name == name)
}
