//! The built-in probes the CLI offers. Names are the CLI contract.

pub struct ProbeInfo {
    pub name: &'static str,
    pub kind: &'static str,
    pub summary: &'static str,
    pub hooks: &'static str,
}

pub const PROBES: &[ProbeInfo] = &[ProbeInfo {
    name: "syscall-latency",
    kind: "histogram",
    summary: "time spent in each syscall; one histogram per syscall with --by syscall",
    hooks: "raw_syscalls:sys_enter, raw_syscalls:sys_exit",
}];

pub fn names() -> impl Iterator<Item = &'static str> {
    PROBES.iter().map(|probe| probe.name)
}
