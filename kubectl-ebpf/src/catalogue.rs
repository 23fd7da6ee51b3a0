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
];

pub fn names() -> impl Iterator<Item = &'static str> {
    PROBES.iter().map(|probe| probe.name)
}

pub fn find(name: &str) -> Option<&'static ProbeInfo> {
    PROBES.iter().find(|probe| probe.name == name)
}
